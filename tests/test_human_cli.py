"""`seqgan human-eval` commands through the real CLI dispatcher: create, invite, results, export, import."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

import cli
from seqgan.human.store import Study
from tests.test_human_support import make_study, write_sources


@pytest.fixture(autouse=True)
def _only_human_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["seqgan.human.cli"])


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop earlier output
    code = cli.main(["human-eval", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_register_module_imports_no_web_or_numeric_libraries() -> None:
    code = (
        "import sys, cli; cli.COMMAND_MODULES = ['seqgan.human.cli']; cli.build_parser();"
        " heavy = [m for m in ('flask', 'waitress', 'numpy', 'sqlite3') if m in sys.modules];"
        " print(','.join(heavy))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_create_mixes_and_blinds_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    owner = write_sources(tmp_path, 6)
    db = tmp_path / "s.db"
    code, out, err = run(
        capsys, "create", "--study", str(db), "--per-system", "4", "--seed", "3",
        "--system", f"mle={tmp_path / 'mle.txt'}", "--system", f"seqgan={tmp_path / 'seqgan.txt'}",
        "--real", str(tmp_path / "real.txt"), "--fluency",
    )  # fmt: skip
    assert code == 0, err
    assert "12 blinded items" in out and "4 from mle" in out
    with Study.open(db) as study:
        items = study.items()
        assert len(items) == 12 and study.fluency and study.seed == 3
        assert [s.name for s in study.systems()] == ["mle", "seqgan", "real"]
        assert [s.is_real for s in study.systems()] == [False, False, True]
        assert all(owner[text] == system for _code, system, text in items)
        assert all(len(code) == 10 and system not in code for code, system, _text in items)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 1
    # Same seed, same study: the items and their codes are reproducible.
    db2 = tmp_path / "s2.db"
    assert run(
        capsys, "create", "--study", str(db2), "--per-system", "4", "--seed", "3",
        "--system", f"mle={tmp_path / 'mle.txt'}", "--system", f"seqgan={tmp_path / 'seqgan.txt'}",
        "--real", str(tmp_path / "real.txt"), "--fluency",
    )[0] == 0  # fmt: skip
    # ... also in another process with another string-hash seed.
    db3 = tmp_path / "s3.db"
    argv = ["create", "--study", str(db3), "--per-system", "4", "--seed", "3", "--fluency",
            "--system", f"mle={tmp_path / 'mle.txt'}", "--system", f"seqgan={tmp_path / 'seqgan.txt'}",
            "--real", str(tmp_path / "real.txt")]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    subprocess.run(
        [sys.executable, "-m", "seqgan.human", *argv], cwd=root, env=env, check=True, capture_output=True
    )
    with Study.open(db) as a, Study.open(db2) as b, Study.open(db3) as c:
        assert a.items() == b.items() == c.items()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--system", "mle={d}/missing.txt"], "neither a file nor a run directory"),
        (["--system", "mle"], "must look like NAME=RUN_DIR"),
        (["--system", "bad name={d}/mle.txt"], "may hold only letters"),
        (["--system", "mle={d}/mle.txt", "--system", "mle={d}/seqgan.txt"], "given twice"),
        (["--system", "real={d}/mle.txt", "--real", "{d}/real.txt"], "clashes"),
        (["--system", "mle={d}/mle.txt", "--per-system", "50"], "fewer than --per-system 50"),
        (["--system", "mle={d}/mle.txt", "--real", "test"], "first --system is not a run directory"),
        (["--system", "mle={d}/mle.txt", "--real", "{d}/nope.txt"], "no such file"),
    ],
)
def test_create_user_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    write_sources(tmp_path, 5)
    db = tmp_path / "s.db"
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    code, out, err = run(capsys, "create", "--study", str(db), "--per-system", "3", *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("seqgan human-eval: error:")
    assert not db.exists()


def test_create_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, _owner = make_study(tmp_path, raters=0)
    code, _out, err = run(capsys, "create", "--study", str(db), "--system", f"mle={tmp_path / 'mle.txt'}")
    assert code == 2 and "already exists" in err


def test_run_dirs_use_seqgan_api_and_say_so_when_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.setitem(sys.modules, "seqgan.text.api", None)  # importing it fails
    code, _out, err = run(capsys, "create", "--study", str(tmp_path / "a.db"), "--system", f"mle={run_dir}")
    assert code == 2 and "seqgan.text.api.sample_texts" in err and "FILE.txt" in err

    calls = []
    fake = types.ModuleType("seqgan.text.api")

    def sample_texts(path: str, n: int, seed: int) -> list[str]:
        calls.append(("sample", path, n, seed))
        return [f"sampled {i}" for i in range(n)]

    def test_texts(path: str) -> list[str]:
        calls.append(("test", path))
        return [f"held out {i}" for i in range(10)]

    fake.sample_texts, fake.test_texts = sample_texts, test_texts
    monkeypatch.setitem(sys.modules, "seqgan.text.api", fake)
    db = tmp_path / "b.db"
    code, out, err = run(
        capsys, "create", "--study", str(db), "--system", f"mle={run_dir}", "--real", "test",
        "--per-system", "3", "--seed", "9",
    )  # fmt: skip
    assert code == 0, err
    assert calls == [("sample", str(run_dir), 3, 9), ("test", str(run_dir))]
    with Study.open(db) as study:
        assert sorted(s for _c, s, _t in study.items()) == ["mle"] * 3 + ["real"] * 3


def test_invite_prints_links_and_lists_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, _owner = make_study(tmp_path, raters=0)
    code, out, err = run(
        capsys, "invite", "--study", str(db), "--n", "3", "--base-url", "http://example.test:9/"
    )
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3 and "send one to each rater" in err
    labels = [line.split("\t")[0] for line in lines]
    assert labels == ["r001", "r002", "r003"]
    assert all(line.split("\t")[1].startswith("http://example.test:9/r/") for line in lines)
    code, out2, _ = run(capsys, "invite", "--study", str(db), "--list", "--base-url", "http://example.test:9")
    assert out2 == out
    # without --base-url, links printed again lead where the first ones did (the recorded address)
    code, out3, _ = run(capsys, "invite", "--study", str(db), "--list")
    assert out3 == out
    code, org, _ = run(capsys, "invite", "--study", str(db), "--organiser")
    with Study.open(db) as study:
        assert org.strip() == f"http://example.test:9/o/{study.organiser_token}"
        orders = {}
        for rater in study.raters():
            orders[rater.label] = [
                row[0]
                for row in study.conn.execute(
                    "SELECT item_id FROM assignments WHERE rater_id = ? ORDER BY position", (rater.id,)
                )
            ]
        assert all(sorted(o) == sorted(orders["r001"]) for o in orders.values())
        assert len({tuple(o) for o in orders.values()}) == 3  # each rater has their own order
    assert run(capsys, "invite", "--study", str(db))[0] == 2


def answer_all(db: Path, rule) -> dict[str, list[int]]:
    """Answer every item for every rater by rule(label, text) -> bool; returns {system: [human, total]}."""
    expected: dict[str, list[int]] = {}
    with Study.open(db) as study:
        for rater in study.raters():
            while (item := study.next_item(rater.id)) is not None:
                system = next(s for c, s, _t in study.items() if c == item.code)
                human = rule(rater.label, item.text)
                assert study.record_answer(rater.id, item.code, human)
                cell = expected.setdefault(system, [0, 0])
                cell[0] += human
                cell[1] += 1
    return expected


def test_results_text_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, owner = make_study(tmp_path, per_system=4, raters=3)
    expected = answer_all(
        db, lambda label, text: (len(text) + int(label[-1])) % 3 != 0 or owner[text] == "real"
    )
    code, out, err = run(
        capsys, "results", "--study", str(db), "--json", "--csv", str(tmp_path / "answers.csv")
    )
    assert code == 0, err
    report = json.loads(out)
    for row in report["systems"]:
        human, total = expected[row["system"]]
        assert (row["judged_human"], row["answers"]) == (human, total)
        assert row["score"] == pytest.approx(human / total)
        assert row["ci_low"] <= row["score"] <= row["ci_high"]
    assert report["answers"] == 36 and report["raters"] == 3 and report["unit"] == "rater"
    assert {(p["a"], p["b"]) for p in report["pairwise"]} == {
        ("mle", "seqgan"),
        ("mle", "real"),
        ("seqgan", "real"),
    }
    assert all(p["permutation"]["seed"] == 7 for p in report["pairwise"])  # the study's seed by default
    with open(tmp_path / "answers.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 36 and set(rows[0]) >= {"rater", "item", "system", "answer", "fluency"}
    code, text, _ = run(
        capsys, "results", "--study", str(db), "--unit", "item", "--resamples", "500", "--seed", "1"
    )
    assert code == 0
    assert "Fleiss' kappa" in text and "permutation p (unpaired)" in text and "500 resamples, seed 1" in text


def test_export_then_import_answers_from_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, owner = make_study(tmp_path, per_system=3, raters=0, fluency=True)
    sheet = tmp_path / "sheet.csv"
    code, _out, err = run(capsys, "export", "--study", str(db), "--out", str(sheet))
    assert code == 0 and "9 blinded items" in err
    with open(sheet, encoding="utf-8") as fh:
        items = list(csv.DictReader(fh))
    assert [list(r) for r in items][0] == ["item_id", "text"] and len(items) == 9
    assert not any(name in sheet.read_text() for name in ("mle", "seqgan", "real,"))
    # A crowdsourcing platform's result file: its own column names, yes/no answers, some fluency.
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["WorkerId", "Input.item_id", "Answer.written_by_person", "Answer.fluency"])
    expected: dict[str, list[int]] = {}
    for w, worker in enumerate(["W1", "W2"]):
        for i, row in enumerate(items):
            human = (i + w) % 2 == 0
            writer.writerow([worker, row["item_id"], "yes" if human else "no", str(1 + i % 5)])
            cell = expected.setdefault(owner[row["text"]], [0, 0])
            cell[0] += human
            cell[1] += 1
    answers = tmp_path / "platform.csv"
    answers.write_text(buf.getvalue(), encoding="utf-8")
    cols = ["--rater-col", "WorkerId", "--item-col", "Input.item_id",
            "--answer-col", "Answer.written_by_person", "--fluency-col", "Answer.fluency"]  # fmt: skip
    code, out, err = run(capsys, "import", "--study", str(db), "--answers", str(answers), *cols)
    assert code == 0 and "imported 18 answers" in out
    code, out, err = run(capsys, "import", "--study", str(db), "--answers", str(answers), *cols)
    assert code == 0 and "imported 0 answers" in out and "18 were already in the study" in out
    code, out, _ = run(capsys, "results", "--study", str(db), "--json")
    report = json.loads(out)
    assert report["answers"] == 18
    for row in report["systems"]:
        assert (row["judged_human"], row["answers"]) == tuple(expected[row["system"]])
        assert row["fluency_answers"] == 6


def test_import_is_all_or_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, _owner = make_study(tmp_path, per_system=2, raters=0)
    with Study.open(db) as study:
        codes = [c for c, _s, _t in study.items()]
    bad_answer = tmp_path / "a.csv"
    bad_answer.write_text(f"rater,item,answer\nw1,{codes[0]},human\nw1,{codes[1]},maybe\n", encoding="utf-8")
    code, _out, err = run(capsys, "import", "--study", str(db), "--answers", str(bad_answer))
    assert code == 2 and "a.csv:3" in err and "neither human nor machine" in err
    bad_item = tmp_path / "b.csv"
    bad_item.write_text(f"rater,item,answer\nw1,{codes[0]},human\nw1,ffffffffff,machine\n", encoding="utf-8")
    code, _out, err = run(capsys, "import", "--study", str(db), "--answers", str(bad_item))
    assert code == 2 and "not in this study" in err
    bad_col = tmp_path / "c.csv"
    bad_col.write_text("worker,item,answer\n", encoding="utf-8")
    code, _out, err = run(capsys, "import", "--study", str(db), "--answers", str(bad_col))
    assert code == 2 and "--rater-col" in err
    with Study.open(db) as study:
        assert study.answer_count() == 0 and study.raters() == []


def test_results_csv_round_trips_through_import(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, _owner = make_study(tmp_path, per_system=2, raters=2)
    answer_all(db, lambda label, text: len(text) % 2 == 0)
    out_csv = tmp_path / "all.csv"
    assert run(capsys, "results", "--study", str(db), "--csv", str(out_csv))[0] == 0
    code, out, _ = run(capsys, "import", "--study", str(db), "--answers", str(out_csv))
    assert code == 0 and "imported 0 answers" in out and "12 were already" in out


def test_open_rejects_other_files_and_versions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    not_db = tmp_path / "x.db"
    not_db.write_text("hello, not sqlite" * 100)
    code, _out, err = run(capsys, "results", "--study", str(not_db))
    assert code == 2 and "not" in err
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert "not a human-eval study" in run(capsys, "results", "--study", str(other))[2]
    db, _tokens, _owner = make_study(tmp_path, raters=0)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    code, _out, err = run(capsys, "results", "--study", str(db))
    assert code == 2 and "schema version 99" in err
    assert run(capsys, "results", "--study", str(tmp_path / "missing.db"))[2].count("no study at") == 1


class FakeServer:
    """Stands in for waitress' server: records how it was made, returns from run() at once."""

    def __init__(self, kwargs: dict) -> None:
        self.kwargs = kwargs
        self.effective_port = kwargs["port"] or 54321

    def run(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def fake_waitress(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    waitress = pytest.importorskip("waitress")
    pytest.importorskip("flask")
    made: list[dict] = []

    def create_server(_app, **kwargs):
        made.append(kwargs)
        return FakeServer(kwargs)

    monkeypatch.setattr(waitress, "create_server", create_server)
    return made


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--threads", "0"], "at least 1 worker thread"),
        (["--port", "70000"], "--port 70000 is not a TCP port"),
        (["--port", "-1"], "--port -1 is not a TCP port"),
        (["--host", ""], "--host is empty"),
        (["--host", "256.1.1.1"], "'256.1.1.1' is not a valid IP address"),
        (["--connection-limit", "0"], "--connection-limit 0 must be at least 1"),
        (["--channel-timeout", "0"], "--channel-timeout 0 must be at least 1"),
    ],
)
def test_serve_refuses_bad_arguments_before_binding(
    tmp_path: Path, capsys: pytest.CaptureFixture, fake_waitress: list[dict], argv: list[str], message: str
) -> None:
    db, _tokens, _owner = make_study(tmp_path, per_system=1, raters=1)
    code, out, err = run(capsys, "serve", "--study", str(db), *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert fake_waitress == []  # nothing was bound


def test_serve_port_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("waitress")
    db, _tokens, _owner = make_study(tmp_path, per_system=1, raters=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--study", str(db), "--port", str(port))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err


def test_serve_is_hardened_and_listens_where_the_links_lead(
    tmp_path: Path, capsys: pytest.CaptureFixture, fake_waitress: list[dict]
) -> None:
    db, _tokens, _owner = make_study(tmp_path, per_system=1, raters=0)
    # No invitation yet: waitress gets the defaults, hardened for an open network.
    switch_interval = sys.getswitchinterval()
    assert run(capsys, "serve", "--study", str(db))[0] == 0
    assert sys.getswitchinterval() == switch_interval  # serve's finer GIL switching ends with it
    made = fake_waitress.pop()
    assert (made["host"], made["port"], made["threads"]) == ("127.0.0.1", 8000, 8)
    assert made["connection_limit"] == 1000 and made["channel_timeout"] == 15
    assert made["asyncore_use_poll"] is True and made["cleanup_interval"] <= made["channel_timeout"]
    assert made["max_request_body_size"] <= 1024 * 1024
    # Links sent for port 8765: serve listens there, and says why.
    assert run(capsys, "invite", "--study", str(db), "--n", "1", "--base-url", "http://127.0.0.1:8765")[0] == 0
    code, out, err = run(capsys, "serve", "--study", str(db), "--connection-limit", "50", "--channel-timeout", "3")
    assert code == 0, err
    made = fake_waitress.pop()
    assert (made["host"], made["port"]) == ("127.0.0.1", 8765)
    assert (made["connection_limit"], made["channel_timeout"]) == (50, 3)
    assert out.startswith(f"serving {db} on http://127.0.0.1:8765/")
    assert "port 8765 from the study's invitation links (http://127.0.0.1:8765/)" in out
    assert "warning" not in err
    # An explicit other port wins, with a warning that the links lead elsewhere.
    code, out, err = run(capsys, "serve", "--study", str(db), "--port", "9001")
    assert code == 0 and fake_waitress.pop()["port"] == 9001
    assert "links point at http://127.0.0.1:8765/, but this server listens on port 9001" in err
    # Links through an HTTPS proxy say nothing about the local port.
    assert run(capsys, "invite", "--study", str(db), "--list", "--base-url", "https://eval.example.org/")[0] == 0
    code, out, err = run(capsys, "serve", "--study", str(db), "--base-url", "https://eval.example.org/")
    assert code == 0 and fake_waitress.pop()["port"] == 8000
    assert "invitation links" not in out and "warning: the invitation links" not in err


def test_invite_out_writes_links_readable_only_by_the_owner(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, _owner = make_study(tmp_path, per_system=1, raters=0)
    links = tmp_path / "links.tsv"
    old = os.umask(0o022)
    try:
        code, out, err = run(capsys, "invite", "--study", str(db), "--n", "2", "--out", str(links))
        assert code == 0 and out == "" and "readable only by you" in err
        assert stat.S_IMODE(links.stat().st_mode) == 0o600
        with Study.open(db) as study:
            tokens = [r.token for r in study.raters()]
        assert [line.split("\t")[1] for line in links.read_text().splitlines()] == [
            f"http://127.0.0.1:8000/r/{t}" for t in tokens
        ]
        before = links.read_bytes()
        code, _out, err = run(capsys, "invite", "--study", str(db), "--n", "2", "--out", str(links))
        assert code == 2 and "already exists" in err and err.count("\n") == 1
        assert links.read_bytes() == before
        with Study.open(db) as study:
            assert len(study.raters()) == 2  # refused before inviting anyone
    finally:
        os.umask(old)


def test_import_of_a_huge_field_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, _tokens, _owner = make_study(tmp_path, per_system=1, raters=0)
    with Study.open(db) as study:
        code = study.items()[0][0]
    answers = tmp_path / "big.csv"
    answers.write_text(f"rater,item,answer,note\nw1,{code},human,ok\nw2,{code},human,{'x' * 10_000_000}\n")
    code, _out, err = run(capsys, "import", "--study", str(db), "--answers", str(answers))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "big.csv:3" in err and f"at most {csv.field_size_limit()} characters" in err
    with Study.open(db) as study:
        assert study.answer_count() == 0


def test_formula_cells_are_neutralised_and_round_trip_through_import(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    formula = "=HYPERLINK(\"http://evil.test\",\"click\")"
    db, _tokens, _owner = make_study(
        tmp_path, per_system=2, raters=0, extra={"mle": [formula, "-1 plus two"]}
    )
    sheet = tmp_path / "sheet.csv"
    assert run(capsys, "export", "--study", str(db), "--out", str(sheet))[0] == 0
    with open(sheet, encoding="utf-8", newline="") as fh:
        texts = {row["text"] for row in csv.DictReader(fh)}
    assert "'" + formula in texts and "'-1 plus two" in texts and formula not in texts
    with Study.open(db) as study:
        codes = [c for c, _s, _t in study.items()]
    platform = tmp_path / "platform.csv"
    platform.write_text(
        "worker,item,answer\n" + "".join(f"{w},{c},human\n" for w in ("+w1", "-w2", "@w3") for c in codes[:2])
    )
    assert run(capsys, "import", "--study", str(db), "--answers", str(platform), "--rater-col", "worker")[0] == 0
    out_csv = tmp_path / "all.csv"
    assert run(capsys, "results", "--study", str(db), "--csv", str(out_csv))[0] == 0
    raw = out_csv.read_text(encoding="utf-8")
    assert "'+w1," in raw and "'-w2," in raw and "'@w3," in raw
    code, out, err = run(capsys, "import", "--study", str(db), "--answers", str(out_csv))
    assert code == 0, err
    assert "imported 0 answers" in out and "6 were already" in out
    with Study.open(db) as study:
        assert sorted(r.label for r in study.raters()) == ["+w1", "-w2", "@w3"]
