"""The synthetic experiment's task: the oracle LSTM, its training and held-out sequences, and how they are scored.

`OracleVocab` is the same task as sampling sees it (ids of the oracle's vocabulary and length), built without
the oracle or any data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from eval.nll import nll_oracle, nll_test
from seqgan.base.errors import UserError
from seqgan.base.paths import data_root
from seqgan.core.lifecycle import eval_seed
from seqgan.text.config import ExperimentConfig
from seqgan.text.generator import LSTMGenerator
from seqgan.text.generator_api import TextGenerator
from seqgan.text.oracle import (
    ORACLE_DIR,
    PARAMS_FILE,
    SAMPLES_FILE,
    load_original_oracle,
    random_oracle,
    read_id_file,
)


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

    def evaluate(self, generator: TextGenerator, config: ExperimentConfig) -> dict:
        """NLL-oracle of fresh samples and NLL-test of the held-out set, in nats per token."""
        return {k: v for k, v in self.final(generator, config).items() if not k.endswith("signature")}

    def final(self, generator: TextGenerator, config: ExperimentConfig, temperature: float = 1.0) -> dict:
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

    def architecture_tag(self) -> dict:
        """Nothing beyond G's shape: the config fixes the oracle's vocabulary and length."""
        return {}
