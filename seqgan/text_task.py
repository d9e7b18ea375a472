"""SeqGAN on real text: corpus -> split -> tokenizer -> padded ids, plus evaluation and decoding.

The split and the tokenizer are written into the run directory (data/*.txt, tokenizer.json) the first
time, and read back from there afterwards, so resuming, sampling and evaluating use exactly the same lines
and vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from eval.nll import nll_test
from seqgan.config import ExperimentConfig
from seqgan.core.checkpoint import atomic_write_text
from seqgan.errors import UserError
from seqgan.generator import LSTMGenerator
from text_data.corpus import Splits, load_corpus, read_text_file
from text_data.dataset import Encoded, encode_lines
from text_data.tokenizer import BOS, EOS, PAD, build_tokenizer, decode, load_tokenizer, save_tokenizer

SPLIT_NAMES = ("train", "valid", "test")


def eos_mask(ids: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: True up to and including the first <eos>, False on what follows (padding)."""
    is_eos = (ids == EOS).long()
    return (is_eos.cumsum(dim=1) - is_eos) == 0


@dataclass
class TextTask:
    """A tokenized corpus and what a run needs from it."""

    tokenizer: object
    splits: Splits
    train: Encoded
    valid: Encoded | None
    test: Encoded | None
    name: str
    seq_len: int
    notes: list[str] = field(default_factory=list)
    start_token: int = BOS
    eos_token: int = EOS
    pad_token: int = PAD

    @property
    def vocab_size(self) -> int:
        """Tokens the models see (the tokenizer's actual vocabulary, specials included)."""
        return self.tokenizer.get_vocab_size()

    def architecture_tag(self) -> dict:
        """What a checkpoint must agree with."""
        return {"text": self.name, "vocab_size": self.vocab_size, "seq_len": self.seq_len}

    def mask_fn(self, ids: torch.Tensor) -> torch.Tensor:
        """Padding mask of generated or real ids."""
        return eos_mask(ids)

    def evaluate(self, generator: LSTMGenerator, config: ExperimentConfig) -> dict:
        """NLL per token of the held-out splits under G (padding not counted)."""
        generator.eval()
        out = {}
        for name, enc in (("valid", self.valid), ("test", self.test)):
            if enc is not None:
                out[f"nll_{name}"] = nll_test(generator, enc.ids, name, enc.mask()).value
        return out

    def final(self, generator: LSTMGenerator, config: ExperimentConfig, temperature: float = 1.0) -> dict:
        """Final NLL-test (and valid) with signatures (the temperature does not apply to likelihoods)."""
        generator.eval()
        out = {}
        for name, enc in (("valid", self.valid), ("test", self.test)):
            if enc is not None:
                result = nll_test(generator, enc.ids, f"{self.name}/{name}", enc.mask())
                out[f"nll_{name}"] = result.value
                out[f"nll_{name}_signature"] = (f"{result.signature}|tok:{config.data.tokenizer}|"
                                                f"vocab:{self.vocab_size}|max_len:{self.seq_len}")
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Detokenized text of each row, stopping at <eos>."""
        return [decode(self.tokenizer, row) for row in ids.tolist()]

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json and the split (data/train.txt, valid.txt, test.txt) into the run dir."""
        (run_dir / "data").mkdir(parents=True, exist_ok=True)
        for name in SPLIT_NAMES:
            lines = getattr(self.splits, name)
            atomic_write_text(run_dir / "data" / f"{name}.txt", "".join(line + "\n" for line in lines))
        save_tokenizer(self.tokenizer, run_dir / "tokenizer.json")


def build_text_task(config: ExperimentConfig, data_dir: str | None, run_dir: Path | None,
                    device: torch.device) -> TextTask:
    """Load the split and tokenizer from the run dir if it has them, else build them from the corpus."""
    d = config.data
    saved = run_dir is not None and (run_dir / "tokenizer.json").is_file() and all(
        (run_dir / "data" / f"{n}.txt").is_file() for n in SPLIT_NAMES)
    notes: list[str] = []
    if saved:
        lines = {n: [x for x in read_text_file(run_dir / "data" / f"{n}.txt") if x] for n in SPLIT_NAMES}
        splits = Splits(lines["train"], lines["valid"], lines["test"], f"run dir {run_dir}")
        tok = load_tokenizer(run_dir / "tokenizer.json")
    else:
        splits = load_corpus(d.corpus, data_dir, tuple(d.split), config.seed, d.text_field or None)
        tok = build_tokenizer(d.tokenizer, splits.train, d.vocab_size, d.lowercase, d.min_frequency)
        notes += splits.notes
    encoded = {}
    for name in SPLIT_NAMES:
        lines = getattr(splits, name)
        if not lines:
            encoded[name] = None
            continue
        enc = encode_lines(tok, lines, d.seq_len, d.too_long)
        encoded[name] = Encoded(enc.ids.to(device), enc.lengths.to(device), enc.kept, enc.truncated, enc.dropped)
        if enc.truncated or enc.dropped:
            notes.append(f"{name}: {enc.truncated} lines truncated and {enc.dropped} dropped at "
                         f"data.seq_len={d.seq_len} (of {len(lines)})")
    if encoded["train"] is None:
        raise UserError("the training split is empty; add data or change --split")
    name = Path(d.corpus).name if d.corpus else "text"
    return TextTask(tok, splits, encoded["train"], encoded["valid"], encoded["test"], name, d.seq_len, notes)
