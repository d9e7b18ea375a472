"""tools/equal_time.py: image runs compared at the same training time, on hand-made runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def _run(folder: Path, seconds: list[float], fids: dict[int, float]) -> Path:
    """A run folder: train_s of epochs 1..n (and an eval_s that must not count), FIDs at the given epochs."""
    folder.mkdir(parents=True)
    timing = [{"phase": "adversarial", "epoch": e, "train_s": s} for e, s in enumerate(seconds, 1)]
    timing.append({"phase": "adversarial", "epoch": len(seconds), "eval_s": 1000.0})
    (folder / "timing.jsonl").write_text("".join(json.dumps(r) + "\n" for r in timing))
    evals = [{"event": "eval", "epoch": e, "fid": f} for e, f in fids.items()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    return folder


def _tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "tools/equal_time.py", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_fids_are_read_at_the_shorter_variants_training_time(tmp_path):
    # slow: 3 s per epoch (one stall of 500 s that the median ignores), 4 epochs = 12 s
    slow = _run(tmp_path / "slow" / "seed1", [3, 3, 500, 3], {0: 100.0, 2: 50.0, 4: 20.0})
    # fast: 1 s per epoch, 14 epochs; at 12 s its last evaluation at or before is epoch 10 (10 s)
    _run(tmp_path / "fast" / "seed1", [1] * 14, {0: 100.0, 5: 40.0, 10: 30.0, 14: 28.0})
    _run(tmp_path / "fast" / "seed2", [1] * 14, {0: 100.0, 5: 44.0, 10: 34.0, 14: 30.0})
    # a third variant at 2 s per epoch for 10 epochs: at 12 s, epoch 6's evaluation counts (epoch 8 is at 16 s)
    _run(tmp_path / "mid", [2] * 10, {0: 100.0, 6: 25.0, 8: 10.0, 10: 5.0})
    result = _tool("--run", f"SLOW={slow.parent}", "--run", f"FAST={tmp_path / 'fast'}",
                   "--run", f"MID={tmp_path / 'mid'}", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["budget_seconds"] == pytest.approx(12.0)
    rows = summary["variants"]
    assert rows["SLOW"]["epochs_at_budget"] == [4] and rows["SLOW"]["fid_at_budget_mean"] == 20.0
    assert rows["FAST"]["epochs_at_budget"] == [10, 10] and rows["FAST"]["fid_at_budget_mean"] == pytest.approx(32.0)
    assert rows["MID"]["epochs_at_budget"] == [6] and rows["MID"]["fid_at_budget_mean"] == 25.0
    assert rows["MID"]["final_fid_curve_mean"] == 5.0 and rows["SLOW"]["seconds_per_epoch"] == 3.0
    assert "| FAST | 1.0 | 10, 10 | 32.0 | 29.0 | 2 |" in result.stdout
    assert (tmp_path / "out" / "table.md").read_text() == result.stdout


@pytest.mark.parametrize("args,needle", [
    (["--run", "A"], "expected NAME=FOLDER"),
    (["--run", "A=x"], "two or more"),
    (["--run", "A=nowhere", "--run", "B=nowhere"], "neither a run nor a folder of seed<S> runs"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    result = _tool(*[a.replace("nowhere", str(tmp_path / "nowhere")) for a in args])
    assert result.returncode == 2 and needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
