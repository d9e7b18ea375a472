"""Build a run from its config, train it (or resume it), and load it again to sample or evaluate.

A run directory holds everything needed to resume, sample or evaluate: config.json (resolved config, argv,
notes), metrics.jsonl, timing.jsonl, checkpoints/last.pt and one checkpoint per finished phase,
metrics.json (the final evaluation) and samples.txt.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from eval.nll import nll_oracle, nll_test
from seqgan.base.errors import UserError
from seqgan.base.outputs import check_run_dir
from seqgan.base.paths import data_root
from seqgan.base.version import VERSION
from seqgan.core.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
)
from seqgan.core.log import MetricsLog, eval_records, log_line
from seqgan.core.loop import Phase, check_resumable, snapshot_name, stopped_phases, train_adversarial
from seqgan.core.runtime import keep_freed_memory, pick_device, resolve_precision, seed_everything
from seqgan.text.adversarial import SeqGANPair
from seqgan.text.config import ExperimentConfig, check_same_config
from seqgan.text.discriminator import CNNDiscriminator, RNNDiscriminator
from seqgan.text.generator import LSTMGenerator
from seqgan.text.oracle import (
    ORACLE_DIR,
    PARAMS_FILE,
    SAMPLES_FILE,
    load_original_oracle,
    random_oracle,
    read_id_file,
)
from seqgan.text.task import TextTask, build_text_task

# Config sections that may change when a run is resumed (to extend or re-evaluate it); anything else
# changes what the checkpoint means, so a resume with a different value is refused.
RESUMABLE_CHANGES = ("schedule", "eval")


@dataclass
class OracleTask:
    """The synthetic experiment's data: the oracle, its training and held-out sequences."""

    oracle: LSTMGenerator
    oracle_name: str
    train: torch.Tensor  # (N, T)
    test: torch.Tensor  # (M, T)
    test_name: str
    notes: list[str] = field(default_factory=list)
    start_token: int = 0
    eos_token: int | None = None
    pad_token: int | None = None
    mask_fn = None  # nothing is padded

    @property
    def vocab_size(self) -> int:
        """The oracle's vocabulary."""
        return self.oracle.vocab_size

    @property
    def seq_len(self) -> int:
        """The oracle's sequence length."""
        return self.oracle.max_len

    def architecture_tag(self) -> dict:
        """What a checkpoint must agree with."""
        return {"oracle": self.oracle_name}

    def evaluate(self, generator: LSTMGenerator, config: ExperimentConfig) -> dict:
        """NLL-oracle of fresh samples and NLL-test of the held-out set, in nats per token."""
        return {k: v for k, v in self.final(generator, config).items() if not k.endswith("signature")}

    def final(self, generator: LSTMGenerator, config: ExperimentConfig, temperature: float = 1.0) -> dict:
        """The same, with signatures; `temperature` applies to the samples scored by the oracle."""
        generator.eval()
        oracle = nll_oracle(self.oracle, generator, config.eval.num_samples, eval_seed(config), temperature,
                            oracle_name=self.oracle_name)
        test = nll_test(generator, self.test, self.test_name)
        return {"nll_oracle": oracle.value, "nll_oracle_signature": oracle.signature,
                "nll_test": test.value, "nll_test_signature": test.signature}

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Token ids as space-separated numbers, the format of real_data.txt."""
        return [" ".join(map(str, row)) for row in ids.tolist()]

    def save(self, run_dir: Path) -> None:
        """Nothing to save: the oracle data is rebuilt from the config."""


def build_oracle_task(config: ExperimentConfig, data_dir: str | None, device: torch.device) -> OracleTask:
    """Load (or fall back to a random) oracle, and its training and held-out test sequences."""
    d = config.data
    if d.seq_len == 0:  # "size it from the corpus" (the text-small preset's default) needs a corpus
        raise UserError(f"the {config.name} experiment sizes its max length from a text corpus; pass --corpus FILE "
                        "(or --max-len N for the oracle)")
    notes: list[str] = []
    root = data_root(data_dir)
    params = root / ORACLE_DIR / PARAMS_FILE if root else None
    if d.oracle == "original" and (params is None or not params.is_file()):
        where = params if params else "<data dir>/seqgan_oracle/target_params.npz"
        raise UserError(f"oracle parameters not found at {where}; pass --data-dir DIR (the folder holding "
                        "seqgan_oracle/) or set SEQGAN_DATA, or use --set data.oracle=random")
    use_original = d.oracle != "random" and params is not None and params.is_file()
    if use_original:
        oracle = load_original_oracle(params)
        if (oracle.vocab_size, oracle.max_len) != (d.vocab_size, d.seq_len):
            raise UserError(f"the original oracle has vocab {oracle.vocab_size} and length {oracle.max_len}; "
                            "leave data.vocab_size and data.seq_len at their defaults or use data.oracle=random")
        name = "original-seqgan"
    else:
        if d.oracle == "auto":
            notes.append("original oracle parameters not found (looked in --data-dir, $SEQGAN_DATA, "
                         "../shared/data): using a seeded random N(0,1) LSTM oracle instead")
        oracle = random_oracle(config.seed, d.vocab_size, d.oracle_emb_dim, d.oracle_hidden_dim, d.seq_len)
        name = f"random-lstm-seed{config.seed}"
    oracle = oracle.to(device)
    shipped = root / ORACLE_DIR / SAMPLES_FILE if root else None
    if d.train == "shipped" and use_original and shipped is not None and shipped.is_file():
        train = read_id_file(shipped, d.seq_len, d.vocab_size).to(device)
    else:
        train_gen = torch.Generator(device=device).manual_seed(config.seed * 7919 + 17)
        train = oracle.sample(d.num_train, train_gen)
        if d.train == "shipped":
            notes.append(f"{SAMPLES_FILE} unavailable for this oracle: sampled {d.num_train} training sequences")
    test_gen = torch.Generator(device=device).manual_seed(d.test_seed)
    test = oracle.sample(d.num_test, test_gen)
    return OracleTask(oracle, name, train, test, f"oracle-samples-seed{d.test_seed}", notes)


def build_models(config: ExperimentConfig, vocab_size: int, seq_len: int, device: torch.device,
                 start_token: int = 0, eos_token: int | None = None,
                 pad_token: int | None = None) -> tuple[LSTMGenerator, torch.nn.Module]:
    """G and D as the config says, initialised from the run's seed."""
    d = config.discriminator
    generator = build_generator(config, vocab_size, seq_len, device, start_token, eos_token, pad_token)
    if d.kind == "cnn":
        discriminator = CNNDiscriminator(vocab_size, d.emb_dim, d.filter_sizes, d.num_filters, d.dropout,
                                         pad_token or 0, precision=resolve_precision(d.precision, device))
    else:
        discriminator = RNNDiscriminator(vocab_size, d.emb_dim, d.rnn_hidden_dim, d.dropout)
    return generator, discriminator.to(device)


