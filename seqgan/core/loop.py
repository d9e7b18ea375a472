"""The one training loop: phases of epochs, each epoch a fixed list of G and D steps; log, evaluate, save.

Text GANs (pretraining, then SeqGAN's adversarial epochs) and image GANs (n_critic D steps, one G step) are
both written as phases, so resume, logging, evaluation and checkpoints exist once.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqgan.core.checkpoint import save_checkpoint
from seqgan.core.log import MetricsLog, progress
from seqgan.core.pair import GANPair
from seqgan.core.runtime import capture_rng, restore_rng
from seqgan.errors import UserError

StepFn = Callable[[torch.Generator], dict]


@dataclass(frozen=True)
class Phase:
    """A named run of epochs; each epoch calls every step function `repeats` times, in order.

    Args:
        name: e.g. "pretrain_g", "pretrain_d", "adversarial".
        epochs: how many epochs the phase has.
        steps: (step function, repeats) pairs; a step function takes the run's generator, returns metrics.
    """

    name: str
    epochs: int
    steps: tuple[tuple[StepFn, int], ...]


@dataclass
class LoopPosition:
    """Where a run is: epochs done in each phase (by name). Saved in every checkpoint."""

    completed: dict = field(default_factory=dict)
    evaluated_init: bool = False


def snapshot_name(phase: str, epoch: int) -> str:
    """File name (under checkpoints/) of the snapshot saved after evaluating `phase` at `epoch`."""
    return f"eval-{phase}-{epoch}.pt"


def check_resumable(phases: list[Phase], completed: dict) -> None:
    """Refuse to add epochs to a phase that a later phase has already followed (the order would break)."""
    for index, phase in enumerate(phases):
        if completed.get(phase.name, 0) < phase.epochs:
            later = [p.name for p in phases[index + 1:] if completed.get(p.name, 0) > 0]
            if later:
                raise UserError(f"cannot add epochs to phase {phase.name!r}: the run already trained "
                                f"{later[0]!r} after it; extend only the last phase, or use a new run directory")


def train_adversarial(pair: GANPair, phases: list[Phase], run_dir: str | Path, gen: torch.Generator,
                      evaluate: Callable[[str, int], dict] | None = None, eval_every: int = 5,
                      checkpoint_every_s: float = 60.0, resume_state: dict | None = None,
                      checkpoint_extra: dict | None = None,
                      snapshot: Callable[[], dict] | None = None) -> LoopPosition:
    """Run (or resume) all phases; returns the final position.

    Args:
        pair: the models, their optimizers and update rules.
        phases: what to run, in order.
        run_dir: holds metrics.jsonl and checkpoints/last.pt.
        gen: the run's random generator; its state is checkpointed.
        evaluate: called as evaluate(phase_name, epoch) after every `eval_every` epochs, at each phase's
            end, and once before training (phase "init"); must use its own randomness.
        eval_every: epochs between evaluations.
        checkpoint_every_s: at most this many seconds between checkpoints (also saved at each phase end).
        resume_state: a loaded checkpoint to continue from, or None to start.
        checkpoint_extra: plain data stored in every checkpoint (config, architecture).
        snapshot: if given, its state is saved as checkpoints/eval-{phase}-{epoch}.pt after every evaluation
            (small: the generator only), so a run can later be sampled at its best or at any evaluated epoch.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    log = MetricsLog(run_dir / "metrics.jsonl")
    pos = LoopPosition()
    if resume_state is not None:
        pair.load_state_dict(resume_state["pair"])
        restore_rng(resume_state["rng"], gen)
        pos = LoopPosition(**resume_state["position"])
        log.truncate(resume_state["metrics_offset"])
    else:
        log.truncate(0)

    def save() -> None:
        state = {"pair": pair.state_dict(), "rng": capture_rng(gen),
                 "position": {"completed": dict(pos.completed), "evaluated_init": pos.evaluated_init},
                 "metrics_offset": log.offset(), **(checkpoint_extra or {})}
        save_checkpoint(ckpt_dir / "last.pt", state)

    def run_eval(phase_name: str, epoch: int) -> None:
        if evaluate is not None:
            started = time.perf_counter()
            log.write({"phase": phase_name, "epoch": epoch, "event": "eval", **evaluate(phase_name, epoch)})
            log.write_timing({"phase": phase_name, "epoch": epoch, "eval_s": time.perf_counter() - started})
        if snapshot is not None and phase_name != "init":
            save_checkpoint(ckpt_dir / snapshot_name(phase_name, epoch), snapshot())

    if not pos.evaluated_init:
        run_eval("init", 0)
        pos.evaluated_init = True
    last_save = time.monotonic()
    for _index, phase in enumerate(phases):
        done = pos.completed.get(phase.name, 0)
        if done >= phase.epochs:
            continue
        check_resumable(phases, pos.completed)
        bar = progress(phase.epochs, phase.name, initial=done)
        while pos.completed.get(phase.name, 0) < phase.epochs:
            started = time.perf_counter()
            metrics: dict = {}
            for step, repeats in phase.steps:
                for _ in range(repeats):
                    metrics.update(step(gen))
            epoch = pos.completed[phase.name] = pos.completed.get(phase.name, 0) + 1
            log.write({"phase": phase.name, "epoch": epoch, "event": "train", **metrics})
            log.write_timing({"phase": phase.name, "epoch": epoch, "train_s": time.perf_counter() - started})
            if epoch % eval_every == 0 or epoch == phase.epochs:
                run_eval(phase.name, epoch)
            bar.update(1)
            bar.set_postfix({k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}, refresh=False)
            if epoch < phase.epochs and time.monotonic() - last_save >= checkpoint_every_s:
                save()
                last_save = time.monotonic()
        bar.close()
        save()
        # keep each phase's end: other methods can branch from the end of pretraining (--init-from)
        shutil.copyfile(ckpt_dir / "last.pt", ckpt_dir / f"{phase.name}.pt")
        last_save = time.monotonic()
    return pos
