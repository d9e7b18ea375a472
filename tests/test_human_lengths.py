"""Human-written items drawn after the <unk> filter keep the length distribution of all candidate lines, every
source's item lengths are recorded and shown, and sources of clearly different lengths get a warning."""

from __future__ import annotations

import json
import random
import statistics
import sys
import types
from pathlib import Path

import pytest

import cli
from seqgan.human.lengths import LENGTH_GAP, choose_like, word_count
from seqgan.human.sources import choose
from seqgan.human.store import Study
from tests.test_human_real_items import text_run

KNOWN = ["the", "cat", "sat", "on", "mat", "dog", "a", "ran", "to", "then"]  # in the run's vocabulary
RARE = ["zebra", "okapi", "lemur", "tapir", "ibex"]  # not in it: shown as <unk>
SHORTEST, LONGEST = 3, 24
RARE_AT_LONGEST = 0.9  # how likely the longest lines hold a rare word (shorter ones: in proportion)
LINES, PER_SYSTEM, SEED = 400, 40, 1
# How close the drawn real items' mean length must come to the mean of all candidates, as a fraction of it.
# The bins put back the unfiltered distribution up to rounding within bins; 5% is about half a word here.
TOLERANCE = 0.05


def corpus(seed: int = 5) -> list[str]:
    """Lines of 3 to 24 known words; the longer a line, the likelier it holds a rare word (as in real text)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(LINES):
        words = [rng.choice(KNOWN) for _ in range(rng.randint(SHORTEST, LONGEST))]
        if rng.random() < RARE_AT_LONGEST * len(words) / LONGEST:
            words[rng.randrange(len(words))] = rng.choice(RARE)
        lines.append(" ".join(words))
    return lines


def mean_words(texts: list[str]) -> float:
    return statistics.fmean(len(t.split()) for t in texts)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A text run (long enough for every line) whose test split is `corpus()`, with a fake sampler whose
    samples hold `sample_words` words."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["seqgan.human.cli"])
    run = text_run(tmp_path, f"data.seq_len={LONGEST + 2}")
    (run / "data" / "test.txt").write_text("".join(line + "\n" for line in corpus()))
    fake = types.ModuleType("seqgan.text.api")
    fake.sample_words = 13

    def sample_texts(path: str, n: int, seed: int) -> list[str]:
        return [" ".join((["the", "cat"] * fake.sample_words)[: fake.sample_words]) for _ in range(n)]

    fake.sample_texts = sample_texts
    fake.test_texts = lambda path: (Path(path) / "data" / "test.txt").read_text().splitlines()
    monkeypatch.setitem(sys.modules, "seqgan.text.api", fake)
    return run


def create(tmp_path: Path, run: Path, capsys: pytest.CaptureFixture, name: str = "s") -> tuple[str, str, Path]:
    db = tmp_path / f"{name}.db"
    capsys.readouterr()
    code = cli.main(["human-eval", "create", "--study", str(db), "--per-system", str(PER_SYSTEM), "--seed",
                     str(SEED), "--system", f"mle={run}", "--real", "test"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err, db


def test_the_corpus_is_biased_by_the_filter() -> None:
    """The premise of the tests below: lines without a rare word are clearly shorter than all lines."""
    lines = corpus()
    clean = [line for line in lines if not set(line.split()) & set(RARE)]
    assert LINES / 4 < len(clean) < LINES * 3 / 4
    assert mean_words(clean) < (1 - 2 * TOLERANCE) * mean_words(lines)


def test_real_items_keep_the_unfiltered_lengths(tmp_path, run, capsys):
    _out, _err, db = create(tmp_path, run, capsys)
    with Study.open(db) as study:
        real = [text for _code, system, text in study.items() if system == "real"]
        lengths = study.config()["lengths"]
    lines = corpus()
    shown = [" ".join("<unk>" if w in RARE else w for w in line.split()) for line in lines]  # as the run shows them
    clean = [line for line in shown if "<unk>" not in line]
    assert len(real) == PER_SYSTEM and set(real) <= set(clean)
    everything, drawn = mean_words(lines), mean_words(real)
    plain = mean_words(choose(clean, PER_SYSTEM, SEED, "clean lines"))  # what the draw gave before
    assert abs(drawn - everything) <= TOLERANCE * everything
    assert abs(drawn - everything) < abs(plain - everything) / 2
    assert lengths["real"] == {
        "items": PER_SYSTEM, "mean_words": round(drawn, 2), "median_words": statistics.median(map(word_count, real)),
        "candidates": LINES, "candidates_mean_words": round(everything, 2), "clean_candidates": len(clean),
        "clean_mean_words": round(mean_words(clean), 2), "drawn_by_length": True,
    }  # fmt: skip


@pytest.mark.parametrize("seed", range(20))
def test_the_length_matched_draw_holds_for_any_seed(seed: int) -> None:
    lines = corpus()
    clean = [line for line in lines if not set(line.split()) & set(RARE)]
    drawn = choose_like(clean, [word_count(line) for line in lines], PER_SYSTEM, seed)
    assert len(drawn) == len(set(drawn)) == PER_SYSTEM and set(drawn) <= set(clean)
    assert abs(mean_words(drawn) - mean_words(lines)) <= TOLERANCE * mean_words(lines)


def test_a_bin_without_clean_lines_is_made_up_by_the_nearest_lengths() -> None:
    """Ten bins of one length each; the two longest lose every line to the filter, so their two items are the
    longest lines left (length 8), not random ones."""
    lines = [" ".join(["w"] * length) + f" {i}" for length in range(1, 11) for i in range(10)]  # 2 to 11 words
    clean = [line for line in lines if word_count(line) <= 9]
    drawn = choose_like(clean, [word_count(line) for line in lines], 10, seed=0)
    assert sorted(word_count(line) for line in drawn) == [2, 3, 4, 5, 6, 7, 8, 9, 9, 9]


def test_machine_items_are_not_reshaped(tmp_path, run, capsys):
    """A file system's lines are drawn plainly (no length matching), even when the filter dropped some."""
    lines = corpus()
    machine = tmp_path / "machine.txt"
    machine.write_text("".join(" ".join("<unk>" if w in RARE else w for w in line.split()) + "\n" for line in lines))
    db = tmp_path / "m.db"
    capsys.readouterr()
    assert cli.main(["human-eval", "create", "--study", str(db), "--per-system", str(PER_SYSTEM), "--seed",
                     str(SEED), "--system", f"file={machine}"]) == 0
    clean = [line for line in machine.read_text().splitlines() if "<unk>" not in line]
    with Study.open(db) as study:
        items = sorted(text for _code, _system, text in study.items())
        lengths = study.config()["lengths"]
    assert items == sorted(choose(clean, PER_SYSTEM, SEED, "clean lines"))
    assert lengths["file"] == {"items": PER_SYSTEM, "mean_words": round(mean_words(items), 2),
                               "median_words": statistics.median(map(word_count, items))}