def build_generator(config: ExperimentConfig, vocab_size: int, seq_len: int, device: torch.device,
                    start_token: int = 0, eos_token: int | None = None,
                    pad_token: int | None = None) -> LSTMGenerator:
    """G as the config says, initialised from the run's seed (`build_models` without D)."""
    g = config.generator
    init_gen = torch.Generator().manual_seed(config.seed)
    generator = LSTMGenerator(vocab_size, g.emb_dim, g.hidden_dim, seq_len, start_token, eos_token,
                              pad_token).init_normal_(g.init_std, init_gen)
    return generator.to(device)


EARLY_STOP_METRIC = "nll_valid"


def make_phases(pair: SeqGANPair, config: ExperimentConfig) -> list[Phase]:
    """Algorithm 1 as phases: MLE pretraining, D pretraining, adversarial epochs.

    With schedule.early_stop_patience > 0 the MLE phases (pretrain_g, and the adversarial phase of the MLE
    baseline) are evaluated after every epoch and stop once NLL-valid has not improved for that many
    evaluations, going back to their best epoch.
    """
    s, method = config.schedule, config.adversarial.method
    if s.early_stop_patience and not config.data.corpus:
        raise UserError("schedule.early_stop_patience needs a validation split, and the oracle experiment has "
                        "none (its held-out set is the test set); leave it at 0 for the oracle")
    if method == "seqgan":
        adversarial = ((pair.g_step, s.adv_g_steps), (pair.d_step, s.adv_d_rounds))
    elif method in ("constant", "pg-bleu"):
        adversarial = ((pair.g_step, s.adv_g_steps),)  # D plays no part in these
    else:  # the MLE and scheduled-sampling baselines: one more training epoch per adversarial epoch
        adversarial = ((pair.g_step, 1),)
    # early stopping counts evaluations, so the phases it watches are evaluated every epoch
    watched = {"eval_every": 1, "patience": s.early_stop_patience, "monitor": EARLY_STOP_METRIC} \
        if s.early_stop_patience else {}
    return [
        Phase("pretrain_g", s.pretrain_g_epochs, ((pair.mle_epoch, 1),), **watched),
        Phase("pretrain_d", s.pretrain_d_rounds, ((pair.pretrain_d_step, 1),)),
        Phase("adversarial", s.adv_epochs, adversarial, **(watched if method == "mle" else {})),
    ]


