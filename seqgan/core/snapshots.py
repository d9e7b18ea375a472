"""Generator snapshots: the small checkpoint (G only) saved after every evaluation as
checkpoints/eval-PHASE-EPOCH.pt, which `--checkpoint best` / `PHASE:EPOCH` load and early stopping restores, and
the rule that prunes them when a run keeps only some (`schedule.keep_snapshots`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path


def snapshot_name(phase: str, epoch: int) -> str:
    """File name (under checkpoints/) of the snapshot saved after evaluating `phase` at `epoch` (epoch 0: the
    weights a phase with early stopping started from)."""
    return f"eval-{phase}-{epoch}.pt"


def prune_snapshots(ckpt_dir: Path, records: list[dict], keep: int, best_key: Callable[[list[dict]], str] | None,
                    watch: dict) -> list[Path]:
    """Delete the generator snapshots a run no longer needs, when it keeps only `keep` of them; returns what went.

    Kept: the snapshots of the newest `keep` evaluations, the one `--checkpoint best` picks (the lowest
    `best_key` over every evaluation so far) and the best epoch of each phase early stopping watches (its
    restore point). Called right after last.pt is written, with that checkpoint's position: whatever a resume
    from it may restore or select still exists, and snapshots made after it wait for the next checkpoint.

    Args:
        ckpt_dir: the run's checkpoints/ folder.
        records: the run's evaluation records so far, in order (not the one before training).
        keep: how many of the newest evaluations keep their snapshot (0: keep all, delete nothing).
        best_key: the metric `--checkpoint best` minimises, given the records (None: no best to keep).
        watch: early stopping's state per phase (LoopPosition.watch).
    """
    if keep <= 0:
        return []
    kept = {(r["phase"], r["epoch"]) for r in records[-keep:]}
    key = best_key(records) if best_key is not None and records else ""
    scored = [r for r in records if isinstance(r.get(key), (int, float)) and not math.isnan(r[key])]
    if scored:
        best = min(scored, key=lambda r: r[key])  # ties: the earliest, as `--checkpoint best` picks
        kept.add((best["phase"], best["epoch"]))
    kept |= {(name, w["best_epoch"]) for name, w in watch.items() if w.get("best_epoch") is not None}
    gone = []
    for path in ckpt_dir.glob("eval-*.pt"):
        phase, _, epoch = path.stem.removeprefix("eval-").rpartition("-")
        if epoch.isdigit() and (phase, int(epoch)) not in kept:
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone
