"""`seqgan human-eval results` as text: the per-source count is of items answered, and its column says so."""

from __future__ import annotations

from pathlib import Path

import pytest

import cli
from seqgan.human.store import Study
from tests.test_human_support import make_study


def test_the_per_source_column_counts_items_answered_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The header line counts every item of the study (12); a source's column counted only the items answered
    (here 1 of its 4) under the heading "items", which read as the same count."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["seqgan.human.cli"])
    db, _tokens, _owner = make_study(tmp_path, per_system=4, raters=1)
    with Study.open(db) as study:
        rater = study.raters()[0]
        answered: dict[str, int] = {}
        for _ in range(2):  # two answers: at most two sources have an item answered
            item = study.next_item(rater.id)
            assert item is not None and study.record_answer(rater.id, item.code, True)
            system = next(s for c, s, _t in study.items() if c == item.code)
            answered[system] = answered.get(system, 0) + 1
    capsys.readouterr()
    assert cli.main(["human-eval", "results", "--study", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ": 12 items," in lines[0]
    head = next(line for line in lines if line.startswith("source"))
    assert head.split()[1] == "answered", head
    for line in lines[lines.index(head) + 1:]:
        if not line.strip() or line.startswith("("):
            break
        source = line.split()[0]
        assert int(line.split()[2 if line.split()[1] == "*" else 1]) == answered.get(source, 0), line