@dataclass
class Run:
    """A built run: config, task, models, and the pair that trains them."""

    config: ExperimentConfig
    task: OracleTask | TextTask | OracleVocab
    pair: SeqGANPair | GeneratorOnly  # GeneratorOnly: loaded by `load_generator`, to sample or evaluate
    device: torch.device

    def architecture(self) -> dict:
        """Shapes that a checkpoint must match."""
        return {"generator": self.pair.generator.architecture(),
                "discriminator": self.pair.discriminator.architecture(), **self.task.architecture_tag()}

    def evaluate(self, phase: str = "", epoch: int = 0) -> dict:
        """The task's evaluation (NLL-oracle and NLL-test, or NLL on held-out text), nats per token."""
        return self.task.evaluate(self.pair.generator, self.config)


def eval_seed(config: ExperimentConfig) -> int:
    """Seed of evaluation samples: fixed per run and apart from training randomness."""
    return config.seed * 1_000_003 + 4242


def build_run(config: ExperimentConfig, data_dir: str | None = None, run_dir: Path | None = None) -> Run:
    """Everything a run needs, from its config (and, for text, the split and tokenizer saved in run_dir)."""
    keep_freed_memory()
    device = pick_device(config.device)
    seed_everything(config.seed)
    if config.data.corpus:
        task = build_text_task(config, data_dir, run_dir, device)
        real, mask_fn = task.train.ids, task.mask_fn
    else:
        task = build_oracle_task(config, data_dir, device)
        real, mask_fn = task.train, None
    generator, discriminator = build_models(config, task.vocab_size, task.seq_len, device, task.start_token,
                                            task.eos_token, task.pad_token)
    pair = SeqGANPair(generator, discriminator, real, config, mask_fn)
    return Run(config, task, pair, device)


def _load(path: Path, advice: str) -> dict:
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        raise UserError(f"{err}; {advice}") from err


def _resume_state(ckpt_dir: Path, can_branch: bool) -> tuple[dict | None, Path | None, str]:
    """The checkpoint a re-run continues from, its file, and a note when that is not last.pt.

    last.pt normally; when it is unreadable (a disk filled up, a copy cut short) or missing, the newest
    readable phase-end checkpoint, whose metrics_offset keeps metrics.jsonl up to that point. None (start,
    or branch with --init-from) when there is no checkpoint at all.

    Args:
        ckpt_dir: run_dir/checkpoints.
        can_branch: --init-from was given, so a run without a usable checkpoint can start from its source.
    """
    last = ckpt_dir / "last.pt"
    if last.exists():
        try:
            return load_checkpoint(last), last, ""
        except CheckpointError as err:
            problem = str(err)
    else:
        problem = f"{last} is missing"
    for name in reversed(PHASE_NAMES):  # phases run in this order, so the later phase's end is the newer
        path = ckpt_dir / f"{name}.pt"
        if path.is_file():
            try:
                return (load_checkpoint(path), path,
                        f"{problem}: resuming from {path.name}, the end of phase {name}")
            except CheckpointError:
                continue
    if last.exists() and not can_branch:
        raise UserError(f"{problem}, and {ckpt_dir} holds no readable phase checkpoint to resume from; delete "
                        f"{last} to train this run again from the start, or use a new --run-dir")
    return None, None, (f"{problem}: starting again from --init-from" if last.exists() else "")


