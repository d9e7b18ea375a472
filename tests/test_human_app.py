"""The rating web app through Flask's test client: tokens, escaping, blinding, one answer per item."""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")

from seqgan.human.app import CSP, create_app  # noqa: E402
from seqgan.human.group_commit import GroupCommit  # noqa: E402
from seqgan.human.report import csv_cell, read_cell, write_items_csv  # noqa: E402
from seqgan.human.server import is_loopback  # noqa: E402
from seqgan.human.store import Study, SystemSpec  # noqa: E402
from tests.test_human_support import make_study  # noqa: E402

SCRIPT = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)> & \"quotes\" 'too'"


def answers_in_db(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT rater_id, item_id, human, fluency FROM answers ORDER BY rowid").fetchall()


def item_code(html: str) -> str:
    return re.search(r'name="item" value="([0-9a-f]{10})"', html).group(1)


@pytest.fixture
def study(tmp_path: Path):
    db, tokens, owner = make_study(
        tmp_path, per_system=3, raters=2, extra={"seqgan": [SCRIPT, "plain a", "plain b"]}
    )
    app = create_app(db)
    app.config["TESTING"] = True
    with Study.open(db) as s:
        organiser = s.organiser_token
    return db, tokens, owner, app.test_client(), organiser


def test_rating_page_shows_one_item_with_progress_and_security_headers(study) -> None:
    _db, tokens, owner, client, _org = study
    resp = client.get(f"/r/{tokens[0]}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Item <strong>1</strong> of 9" in html
    assert 'id="btn-human"' in html and 'id="btn-machine"' in html
    assert '<meta name="viewport"' in html
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert client.get("/assets/rate.js").status_code == 200
    assert client.get("/assets/style.css").headers["Content-Type"].startswith("text/css")


def test_script_sample_is_escaped(study) -> None:
    db, tokens, _owner, client, _org = study
    seen = False
    for _ in range(9):
        html = client.get(f"/r/{tokens[0]}").get_data(as_text=True)
        assert "<script>window" not in html and "<img src=x" not in html
        if "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html:
            seen = True
        client.post(f"/r/{tokens[0]}/answer", data={"item": item_code(html), "answer": "machine"})
    assert seen
    done = client.get(f"/r/{tokens[0]}").get_data(as_text=True)
    assert "You have judged all 9 texts" in done and "<script" not in done


def test_rater_pages_never_name_the_system(study) -> None:
    _db, tokens, owner, client, _org = study
    shown = []
    for _ in range(9):
        html = client.get(f"/r/{tokens[1]}").get_data(as_text=True)
        for name in ("mle", "seqgan", "real"):
            assert not re.search(rf"\b{name}\b", html, re.IGNORECASE), name
        code = item_code(html)
        shown.append(code)
        assert (
            client.post(f"/r/{tokens[1]}/answer", data={"item": code, "answer": "human"}).status_code == 303
        )
    assert len(set(shown)) == 9
    assert "You have judged all 9 texts" in client.get(f"/r/{tokens[1]}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/r/"),
        ("get", "/r/forged-token-forged-token"),
        ("get", "/r/<script>"),
        ("get", "/o/forged-organiser-token-xyz"),
        ("get", "/o/forged-organiser-token-xyz/answers.csv"),
        ("get", "/o/forged-organiser-token-xyz/results.json"),
        ("get", "/assets/../study.db"),
        ("post", "/r/forged-token-forged-token/answer"),
        ("post", "/r//answer"),
        ("post", "/answer"),
        ("post", "/r/"),
    ],
)
def test_missing_or_forged_token_is_403_and_writes_nothing(study, method: str, path: str) -> None:
    db, tokens, _owner, client, _org = study
    code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
    before = answers_in_db(db)
    resp = getattr(client, method)(path, data={"item": code, "answer": "human"})
    assert resp.status_code == 403
    body = resp.get_data(as_text=True)
    assert code not in body and "Item" not in body
    assert answers_in_db(db) == before == []


def test_tokens_do_not_cross_roles(study) -> None:
    db, tokens, _owner, client, organiser = study
    assert client.get(f"/o/{tokens[0]}").status_code == 403
    assert client.get(f"/r/{organiser}").status_code == 403
    code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/r/{organiser}/answer", data={"item": code, "answer": "human"}).status_code == 403
    assert answers_in_db(db) == []


def test_double_answer_is_not_counted_twice_and_says_so(study) -> None:
    db, tokens, _owner, client, _org = study
    code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
    first = client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "human"})
    assert first.status_code == 303 and first.headers["Location"].endswith(f"/r/{tokens[0]}")
    again = client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "machine"})
    assert again.status_code == 409
    html = again.get_data(as_text=True)
    assert "already answered" in html and "first answer stands" in html
    assert "Item <strong>2</strong> of 9" in html  # and it carries on with the next item
    rows = answers_in_db(db)
    assert len(rows) == 1 and rows[0][2] == 1


