"""The study in a real headless browser (Debian's chromium driven by Playwright): raters click and type.

Set HUMAN_EVAL_SCREENSHOTS=docs/img to refresh the screenshots in the docs.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("flask")
pytest.importorskip("waitress")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

import cli  # noqa: E402
from seqgan.human.store import Study  # noqa: E402
from tests.test_human_support import make_study, running_server  # noqa: E402

SCRIPT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def judge(rater: str, text: str) -> tuple[bool, int]:
    """A simulated rater's answer to a text: (judged human, fluency 1-5), fixed per rater and text."""
    rng = random.Random(f"{rater}|{text}")
    return rng.random() < 0.55, rng.randint(1, 5)


def answer_by_clicks(page, rater: str, expected: dict) -> None:
    text = page.inner_text("#sample")
    human, fluency = judge(rater, text)
    page.click(f'.fluency label:has(input[value="{fluency}"])')
    with page.expect_navigation():
        page.click("#btn-human" if human else "#btn-machine")
    expected.append((text, human, fluency))


def answer_by_keys(page, rater: str, expected: list) -> None:
    text = page.inner_text("#sample")
    human, fluency = judge(rater, text)
    page.keyboard.press(str(fluency))
    with page.expect_navigation():
        page.keyboard.press("h" if human else "m")
    expected.append((text, human, fluency))