def train(config: ExperimentConfig, run_dir: str | Path, data_dir: str | None = None,
          init_from: str | None = None, argv: list[str] | None = None) -> dict:
    """Train a run from scratch, or resume it if `run_dir` already holds one; returns the final metrics.

    Args:
        config: the resolved config.
        run_dir: the run directory (created if missing).
        data_dir: where named data lives (default: $SEQGAN_DATA or ../shared/data).
        init_from: a checkpoint file, or a run dir whose end of pretraining (checkpoints/pretrain_d.pt)
            this run starts from; used to branch several methods off one pretraining.
        argv: the command line, stored in config.json.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    # -- validate everything before writing anything --
    check_run_dir(run_dir, "seqgan train")  # a file, a path under a file, or a folder of other files: refused
    if config_path.exists():
        try:
            stored = json.loads(config_path.read_text(encoding="utf-8"))["config"]
        except (OSError, ValueError, KeyError) as err:
            raise UserError(f"{config_path} is unreadable ({err}); use a new --run-dir") from err
        try:  # keys added by newer versions take their defaults, so older run dirs still resume
            stored = ExperimentConfig.from_dict(stored).to_dict()
        except (UserError, TypeError) as err:
            raise UserError(f"{config_path} holds a config this version cannot read ({err}); "
                            "use a new --run-dir") from err
        check_same_config(run_dir, stored, config.to_dict(), RESUMABLE_CHANGES)
    run = build_run(config, data_dir, run_dir)
    resume_state, resume_file, resume_note = _resume_state(run_dir / "checkpoints", bool(init_from))
    source_metrics: tuple[Path, int] | None = None
    if resume_state is None and init_from:
        source = Path(init_from)
        source_file = source / "checkpoints" / "pretrain_d.pt" if source.is_dir() else source
        if not source_file.is_file():
            raise UserError(f"--init-from {init_from}: no checkpoint at {source_file}; train the source run "
                            "through its pretraining first")
        resume_state = _load(source_file, f"--init-from {init_from} cannot be branched from; train the source "
                                          "run again in a new run directory, or train this one without it")
        source_metrics = (source_file.parent.parent / "metrics.jsonl", resume_state["metrics_offset"])
    if resume_state is not None and resume_state.get("architecture") != run.architecture():
        raise UserError(f"the checkpoint's architecture {resume_state.get('architecture')} differs from this "
                        f"config's {run.architecture()}; use a new --run-dir")
    phases = make_phases(run.pair, config)
    if resume_state is not None:
        check_resumable(phases, resume_state["position"]["completed"], stopped_phases(resume_state["position"]))
    # -- from here on we write --
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, {"config": config.to_dict(), "argv": argv or sys.argv,
                                    "version": VERSION, "notes": run.task.notes,
                                    "init_from": str(init_from) if init_from else None})
    if resume_note:
        log_line(run_dir, f"note: {resume_note}", echo=True)
    if resume_file is not None and resume_file.name != "last.pt":  # last.pt is what `sample` and a re-run read
        atomic_write_bytes(run_dir / "checkpoints" / "last.pt", resume_file.read_bytes())
    branching = source_metrics is not None  # a new run that starts from another run's pretraining
    log_line(run_dir, ("resuming" if resume_state is not None and not branching else "starting") + f" {config.name} "
             f"seed {config.seed} on {run.device}" + (f" from the pretraining in {init_from}" if branching else ""),
             echo=True)
    run.task.save(run_dir)
    for note in run.task.notes:
        line = note if note.startswith("warning:") else f"note: {note}"
        print(line, file=sys.stderr)
        log_line(run_dir, line)
    if source_metrics is not None:
        src, offset = source_metrics
        with open(src, "rb") as fh:
            atomic_write_text(run_dir / "metrics.jsonl", fh.read(offset).decode("utf-8"))
        resume_state["metrics_offset"] = offset
        _share_pretraining_snapshots(src.parent / "checkpoints", run_dir / "checkpoints")
    gen = seed_everything(config.seed, run.device)
    train_adversarial(run.pair, phases, run_dir, gen, evaluate=run.evaluate,
                      eval_every=config.schedule.eval_every,
                      checkpoint_every_s=config.schedule.checkpoint_every_s, resume_state=resume_state,
                      checkpoint_extra={"architecture": run.architecture(), "config": config.to_dict()},
                      snapshot=lambda: {"generator": run.pair.generator.state_dict(),
                                        "architecture": run.architecture()},
                      restore=lambda state: run.pair.generator.load_state_dict(state["generator"]))
    final = finish(run, run_dir)
    MetricsLog(run_dir / "metrics.jsonl").write_timing(
        {"event": "end", "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return final


def _share_pretraining_snapshots(source: Path, dest: Path) -> None:
    """Give a branched run the generator snapshots of the pretraining it inherited (hard links when possible),
    so `--checkpoint best` can pick an epoch from before the branch point."""
    for snap in source.glob(snapshot_name("pretrain_*", "*")):
        target = dest / snap.name
        if target.exists():
            continue
        try:
            os.link(snap, target)
        except OSError:
            shutil.copyfile(snap, target)


def finish(run: Run, run_dir: Path) -> dict:
    """Final evaluation (metrics.json, with signatures) and 100 samples (samples.txt)."""
    g = run.pair.generator
    final = {**run.task.final(g, run.config), "method": run.config.adversarial.method, "seed": run.config.seed,
             "experiment": run.config.name}
    atomic_write_json(run_dir / "metrics.json", final)
    samples = g.sample(100, torch.Generator(device=run.device).manual_seed(eval_seed(run.config)))
    atomic_write_text(run_dir / "samples.txt", "".join(line + "\n" for line in run.task.decode(samples)))
    return final


PHASE_NAMES = ("pretrain_g", "pretrain_d", "adversarial")


def best_eval(records: list[dict]) -> tuple[dict, str]:
    """The evaluation record with the lowest held-out NLL, and the key it was chosen by: nll_valid on text,
    nll_test on the oracle (which has no validation split). Ties keep the earliest."""
    key = "nll_valid" if "nll_valid" in records[0] else "nll_test"
    return min(records, key=lambda r: r[key]), key


def resolve_checkpoint(run_dir: str | Path, checkpoint: str) -> tuple[Path, bool, str]:
    """Which file `--checkpoint` names: (path, holds only a generator snapshot, a description).

    Accepted: "last"; a phase name (that phase's end); "best" (the evaluation with the lowest held-out
    NLL: nll_valid for text, nll_test for the oracle); "PHASE:EPOCH" or a bare EPOCH of the adversarial
    phase (an evaluated epoch).
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    spec = checkpoint.strip()
    if spec == "last" or spec in PHASE_NAMES:
        path = ckpt_dir / f"{spec}.pt"
        if not path.is_file():
            have = sorted(p.stem for p in ckpt_dir.glob("*.pt") if not p.stem.startswith("eval-"))
            raise UserError(f"no checkpoint {spec!r} in {run_dir} (have: {', '.join(have) or 'none'}); "
                            "train it first")
        return path, False, spec
    records = eval_records(run_dir)
    if spec == "best":
        if not records:
            raise UserError(f"--checkpoint best: {run_dir} has no evaluations yet; train it first")
        best, key = best_eval(records)
        phase, epoch = best["phase"], best["epoch"]
        what = f"best {key}={best[key]:.4f} at {phase}:{epoch}"
    else:
        phase, _, epoch_text = spec.rpartition(":")
        phase = phase or "adversarial"
        if phase not in PHASE_NAMES or not epoch_text.isdigit():
            raise UserError(f"--checkpoint {checkpoint!r}: use last, best, a phase name ({', '.join(PHASE_NAMES)}), "
                            "PHASE:EPOCH or an adversarial EPOCH")
        epoch = int(epoch_text)
        what = f"{phase}:{epoch}"
    path = ckpt_dir / snapshot_name(phase, epoch)
    if not path.is_file():
        have = [f"{r['phase']}:{r['epoch']}" for r in records
                if (ckpt_dir / snapshot_name(r["phase"], r["epoch"])).is_file()]
        raise UserError(f"--checkpoint {checkpoint}: no snapshot for {phase}:{epoch} in {run_dir} (snapshots "
                        f"exist at evaluated epochs: {', '.join(have[-8:]) or 'none'})")
    return path, True, what


