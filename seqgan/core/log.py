"""Run logs: an append-only `metrics.jsonl` that a resume truncates back to its checkpoint, run.log, and progress
(tqdm bars on a terminal, plain lines elsewhere).

Under torchrun only rank 0 writes and prints (`seqgan.core.distributed.is_main`): the other processes compute the
same records and drop them, so each file and line exists once.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from seqgan.core.distributed import is_main


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
        if is_main() and self.path.exists():
            with open(self.path, "r+b") as fh:
                fh.truncate(offset)

    def write(self, record: dict) -> None:
        """Append one record."""
        if not is_main():
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({k: _clean(v) for k, v in record.items()}, ensure_ascii=False) + "\n")

    def write_timing(self, record: dict) -> None:
        """Append one wall-clock record to timing.jsonl."""
        if not is_main():
            return
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


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def numbers_text(metrics: dict, limit: int = 3) -> str:
    """The first `limit` numeric metrics as "name=1.2345 ..." (evaluations list their main metric first)."""
    shown = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return " ".join(f"{k}={v:.4f}" for k, v in shown[:limit])


def progress_line(text: str) -> None:
    """One progress line on stderr (through tqdm on a terminal, so a bar in progress stays intact)."""
    if not is_main():
        return
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        tqdm.write(text, file=sys.stderr)
    else:
        print(text, file=sys.stderr, flush=True)


class PhaseProgress:
    """Progress of one training phase on stderr.

    On a terminal: a tqdm bar, plus one line per evaluation. Anywhere else (a pipe, a log file, a batch
    job), where a bar would print nothing or garbage: one line per evaluation and a line at least every
    `every_s` seconds (checked at step boundaries, and between the batches of a step that has pause points):
    phase, epoch/total, the newest evaluation, time since the
    run started and the phase's estimated time left (from this session's pace).

    Numbers that do not come from an evaluation of the epoch a line names (a line inside an epoch, an epoch
    that is not evaluated, the first epochs of a phase) say where they come from, e.g.
    "nll_valid=5.1950 (from pretrain_g epoch 8)": without it, last phase's numbers read as this epoch's.

    Args:
        phase: its name.
        total: its epochs.
        initial: epochs already done (a resumed run).
        every_s: seconds between lines when not on a terminal.
        started_at: time.monotonic() when the run (this process's part of it) started.
        last_eval: the newest evaluation's metrics, shown until this phase evaluates.
        last_eval_at: where `last_eval` comes from: {"phase": ..., "epoch": ...} (empty: unknown, e.g. a
            checkpoint written before this was recorded).
        early_stop: the phase may end early (early stopping), so its ETA is an upper bound.
    """

    def __init__(self, phase: str, total: int, initial: int, every_s: float, started_at: float,
                 last_eval: dict, last_eval_at: dict | None = None, early_stop: bool = False) -> None:
        self.phase, self.total, self.every_s, self.started_at = phase, total, every_s, started_at
        self.tty = sys.stderr.isatty() and is_main()
        self.last_eval = dict(last_eval)
        self.last_eval_at = dict(last_eval_at or {})
        self.early_stop = early_stop
        self.first_epochs, self.phase_started = float(initial), time.monotonic()
        self.epochs = float(initial)
        self.last_line = time.monotonic()
        self.shown = 0  # the last epoch whose line was printed
        self.bar = progress(total, phase, initial=initial) if self.tty else None

    def _times(self) -> str:
        now = time.monotonic()
        done = self.epochs - self.first_epochs
        eta = "?" if done <= 0 else _duration((now - self.phase_started) / done * (self.total - self.epochs))
        if self.early_stop and eta != "?" and self.epochs < self.total:  # the pace assumes every epoch runs
            eta = f"<= {eta}; early stopping may end it sooner"
        return f"elapsed {_duration(now - self.started_at)}, {self.phase} ETA {eta}"

    def _numbers(self, epoch: int | None) -> str:
        """The newest evaluation's numbers, labelled with where they come from unless it is `epoch` of this
        phase (the epoch the line names; None: a line inside an epoch, which no evaluation has seen yet)."""
        text = numbers_text(self.last_eval)
        at = self.last_eval_at
        if not text or (epoch is not None and at == {"phase": self.phase, "epoch": epoch}):
            return text
        if not at:
            return f"{text} (from an earlier evaluation)"
        if at.get("phase") == "init":
            return f"{text} (from before training)"
        phase = "" if at.get("phase") == self.phase else f"{at.get('phase')} "
        return f"{text} (from {phase}epoch {at.get('epoch')})"

    def _line(self, where: str, epoch: int | None) -> None:
        parts = [f"[{self.phase}] {where}", self._numbers(epoch), f"({self._times()})"]
        progress_line("  ".join(part for part in parts if part))
        self.last_line = time.monotonic()

    def tick(self, epochs: float) -> None:
        """After a step, or a batch inside one: `epochs` done so far in this phase (fractional inside an
        epoch). The step that ends an epoch prints nothing: that epoch's line comes from `evaluated` or
        `epoch_done`, after its evaluation, so it never shows the previous evaluation's numbers under the
        new epoch's label nor comes twice."""
        self.epochs = epochs
        if not self.tty and epochs % 1 and time.monotonic() - self.last_line >= self.every_s:
            self._line(f"epoch {math.ceil(epochs)}/{self.total}, {epochs % 1:.0%} done", None)

    def evaluated(self, epoch: int, results: dict) -> None:
        """After an evaluation at the end of `epoch`: its line, with its numbers."""
        self.last_eval, self.epochs = dict(results), float(epoch)
        self.last_eval_at = {"phase": self.phase, "epoch": epoch}
        self._line(f"epoch {epoch}/{self.total}", epoch)
        self.shown = epoch

    def epoch_done(self, epoch: int, metrics: dict) -> None:
        """After an epoch (and its evaluation, if any; then `evaluated` has printed the epoch's line)."""
        self.epochs = float(epoch)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: round(v, 4) for k, v in {**metrics, **self.last_eval}.items()
                                  if isinstance(v, float)}, refresh=False)
        elif self.shown != epoch and time.monotonic() - self.last_line >= self.every_s:
            self._line(f"epoch {epoch}/{self.total}", epoch)

    def close(self) -> None:
        """The phase ended."""
        if self.bar is not None:
            self.bar.close()


def log_line(run_dir: Path, text: str, echo: bool = False) -> None:
    """Append a timestamped line to run_dir/run.log (what happened to the run, in words); `echo` also prints
    it on stderr."""
    if not is_main():
        return
    if echo:
        progress_line(text)
    with open(Path(run_dir) / "run.log", "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def eval_records(run_dir: str | Path) -> list[dict]:
    """A run's evaluation records after the initial one, in order."""
    return [r for r in MetricsLog(Path(run_dir) / "metrics.jsonl").read() if r.get("event") == "eval"
            and r.get("phase") != "init"]