def test_two_raters_complete_a_study_one_resumes(
    browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    db, tokens, owner = make_study(tmp_path, per_system=4, raters=2, fluency=True)
    answers: dict[str, list] = {"A": [], "B": []}
    with running_server(db) as base:
        # Rater A answers everything with the mouse (or a finger: buttons and fluency chips are big).
        ctx = browser.new_context(viewport={"width": 420, "height": 800})
        page = ctx.new_page()
        page.goto(f"{base}r/{tokens[0]}")
        for k in range(12):
            assert page.inner_text("#count") == f"Item {k + 1} of 12"
            answer_by_clicks(page, "A", answers["A"])
        assert "You have judged all 12 texts" in page.inner_text("#done")
        ctx.close()

        # Rater B uses the keyboard; H without a fluency is refused by the form and saves nothing.
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(f"{base}r/{tokens[1]}")
        page.keyboard.press("h")
        page.wait_for_timeout(200)
        assert page.inner_text("#count") == "Item 1 of 12"
        for _ in range(6):
            answer_by_keys(page, "B", answers["B"])
        assert page.inner_text("#count") == "Item 7 of 12"
        ctx.close()  # B stops halfway: closes the browser ...

        ctx = browser.new_context()  # ... and comes back later with the same link, on a fresh browser
        page = ctx.new_page()
        page.goto(f"{base}r/{tokens[1]}")
        assert page.inner_text("#count") == "Item 7 of 12"
        for _ in range(6):
            answer_by_keys(page, "B", answers["B"])
        assert "You have judged all 12 texts" in page.inner_text("#done")
        ctx.close()

    # Each rater saw every item exactly once, in their own order.
    texts_a = [t for t, _h, _f in answers["A"]]
    texts_b = [t for t, _h, _f in answers["B"]]
    assert sorted(texts_a) == sorted(texts_b) == sorted(owner) and texts_a != texts_b

    monkeypatch.setattr(cli, "COMMAND_MODULES", ["seqgan.human.cli"])
    capsys.readouterr()
    assert cli.main(["human-eval", "results", "--study", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["answers"] == 24 and report["raters"] == 2
    for row in report["systems"]:
        mine = [(h, f) for rater in answers.values() for t, h, f in rater if owner[t] == row["system"]]
        assert row["answers"] == len(mine) == 8
        assert row["judged_human"] == sum(h for h, _f in mine)
        assert row["score"] == sum(h for h, _f in mine) / 8
        assert row["fluency"] == pytest.approx(sum(f for _h, f in mine) / 8)
    pair = {(p["a"], p["b"]): p for p in report["pairwise"]}[("mle", "seqgan")]
    assert pair["permutation"]["kind"] == "paired" and pair["permutation"]["exact"]


def test_script_sample_is_inert_in_the_browser(browser, tmp_path: Path) -> None:
    db, tokens, _owner = make_study(tmp_path, per_system=2, raters=1, extra={"mle": [SCRIPT, "harmless"]})
    dialogs: list[str] = []
    with running_server(db) as base:
        ctx = browser.new_context()
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}r/{tokens[0]}")
        seen = False
        for _ in range(6):
            if page.inner_text("#sample") == SCRIPT:
                seen = True
                assert page.locator("#sample script, #sample img").count() == 0
                page.wait_for_timeout(100)
            assert page.evaluate("window.__pwned") is None
            with page.expect_navigation():
                page.keyboard.press("m")
        ctx.close()
    assert seen and dialogs == []


HALVES = {
    "real": (
        [
            "the river keeps the colour of the evening",
            "a lamp in the window",
            "old friends at the gate",
            "wind over the reeds",
            "rain on the stone steps",
        ],
        [
            "long after the sun has gone",
            "and the snow still falling on the road home",
            "while the plum tree bends under its first blossoms",
            "and somewhere a boat untied from the shore",
        ],
    ),
    "seqgan": (
        [
            "the moon over the mountain",
            "spring rain on the bridge",
            "a bird returns to the hills",
            "the green hills stand",
            "the cold water shines",
        ],
        [
            "and the willow sleeps beside the empty road",
            "where the autumn leaves are falling",
            "and the clouds go home to the east",
            "in the night of the long river",
        ],
    ),
    "mle": (
        [
            "the the wind of the flowers",
            "moon light the light of spring",
            "where the cold and the and",
            "a boat on the a boat",
            "the sky of the sky",
        ],
        [
            "in the road of the river is",
            "the spring light of the moon",
            "the mountain water the white",
            "of the the night of",
        ],
    ),
}


def test_screenshots_of_rater_and_organiser_pages(browser, tmp_path: Path) -> None:
    lines = {name: [f"{a} {b}" for a in first for b in second] for name, (first, second) in HALVES.items()}
    db, tokens, owner = make_study(tmp_path, per_system=20, raters=8, fluency=True, extra=lines)
    rates = {"real": 0.62, "seqgan": 0.53, "mle": 0.40}
    with Study.open(db) as study:
        rng = random.Random(7)  # a draw whose ordering looks like the paper's: mle < seqgan < real
        for i, rater in enumerate(study.raters()):
            stop = [60, 60, 60, 60, 60, 41, 17, 0][i]
            for _ in range(stop):
                item = study.next_item(rater.id)
                system = owner[item.text]
                study.record_answer(rater.id, item.code, rng.random() < rates[system], rng.randint(2, 5))
    with running_server(db) as base:
        ctx = browser.new_context(viewport={"width": 430, "height": 600}, device_scale_factor=2)
        page = ctx.new_page()
        page.goto(f"{base}r/{tokens[6]}")
        page.click('.fluency label:has(input[value="4"])')
        rater_png = tmp_path / "human_eval_rater.png"
        page.screenshot(path=str(rater_png), full_page=True)
        ctx.close()
        with Study.open(db) as study:
            organiser = study.organiser_token
        ctx = browser.new_context(viewport={"width": 1180, "height": 900})
        page = ctx.new_page()
        page.goto(f"{base}o/{organiser}")
        assert page.locator("#results tbody tr").count() == 3
        assert page.locator("#raters tbody tr").count() == 8
        organiser_png = tmp_path / "human_eval_organiser.png"
        page.screenshot(path=str(organiser_png), full_page=True)
        ctx.close()
    for png in (rater_png, organiser_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    target = os.environ.get("HUMAN_EVAL_SCREENSHOTS")
    if target:
        for png in (rater_png, organiser_png):
            shutil.copy(png, Path(target) / png.name)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 5 * 60 + 41 + 17