def load_run(run_dir: str | Path, data_dir: str | None = None, checkpoint: str = "last") -> Run:
    """Rebuild a trained run from its directory and load a checkpoint into it.

    Args:
        run_dir: a run directory written by `train`.
        data_dir: where named data lives.
        checkpoint: "last", a phase name ("pretrain_g", "pretrain_d", "adversarial"), "best", or an
            evaluated epoch ("adversarial:30", or just "30" for the adversarial phase). Snapshots hold the
            generator only; D keeps its initial weights then (sampling and evaluation need only G).
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    config = read_run_config(run_dir)
    path, generator_only, _ = resolve_checkpoint(run_dir, checkpoint)
    run = build_run(config, data_dir, run_dir)
    state = _load_for_use(path)
    if state.get("architecture") != run.architecture():
        raise UserError(f"{path} does not match {config_path} (architecture differs)")
    if generator_only:
        run.pair.generator.load_state_dict(state["generator"])
    else:
        run.pair.load_state_dict(state["pair"])
    return run


def read_run_config(run_dir: Path) -> ExperimentConfig:
    """The config a run directory was trained with (its config.json)."""
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); train one with `seqgan train`")
    try:
        return ExperimentConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8"))["config"])
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{config_path} is unreadable ({err})") from err


def _load_for_use(path: Path) -> dict:
    """A checkpoint to sample or evaluate from, with advice when it cannot be read."""
    advice = "pick another --checkpoint (last, a phase name, best or an evaluated epoch)"
    if path.name == "last.pt":
        advice = ("re-run the `seqgan train` command of this run to resume it from its newest readable phase "
                  "checkpoint, or " + advice)
    return _load(path, advice)


@dataclass
class GeneratorOnly:
    """The part of a SeqGANPair that sampling and evaluation use: G. No D, rollout copy or optimizers, whose
    construction takes longer than sampling (the first torch optimizer imports torch's compiler, ~1 s)."""

    generator: LSTMGenerator


@dataclass
class OracleVocab:
    """The oracle task as sampling sees it: ids in [0, vocab_size) of length seq_len, written as numbers; no
    oracle and no data are built."""

    vocab_size: int
    seq_len: int
    start_token: int = 0
    eos_token: int | None = None
    pad_token: int | None = None
    mask_fn = None  # nothing is padded
    decode = OracleTask.decode


def _text_task_without_data(config: ExperimentConfig, run_dir: Path, seq_len: int) -> TextTask | None:
    """A text run's task with its tokenizer and max length `seq_len` but no split read or encoded (None when
    the run directory has no tokenizer.json)."""
    from text_data.corpus import Splits
    from text_data.tokenizer import load_tokenizer

    if not (run_dir / "tokenizer.json").is_file():
        return None
    tok = load_tokenizer(run_dir / "tokenizer.json")
    return TextTask(tok, Splits([], [], [], f"run dir {run_dir}"), None, None, None, Path(config.data.corpus).name,
                    seq_len)


def load_generator(run_dir: str | Path, data_dir: str | None = None, checkpoint: str = "last",
                   with_data: bool = False) -> Run:
    """`load_run` for sampling (and, with_data, evaluating): the same G with the same weights, so the same
    samples and scores for a seed, without building D, its optimizers or (unless with_data) the data.

    Args:
        run_dir: a run directory written by `train`.
        data_dir: where named data lives.
        checkpoint: as in `load_run`.
        with_data: build the task's data as `load_run` does (held-out splits for NLL, the oracle and its
            test set); without it the task can only decode (text: tokenizer and max length; oracle: ids).
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    path, generator_only, _ = resolve_checkpoint(run_dir, checkpoint)
    device = pick_device(config.device)
    state = _load_for_use(path)
    stored = state.get("architecture") or {}
    d = config.data
    task = None
    if with_data:
        keep_freed_memory()
        seed_everything(config.seed)  # as build_run, should building the data draw from the global RNG
        task = (build_text_task(config, data_dir, run_dir, device) if d.corpus
                else build_oracle_task(config, data_dir, device))
    elif d.corpus:
        # data.seq_len=0 was sized from the training split when the run was built; the checkpoint's G records
        # the result, so the split need not be read and encoded again
        seq_len = d.seq_len or (stored.get("generator") or {}).get("max_len", 0)
        task = _text_task_without_data(config, run_dir, seq_len) if seq_len else None
    else:  # an oracle's G has the oracle's vocabulary and length, which the config fixes
        task = OracleVocab(d.vocab_size, d.seq_len)
    if task is None:  # a text run directory without its tokenizer: load it the long way
        return load_run(run_dir, data_dir, checkpoint)
    generator = build_generator(config, task.vocab_size, task.seq_len, device, task.start_token, task.eos_token,
                                task.pad_token)
    tag = task.architecture_tag() if hasattr(task, "architecture_tag") else {}
    if stored.get("generator") != generator.architecture() or any(stored.get(k) != v for k, v in tag.items()):
        raise UserError(f"{path} does not match {run_dir / 'config.json'} (architecture differs)")
    generator.load_state_dict(state["generator"] if generator_only else state["pair"]["generator"])
    return Run(config, task, GeneratorOnly(generator), device)