def test_bad_posts_write_nothing(study) -> None:
    db, tokens, _owner, client, _org = study
    code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "maybe"}).status_code == 400
    assert client.post(f"/r/{tokens[0]}/answer", data={"item": code}).status_code == 400
    resp = client.post(f"/r/{tokens[0]}/answer", data={"item": "0123456789", "answer": "human"})
    assert resp.status_code == 400 and "not one of yours" in resp.get_data(as_text=True)
    assert (
        client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "h" * 100_000}).status_code == 413
    )
    assert client.get(f"/r/{tokens[0]}/answer").status_code == 403
    assert answers_in_db(db) == []


def test_fluency_is_required_when_asked(tmp_path: Path) -> None:
    db, tokens, _owner = make_study(tmp_path, per_system=2, raters=1, fluency=True)
    client = create_app(db).test_client()
    html = client.get(f"/r/{tokens[0]}").get_data(as_text=True)
    assert html.count('name="fluency"') == 5
    code = item_code(html)
    assert client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "human"}).status_code == 400
    bad = client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "human", "fluency": "9"})
    assert bad.status_code == 400 and answers_in_db(db) == []
    ok = client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "human", "fluency": "4"})
    assert ok.status_code == 303
    assert answers_in_db(db)[0][2:] == (1, 4)


def test_resume_continues_in_the_raters_own_order(study) -> None:
    db, tokens, _owner, client, _org = study
    first_codes = []
    for _ in range(4):
        code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
        first_codes.append(code)
        client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "human"})
    # A new client (another device, no cookies) with the same link carries on at item 5.
    other = create_app(db).test_client()
    html = other.get(f"/r/{tokens[0]}").get_data(as_text=True)
    assert "Item <strong>5</strong> of 9" in html and item_code(html) not in first_codes
    with Study.open(db) as s:
        rater = s.rater_by_token(tokens[0])
        order = [
            row[0]
            for row in s.conn.execute(
                "SELECT i.code FROM assignments a JOIN items i ON i.id = a.item_id"
                " WHERE a.rater_id = ? ORDER BY a.position",
                (rater.id,),
            )
        ]
    assert order[:4] == first_codes and order[4] == item_code(html)


def test_organiser_page_shows_progress_and_results(study) -> None:
    db, tokens, _owner, client, organiser = study
    for _ in range(3):
        code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
        client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "human"})
    resp = client.get(f"/o/{organiser}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'http-equiv="refresh"' in html
    assert re.search(r"r001</td>.*?3 / 9", html, re.S) and re.search(r"r002</td>.*?0 / 9", html, re.S)
    for name in ("mle", "seqgan", "real"):
        assert f"<td>{name}" in html
    assert "<script" not in html and "&lt;script&gt;" not in html  # texts are not shown there at all
    csv_text = client.get(f"/o/{organiser}/answers.csv").get_data(as_text=True)
    assert csv_text.count("\n") == 4 and csv_text.startswith("rater,item,system,answer")
    report = client.get(f"/o/{organiser}/results.json").get_json()
    assert report["answers"] == 3 and sum(r["judged_human"] for r in report["systems"]) == 3


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.com")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("OPTIONS", "/r/{token}"),
        ("OPTIONS", "/r/{token}/answer"),
        ("OPTIONS", "/o/{organiser}"),
        ("OPTIONS", "/assets/rate.js"),
        ("OPTIONS", "/"),
        ("PUT", "/r/{token}"),
        ("DELETE", "/r/{token}"),
        ("PATCH", "/r/{token}/answer"),
        ("TRACE", "/o/{organiser}"),
        ("POST", "/o/{organiser}/results.json"),
        ("GET", "/o//results.json"),
        ("GET", "/o/{organiser}//results.json"),
        ("GET", "//o/{organiser}"),
        ("GET", "/r//{token}"),
        ("GET", "/r/{token}/"),
        ("POST", "/r/{token}//answer"),
        ("GET", "/assets//rate.js"),
    ],
)
def test_methods_and_paths_not_served_are_403_never_a_redirect(study, method: str, path: str) -> None:
    db, tokens, _owner, client, organiser = study
    code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
    resp = client.open(
        path.format(token=tokens[0], organiser=organiser), method=method, data={"item": code, "answer": "human"}
    )
    assert resp.status_code == 403
    assert "Location" not in resp.headers and "Allow" not in resp.headers
    assert resp.headers["Content-Security-Policy"] == CSP
    assert answers_in_db(db) == []


