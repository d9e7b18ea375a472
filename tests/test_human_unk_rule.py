"""No item of a study shows <unk>: real lines outside the run's vocabulary and samples holding <unk> are left
out of every source before drawing, the counts are recorded, and too few texts left is a warning (none an error)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

import cli
from seqgan.human.store import Study
from tests.test_human_real_items import text_run

CLEAN = ["the dog sat on the mat.", "the cat ran to the dog.", "a cat sat (on the mat).", "the dog ran, then sat."]
OOV = [f"the {word} sat on the mat." for word in ("zebra", "okapi", "lemur", "tapir", "ibex", "gnu", "yak", "emu")]
# Every source's texts without <unk> are 5 to 6 words long, so no length warning is due (tests/test_human_lengths).
FILE_LINES = ["one <unk> here", "a line without it at all", "another <unk>", "plain text on one short line",
              "more plain text on one line"]


def sample(i: int) -> str:
    """The fake model's i-th sample: every third one holds <unk>."""
    return f"the <unk> sat {i}" if i % 3 == 0 else f"the cat sat on mat {i}"


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[tuple[int, int]]]:
    """A text run whose test split is mostly out of vocabulary, a fake sampler for it, and a samples file."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["seqgan.human.cli"])
    run = text_run(tmp_path)
    (run / "data" / "test.txt").write_text("".join(line + "\n" for line in OOV + CLEAN))
    (tmp_path / "samples.txt").write_text("".join(line + "\n" for line in FILE_LINES))
    calls: list[tuple[int, int]] = []

    def sample_texts(path: str, n: int, seed: int) -> list[str]:
        calls.append((n, seed))
        return [sample(i) for i in range(n)]

    def test_texts(path: str) -> list[str]:
        return (Path(path) / "data" / "test.txt").read_text().splitlines()

    fake = types.ModuleType("seqgan.text.api")
    fake.sample_texts, fake.test_texts = sample_texts, test_texts
    monkeypatch.setitem(sys.modules, "seqgan.text.api", fake)
    return run, calls


def create(tmp_path: Path, run: Path, per_system: int, capsys: pytest.CaptureFixture) -> tuple[int, str, str, Path]:
    db = tmp_path / f"s{per_system}.db"
    capsys.readouterr()
    code = cli.main(["human-eval", "create", "--study", str(db), "--per-system", str(per_system), "--seed", "1",
                     "--system", f"mle={run}", "--system", f"file={tmp_path / 'samples.txt'}", "--real", "test"])
    out, err = capsys.readouterr()
    return code, out, err, db


def test_no_item_shows_unk_and_the_counts_are_recorded(tmp_path, setup, capsys):
    run, calls = setup
    code, out, err, db = create(tmp_path, run, 3, capsys)
    assert code == 0, err
    assert calls == [(3, 1), (12, 1)]  # 3 samples hold 2 without <unk>: a pool of 4 x 3 is drawn
    with Study.open(db) as study:
        items = study.items()
        config = study.config()
    assert len(items) == 9 and not [text for _code, _system, text in items if "<unk>" in text]
    real = sorted(text for _code, system, text in items if system == "real")
    assert set(real) <= set(CLEAN) and len(real) == 3
    assert config["draws"] == {
        "mle": {"considered": 12, "dropped_unk": 4, "requested": 3, "used": 3},
        "file": {"considered": 5, "dropped_unk": 2, "requested": 3, "used": 3},
        "real": {"considered": 12, "dropped_unk": 8, "requested": 3, "used": 3},
    }
    assert "no item shows <unk>" in config["unk_rule"] and config["real_through_run"] == str(run)
    assert "left out for <unk>" in out and "real 8 of 12" in out and "--n 20" in out
    assert "warning" not in err


def test_real_lines_go_through_the_run_before_the_rule(tmp_path, setup, capsys):
    """Real lines are checked for <unk> as the run shows them: a word outside the vocabulary counts."""
    run, _calls = setup
    assert "zebra" not in (run / "tokenizer.json").read_text()
    _code, _out, _err, db = create(tmp_path, run, 4, capsys)
    with Study.open(db) as study:
        real = sorted(text for _code, system, text in study.items() if system == "real")
    assert real == sorted(CLEAN)  # the only 4 of the 12 test lines that the vocabulary covers


def test_too_few_texts_without_unk_warns_and_records_it(tmp_path, setup, capsys):
    run, _calls = setup
    code, out, err, db = create(tmp_path, run, 5, capsys)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "real: 8 of the 12 texts considered hold <unk> and were left out, leaving 4 items" in err
    assert "--per-system 4 for the same number" in err and "file: 2 of the 5" in err
    with Study.open(db) as study:
        counts = {name: 0 for name in ("mle", "file", "real")}
        for _code, system, _text in study.items():
            counts[system] += 1
        draws = study.config()["draws"]
    assert counts == {"mle": 5, "file": 3, "real": 4}
    assert draws["real"]["used"] == 4 and draws["real"]["requested"] == 5 and "12 blinded items" in out


def test_no_text_without_unk_is_a_one_line_error(tmp_path, setup, capsys):
    run, _calls = setup
    (run / "data" / "test.txt").write_text("".join(line + "\n" for line in OOV))
    code, _out, err, db = create(tmp_path, run, 3, capsys)
    assert code == 2 and not db.exists()
    assert err.count("\n") == 1 and "every one of the 8 texts" in err and "<unk>" in err


def test_organiser_page_and_results_say_how_items_were_drawn(tmp_path, setup, capsys):
    pytest.importorskip("flask")
    from seqgan.human.app import create_app

    run, _calls = setup
    _code, _out, _err, db = create(tmp_path, run, 3, capsys)
    with Study.open(db) as study:
        organiser = study.organiser_token
    page = create_app(db).test_client().get(f"/o/{organiser}").get_data(as_text=True)
    assert "No item shows &lt;unk&gt;" in page and "real 12 considered, 8 left out, 3 used" in page
    assert f"tokenizer, length limit and decoding of {run}" in page
    assert "unknown words show as" not in page  # the old sentence is only for studies made before the rule
    capsys.readouterr()
    assert cli.main(["human-eval", "results", "--study", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["study"]["draws"]["file"] == {"considered": 5, "dropped_unk": 2, "requested": 3, "used": 3}
