"""The one training loop: phases of epochs, each epoch a fixed list of G and D steps; log, evaluate, save.

Text GANs (pretraining, then SeqGAN's adversarial epochs) and image GANs (n_critic D steps, one G step) are
both written as phases, so resume, logging, evaluation, early stopping, progress lines, checkpoints and the
save-on-Ctrl-C exist once.

Ctrl-C stops at the next step boundary; a step that takes long (an MLE epoch over a real corpus) can offer
more boundaries by calling `pause_point` between its batches and `resumed_step_state` when it starts (both in
seqgan.core.interrupt), so the checkpoint then holds its position inside the step and a resume continues it
exactly.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from seqgan.base.errors import UserError
from seqgan.core.checkpoint import load_checkpoint, save_checkpoint
from seqgan.core.distributed import (
    barrier,
    is_distributed,
    is_main,
    main_decides,
    max_int,
    own_rng_state,
    rank_rng_states,
)
from seqgan.core.interrupt import STEP_CONTEXT, StepFn, StepPaused, StopSignals, TrainingInterrupted
from seqgan.core.log import MetricsLog, PhaseProgress, eval_records, log_line, numbers_text, progress_line
from seqgan.core.protocol import GANPair
from seqgan.core.runtime import capture_rng, restore_rng
from seqgan.core.snapshots import prune_snapshots, snapshot_name


@dataclass(frozen=True)
class Phase:
    """A named run of epochs; each epoch calls every step function `repeats` times, in order.

    Args:
        name: e.g. "pretrain_g", "pretrain_d", "adversarial".
        epochs: how many epochs the phase has (at most, with early stopping).
        steps: (step function, repeats) pairs; a step function takes the run's generator, returns metrics.
        eval_every: epochs between evaluations in this phase; None = the loop's `eval_every`.
        patience: early stopping: the phase ends once this many evaluations in a row have not lowered
            `monitor` below its best, and the generator goes back to its best evaluated snapshot (0 = off).
        monitor: the evaluation metric early stopping watches; lower is better (a held-out NLL).
    """

    name: str
    epochs: int
    steps: tuple[tuple[StepFn, int], ...]
    eval_every: int | None = None
    patience: int = 0
    monitor: str = ""


@dataclass
class LoopPosition:
    """Where a run is; saved in every checkpoint, so a resume continues exactly.

    Args:
        completed: epochs done in each phase (by name).
        evaluated_init: whether the evaluation before training was done.
        step: step calls done in the unfinished epoch of the current phase (non-zero only in a checkpoint
            saved on SIGINT/SIGTERM, which stops at a step boundary, not an epoch boundary).
        partial: the metrics those step calls returned (the epoch's train record merges them).
        inside: the position inside step call number `step + 1` that a signal paused (see `pause_point`),
            handed back to that step on resume; empty when the checkpoint is at a step boundary (and in
            checkpoints written before steps could pause, which load with this default).
        watch: early stopping state of each phase that has it: best value, best_epoch (0 = the phase's
            starting weights), bad (evaluations since the best), best_eval (all metrics at the best),
            stopped (the phase ended early).
        last_eval: numeric metrics of the newest evaluation, i.e. of the weights as they are now (a phase
            with early stopping starts from them as its best so far).
        last_eval_at: where `last_eval` comes from, {"phase": ..., "epoch": ...} (progress lines label older
            numbers with it); empty in checkpoints written before it was recorded.
    """

    completed: dict = field(default_factory=dict)
    evaluated_init: bool = False
    step: int = 0
    partial: dict = field(default_factory=dict)
    inside: dict = field(default_factory=dict)
    watch: dict = field(default_factory=dict)
    last_eval: dict = field(default_factory=dict)
    last_eval_at: dict = field(default_factory=dict)


def check_resumable(phases: list[Phase], completed: dict, stopped: tuple[str, ...] | list[str] = ()) -> None:
    """Refuse to add epochs to a phase that a later phase has already followed (the order would break).

    Args:
        phases: the phases of this invocation.
        completed: epochs done per phase, from the checkpoint's position.
        stopped: phases that ended early (early stopping): finished, whatever their epoch count.
    """
    for index, phase in enumerate(phases):
        if completed.get(phase.name, 0) < phase.epochs and phase.name not in stopped:
            later = [p.name for p in phases[index + 1:] if completed.get(p.name, 0) > 0]
            if later:
                raise UserError(f"cannot add epochs to phase {phase.name!r}: the run already trained "
                                f"{later[0]!r} after it; extend only the last phase, or use a new run directory")


def check_not_shortened(run_dir: str | Path, phases: list[Phase], position: dict, changes: list[tuple]) -> None:
    """Refuse a resume whose schedule gives a phase fewer epochs than the run already trained in it.

    Such a resume trains nothing (the loop skips a phase that has its epochs) but would rewrite config.json to
    claim the shorter schedule: a run that trained 20 adversarial epochs would say 3, and a study's table would
    mix both under one config. Keeping the stored value instead would silently ignore a setting the user typed,
    for some runs of a study and not others; refusing writes nothing and says what to do. Shortening a phase to
    no fewer epochs than it trained stays allowed (it ends an unfinished run there).

    Args:
        run_dir: the run directory (named in the error).
        phases: the phases the new config builds.
        position: the checkpoint's loop position (its completed epochs per phase).
        changes: the resume's config changes as (key, stored, new); the shortened epoch counts are quoted.
    """
    for phase in phases:
        done = position.get("completed", {}).get(phase.name, 0)
        if phase.epochs < done:
            shorter = [f"{key} {a} -> {b}" for key, a, b in changes
                       if key.endswith("epochs") and isinstance(a, int) and isinstance(b, int) and b < a]
            raise UserError(f"{run_dir} already trained {done} epochs of {phase.name}; the new settings "
                            f"({'; '.join(shorter) or 'its schedule'}) give it {phase.epochs}, and its config.json "
                            f"must not claim fewer epochs than it trained: keep at least {done}, or train the "
                            "shorter schedule in a new run directory")


def stopped_phases(position: dict) -> list[str]:
    """Names of the phases that early stopping ended, from a checkpoint's position dict."""
    return [name for name, w in position.get("watch", {}).items() if w.get("stopped")]


def left_to_train(phases: list[Phase], position: dict) -> bool:
    """Whether a run at this checkpoint position has epochs left to train (a phase neither done nor stopped)."""
    completed, stopped = position.get("completed", {}), stopped_phases(position)
    return any(completed.get(p.name, 0) < p.epochs and p.name not in stopped for p in phases)


def resume_point(phases: list[Phase], position: dict) -> str:
    """Where a run with this checkpoint position continues, in words: "adversarial epoch 12/60"."""
    completed, stopped = position.get("completed", {}), stopped_phases(position)
    for phase in phases:
        done = completed.get(phase.name, 0)
        if done < phase.epochs and phase.name not in stopped:
            step, paused = position.get("step", 0), bool(position.get("inside"))
            parts = ([f"{step} steps"] if step else []) + (["part of a step"] if paused else [])
            if paused and sum(repeats for _, repeats in phase.steps) == 1:
                parts = ["part"]  # the phase's one step is its whole epoch (MLE pretraining)
            inside = f" (+{' and '.join(parts)} of epoch {done + 1})" if parts else ""
            return f"{phase.name} epoch {done}/{phase.epochs}{inside}"
    return "the end of training (nothing left to train)"


def resume_message(phases: list[Phase], position: dict) -> str:
    """The line a run continuing from this checkpoint position prints: "resuming from adversarial epoch
    12/60", or "starting adversarial training (60 epochs)" when the phase it continues with has not begun
    (the previous phase ended there, or a branch starts from another run's pretraining)."""
    completed, stopped = position.get("completed", {}), stopped_phases(position)
    for phase in phases:
        done = completed.get(phase.name, 0)
        if done < phase.epochs and phase.name not in stopped:
            if done == 0 and not position.get("step") and not position.get("inside"):
                return f"starting {phase.name} training ({phase.epochs} epochs)"
            break
    return f"resuming from {resume_point(phases, position)}"


def through(phase: Phase, epoch: int, fraction: float) -> str:
    """Where inside an epoch a stop came, in words: "77% through pretrain_g epoch 2/50" (the loop's steps, and
    the batches inside one, are its own units; the fraction of the epoch is what a user can read), or "at the
    end of ..." after its last step. Rounded as progress lines round it, but a stop before the end never reads
    as 100%."""
    if fraction >= 1:
        return f"at the end of {phase.name} epoch {epoch}/{phase.epochs}"
    return f"{min(round(fraction * 100), 99)}% through {phase.name} epoch {epoch}/{phase.epochs}"


def train_adversarial(pair: GANPair, phases: list[Phase], run_dir: str | Path, gen: torch.Generator,
                      evaluate: Callable[[str, int], dict] | None = None, eval_every: int = 5,
                      checkpoint_every_s: float = 60.0, resume_state: dict | None = None,
                      checkpoint_extra: dict | None = None,
                      snapshot: Callable[[], dict] | None = None,
                      restore: Callable[[dict], None] | None = None,
                      progress_every_s: float = 30.0, announce_resume: bool = True,
                      resume_notes: tuple[str, ...] | list[str] = (), keep_snapshots: int = 0,
                      best_key: Callable[[list[dict]], str] | None = None) -> LoopPosition:
    """Run (or resume) all phases; returns the final position.

    SIGINT and SIGTERM (Ctrl-C, `kill`) save a checkpoint at the next step boundary, or at the next
    `pause_point` of a step that has them (between the batches of an MLE epoch), and raise
    TrainingInterrupted; a resume from it continues exactly where the run stopped.

    Args:
        pair: the models, their optimizers and update rules.
        phases: what to run, in order.
        run_dir: holds metrics.jsonl, run.log and checkpoints/last.pt.
        gen: the run's random generator; its state is checkpointed.
        evaluate: called as evaluate(phase_name, epoch) after every `eval_every` epochs (or the phase's own),
            at each phase's end, and once before training (phase "init"); must use its own randomness.
        eval_every: epochs between evaluations.
        checkpoint_every_s: at most this many seconds between checkpoints (also saved at each phase end).
        resume_state: a loaded checkpoint to continue from, or None to start.
        checkpoint_extra: plain data stored in every checkpoint (config, architecture).
        snapshot: if given, its state is saved as checkpoints/eval-{phase}-{epoch}.pt after every evaluation
            (small: the generator only), so a run can later be sampled at its best or at any evaluated epoch.
        restore: loads a `snapshot()` state back into the models; early stopping uses it to return to the
            best epoch. Phases with `patience` need `evaluate`, `snapshot` and `restore`.
        progress_every_s: when stderr is not a terminal, a progress line at least this often (at step
            boundaries) besides one per evaluation; on a terminal a progress bar instead.
        announce_resume: print where a resumed run continues (always written to run.log).
        resume_notes: lines printed and logged after that one (what the resume changed), before training.
        keep_snapshots: keep only the snapshots of this many newest evaluations, besides the best one and early
            stopping's restore points (`prune_snapshots`; 0 = keep every one). A large generator's snapshots
            would otherwise fill the disk (a 124M-parameter model writes 0.5 GB per evaluation).
        best_key: the metric `--checkpoint best` minimises, given the evaluation records (kept when pruning).
    """
    if any(p.patience for p in phases) and (evaluate is None or snapshot is None or restore is None):
        raise ValueError("phases with early stopping need evaluate, snapshot and restore")
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    if is_main():
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    log = MetricsLog(run_dir / "metrics.jsonl")
    pos = LoopPosition()
    # what the loop is doing, for the line that acknowledges a stop signal (`notice`)
    doing: dict = {"what": "", "since": 0.0, "expected": None, "unit": "step"}
    durations: dict = {}  # seconds the last call at each index of the current phase took
    if resume_state is not None:
        pair.load_state_dict(resume_state["pair"])
        own_stream = torch.get_rng_state()  # under torchrun: this process's fresh stream (seed_rank_stream)
        restore_rng(resume_state["rng"], gen)
        if is_distributed():  # the shared generator and Python's RNG are rank 0's; the torch RNG is each its own
            own = own_rng_state(resume_state.get("rng_ranks"))
            torch.set_rng_state(own_stream if own is None else own["torch"])
            if own is not None and "cuda" in own and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(own["cuda"])
        pos = LoopPosition(**resume_state["position"])
        log.truncate(resume_state["metrics_offset"])
        if any(pos.completed.values()) or pos.step or pos.inside:
            log_line(run_dir, resume_message(phases, resume_state["position"]), echo=announce_resume)
        for line in resume_notes:
            log_line(run_dir, line, echo=True)
    else:
        log.truncate(0)

    def save() -> None:
        ranks = rank_rng_states(capture_rng(gen)) if is_distributed() else None  # every process takes part
        if not is_main():
            return
        state = {"pair": pair.state_dict(), "rng": capture_rng(gen), "position": asdict(pos),
                 "metrics_offset": log.offset(), **(checkpoint_extra or {})}
        if ranks is not None:
            state["rng_ranks"] = ranks
        save_checkpoint(ckpt_dir / "last.pt", state)
        if keep_snapshots:
            prune_snapshots(ckpt_dir, eval_records(run_dir), keep_snapshots, best_key, pos.watch)

    def run_eval(phase_name: str, epoch: int) -> dict:
        results: dict = {}
        if evaluate is not None:
            started = time.perf_counter()
            doing["what"] = "eval"
            try:
                results = evaluate(phase_name, epoch)
            finally:
                doing["what"] = ""
            log.write({"phase": phase_name, "epoch": epoch, "event": "eval", **results})
            log.write_timing({"phase": phase_name, "epoch": epoch, "eval_s": time.perf_counter() - started})
            pos.last_eval = {k: v for k, v in results.items() if isinstance(v, (int, float))}
            pos.last_eval_at = {"phase": phase_name, "epoch": epoch}
            if phase_name == "init":
                progress_line(f"[init] {numbers_text(pos.last_eval)}")
        if snapshot is not None and phase_name != "init" and is_main():
            save_checkpoint(ckpt_dir / snapshot_name(phase_name, epoch), snapshot())
        return results

    def stop_if_signalled(where: str) -> None:
        if signals.pending() is not None:
            save()
            name = signal.Signals(signals.signum).name
            log_line(run_dir, f"stopped by {name} {where}; checkpoint saved")
            raise TrainingInterrupted(f"stopped by {name} {where}; checkpoint saved, re-run the same command "
                                      "to resume", signals.signum)

    def start_watch(phase: Phase) -> None:
        """Early stopping's state at a phase's first epoch: the weights it starts from are its best so far
        (the MLE baseline's adversarial phase must beat the pretrained G, not only its own first epoch)."""
        start = pos.last_eval.get(phase.monitor)
        fresh = pos.completed.get(phase.name, 0) == 0
        if start is not None and fresh:
            if is_main():
                save_checkpoint(ckpt_dir / snapshot_name(phase.name, 0), snapshot())
            pos.watch[phase.name] = {"best": start, "best_epoch": 0, "bad": 0, "best_eval": dict(pos.last_eval),
                                     "best_at": dict(pos.last_eval_at), "stopped": False}
        else:  # patience switched on mid-phase (or no evaluation yet): the next evaluation is the first best
            pos.watch[phase.name] = {"best": math.inf, "best_epoch": None, "bad": 0, "best_eval": {},
                                     "stopped": False}

    def back_to_best(phase: Phase, epoch: int, early: bool) -> None:
        """Put G back to the phase's best snapshot and record it: one "early_stop" record whether patience ran
        out (epoch < the phase's epochs) or the phase used all its epochs past its best, so readers of
        metrics.jsonl find where the G handed on comes from in one place."""
        w = pos.watch[phase.name]
        log.write({"phase": phase.name, "event": "early_stop", "epoch": epoch, "best_epoch": w["best_epoch"],
                   phase.monitor: w["best"]})
        barrier("waiting for the best snapshot")  # rank 0 may have just written it
        restore(load_checkpoint(ckpt_dir / snapshot_name(phase.name, w["best_epoch"])))
        pos.last_eval = dict(w["best_eval"])
        # where those numbers come from (a watch from an older checkpoint has no "best_at")
        pos.last_eval_at = dict(w.get("best_at") or {"phase": phase.name, "epoch": w["best_epoch"]})
        why = (f"stopped early at epoch {epoch}/{phase.epochs}: {phase.monitor} has not improved for {w['bad']} "
               "evaluations" if early else f"ended at epoch {epoch} past its best")
        start = " (the weights it started from)" if w["best_epoch"] == 0 else ""
        log_line(run_dir, f"{phase.name}: {why}; back to epoch {w['best_epoch']}{start} ({phase.monitor} "
                          f"{w['best']:.4f})", echo=True)

    def watch_eval(phase: Phase, epoch: int, results: dict) -> bool:
        """Early stopping after an evaluation; True when the phase ends here."""
        if not phase.patience:
            return False
        if phase.monitor not in results:
            raise UserError(f"early stopping watches {phase.monitor!r}, which this run's evaluation does not "
                            f"report (it reports {', '.join(results) or 'nothing'}); set "
                            "schedule.early_stop_patience=0")
        w = pos.watch[phase.name]
        value = results[phase.monitor]
        if value < w["best"]:  # strictly lower; a NaN never is
            w.update(best=value, best_epoch=epoch, bad=0, best_eval=dict(pos.last_eval),
                     best_at={"phase": phase.name, "epoch": epoch})
        else:
            w["bad"] += 1
        last = epoch == phase.epochs
        if w["bad"] >= phase.patience and not last:
            w["stopped"] = True
            if w["best_epoch"] is not None:
                back_to_best(phase, epoch, early=True)
            return True
        if last and w["best_epoch"] is not None and w["best_epoch"] != epoch:
            back_to_best(phase, epoch, early=False)  # ran out of epochs past its best
        return False

    def notice() -> str:
        if doing["what"] == "eval":
            return "saving a checkpoint after this evaluation"
        if doing["what"] != "step":
            return "saving a checkpoint now"
        if STEP_CONTEXT.step in STEP_CONTEXT.pausable:
            return "saving a checkpoint after this batch"
        left = "" if doing["expected"] is None else \
            f" (about {max(doing['expected'] - (time.perf_counter() - doing['since']), 0.0):.0f} s)"
        return f"saving a checkpoint at the end of this {doing['unit']}{left}"

    def run_step(phase: Phase, calls: list[StepFn], index: int, epoch: int, bar: PhaseProgress) -> dict:
        """Step call number index + 1 of the epoch; a pause inside it (`pause_point`) saves the step's own
        position with the checkpoint and stops the run."""
        ctx = STEP_CONTEXT
        ctx.step, ctx.resume, pos.inside = calls[index], pos.inside or None, {}
        ctx.progress = lambda done: bar.tick(epoch - 1 + (index + min(done, 1.0)) / len(calls))
        doing.update(what="step", since=time.perf_counter(), expected=durations.get(index),
                     unit="epoch" if len(calls) == 1 else "step")
        try:
            metrics = calls[index](gen)
        except StepPaused as paused:
            pos.inside = paused.state
            stop_if_signalled(through(phase, epoch, (index + min(paused.done, 1.0)) / len(calls)))
            raise  # not reached: steps pause only when a signal is pending
        finally:
            ctx.step, ctx.resume, ctx.progress = None, None, None
            doing["what"] = ""
        durations[index] = time.perf_counter() - doing["since"]
        return metrics

    with StopSignals() as signals:
        signals.notice, STEP_CONTEXT.signals = notice, signals
        if is_distributed():
            signals.agree, signals.quiet = max_int, not is_main()
        try:
            started_at = time.monotonic()
            if not pos.evaluated_init:
                run_eval("init", 0)
                pos.evaluated_init = True
                stop_if_signalled("after the first evaluation")
            last_save = time.monotonic()
            for phase in phases:
                done = pos.completed.get(phase.name, 0)
                if done >= phase.epochs or pos.watch.get(phase.name, {}).get("stopped"):
                    continue
                if phase.patience and phase.name not in pos.watch:
                    start_watch(phase)
                check_resumable(phases, pos.completed, stopped_phases(asdict(pos)))
                calls = [fn for fn, repeats in phase.steps for _ in range(repeats)]
                durations.clear()
                every = phase.eval_every or eval_every
                bar = PhaseProgress(phase.name, phase.epochs, done, progress_every_s, started_at,
                                    pos.last_eval, pos.last_eval_at, early_stop=phase.patience > 0)
                while pos.completed.get(phase.name, 0) < phase.epochs:
                    epoch = pos.completed.get(phase.name, 0) + 1
                    started = time.perf_counter()
                    metrics: dict = dict(pos.partial)
                    for index in range(pos.step, len(calls)):
                        metrics.update(run_step(phase, calls, index, epoch, bar))
                        pos.step, pos.partial = index + 1, metrics
                        stop_if_signalled(through(phase, epoch, (index + 1) / len(calls)))
                        bar.tick(epoch - 1 + (index + 1) / len(calls))
                    pos.completed[phase.name], pos.step, pos.partial = epoch, 0, {}
                    log.write({"phase": phase.name, "epoch": epoch, "event": "train", **metrics})
                    log.write_timing({"phase": phase.name, "epoch": epoch, "train_s": time.perf_counter() - started})
                    stopping = False
                    if epoch % every == 0 or epoch == phase.epochs:
                        results = run_eval(phase.name, epoch)
                        bar.evaluated(epoch, pos.last_eval)
                        stopping = watch_eval(phase, epoch, results)
                    bar.epoch_done(epoch, metrics)
                    if stopping:
                        break
                    if epoch < phase.epochs and main_decides(time.monotonic() - last_save >= checkpoint_every_s):
                        save()
                        last_save = time.monotonic()
                    stop_if_signalled(f"after {phase.name} epoch {epoch}/{phase.epochs}")
                bar.close()
                save()
                # keep each phase's end: other methods can branch from the end of pretraining (--init-from)
                if is_main():
                    shutil.copyfile(ckpt_dir / "last.pt", ckpt_dir / f"{phase.name}.pt")
                last_save = time.monotonic()
                stop_if_signalled(f"at the end of {phase.name}")
        finally:
            STEP_CONTEXT.signals = None
            STEP_CONTEXT.pausable.clear()  # it holds bound methods, and so the models, of this run
    return pos
