"""Run logs: an append-only `metrics.jsonl` that a resume truncates back to its checkpoint, and progress bars."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLog:
    """Append-only JSON lines. Only deterministic values go here (no wall-clock times), so two runs with the
    same seed write identical files; timings go to `timing.jsonl`.

    Args:
        path: the metrics.jsonl file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.timing_path = self.path.with_name("timing.jsonl")

    def offset(self) -> int:
        """Current size in bytes; stored in checkpoints so a resume can cut off lines written after them."""
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, offset: int) -> None:
        """Drop everything after `offset` (lines from work that the resumed run will redo)."""
        if self.path.exists():
            with open(self.path, "r+b") as fh:
                fh.truncate(offset)

    def write(self, record: dict) -> None:
        """Append one record."""
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({k: _clean(v) for k, v in record.items()}, ensure_ascii=False) + "\n")

    def write_timing(self, record: dict) -> None:
        """Append one wall-clock record to timing.jsonl."""
        with open(self.timing_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        """All records."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


def progress(total: int, desc: str, initial: int = 0):
    """A tqdm bar on stderr, shown only on a terminal (CI logs stay clean)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, disable=None, leave=False,
                dynamic_ncols=True)


def log_line(run_dir: Path, text: str) -> None:
    """Append a timestamped line to run_dir/run.log (what happened to the run, in words)."""
    with open(Path(run_dir) / "run.log", "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def eval_records(run_dir: str | Path) -> list[dict]:
    """A run's evaluation records after the initial one, in order."""
    return [r for r in MetricsLog(Path(run_dir) / "metrics.jsonl").read() if r.get("event") == "eval"
            and r.get("phase") != "init"]
