"""tools/refrontier.py: stored compare reports re-judged by the current frontier rule, everything else kept."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from seqgan.base.errors import UserError
from seqgan.base.files import atomic_write_json
from seqgan.text.frontier import FRONTIER_RULE, OUTSIDE_SWEEP
from seqgan.text.verdict import report_markdown

_spec = importlib.util.spec_from_file_location("refrontier", Path(__file__).parent.parent / "tools" / "refrontier.py")
refrontier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refrontier)

# MLE's sweep on the oracle plane, (NLL-test, NLL-oracle), both lower-is-better: NLL-test spans 8.5 to 10.0
CURVE = [(0.8, 10.0, 8.6), (1.0, 9.0, 9.0), (1.2, 8.5, 9.4)]
# system -> (NLL-test, NLL-oracle, the verdict of the current rule); every stored verdict is the old rule's "yes"
SYSTEMS = {
    "collapsed": (11.0, 1.0, OUTSIDE_SWEEP),  # far better NLL-oracle, but less diverse than every temperature
    "over_diverse": (8.0, 9.6, OUTSIDE_SWEEP),  # more diverse than every temperature, no temperature as good
    "dominated": (9.5, 9.5, False),  # temperature 1 is better on both axes
    "beyond": (9.2, 8.7, True),  # inside the range, below the line from (9.0, 9.0) to (10.0, 8.6)
}


def _oracle_report() -> dict:
    """A small `seqgan compare` report.json as the earlier rule wrote it: no frontier_rule, every method "yes"."""
    def point(nll_test: float, nll_oracle: float, t: float = 1.0) -> dict:
        return {"temperature": t, "n": 100, "nll_oracle": nll_oracle, "nll_test": nll_test}

    systems = {"mle": {**point(*CURVE[1][1:]), "method": "mle", "beyond_reference_curve": "reference"}}
    for name, (x, y, _) in SYSTEMS.items():
        systems[name] = {**point(x, y), "method": name, "beyond_reference_curve": True}
    return {"task": "oracle:tiny", "kind": "oracle", "n": 100, "seed": 0, "checkpoint": "last", "baseline": "mle",
            "metric_for_tests": "nll_oracle", "reference": "mle", "systems": systems,
            "significance": {n: {"mann_whitney_p": 0.5, "welch_p": 0.5, "difference": 0.1} for n in SYSTEMS},
            "temperature_curve": [point(x, y, t) for t, x, y in CURVE], "real_text": None,
            "training_curves": {"mle": [{"phase": "pretrain_g", "epoch": 1, "nll_oracle": 9.5, "step": 1}]},
            "verdict": ["an old sentence"]}


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    report = _oracle_report()
    atomic_write_json(path, report)
    (tmp_path / "report.md").write_text(report_markdown(report), encoding="utf-8")
    return path


def test_verdicts_rewritten_by_the_current_rule(stored: Path):
    old = json.loads(stored.read_text(encoding="utf-8"))
    changes = refrontier.refrontier(stored)
    new = json.loads(stored.read_text(encoding="utf-8"))
    expected = {name: v for name, (_, _, v) in SYSTEMS.items()}
    assert {n: p["beyond_reference_curve"] for n, p in new["systems"].items()} == {"mle": "reference", **expected}
    assert {(n, o, v) for n, o, v in changes} == {(n, True, v) for n, v in expected.items() if v is not True}
    keys = list(new)
    assert new["frontier_rule"] == FRONTIER_RULE and keys.index("frontier_rule") == keys.index("reference") + 1
    assert any("collapsed" in s and "outside the range" in s for s in new["verdict"])
    assert "an old sentence" not in new["verdict"]
    # everything but the verdicts and the rule's name is as it was
    for report in (old, new):
        report.pop("frontier_rule", None), report.pop("verdict")
        for p in report["systems"].values():
            p.pop("beyond_reference_curve")
    assert new == old
    md = (stored.parent / "report.md").read_text(encoding="utf-8")
    assert f"| collapsed | 1.000 | 11.000 | {OUTSIDE_SWEEP} |" in md and "| beyond | 8.700 | 9.200 | yes |" in md
    assert "| dominated | 9.500 | 9.500 | no |" in md and f"rule {FRONTIER_RULE}" in md


def test_second_run_changes_nothing(stored: Path):
    refrontier.refrontier(stored)
    md = stored.parent / "report.md"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (stored, md)}
    assert refrontier.refrontier(stored) == []
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (stored, md)} == before


def test_text_plane_collapsed_generator_is_outside_the_sweep():
    # text: Self-BLEU-4 lower-is-better, BLEU-4 higher-is-better; a collapsed generator has high BLEU and a
    # Self-BLEU above MLE's coldest temperature
    curve = [{"temperature": t, "self_bleu4": s, "bleu4": b} for t, s, b in [(0.6, 0.74, 0.46), (1.0, 0.37, 0.32)]]
    systems = {"mle": {**curve[1], "beyond_reference_curve": "reference"},
               "collapsed": {"self_bleu4": 0.78, "bleu4": 0.52, "beyond_reference_curve": True},
               "worse": {"self_bleu4": 0.44, "bleu4": 0.30, "beyond_reference_curve": True}}
    report = {"kind": "text", "reference": "mle", "systems": systems, "temperature_curve": curve}
    new, _ = refrontier.rejudge(copy.deepcopy(report))
    assert new["systems"]["collapsed"]["beyond_reference_curve"] == OUTSIDE_SWEEP
    assert new["systems"]["worse"]["beyond_reference_curve"] is False


def test_report_without_a_curve_is_a_user_error(stored: Path, capsys):
    report = json.loads(stored.read_text(encoding="utf-8"))
    report["reference"], report["temperature_curve"] = None, []
    atomic_write_json(stored, report)
    with pytest.raises(UserError, match="no temperature curve"):
        refrontier.refrontier(stored)
    assert refrontier.main([str(stored)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
