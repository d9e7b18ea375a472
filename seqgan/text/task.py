"""SeqGAN on real text: corpus -> split -> tokenizer -> padded ids, plus evaluation and decoding.

The split and the tokenizer are written into the run directory (data/*.txt, tokenizer.json) the first
time, and read back from there afterwards, so resuming, sampling and evaluating use exactly the same lines
and vocabulary. The max length is data.seq_len, or with data.seq_len=0 sized from the saved training split
(`resolve_seq_len`), so it too comes out the same every time.

A run whose generator is a pretrained language model encodes with that model's tokenizer instead of training
one (`GivenTokenizer`), with the model's special ids and vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from eval.nll import nll_test
from seqgan.base.errors import UserError
from seqgan.core.checkpoint import atomic_write_text
from seqgan.text.config import DataConfig, ExperimentConfig
from seqgan.text.generator_api import TextGenerator
from text_data import run_codec
from text_data.corpus import Splits, load_corpus, read_text_file
from text_data.dataset import AUTO_LEN_CAP, AUTO_LEN_PERCENTILE, Encoded, encode_lines, resolve_max_len
from text_data.tokenizer import (
    EOS,
    SPECIAL_IDS_FILE,
    WORD_IDS,
    SpecialIds,
    build_tokenizer,
    decode,
    load_tokenizer,
    save_special_ids,
    save_tokenizer,
)

SPLIT_NAMES = ("train", "valid", "test")
LOSS_WARNING = 0.05  # warn when more than this share of a split's lines is truncated or dropped


def eos_mask(ids: torch.Tensor, eos: int = EOS) -> torch.Tensor:
    """(B, T) bool: True up to and including the first <eos>, False on what follows (padding)."""
    is_eos = (ids == eos).long()
    return (is_eos.cumsum(dim=1) - is_eos) == 0


@dataclass(frozen=True)
class GivenTokenizer:
    """A tokenizer a run uses as it is instead of training one: a pretrained generator's.

    Attributes:
        tokenizer: a `tokenizers.Tokenizer`.
        specials: its special ids.
        vocab_size: the generator's vocabulary (its LM head's rows: at least the tokenizer's ids).
        label: what signatures name it by (their tok: field).
    """

    tokenizer: object
    specials: SpecialIds
    vocab_size: int
    label: str = "pretrained"


@dataclass
class TextTask:
    """A tokenized corpus and what a run needs from it (`given`: a pretrained generator's tokenizer)."""

    tokenizer: object
    splits: Splits
    train: Encoded
    valid: Encoded | None
    test: Encoded | None
    name: str
    seq_len: int
    notes: list[str] = field(default_factory=list)
    given: GivenTokenizer | None = None

    @property
    def specials(self) -> SpecialIds:
        """The special ids of the tokenizer: the fixed ones of the run's own, or the pretrained model's."""
        return WORD_IDS if self.given is None else self.given.specials

    @property
    def start_token(self) -> int:
        """The id G is fed first."""
        return self.specials.start

    @property
    def eos_token(self) -> int:
        """The id that ends every line."""
        return self.specials.eos

    @property
    def pad_token(self) -> int:
        """The id after a line's <eos>."""
        return self.specials.pad

    @property
    def vocab_size(self) -> int:
        """Tokens the models see (the tokenizer's actual vocabulary, specials included; a pretrained generator's
        LM head rows)."""
        return self.tokenizer.get_vocab_size() if self.given is None else self.given.vocab_size

    def architecture_tag(self) -> dict:
        """What a checkpoint must agree with."""
        return {"text": self.name, "vocab_size": self.vocab_size, "seq_len": self.seq_len}

    def mask_fn(self, ids: torch.Tensor) -> torch.Tensor:
        """Padding mask of generated or real ids."""
        return eos_mask(ids, self.eos_token)

    def evaluate(self, generator: TextGenerator, config: ExperimentConfig) -> dict:
        """NLL per token of the held-out splits under G (padding not counted)."""
        generator.eval()
        out = {}
        for name, enc in (("valid", self.valid), ("test", self.test)):
            if enc is not None:
                out[f"nll_{name}"] = nll_test(generator, enc.ids, name, enc.mask()).value
        return out

    def final(self, generator: TextGenerator, config: ExperimentConfig, temperature: float = 1.0) -> dict:
        """Final NLL-test (and valid) with signatures (the temperature does not apply to likelihoods)."""
        generator.eval()
        out = {}
        for name, enc in (("valid", self.valid), ("test", self.test)):
            if enc is not None:
                result = nll_test(generator, enc.ids, f"{self.name}/{name}", enc.mask())
                out[f"nll_{name}"] = result.value
                # nll_test signs "nll-test|test:..."; the validation split's number must not read as NLL-test
                signature = result.signature.replace("nll-test|test:", f"nll-{name}|{name}:", 1)
                tok = config.data.tokenizer if self.given is None else self.given.label
                out[f"nll_{name}_signature"] = (f"{signature}|tok:{tok}|"
                                                f"vocab:{self.vocab_size}|max_len:{self.seq_len}")
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Detokenized text of each row, stopping at <eos> (a pretrained model's: on one line)."""
        if self.given is None:
            return [decode(self.tokenizer, row) for row in ids.tolist()]
        # a pretrained model's tokenizer has line-break tokens; the run's texts are lines (samples.txt holds one a
        # line, as the corpus did), so a line break it writes shows as a space
        return [" ".join(decode(self.tokenizer, row, specials=self.given.specials).splitlines())
                for row in ids.tolist()]

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json and the split (data/train.txt, valid.txt, test.txt) into the run dir (and the
        special ids of a pretrained model's tokenizer)."""
        (run_dir / "data").mkdir(parents=True, exist_ok=True)
        for name in SPLIT_NAMES:
            lines = getattr(self.splits, name)
            atomic_write_text(run_dir / "data" / f"{name}.txt", "".join(line + "\n" for line in lines))
        save_tokenizer(self.tokenizer, run_dir / "tokenizer.json")
        if self.given is not None:
            save_special_ids(self.given.specials, run_dir / SPECIAL_IDS_FILE)


def resolve_seq_len(data: DataConfig, tok, train_lines: list[str]) -> tuple[int, list[str]]:
    """The max length T (<eos> included) of a text run, and a note on how it was chosen.

    data.seq_len when it is set; with 0, sized from the training lines by `text_data.dataset.resolve_max_len`
    (the one rule, also used to read a run dir's T back: `text_data.run_codec`).

    Args:
        data: the run's data config.
        tok: the run's tokenizer.
        train_lines: the training split.
    """
    return resolve_max_len(data.seq_len, tok, train_lines)


def loss_notes(lost: dict[str, tuple[int, int, int]], seq_len: int, how: str) -> list[str]:
    """A note per split that lost lines to the max length, and one warning when a split lost over 5%.

    Args:
        lost: split name -> (truncated, dropped, lines).
        seq_len: the max length used.
        how: "set" (data.seq_len given), "auto" (sized from the corpus) or "cap" (sized, at AUTO_LEN_CAP).
    """
    notes = [f"{name}: {truncated} line{'s' if truncated != 1 else ''} truncated and {dropped} dropped at max "
             f"length {seq_len} (of {total})"
             for name, (truncated, dropped, total) in lost.items() if truncated or dropped]
    worst = max(lost, key=lambda name: (lost[name][0] + lost[name][1]) / max(lost[name][2], 1), default=None)
    if worst is not None:
        truncated, dropped, total = lost[worst]
        share = (truncated + dropped) / max(total, 1)
        if share > LOSS_WARNING:
            done = " and ".join(w for n, w in ((truncated, "truncated"), (dropped, "dropped")) if n)
            fix = {"set": "raise --max-len, or leave it unset to size it from the corpus",
                   "auto": f"the length fits {AUTO_LEN_PERCENTILE:g}% of the training lines; pass a larger --max-len "
                           "to keep more",
                   "cap": f"the lines are longer than the {AUTO_LEN_CAP}-token cap of an automatic length; pass "
                          "a larger --max-len to keep more"}[how]
            notes.append(f"warning: {share:.1%} of the {worst} lines ({truncated + dropped} of {total}) do not fit "
                         f"in {seq_len} tokens (<eos> included) and were {done}; {fix}")
    return notes


def build_text_task(config: ExperimentConfig, data_dir: str | None, run_dir: Path | None,
                    device: torch.device, given: GivenTokenizer | None = None) -> TextTask:
    """Load the split and tokenizer from the run dir if it has them, else build them from the corpus.

    Args:
        config: the run's config.
        data_dir: where named data lives.
        run_dir: the run directory (its saved split and tokenizer), or None.
        device: where the ids go.
        given: a pretrained generator's tokenizer, used instead of the saved or a trained one.
    """
    d = config.data
    saved = run_dir is not None and (run_dir / "tokenizer.json").is_file() and all(
        (run_dir / "data" / f"{n}.txt").is_file() for n in SPLIT_NAMES)
    notes: list[str] = []
    if saved:
        lines = {n: [x for x in read_text_file(run_dir / "data" / f"{n}.txt") if x] for n in SPLIT_NAMES}
        splits = Splits(lines["train"], lines["valid"], lines["test"], f"run dir {run_dir}")
        tok = load_tokenizer(run_dir / "tokenizer.json") if given is None else given.tokenizer
    else:
        splits = load_corpus(d.corpus, data_dir, tuple(d.split), config.seed, d.text_field or None)
        tok = build_tokenizer(d.tokenizer, splits.train, d.vocab_size, d.lowercase, d.min_frequency) \
            if given is None else given.tokenizer
        notes += splits.notes
    if not splits.train:
        raise UserError("the training split is empty; add data or change --split")
    seq_len, length_notes = resolve_seq_len(d, tok, splits.train)
    notes += length_notes
    encoded: dict[str, Encoded | None] = {}
    lost: dict[str, tuple[int, int, int]] = {}
    for name in SPLIT_NAMES:
        lines = getattr(splits, name)
        if not lines:
            encoded[name] = None
            continue
        enc = encode_lines(tok, lines, seq_len, d.too_long, WORD_IDS if given is None else given.specials)
        encoded[name] = Encoded(enc.ids.to(device), enc.lengths.to(device), enc.kept, enc.truncated, enc.dropped)
        lost[name] = (enc.truncated, enc.dropped, len(lines))
    how = "set" if d.seq_len else "cap" if seq_len == AUTO_LEN_CAP else "auto"
    notes += loss_notes(lost, seq_len, how)
    name = Path(d.corpus).name if d.corpus else "text"
    return TextTask(tok, splits, encoded["train"], encoded["valid"], encoded["test"], name, seq_len, notes, given)


def texts_as_generated(run_dir: str | Path, lines: list[str]) -> list[str]:
    """`lines` the way a text run's G writes text (`text_data.run_codec.texts_as_generated`): its tokenizer,
    its max length (truncate or drop), decoded as its samples are.

    Args:
        run_dir: a text run's directory (config.json, tokenizer.json, data/train.txt).
        lines: the texts.
    """
    return run_codec.texts_as_generated(run_dir, lines)
