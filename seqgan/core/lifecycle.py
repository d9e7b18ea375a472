"""The life of a run directory, for every kind of run: validate, then write; resume; train; finish; load again.

A run directory holds config.json (the resolved config, argv, version and what the kind adds), metrics.jsonl,
timing.jsonl, run.log, checkpoints/ (last.pt, one `PHASE.pt` per finished phase, `eval-PHASE-EPOCH.pt` generator
snapshots) and the kind's final files. `RunDir` does everything about it that does not depend on what is trained;
a kind of run (text, image) describes itself as a `RunKind`: its rules as data, and hooks that build its phases
and final files. A new kind adds only its own `RunKind` and how it builds its run.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from seqgan.base.errors import UserError
from seqgan.base.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from seqgan.base.outputs import check_run_dir
from seqgan.base.version import VERSION
from seqgan.core.checkpoint import CheckpointError, architecture_differences, load_checkpoint
from seqgan.core.config import change_notes, check_same_config
from seqgan.core.distributed import World, barrier, finish_files, processes_note, seed_rank_stream, session
from seqgan.core.log import MetricsLog, eval_records, log_line
from seqgan.core.loop import (
    Phase,
    check_not_shortened,
    check_resumable,
    left_to_train,
    snapshot_name,
    stopped_phases,
    train_adversarial,
)
from seqgan.core.runtime import seed_everything


def eval_seed(config: Any) -> int:
    """Seed of evaluation samples (and latents): fixed per run and apart from training randomness."""
    return config.seed * 1_000_003 + 4242


@dataclass
class GeneratorOnly:
    """The part of a pair that sampling and evaluation use: G. No D, rollout copy or optimizers, whose
    construction takes longer than sampling (the first torch optimizer imports torch's compiler, ~1 s).

    Loading one from a full checkpoint needs the pair's state_dict to hold G's under "generator".
    """

    generator: torch.nn.Module


class BuiltRun(Protocol):
    """A run built from its config: what `RunDir` reads from it."""

    config: Any
    pair: Any  # a GANPair, or a GeneratorOnly when built to sample
    device: torch.device

    def architecture(self) -> dict:
        """Shapes a checkpoint must match (built to sample: those of G and the data only)."""
        ...

    def evaluate(self, phase: str = "", epoch: int = 0) -> dict:
        """The in-training evaluation."""
        ...


def _no_record(run: Any) -> dict:
    return {}


def _no_detail(run: Any) -> str:
    return ""


def _no_notes(run: Any) -> list[str]:
    return []


def _no_data(run: Any, run_dir: Path) -> None:
    return None


@dataclass(frozen=True)
class RunKind:
    """A kind of run as `RunDir` sees it: its rules as data, and the hooks that differ between kinds.

    Attributes:
        command: the training command, named in errors ("seqgan train").
        title: what its run directories hold, in errors ("an image run").
        config_class: its top-level config (a `seqgan.core.config.RunConfig`).
        resumable: prefixes of "key: old -> new" config differences a resume may have ("schedule.", ...).
        phase_names: its phases in training order; `--checkpoint PHASE:EPOCH` picks among them.
        build_phases: the phases that train a built run.
        finish: writes the final evaluation and samples into the run directory; returns the final metrics.
        best_key: the evaluation metric `--checkpoint best` minimises, given the run's evaluation records.
        epoch_phase: the phase a bare `--checkpoint EPOCH` means.
        named_phase_ends: whether `--checkpoint PHASE` names the checkpoint saved at a phase's end.
        resume_from_phase_ends: whether a re-run continues from the newest readable phase-end checkpoint when
            last.pt is unreadable or missing (else an unreadable last.pt is refused and a missing one restarts).
        branch_phase: the phase whose end `--init-from` branches from (None: the kind does not branch).
        best_digits: decimals of the best evaluation's value in `--checkpoint best`'s description.
        record: what config.json holds besides config, argv and version (and init_from, for a kind that
            branches).
        start_detail: what the "starting ..." line adds after the device (e.g. the number of training images).
        notes: notes about the data the run was built from, printed and logged when training starts.
        save_data: writes what later loads need besides the checkpoints (text: the split and the tokenizer).
        data_parallel: its steps split their batches across torchrun's processes (else it refuses torchrun).
    """

    command: str
    title: str
    config_class: type
    resumable: tuple[str, ...]
    phase_names: tuple[str, ...]
    build_phases: Callable[[Any], list[Phase]]
    finish: Callable[[Any, Path], dict]
    best_key: Callable[[list[dict]], str]
    epoch_phase: str = "adversarial"
    named_phase_ends: bool = True
    resume_from_phase_ends: bool = True
    branch_phase: str | None = None
    best_digits: int = 4
    record: Callable[[Any], dict] = _no_record
    start_detail: Callable[[Any], str] = _no_detail
    notes: Callable[[Any], list[str]] = _no_notes
    save_data: Callable[[Any, Path], None] = _no_data
    data_parallel: bool = False


@dataclass(frozen=True)
class Checkpoint:
    """What `--checkpoint` resolved to: the file, whether it holds G only (a snapshot), and a description."""

    path: Path
    generator_only: bool
    description: str


class RunDir:
    """A run directory of one kind of run.

    Args:
        path: the run directory.
        kind: the kind of run it holds.
    """

    def __init__(self, path: str | Path, kind: RunKind) -> None:
        self.path = Path(path)
        self.kind = kind
        self.config_path = self.path / "config.json"
        self.ckpt_dir = self.path / "checkpoints"

    # ------------------------------------------------------------ config.json

    def read_record(self, advice: str = "") -> dict:
        """config.json with its config upgraded to this version's keys (new keys take their defaults, so older
        run directories still load and resume); `advice` ends the error when it cannot be read."""
        if not self.config_path.is_file():
            raise UserError(f"{self.path} is not a run directory (no config.json); train one with "
                            f"`{self.kind.command}`")
        try:
            record = json.loads(self.config_path.read_text(encoding="utf-8"))
            config = record["config"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{self.config_path} is unreadable ({err}){advice}") from err
        try:
            record["config"] = self.kind.config_class.from_dict(config).to_dict()
        except (UserError, TypeError, AttributeError) as err:
            raise UserError(f"{self.config_path} is not the config of {self.kind.title} that this version can "
                            f"read ({err}){advice}") from err
        return record

    def read_config(self) -> Any:
        """The config the run was trained with."""
        return self.kind.config_class.from_dict(self.read_record()["config"])

    def check_config(self, config: Any, flag: str = "--run-dir") -> list[tuple[str, Any, Any]]:
        """Refuse a config that differs from the stored one outside what a resume may change (none stored: fine);
        returns the resumable changes, as (key, stored value, new value).

        Args:
            config: the config of this invocation.
            flag: the option that chose the directory, named in the advice when config.json cannot be read.
        """
        if not self.config_path.exists():
            return []
        stored = self.read_record(f"; use a new {flag}")["config"]
        return check_same_config(self.path, stored, config.to_dict(), self.kind.resumable)

    # ------------------------------------------------------------ checkpoints

    def load_state(self, path: Path, advice: str) -> dict:
        """A checkpoint, or a UserError with `advice` when it cannot be read."""
        try:
            return load_checkpoint(path)
        except CheckpointError as err:
            raise UserError(f"{err}; {advice}") from err

    def resume_state(self, can_branch: bool = False) -> tuple[dict | None, Path | None, str]:
        """The checkpoint a re-run continues from, its file, and a note when that is not last.pt.

        last.pt normally; when it is unreadable (a disk filled up, a copy cut short) or missing and the kind
        allows it, the newest readable phase-end checkpoint, whose metrics_offset keeps metrics.jsonl up to that
        point. None (start, or branch with --init-from) when there is no checkpoint to continue from.

        Args:
            can_branch: --init-from was given, so a run without a usable checkpoint can start from its source.
        """
        last = self.ckpt_dir / "last.pt"
        if last.exists():
            try:
                return load_checkpoint(last), last, ""
            except CheckpointError as err:
                problem = str(err)
        else:
            problem = f"{last} is missing"
        fallbacks = self.kind.phase_names if self.kind.resume_from_phase_ends else ()
        for name in reversed(fallbacks):  # phases run in this order, so the later phase's end is the newer
            path = self.ckpt_dir / f"{name}.pt"
            if path.is_file():
                try:
                    return (load_checkpoint(path), path,
                            f"{problem}: resuming from {path.name}, the end of phase {name}")
                except CheckpointError:
                    continue
        if last.exists() and not can_branch:
            searched = f", and {self.ckpt_dir} holds no readable phase checkpoint to resume from" if fallbacks else ""
            raise UserError(f"{problem}{searched}; delete {last} to train this run again from the start, or use a "
                            "new --run-dir")
        return None, None, (f"{problem}: starting again from --init-from" if last.exists() else "")

    def branch_source(self, init_from: str) -> tuple[dict, Path]:
        """The checkpoint --init-from names (a file, or a run dir's end of its branch phase) and its metrics.jsonl."""
        source = Path(init_from)
        name = f"{self.kind.branch_phase}.pt"
        source_file = source / "checkpoints" / name if source.is_dir() else source
        if not source_file.is_file():
            raise UserError(f"--init-from {init_from}: no checkpoint at {source_file}; train the source run "
                            "through its pretraining first")
        state = self.load_state(source_file, f"--init-from {init_from} cannot be branched from; train the source "
                                             "run again in a new run directory, or train this one without it")
        return state, source_file.parent.parent / "metrics.jsonl"

    def _share_snapshots(self, source_ckpts: Path) -> None:
        """Give a branched run the generator snapshots of the phases it inherited (hard links when possible), so
        `--checkpoint best` can pick an epoch from before the branch point."""
        inherited = self.kind.phase_names[:self.kind.phase_names.index(self.kind.branch_phase) + 1]
        for phase in inherited:
            for snap in source_ckpts.glob(snapshot_name(phase, "*")):
                target = self.ckpt_dir / snap.name
                if target.exists():
                    continue
                try:
                    os.link(snap, target)
                except OSError:
                    shutil.copyfile(snap, target)

    def check_architecture(self, state: dict, run: BuiltRun, error: str) -> None:
        """Refuse (with `error`) a checkpoint whose nets differ from the ones `run` was built with; a run built to
        sample (a GeneratorOnly pair) is compared on G and the data only."""
        built = run.architecture()
        stored = state.get("architecture") or {}
        if isinstance(run.pair, GeneratorOnly):
            stored = {key: stored.get(key) for key in built}
        if stored != built:
            raise UserError(error.replace("{differences}", architecture_differences(stored, built)))

    # ------------------------------------------------------------ train

    def train(self, config: Any, build: Callable[[], BuiltRun], init_from: str | None = None,
              argv: list[str] | None = None, done_line: str | None = None) -> dict:
        """Train a run from scratch, or resume it if the directory holds one; returns the final metrics.

        Everything is validated before anything is written: the directory, the stored config, the data and nets
        (`build`), the checkpoint to continue from and its architecture, whether its phases can be extended, and
        that no phase is shortened below what it trained. A resume prints a note per setting it changes.

        Under torchrun every process builds the run and trains its share; rank 0 alone writes (`distributed`).

        Args:
            config: the resolved config.
            build: builds the run (data, nets, pair) from `config`.
            init_from: a checkpoint file, or a run dir whose end of the kind's branch phase this run starts from.
            argv: the command line, stored in config.json.
            done_line: printed instead of the resume lines and the data notes when the run has nothing left to
                train (a study re-run goes through many finished runs: one line each, e.g. "seed 1 mle: already
                trained"); None: the usual lines.
        """
        with session(str(getattr(config, "device", "auto")), self.kind.command, self.kind.data_parallel) as world:
            return self._train(config, build, init_from, argv, done_line, world)

    def _train(self, config: Any, build: Callable[[], BuiltRun], init_from: str | None, argv: list[str] | None,
               done_line: str | None, world: World) -> dict:  # in one process of the job (or the only one)
        kind, run_dir = self.kind, self.path
        # -- validate everything before writing anything --
        check_run_dir(run_dir, kind.command)  # a file, a path under a file, or a folder of other files: refused
        changes = self.check_config(config)
        run = build()
        state, state_file, note = self.resume_state(bool(init_from))
        source_metrics: Path | None = None
        if state is None and init_from:
            state, source_metrics = self.branch_source(init_from)
        if state is not None:
            self.check_architecture(state, run, f"the checkpoint {state_file or init_from} holds another "
                                    "architecture than this config builds ({differences}); use a new --run-dir")
        phases = kind.build_phases(run)
        branching = source_metrics is not None  # a new run that starts from another run's pretraining
        if state is not None:
            check_resumable(phases, state["position"]["completed"], stopped_phases(state["position"]))
        resuming = state is not None and not branching  # of the changes, only a resume's are changes to a run
        if resuming:
            check_not_shortened(run_dir, phases, state["position"], changes)
        quiet = resuming and done_line is not None and not left_to_train(phases, state["position"])
        notes = (change_notes(changes) if resuming else []) + processes_note(state if resuming else None)
        size = {"world_size": world.size} if world.size > 1 else {}  # the job's size (absent: one process)
        barrier("checking the run directory")  # every process has read the directory before rank 0 writes
        if world.main:  # -- from here on we write (rank 0 alone under torchrun) --
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            branched = {"init_from": str(init_from) if init_from else None} if kind.branch_phase else {}
            atomic_write_json(self.config_path, {"config": config.to_dict(), "argv": argv or sys.argv,
                                                 "version": VERSION, **kind.record(run), **branched, **size})
            if note:
                log_line(run_dir, f"note: {note}", echo=True)
            if state_file is not None and state_file.name != "last.pt":  # what sampling and a re-run read
                atomic_write_bytes(self.ckpt_dir / "last.pt", state_file.read_bytes())
            log_line(run_dir, ("resuming" if resuming else "starting")
                     + f" {config.name} seed {config.seed} on {run.device}{kind.start_detail(run)}"
                     + (f" ({world.size} processes)" if world.size > 1 else "")
                     + (f" from the pretraining in {init_from}" if branching else ""), echo=not quiet)
            if quiet:
                log_line(run_dir, done_line, echo=True)
            kind.save_data(run, run_dir)
            for line in kind.notes(run):
                line = line if line.startswith("warning:") else f"note: {line}"
                if not quiet:  # the data notes were printed when the run trained; run.log keeps them
                    print(line, file=sys.stderr)
                log_line(run_dir, line)
            if source_metrics is not None:
                offset = state["metrics_offset"]
                with open(source_metrics, "rb") as fh:
                    atomic_write_text(run_dir / "metrics.jsonl", fh.read(offset).decode("utf-8"))
                self._share_snapshots(source_metrics.parent / "checkpoints")
        gen = seed_everything(config.seed, run.device)
        seed_rank_stream(config.seed)  # under torchrun: each process's own dropout stream
        generator = run.pair.generator
        train_adversarial(run.pair, phases, run_dir, gen, evaluate=run.evaluate,
                          eval_every=config.schedule.eval_every,
                          checkpoint_every_s=config.schedule.checkpoint_every_s, resume_state=state,
                          checkpoint_extra={"architecture": run.architecture(), "config": config.to_dict(), **size},
                          snapshot=lambda: {"generator": generator.state_dict(), "architecture": run.architecture()},
                          restore=lambda snap: generator.load_state_dict(snap["generator"]),
                          announce_resume=not quiet, resume_notes=notes,
                          # a kind whose schedule has no keep_snapshots keeps every snapshot
                          keep_snapshots=getattr(config.schedule, "keep_snapshots", 0), best_key=kind.best_key)
        final = finish_files(lambda folder: kind.finish(run, folder), run_dir)  # every process evaluates
        MetricsLog(run_dir / "metrics.jsonl").write_timing(
            {"event": "end", "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        barrier("waiting for the run's final files")  # a study's next step reads them, in every process
        return final

    # ------------------------------------------------------------ load

    def _label(self, phase: str, epoch: int) -> str:
        """An evaluated epoch in words: "pretrain_g:20", or "epoch 20" for a kind with one phase."""
        return f"{phase}:{epoch}" if len(self.kind.phase_names) > 1 else f"epoch {epoch}"

    def checkpoint_choices(self) -> str:
        """What --checkpoint accepts, in words."""
        return "last, " + ("a phase name, " if self.kind.named_phase_ends else "") + "best or an evaluated epoch"

    def best_eval(self, records: list[dict]) -> tuple[dict, str]:
        """The evaluation record with the lowest value of the kind's best metric, and that metric (ties keep the
        earliest); `records` must hold one with it."""
        key = self.kind.best_key(records)
        return min((r for r in records if key in r), key=lambda r: r[key]), key

    def resolve(self, checkpoint: str) -> Checkpoint:
        """Which file `--checkpoint` names: "last"; a phase name (that phase's end, where the kind allows it);
        "best" (the evaluation with the lowest value of the kind's best metric); "PHASE:EPOCH" or a bare EPOCH of
        the kind's epoch phase (an evaluated epoch)."""
        kind, run_dir = self.kind, self.path
        spec = checkpoint.strip()
        names = ("last", *kind.phase_names) if kind.named_phase_ends else ("last",)
        if spec in names:
            path = self.ckpt_dir / f"{spec}.pt"
            if not path.is_file():
                have = sorted(p.stem for p in self.ckpt_dir.glob("*.pt") if p.stem in names)
                raise UserError(f"no checkpoint {spec!r} in {run_dir} (have: {', '.join(have) or 'none'}); "
                                "train it first")
            return Checkpoint(path, False, spec)
        records = eval_records(run_dir)
        if spec == "best":
            key = kind.best_key(records) if records else ""
            if not any(key in r for r in records):
                raise UserError(f"--checkpoint best: {run_dir} has no evaluations yet" + (f" of {key}" if key else "")
                                + "; train it first, or use last")
            best, key = self.best_eval(records)
            phase, epoch = best["phase"], best["epoch"]
            what = f"best {key}={best[key]:.{kind.best_digits}f} at {self._label(phase, epoch)}"
        else:
            phase, _, epoch_text = spec.rpartition(":")
            phase = phase or kind.epoch_phase
            if phase not in kind.phase_names or not epoch_text.isdigit():
                named = f"a phase name ({', '.join(kind.phase_names)}), " if kind.named_phase_ends else ""
                raise UserError(f"--checkpoint {checkpoint!r}: use last, best, {named}an evaluated EPOCH (of "
                                f"{kind.epoch_phase}) or PHASE:EPOCH")
            epoch = int(epoch_text)
            what = self._label(phase, epoch)
        path = self.ckpt_dir / snapshot_name(phase, epoch)
        if not path.is_file():
            have = [self._label(r["phase"], r["epoch"]).removeprefix("epoch ") for r in records
                    if (self.ckpt_dir / snapshot_name(r["phase"], r["epoch"])).is_file()]
            where = ("for " if len(kind.phase_names) > 1 else "at ") + self._label(phase, epoch)
            raise UserError(f"--checkpoint {checkpoint}: no snapshot {where} in {run_dir} (snapshots exist at "
                            f"evaluated epochs: {', '.join(have[-8:]) or 'none'})")
        return Checkpoint(path, True, what)

    def load(self, checkpoint: str, build: Callable[[Any, dict, dict], BuiltRun]) -> BuiltRun:
        """Rebuild a trained run and load a checkpoint into it.

        Args:
            checkpoint: what `resolve` accepts.
            build: builds the run from (config, config.json's record, the checkpoint's state); a run whose pair
                is a GeneratorOnly gets G's weights only. Snapshots hold G only; D keeps its initial weights then.
        """
        record = self.read_record()
        config = self.kind.config_class.from_dict(record["config"])
        resolved = self.resolve(checkpoint)
        advice = f"pick another --checkpoint ({self.checkpoint_choices()})"
        if resolved.path.name == "last.pt":
            advice = (f"re-run the `{self.kind.command}` command of this run to resume it from its newest readable "
                      "phase checkpoint, or " if self.kind.resume_from_phase_ends
                      else f"delete {resolved.path} to train this run again from the start, or ") + advice
        state = self.load_state(resolved.path, advice)
        run = build(config, record, state)
        self.check_architecture(state, run, f"{resolved.path} does not match {self.config_path} (architecture "
                                "differs: {differences})")
        if resolved.generator_only:
            run.pair.generator.load_state_dict(state["generator"])
        elif isinstance(run.pair, GeneratorOnly):
            run.pair.generator.load_state_dict(state["pair"]["generator"])
        else:
            run.pair.load_state_dict(state["pair"])
        return run
