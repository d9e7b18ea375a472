"""Experiment configuration: frozen dataclasses, `--set a.b=value` overrides, JSON round trip.

The machinery (overrides, the round trip, the resume rule) is `seqgan.core.config`'s; it is re-exported here
for the modules and scripts that take it from the text config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from seqgan.core.config import (  # noqa: F401 -- re-exported
    MAX_SEED,
    RunConfig,
    apply_overrides,
    check,
    check_same_config,
    config_differences,
    config_from_dict,
    config_to_json,
    flatten_config,
    seed_arg,
)

MAX_VOCAB = 1_000_000
MAX_SEQ_LEN = 10_000
MAX_ORACLE_SAMPLES = 10_000_000
PAPER_FILTER_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
PAPER_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)


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
        check(self.oracle in ("auto", "original", "random"), "data.oracle must be auto, original or random")
        check(self.train in ("shipped", "sample"), "data.train must be shipped or sample")
        check(self.num_train >= 1 and self.num_test >= 1, "data.num_train and data.num_test must be >= 1")
        check(self.vocab_size >= 2, "data.vocab_size must be >= 2")
        # upper bounds: past them a typo allocates gigabytes (embeddings, id tensors) before anything trains
        check(self.vocab_size <= MAX_VOCAB, f"data.vocab_size must be <= {MAX_VOCAB:,} (got {self.vocab_size:,})")
        check(self.seq_len <= MAX_SEQ_LEN, f"data.seq_len must be <= {MAX_SEQ_LEN:,} tokens (got {self.seq_len:,})")
        check(max(self.num_train, self.num_test) <= MAX_ORACLE_SAMPLES,
               f"data.num_train and data.num_test must be <= {MAX_ORACLE_SAMPLES:,}")
        check(self.seq_len >= 2 or self.seq_len == 0,
               "data.seq_len must be >= 2, or 0 on text to size it from the corpus")
        check(self.tokenizer in ("char", "word", "bpe"), "data.tokenizer must be char, word or bpe")
        check(self.too_long in ("truncate", "drop"), "data.too_long must be truncate or drop")
        check(len(self.split) == 3 and min(self.split) >= 0 and abs(sum(self.split) - 1) < 1e-6,
               f"data.split needs three non-negative fractions summing to 1 (got {self.split})")
        # a text run reports NLL-valid and picks `--checkpoint best` by it: an empty validation split would
        # silently drop both (the line counts are checked again once the corpus is read)
        check(not self.corpus or self.split[1] > 0,
               f"data.split {','.join(f'{x:g}' for x in self.split)} leaves the validation split empty; give it a "
               "share, e.g. --split 0.8,0.1,0.1")


GENERATOR_KINDS = ("lstm", "gpt2", "pretrained")
GPT2_SIZES = ("layers", "heads", "width", "dropout")  # what sizes a gpt2 from scratch; a pretrained model has its own


@dataclass(frozen=True)
class GeneratorConfig:
    """The policy G: the paper's LSTM (embedding 32, hidden 32, Adam 0.01, grad-norm clip 5, batch 64), a
    GPT-style causal transformer built from scratch on the run's vocabulary (kind gpt2), or a pretrained causal
    language model from a local folder, with its own tokenizer (kind pretrained, `--generator-from PATH`)."""

    kind: str = "lstm"  # "lstm" (the paper's), "gpt2" (GPT2LMHeadModel, from scratch) or "pretrained"
    pretrained: str = ""  # pretrained: the folder of a saved causal LM and its tokenizer (save_pretrained)
    emb_dim: int = 32  # lstm
    hidden_dim: int = 32  # lstm
    init_std: float = 0.1  # lstm: N(0, init_std^2) weights (gpt2 uses its own initialisation, from the run's seed)
    layers: int = 2  # gpt2: transformer blocks
    heads: int = 2  # gpt2: attention heads (width must be a multiple)
    width: int = 64  # gpt2: model width (embedding and hidden size)
    dropout: float = 0.0  # gpt2: dropout of embeddings, attention and residuals (0 keeps G deterministic)
    lr: float = 0.01
    grad_clip: float = 5.0
    batch_size: int = 64

    def __post_init__(self) -> None:
        check(self.kind in GENERATOR_KINDS, f"generator.kind must be one of {', '.join(GENERATOR_KINDS)}, "
              f"not {self.kind!r}")
        check(self.emb_dim >= 1 and self.hidden_dim >= 1, "generator sizes must be >= 1")
        check(min(self.layers, self.heads, self.width) >= 1, "generator.layers, heads and width must be >= 1")
        check(self.width % self.heads == 0,
              f"generator.width ({self.width}) must be a multiple of generator.heads ({self.heads})")
        check(0.0 <= self.dropout < 1.0, "generator.dropout must be in [0, 1)")
        check(self.lr > 0 and self.batch_size >= 1, "generator.lr must be > 0 and batch_size >= 1")
        check(self.init_std > 0 and self.grad_clip >= 0, "generator.init_std must be > 0, grad_clip >= 0")
        check(bool(self.pretrained) == (self.kind == "pretrained"),
              f"generator.pretrained={self.pretrained} (--generator-from) needs generator.kind=pretrained, not "
              f"{self.kind}: --generator-from PATH sets both; drop the other generator.kind" if self.pretrained else
              "generator.kind=pretrained needs the model's folder: --generator-from PATH (generator.pretrained=PATH)")
        if self.kind == "pretrained":  # its sizes and dropout are the model's: a gpt2 size would be ignored
            fields = type(self).__dataclass_fields__
            changed = [name for name in GPT2_SIZES if getattr(self, name) != fields[name].default]
            check(not changed, "a pretrained generator (--generator-from) has its model's own sizes and dropout, "
                  f"which {', '.join(f'generator.{name}' for name in changed)} would contradict: drop "
                  + ("them" if len(changed) > 1 else "it"))


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
        check(self.kind in ("cnn", "rnn"), "discriminator.kind must be cnn or rnn")
        check(self.precision in ("auto", "fp32", "bf16"), "discriminator.precision must be auto, fp32 or bf16")
        check(len(self.filter_sizes) == len(self.num_filters) and len(self.filter_sizes) > 0,
               f"discriminator.filter_sizes ({len(self.filter_sizes)} entries) and num_filters "
               f"({len(self.num_filters)}) must have the same, non-zero length")
        check(0.0 <= self.dropout < 1.0, "discriminator.dropout must be in [0, 1)")
        check(self.emb_dim >= 1 and self.rnn_hidden_dim >= 1, "discriminator sizes must be >= 1")
        check(min(self.filter_sizes) >= 1 and min(self.num_filters) >= 1,
               "discriminator.filter_sizes and num_filters must all be >= 1")
        check(self.lr > 0 and self.batch_size >= 1 and self.l2_reg >= 0,
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
    # generator snapshots (checkpoints/eval-PHASE-EPOCH.pt, one per evaluation) kept: the newest this many, plus
    # the best and early stopping's restore points; 0 = all (a pretrained G's are large: --generator-from sets 3)
    keep_snapshots: int = 0

    def __post_init__(self) -> None:
        for name in ("pretrain_g_epochs", "pretrain_d_rounds", "pretrain_d_epochs", "adv_epochs",
                     "adv_g_steps", "adv_d_rounds", "adv_d_epochs", "early_stop_patience",
                     "keep_snapshots"):
            check(getattr(self, name) >= 0, f"schedule.{name} must be >= 0")
        check(self.num_negatives >= 1 and self.eval_every >= 1,
               "schedule.num_negatives and schedule.eval_every must be >= 1")
        check(self.checkpoint_every_s >= 0,  # also refuses NaN
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
    # policy-gradient methods (seqgan, constant, pg-bleu; mle and ss ignore them), both off by default:
    # kl_coef * the per-position KL(G || G_ref) to a frozen copy of G taken at the run's first policy-gradient
    # step (the pretrained G), and -entropy_coef * G's per-position entropy, added to the loss with the
    # policy-gradient term's token weights (docs/training.md)
    kl_coef: float = 0.0
    entropy_coef: float = 0.0

    def __post_init__(self) -> None:
        check(self.method in ADVERSARIAL_METHODS,
               f"adversarial.method must be one of {', '.join(ADVERSARIAL_METHODS)}, not {self.method!r}")
        check(0.0 <= self.ss_start <= 1.0 and self.ss_decay >= 0,
               "adversarial.ss_start must be in [0, 1] and ss_decay >= 0")
        check(1 <= self.bleu_n <= 5, "adversarial.bleu_n must be 1..5")
        check(0.0 < self.bleu_ref_fraction <= 1.0, "adversarial.bleu_ref_fraction must be in (0, 1]")
        check(self.num_rollouts >= 1, "adversarial.num_rollouts must be >= 1")
        check(0.0 <= self.rollout_update_rate < 1.0, "adversarial.rollout_update_rate must be in [0, 1)")
        check(self.rollout_start in ("pretrained", "initial"), "adversarial.rollout_start must be pretrained or "
               "initial")
        check(self.baseline in ("none", "mean"), "adversarial.baseline must be none or mean")
        check(self.reduction in ("sum", "mean"), "adversarial.reduction must be sum or mean")
        check(self.g_lr > 0 and self.g_batch_size >= 1, "adversarial.g_lr must be > 0, g_batch_size >= 1")
        for name in ("kl_coef", "entropy_coef"):  # `0 <= x < inf` also refuses NaN
            check(0.0 <= getattr(self, name) < float("inf"),
                  f"adversarial.{name} must be a finite number >= 0 (got {getattr(self, name)})")


@dataclass(frozen=True)
class EvalConfig:
    """What `evaluate` and the in-training evaluations compute."""

    num_samples: int = 10_000  # generated sequences scored by the oracle for NLL-oracle

    def __post_init__(self) -> None:
        check(self.num_samples >= 1, "eval.num_samples must be >= 1")


@dataclass(frozen=True)
class ExperimentConfig(RunConfig):
    """Everything that defines a run; saved as run_dir/config.json."""

    KEYS_COMMAND: ClassVar[str] = "seqgan experiments --keys"  # named in unknown-key errors
    EXAMPLE_OVERRIDE: ClassVar[str] = "schedule.adv_epochs=10"

    name: str = "oracle"
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