def test_lengths_are_printed_and_close_sources_get_no_warning(tmp_path, run, capsys):
    out, err, db = create(tmp_path, run, capsys)
    with Study.open(db) as study:
        lengths = study.config()["lengths"]
    assert lengths["mle"] == {"items": PER_SYSTEM, "mean_words": 13.0, "median_words": 13}
    printed = [line for line in out.splitlines() if line.startswith("length of ")]
    assert len(printed) == 2 and printed[0].startswith("length of mle items (40): mean 13.0 words, median 13")
    assert f"all {LINES} candidates before the <unk> filter: mean {mean_words(corpus()):.1f}" in printed[1]
    assert "warning" not in err
    capsys.readouterr()
    assert cli.main(["human-eval", "results", "--study", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["study"]["lengths"] == lengths and report["study"]["length_warning"] is None


def test_sources_of_different_lengths_get_a_warning_everywhere(tmp_path, run, capsys):
    pytest.importorskip("flask")
    from seqgan.human.app import create_app

    long_words = round(mean_words(corpus()) * (1 + 2 * LENGTH_GAP))  # clearly beyond the gap
    sys.modules["seqgan.text.api"].sample_words = long_words
    _out, err, db = create(tmp_path, run, capsys)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert f"mle {long_words:.1f}" in warnings[0] and "real " in warnings[0] and "mle is" in warnings[0]
    assert "length alone can tell raters the sources apart" in warnings[0]
    capsys.readouterr()
    assert cli.main(["human-eval", "results", "--study", str(db)]) == 0
    text = capsys.readouterr().out
    assert "Item lengths (words):" in text and warnings[0] in text.splitlines()
    with Study.open(db) as study:
        organiser = study.organiser_token
    page = create_app(db).test_client().get(f"/o/{organiser}").get_data(as_text=True)
    assert 'id="length-warning"' in page and "length alone can tell raters the sources apart" in page
    assert "Length of the mle items (40): mean" in page
