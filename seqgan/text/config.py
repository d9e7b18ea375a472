"""Experiment configuration: frozen dataclasses, `--set a.b=value` overrides, JSON round trip."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from seqgan.base.errors import UserError

MAX_SEED = 2**32 - 1  # seeds derived from the run's seed (evaluation, oracle data) must stay within 64 bits
MAX_VOCAB = 1_000_000
MAX_SEQ_LEN = 10_000
MAX_ORACLE_SAMPLES = 10_000_000
PAPER_FILTER_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
PAPER_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def seed_arg(text: str) -> int:
    """argparse type of a --seed flag: an integer in 0..MAX_SEED (a bigger one overflows torch's seeding)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..{MAX_SEED}, not {text!r}")
    return value


@dataclass(frozen=True)
class DataConfig:
    """Where the real sequences come from: the synthetic oracle (corpus "") or a text corpus."""

    corpus: str = ""  # "" = the synthetic oracle; a named corpus (poems, obama, coco) or a file/folder path
    tokenizer: str = "word"  # text: char, word or bpe
    lowercase: bool = False  # text: lower-case before tokenizing
    split: tuple[float, ...] = (0.8, 0.1, 0.1)  # text: train/valid/test fractions (seeded)
    text_field: str = ""  # text: column of .csv/.json/.jsonl/.parquet files (default "text")
    too_long: str = "truncate"  # text: lines longer than seq_len are truncated or dropped
    min_frequency: int = 1  # text: drop rarer tokens from the vocabulary (they become <unk>)
    oracle: str = "auto"  # "auto" (original parameters if found, else random), "original", "random"
    train: str = "shipped"  # "shipped" (real_data.txt with the original oracle) or "sample"
    num_train: int = 10_000  # oracle samples drawn when train == "sample"
    num_test: int = 10_000  # held-out oracle samples for NLL-test
    test_seed: int = 20_170_204  # fixed: every run is scored on the same held-out set
    vocab_size: int = 5000  # oracle: its vocabulary; text: the largest vocabulary the tokenizer may learn
    seq_len: int = 20  # oracle: sequence length; text: max tokens per line, <eos> included (0: from the corpus)
    oracle_emb_dim: int = 32
    oracle_hidden_dim: int = 32

    def __post_init__(self) -> None:
        _check(self.oracle in ("auto", "original", "random"), "data.oracle must be auto, original or random")
        _check(self.train in ("shipped", "sample"), "data.train must be shipped or sample")
        _check(self.num_train >= 1 and self.num_test >= 1, "data.num_train and data.num_test must be >= 1")
        _check(self.vocab_size >= 2, "data.vocab_size must be >= 2")
        # upper bounds: past them a typo allocates gigabytes (embeddings, id tensors) before anything trains
        _check(self.vocab_size <= MAX_VOCAB, f"data.vocab_size must be <= {MAX_VOCAB:,} (got {self.vocab_size:,})")
        _check(self.seq_len <= MAX_SEQ_LEN, f"data.seq_len must be <= {MAX_SEQ_LEN:,} tokens (got {self.seq_len:,})")
        _check(max(self.num_train, self.num_test) <= MAX_ORACLE_SAMPLES,
               f"data.num_train and data.num_test must be <= {MAX_ORACLE_SAMPLES:,}")
        _check(self.seq_len >= 2 or self.seq_len == 0,
               "data.seq_len must be >= 2, or 0 on text to size it from the corpus")
        _check(self.tokenizer in ("char", "word", "bpe"), "data.tokenizer must be char, word or bpe")
        _check(self.too_long in ("truncate", "drop"), "data.too_long must be truncate or drop")
        _check(len(self.split) == 3 and min(self.split) >= 0 and abs(sum(self.split) - 1) < 1e-6,
               f"data.split needs three non-negative fractions summing to 1 (got {self.split})")
        # a text run reports NLL-valid and picks `--checkpoint best` by it: an empty validation split would
        # silently drop both (the line counts are checked again once the corpus is read)
        _check(not self.corpus or self.split[1] > 0,
               f"data.split {','.join(f'{x:g}' for x in self.split)} leaves the validation split empty; give it a "
               "share, e.g. --split 0.8,0.1,0.1")


@dataclass(frozen=True)
class GeneratorConfig:
    """The LSTM policy G (paper: embedding 32, hidden 32, Adam 0.01, grad-norm clip 5, batch 64)."""

    emb_dim: int = 32
    hidden_dim: int = 32
    init_std: float = 0.1
    lr: float = 0.01
    grad_clip: float = 5.0
    batch_size: int = 64

    def __post_init__(self) -> None:
        _check(self.emb_dim >= 1 and self.hidden_dim >= 1, "generator sizes must be >= 1")
        _check(self.lr > 0 and self.batch_size >= 1, "generator.lr must be > 0 and batch_size >= 1")
        _check(self.init_std > 0 and self.grad_clip >= 0, "generator.init_std must be > 0, grad_clip >= 0")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """D: the paper's CNN (embedding 64, filter bank, highway, dropout 0.25, L2 0.2, Adam 1e-4) or an RNN."""

    kind: str = "cnn"  # "cnn" or "rnn"
    emb_dim: int = 64
    filter_sizes: tuple[int, ...] = PAPER_FILTER_SIZES
    num_filters: tuple[int, ...] = PAPER_NUM_FILTERS
    rnn_hidden_dim: int = 64
    dropout: float = 0.25
    l2_reg: float = 0.2
    lr: float = 1e-4
    batch_size: int = 64
    # matrix products of the CNN D: fp32, bf16 (mixed precision: bf16 products, fp32 weights, optimizer and
    # element-wise maths), or auto = bf16 where the hardware has fast bf16 products (AVX512-BF16/AMX, CUDA)
    precision: str = "auto"

    def __post_init__(self) -> None:
        _check(self.kind in ("cnn", "rnn"), "discriminator.kind must be cnn or rnn")
        _check(self.precision in ("auto", "fp32", "bf16"), "discriminator.precision must be auto, fp32 or bf16")
        _check(len(self.filter_sizes) == len(self.num_filters) and len(self.filter_sizes) > 0,
               f"discriminator.filter_sizes ({len(self.filter_sizes)} entries) and num_filters "
               f"({len(self.num_filters)}) must have the same, non-zero length")
        _check(0.0 <= self.dropout < 1.0, "discriminator.dropout must be in [0, 1)")
        _check(self.emb_dim >= 1 and self.rnn_hidden_dim >= 1, "discriminator sizes must be >= 1")
        _check(min(self.filter_sizes) >= 1 and min(self.num_filters) >= 1,
               "discriminator.filter_sizes and num_filters must all be >= 1")
        _check(self.lr > 0 and self.batch_size >= 1 and self.l2_reg >= 0,
               "discriminator.lr must be > 0, batch_size >= 1, l2_reg >= 0")


@dataclass(frozen=True)
class ScheduleConfig:
    """Algorithm 1's schedule. Paper: 120 MLE epochs; 50 x (negatives, 3 D epochs); then per adversarial
    epoch 1 G step and 5 x (fresh negatives, 3 D epochs), for 200 epochs."""

    pretrain_g_epochs: int = 120
    pretrain_d_rounds: int = 50
    pretrain_d_epochs: int = 3
    adv_epochs: int = 200
    adv_g_steps: int = 1
    adv_d_rounds: int = 5
    adv_d_epochs: int = 3
    num_negatives: int = 10_000  # fresh generated sequences per D round (positives: as many real ones)
    eval_every: int = 5  # epochs between evaluations, in every phase (phases early stopping watches: every epoch)
    checkpoint_every_s: float = 60.0  # at most this long between checkpoints (plus one at each phase end)
    # early stopping of the MLE phases (pretrain_g, and the adversarial phase of adversarial.method=mle) on
    # NLL-valid: each is evaluated after every epoch and ends once this many evaluations in a row have not
    # improved on its best, and G goes back to its best epoch (also when the phase runs out of epochs past
    # its best). 0 = off (the paper's fixed schedule); text corpora only (the oracle has no validation split)
    early_stop_patience: int = 0

    def __post_init__(self) -> None:
        for name in ("pretrain_g_epochs", "pretrain_d_rounds", "pretrain_d_epochs", "adv_epochs",
                     "adv_g_steps", "adv_d_rounds", "adv_d_epochs", "early_stop_patience"):
            _check(getattr(self, name) >= 0, f"schedule.{name} must be >= 0")
        _check(self.num_negatives >= 1 and self.eval_every >= 1,
               "schedule.num_negatives and schedule.eval_every must be >= 1")
        _check(self.checkpoint_every_s >= 0,  # also refuses NaN
               f"schedule.checkpoint_every_s must be >= 0 seconds (0 = after every epoch), "
               f"not {self.checkpoint_every_s}")


ADVERSARIAL_METHODS = ("seqgan", "constant", "mle", "ss", "pg-bleu")


@dataclass(frozen=True)
class AdversarialConfig:
    """The adversarial phase: which method, and how the policy gradient is formed."""

    # seqgan (D rewards), constant (reward 1 everywhere), mle (continue MLE), ss (scheduled sampling),
    # pg-bleu (SeqGAN's policy gradient with a BLEU reward from the rollouts instead of D)
    method: str = "seqgan"
    num_rollouts: int = 16
    rollout_update_rate: float = 0.8  # 0 = rollouts always use the current G (what the original code did)
    # where the delayed rollout policy starts: "pretrained" = a copy of G when its first policy-gradient step
    # comes (the paper: the rollout network is built from the pretrained G); "initial" = G's random
    # initialisation, what versions up to 0.1.0 did (kept so that runs made with them can be reproduced)
    rollout_start: str = "pretrained"
    g_lr: float = 0.01
    g_batch_size: int = 64
    baseline: str = "none"  # none, or "mean": subtract the batch mean reward at each position
    reduction: str = "sum"  # sum over tokens (the original code) or mean
    # scheduled sampling: the k-th SS epoch feeds the true previous token with probability
    # max(0, ss_start - ss_decay * k), G's own sample otherwise, drawn per token
    ss_start: float = 1.0
    ss_decay: float = 0.002
    # PG-BLEU: the reward of a sequence is its BLEU-n against a fixed random part of the training data
    # (the original: BLEU-3, no smoothing, 40% of the training data, 1 rollout)
    bleu_n: int = 3
    bleu_smoothing: str = "none"
    bleu_ref_fraction: float = 0.4

    def __post_init__(self) -> None:
        _check(self.method in ADVERSARIAL_METHODS,
               f"adversarial.method must be one of {', '.join(ADVERSARIAL_METHODS)}, not {self.method!r}")
        _check(0.0 <= self.ss_start <= 1.0 and self.ss_decay >= 0,
               "adversarial.ss_start must be in [0, 1] and ss_decay >= 0")
        _check(1 <= self.bleu_n <= 5, "adversarial.bleu_n must be 1..5")
        _check(0.0 < self.bleu_ref_fraction <= 1.0, "adversarial.bleu_ref_fraction must be in (0, 1]")
        _check(self.num_rollouts >= 1, "adversarial.num_rollouts must be >= 1")
        _check(0.0 <= self.rollout_update_rate < 1.0, "adversarial.rollout_update_rate must be in [0, 1)")
        _check(self.rollout_start in ("pretrained", "initial"), "adversarial.rollout_start must be pretrained or "
               "initial")
        _check(self.baseline in ("none", "mean"), "adversarial.baseline must be none or mean")
        _check(self.reduction in ("sum", "mean"), "adversarial.reduction must be sum or mean")
        _check(self.g_lr > 0 and self.g_batch_size >= 1, "adversarial.g_lr must be > 0, g_batch_size >= 1")


@dataclass(frozen=True)
class EvalConfig:
    """What `evaluate` and the in-training evaluations compute."""

    num_samples: int = 10_000  # generated sequences scored by the oracle for NLL-oracle

    def __post_init__(self) -> None:
        _check(self.num_samples >= 1, "eval.num_samples must be >= 1")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines a run; saved as run_dir/config.json."""

    KEYS_COMMAND: ClassVar[str] = "seqgan experiments --keys"  # named in unknown-key errors
    EXAMPLE_OVERRIDE: ClassVar[str] = "schedule.adv_epochs=10"

    name: str = "oracle"
    seed: int = 1
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        _check(bool(self.device), "device must be auto, cpu, cuda or cuda:N")
        _check(0 <= self.seed <= MAX_SEED, f"seed must be an integer in 0..{MAX_SEED} (got {self.seed})")

    def to_dict(self) -> dict:
        """Plain nested dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        """Inverse of `to_dict`; unknown keys are an error."""
        return config_from_dict(cls, data)


def config_from_dict(root: type, data: dict) -> Any:
    """Build the frozen config dataclass `root` from a nested dict; unknown keys name the closest known ones.

    Args:
        root: the top-level config class (ExperimentConfig, ImageConfig).
        data: nested plain data, e.g. read from config.json; missing keys take their defaults.
    """
    known = _all_keys(root)
    keys_command = root.KEYS_COMMAND

    def build(cls: type, node: dict, prefix: str) -> Any:
        hints = typing.get_type_hints(cls)
        names = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in node.items():
            if key not in names:
                raise UserError(_unknown_key_message(prefix + key, known, keys_command))
            hint = hints[key]
            if dataclasses.is_dataclass(hint):
                kwargs[key] = build(hint, value, prefix + key + ".")
            elif typing.get_origin(hint) is tuple:
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    return build(root, data, "")


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += _all_keys(hints[f.name], prefix + f.name + ".")
        else:
            keys.append(prefix + f.name)
    return keys


def _unknown_key_message(key: str, known: list[str], keys_command: str = "seqgan experiments --keys") -> str:
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; `{keys_command}` lists them"
    return f"unknown config key {key!r}{hint}"


def _parse_value(key: str, text: str, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
        if hint is str:
            return text
        if origin is tuple:
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
            return tuple(_parse_value(key, part.strip(), item) for part in text.split(",") if part.strip())
        if origin in (typing.Union, types.UnionType):
            return None if text.lower() == "none" else _parse_value(key, text, typing.get_args(hint)[0])
    except ValueError:
        pass
    else:
        raise UserError(f"config key {key!r} has unsupported type {hint}")
    kind = getattr(hint, "__name__", str(hint))
    raise UserError(f"--set {key}={text}: expected {kind}" + (" (comma-separated)" if origin is tuple else ""))


def apply_overrides(config: Any, overrides: list[str]) -> Any:
    """Apply `a.b=value` overrides with type checks; unknown keys name the closest known ones.

    All overrides are applied before validation, so related keys (filter sizes and counts) can change together.
    Works for any config dataclass with `to_dict` (ExperimentConfig, ImageConfig).

    Args:
        config: the preset.
        overrides: strings like "schedule.adv_epochs=10" or "discriminator.filter_sizes=2,3".
    """
    root = type(config)
    known = _all_keys(root)
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. {root.EXAMPLE_OVERRIDE}")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in known:
            raise UserError(_unknown_key_message(key, known, root.KEYS_COMMAND))
        *parents, leaf = key.split(".")
        node, cls = data, root
        for name in parents:
            node, cls = node[name], typing.get_type_hints(cls)[name]
        node[leaf] = _parse_value(key, text.strip(), typing.get_type_hints(cls)[leaf])
    return config_from_dict(root, data)


def flatten_config(data: dict, prefix: str = "") -> dict:
    """A nested config dict as {"section.key": value} (what `--keys` prints and `--set` takes)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten_config(value, prefix + key + "."))
        else:
            out[prefix + key] = value
    return out


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Every leaf key whose value differs between two nested config dicts, as "key: old -> new"."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, prefix + key + ".")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a} -> {b}")
    return diffs


def check_same_config(run_dir: Any, stored: dict, current: dict, resumable: tuple[str, ...]) -> None:
    """Refuse to resume a run whose stored config differs from this one outside the `resumable` key prefixes.

    Args:
        run_dir: the run directory (named in the error).
        stored: the config dict in run_dir/config.json (already upgraded to this version's keys).
        current: the config dict of this invocation.
        resumable: prefixes of "key: old -> new" differences that may change on resume (e.g. "schedule.").
    """
    as_json = json.loads(json.dumps(current))  # tuples become lists, as in the stored file
    diffs = [d for d in config_differences(json.loads(json.dumps(stored)), as_json) if not d.startswith(resumable)]
    if diffs:
        raise UserError(f"{run_dir} holds a run with a different configuration ({'; '.join(diffs[:3])}); "
                        "re-run with the same settings to resume, or use a new --run-dir")


def config_to_json(config: ExperimentConfig) -> str:
    """Indented JSON text of the config."""
    return json.dumps(config.to_dict(), indent=2)
