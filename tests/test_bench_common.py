"""bench/_common.py: the helpers every benchmark script uses (the scripts themselves are run by hand)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402


def test_timed_calls_warmup_then_repeats():
    calls = []
    times = _common.timed(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_machine_and_report(tmp_path):
    info = _common.machine()
    assert {"cpu", "cores", "torch", "threads", "python", "load_average"} <= set(info)
    path = _common.write_report(tmp_path / "sub" / "r.json", {"machine": info, "x": 1.5})
    assert json.loads(path.read_text()) == {"machine": json.loads(json.dumps(info)), "x": 1.5}
