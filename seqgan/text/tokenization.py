"""A text run's own tokenizer as BLEU's tokenization, and how to read it from a run directory.

What `seqgan compare` scores a run's samples with, and what `seqgan bleu --tokenizer-from RUN_DIR` uses on both
files. It reads a run (its config, tokenizer and length limit), so it lives with the text GAN, not with the metrics.
Loading it from a directory needs no torch unless the run sized its length from its training split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from eval.bleu import token_strings
from seqgan.base.errors import UserError
from seqgan.text.config import ExperimentConfig
from text_data.tokenizer import load_run_tokenizer

_SPACING_MARK = "\u2581"  # "▁", how word tokenizers (Metaspace, SentencePiece) write a space


@dataclass(frozen=True)
class RunTokenization:
    """A text run's own tokenizer as BLEU's tokenization: what `seqgan compare` scores with, and what
    `seqgan bleu --tokenizer-from RUN_DIR` uses on both files.

    A line's tokens are the run tokenizer's tokens of it, as `token_strings` gives them (so `expression.` and
    `expression .` give the same tokens when the tokenizer splits punctuation off, and <unk> stands for any word
    outside the vocabulary, as G sees it). Spacing is never a token: neither a spacing token of the vocabulary
    nor spacing the vocabulary lacks (an <unk> whose text is only spaces, e.g. around a literal "<unk>" in a
    sample's text). References are moreover cut as the run cut its data: to data.seq_len - 1 tokens
    (data.too_long=drop leaves longer lines out), and lines without a token are left out, so the reference set
    of the run's test split is the one G was evaluated on.

    Args:
        tokenizer: the run's `tokenizers.Tokenizer`.
        kind: its data.tokenizer (char, word, bpe), for the signature.
        max_len: data.seq_len (tokens per line, <eos> included).
        too_long: data.too_long (truncate or drop).
    """

    tokenizer: object
    kind: str
    max_len: int
    too_long: str = "truncate"

    @property
    def label(self) -> str:
        """The signature's tok: field."""
        return f"run-{self.kind}"

    @cached_property
    def strings(self) -> list[str]:
        """`token_strings` of the tokenizer, by id."""
        return token_strings(self.tokenizer)

    def _encode(self, lines: Sequence[str]) -> list[tuple[str, list[int], list[tuple[int, int]]]]:
        lines = list(lines)
        encodings = self.tokenizer.encode_batch(lines, add_special_tokens=False)
        return [(line, enc.ids, enc.offsets) for line, enc in zip(lines, encodings, strict=True)]

    def _strings_of(self, line: str, ids: list[int], offsets: list[tuple[int, int]]) -> list[str]:
        strings, unk = self.strings, self.tokenizer.token_to_id("<unk>")
        out = []
        for i, (start, end) in zip(ids, offsets, strict=True):
            if i == unk and not line[start:end].replace(_SPACING_MARK, " ").strip():
                continue  # spacing the vocabulary has no token for
            if strings[i]:
                out.append(strings[i])
        return out

    def tokens(self, lines: Sequence[str]) -> list[list[str]]:
        """Token lists of hypotheses (e.g. samples): every line, however long, an empty line an empty list.

        Args:
            lines: the texts.
        """
        return [self._strings_of(*encoded) for encoded in self._encode(lines)]

    def references(self, lines: Sequence[str]) -> list[list[str]]:
        """Token lists of references, cut or dropped at the run's length limit as its training data was.

        Args:
            lines: the texts.
        """
        keep = self.max_len - 1  # the <eos> takes the last position
        out = []
        for line, ids, offsets in self._encode(lines):
            if len(ids) > keep:
                if self.too_long == "drop":
                    continue
                ids, offsets = ids[:keep], offsets[:keep]
            if ids:
                out.append(self._strings_of(line, ids, offsets))
        return out


def run_tokenization(run_dir: str) -> RunTokenization:
    """The tokenization of a text run directory (its config.json and tokenizer.json), without loading torch.

    Args:
        run_dir: a run directory written by `seqgan train` on a text corpus.
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"--tokenizer-from {run_dir} is not a run directory (no config.json)")
    try:
        config = ExperimentConfig.from_dict(json.loads(path.read_text(encoding="utf-8"))["config"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"--tokenizer-from {run_dir}: {path} is unreadable ({err})") from err
    if not config.data.corpus:
        raise UserError(f"--tokenizer-from {run_dir} is an oracle run: it has no tokenizer (its samples are token "
                        "ids); score them without --tokenizer-from")
    tok_path = Path(run_dir) / "tokenizer.json"
    if not tok_path.is_file():
        raise UserError(f"--tokenizer-from {run_dir} has no tokenizer.json; train the run first")
    tokenizer, _ = load_run_tokenizer(Path(run_dir))  # a pretrained generator's tokenizer too (its own ids)
    max_len = config.data.seq_len
    if not max_len:  # sized from the run's training split when it was made: size it the same way again
        from seqgan.text.task import resolve_seq_len  # here, not above: it loads torch, which `seqgan bleu` avoids
        from text_data.corpus import read_text_file

        train = Path(run_dir) / "data" / "train.txt"
        if not train.is_file():
            raise UserError(f"--tokenizer-from {run_dir} has no data/train.txt to size its max length from")
        max_len, _ = resolve_seq_len(config.data, tokenizer, [x for x in read_text_file(train) if x])
    return RunTokenization(tokenizer, tokenizer_label(config), max_len, config.data.too_long)


def tokenizer_label(config: ExperimentConfig) -> str:
    """What signatures call a run's tokenizer: data.tokenizer, or "pretrained" for a pretrained generator's."""
    return "pretrained" if config.generator.kind == "pretrained" else config.data.tokenizer