def test_head_is_answered_like_get_without_a_body(study) -> None:
    _db, tokens, _owner, client, organiser = study
    for path in (f"/r/{tokens[0]}", f"/o/{organiser}/results.json", "/assets/style.css"):
        resp = client.head(path)
        assert resp.status_code == 200 and resp.get_data() == b""


def test_study_file_and_its_wal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which makes new files 0644
    try:
        db, tokens, _owner = make_study(tmp_path, per_system=2, raters=1)
    finally:
        os.umask(old)
    client = create_app(db).test_client()
    code = item_code(client.get(f"/r/{tokens[0]}").get_data(as_text=True))
    assert client.post(f"/r/{tokens[0]}/answer", data={"item": code, "answer": "human"}).status_code == 303
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    assert all(f.exists() for f in files)  # the app keeps its connection open: the WAL files stay
    assert [stat.S_IMODE(f.stat().st_mode) for f in files] == [0o600, 0o600, 0o600]


FORMULAS = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tpadded", "\rcarriage"]


def test_csv_cells_starting_like_a_formula_get_a_leading_quote(tmp_path: Path) -> None:
    plain = ["plain one", "it's fine = here", "a 'quoted' one"]
    texts = {"mle": FORMULAS[:3], "seqgan": FORMULAS[3:], "real": plain}
    specs = [SystemSpec("mle", "t"), SystemSpec("seqgan", "t"), SystemSpec("real", "t", is_real=True)]
    db = tmp_path / "f.db"
    with Study.create(db, specs, texts, seed=3) as s:
        buf = io.StringIO()
        assert write_items_csv(s, buf) == 9
        rater = s.add_raters(1, prefix="-x")[0]  # a label may start with "-"
        for code, _system, _text in s.items()[:2]:
            s.record_answer(rater.id, code, True)
        organiser = s.organiser_token
    cells = {row["text"] for row in csv.DictReader(io.StringIO(buf.getvalue(), newline=""))}
    # OWASP's rule, spelled out: a cell starting with = + - @ tab or CR is prefixed with a single quote.
    assert cells == {"'" + t for t in FORMULAS} | set(plain)
    sheet = create_app(db).test_client().get(f"/o/{organiser}/answers.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(sheet, newline="")))
    assert len(rows) == 2 and {r["rater"] for r in rows} == {"'-x001"}
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r.values())


def test_read_cell_undoes_only_the_guard() -> None:
    for text in [*FORMULAS, "plain", "'plain", "''", "'", ""]:
        assert read_cell(csv_cell(text)) == text
    assert read_cell("'quoted by the author") == "'quoted by the author"
    assert read_cell(None) == ""


def test_concurrent_answers_share_a_commit_and_each_gets_its_own_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, tokens, _owner = make_study(tmp_path, per_system=2, raters=3)
    with Study.open(db) as s:
        raters = [s.rater_by_token(t).id for t in tokens]
        codes = [c for c, _s, _t in s.items()]
    jobs = [(r, codes[k], (r + k) % 2 == 0) for r in raters for k in range(2)]
    jobs += [(raters[0], codes[0], True), (raters[0], codes[0], False)]  # the same item twice more (double post)
    jobs.append((raters[1], "ffffffffff", True))  # not one of theirs
    calls: list[int] = []
    original = Study.record_answers

    def slow_disk(self: Study, answers: list, source: str = "web") -> list:
        calls.append(len(answers))
        time.sleep(0.05)  # a slow sync: the other requests queue up meanwhile
        return original(self, answers, source)

    monkeypatch.setattr(Study, "record_answers", slow_disk)
    writer = GroupCommit()
    barrier = threading.Barrier(len(jobs))
    results: dict[int, bool | None] = {}

    def post(i: int) -> None:
        with Study.open(db) as s:  # each request thread has its own connection, as in the app
            barrier.wait()
            results[i] = writer.record(s, *jobs[i], None)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sum(calls) == len(jobs) and len(calls) < len(jobs)  # grouped, and every answer written once
    assert results[len(jobs) - 1] is None
    first = (raters[0], codes[0])
    same = [i for i, job in enumerate(jobs) if job[:2] == first]
    assert sorted(results[i] for i in same) == [False, False, True]  # exactly one of the three was stored
    winner = next(jobs[i] for i in same if results[i])
    assert all(results[i] is True for i, job in enumerate(jobs[:-1]) if job[:2] != first)
    with Study.open(db) as s:
        stored = {(r, c): h for r, c, h in s.conn.execute(
            "SELECT x.rater_id, i.code, x.human FROM answers x JOIN items i ON i.id = x.item_id"
        )}
    expected = {job[:2]: int(job[2]) for i, job in enumerate(jobs[:-1]) if job[:2] != first}
    expected[first] = int(winner[2])
    assert stored == expected
