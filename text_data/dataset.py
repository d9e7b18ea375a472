"""Id tensors for training: encode lines in chunks (no per-token Python objects), add <eos>, pad or drop.

Also the corpus-sized maximum length (`auto_max_len`) and lines as the models see them (`model_texts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from seqgan.base.errors import UserError
from text_data.tokenizer import EOS, PAD, decode

ENCODE_CHUNK = 20_000  # lines per encode_batch call
AUTO_LEN_PERCENTILE = 99.0  # the automatic max length fits this share of the training lines...
AUTO_LEN_CAP = 256  # ...but is never longer than this (G's rollouts cost grows with T^2)


@dataclass(frozen=True)
class Encoded:
    """Padded ids (N, max_len) and what happened to the lines that did not fit."""

    ids: torch.Tensor
    lengths: torch.Tensor  # (N,) tokens including <eos>
    kept: int
    truncated: int
    dropped: int

    def mask(self) -> torch.Tensor:
        """(N, max_len) bool: True on real tokens (and the <eos>), False on padding."""
        return torch.arange(self.ids.shape[1], device=self.lengths.device).unsqueeze(0) < self.lengths.unsqueeze(1)


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def encode_lines(tok, lines: Iterable[str], max_len: int, too_long: str = "truncate") -> Encoded:
    """Encode lines to (N, max_len) int64 ids: tokens, then <eos>, then <pad>.

    Args:
        tok: a tokenizer from `build_tokenizer`.
        lines: text, one example per item (an iterator is fine: it is consumed in chunks).
        max_len: T, including the <eos>.
        too_long: "truncate" (keep the first max_len - 1 tokens and the <eos>) or "drop".
    """
    if too_long not in ("truncate", "drop"):
        raise UserError(f"too-long policy must be truncate or drop (got {too_long!r})")
    if max_len < 2:
        raise UserError(f"--max-len must be at least 2 (a token and <eos>), got {max_len}")
    parts, lengths = [], []
    truncated = dropped = 0
    for chunk in _chunks(lines, ENCODE_CHUNK):
        encodings = tok.encode_batch(chunk, add_special_tokens=False)
        block = np.full((len(encodings), max_len), PAD, dtype=np.int32)
        keep = np.ones(len(encodings), dtype=bool)
        lens = np.zeros(len(encodings), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids = enc.ids
            if len(ids) + 1 > max_len:
                if too_long == "drop" or not ids:
                    keep[row] = False
                    dropped += 1
                    continue
                truncated += 1
                ids = ids[:max_len - 1]
            if not ids:
                keep[row] = False
                dropped += 1
                continue
            block[row, :len(ids)] = ids
            block[row, len(ids)] = EOS
            lens[row] = len(ids) + 1
        parts.append(block[keep])
        lengths.append(lens[keep])
    ids = np.concatenate(parts) if parts else np.zeros((0, max_len), dtype=np.int32)
    if ids.shape[0] == 0:
        raise UserError(f"no line fits: every line was empty after tokenizing or longer than --max-len "
                        f"{max_len} with --too-long {too_long}; raise --max-len or use --too-long truncate")
    return Encoded(torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(np.concatenate(lengths)),
                   int(ids.shape[0]), truncated, dropped)


def token_lengths(tok, lines: Iterable[str]) -> np.ndarray:
    """(N,) tokens per line (without <eos>), encoding in chunks.

    Args:
        tok: a tokenizer from `build_tokenizer`.
        lines: text, one example per item.
    """
    counts = [np.fromiter((len(enc.ids) for enc in tok.encode_batch(chunk, add_special_tokens=False)),
                          dtype=np.int64) for chunk in _chunks(lines, ENCODE_CHUNK)]
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def auto_max_len(lengths: np.ndarray, percentile: float = AUTO_LEN_PERCENTILE, cap: int = AUTO_LEN_CAP) -> int:
    """Max length T (<eos> included) that fits `percentile`% of lines of these token lengths, at most `cap`.

    The percentile is an observed length (numpy's "higher" method: the smallest length at or above the
    percentile's rank), so T depends only on the lengths, never on interpolation.

    Args:
        lengths: (N,) tokens per training line, without <eos>.
        percentile: share of lines that fit, in percent.
        cap: the largest T returned.
    """
    if len(lengths) == 0:
        raise UserError("cannot size the max length from an empty training split; pass --max-len")
    longest = int(np.percentile(lengths, percentile, method="higher"))
    return int(min(max(longest + 1, 2), cap))


def model_texts(tok, lines: Iterable[str], max_len: int, too_long: str = "truncate") -> list[str]:
    """Lines the way the models see them: encoded, cut to `max_len` (or dropped), decoded like samples.

    A real line and a generated one that have the same ids read the same (unknown words show as <unk>, the
    same spacing), so comparing them compares only the model. Lines with no tokens, or too long with "drop",
    are left out.

    Args:
        tok: a tokenizer from `build_tokenizer`.
        lines: text, one example per item.
        max_len: T, including the <eos>.
        too_long: "truncate" or "drop", as in `encode_lines`.
    """
    return [decode(tok, row) for row in encode_lines(tok, lines, max_len, too_long).ids.tolist()]
