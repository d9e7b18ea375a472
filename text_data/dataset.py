"""Id tensors for training: encode lines in chunks (no per-token Python objects), add <eos>, pad or drop.

Also the corpus-sized maximum length (`auto_max_len`, `resolve_max_len`) and lines as the models see them
(`model_texts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from seqgan.base.errors import UserError
from text_data.tokenizer import WORD_IDS, SpecialIds, decode, unk_spacing

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


def check_fit_args(max_len: int, too_long: str) -> None:
    """UserError unless `max_len` and `too_long` are a usable max length and too-long policy."""
    if too_long not in ("truncate", "drop"):
        raise UserError(f"too-long policy must be truncate or drop (got {too_long!r})")
    if max_len < 2:
        raise UserError(f"--max-len must be at least 2 (a token and <eos>), got {max_len}")


def fit_ids(ids: list[int], max_len: int, too_long: str) -> tuple[list[int] | None, bool]:
    """A line's token ids as a run keeps them with room for the <eos>, and whether they were cut.

    None when the line is left out: it has no tokens, or it is too long and `too_long` is "drop".

    Args:
        ids: the line's token ids (no specials).
        max_len: T, including the <eos>.
        too_long: "truncate" (keep the first max_len - 1 tokens) or "drop".
    """
    if len(ids) + 1 > max_len:
        if too_long == "drop" or not ids:
            return None, False
        return ids[:max_len - 1], True
    return (ids or None), False


def nothing_fits(max_len: int, too_long: str) -> UserError:
    """The error for lines of which none is kept."""
    return UserError(f"no line fits: every line was empty after tokenizing or longer than --max-len "
                     f"{max_len} with --too-long {too_long}; raise --max-len or use --too-long truncate")


def encode_lines(tok, lines: Iterable[str], max_len: int, too_long: str = "truncate",
                 specials: SpecialIds = WORD_IDS) -> Encoded:
    """Encode lines to (N, max_len) int64 ids: tokens, then <eos>, then <pad>.

    Args:
        tok: a tokenizer from `build_tokenizer` (or a pretrained model's, with its `specials`).
        lines: text, one example per item (an iterator is fine: it is consumed in chunks).
        max_len: T, including the <eos>.
        too_long: "truncate" (keep the first max_len - 1 tokens and the <eos>) or "drop".
        specials: the tokenizer's <eos> and <pad> ids.
    """
    check_fit_args(max_len, too_long)
    parts, lengths = [], []
    truncated = dropped = 0
    for chunk in _chunks(lines, ENCODE_CHUNK):
        encodings = tok.encode_batch(chunk, add_special_tokens=False)
        block = np.full((len(encodings), max_len), specials.pad, dtype=np.int32)
        keep = np.ones(len(encodings), dtype=bool)
        lens = np.zeros(len(encodings), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids, cut = fit_ids(enc.ids, max_len, too_long)
            if ids is None:
                keep[row] = False
                dropped += 1
                continue
            truncated += cut
            block[row, :len(ids)] = ids
            block[row, len(ids)] = specials.eos
            lens[row] = len(ids) + 1
        parts.append(block[keep])
        lengths.append(lens[keep])
    ids = np.concatenate(parts) if parts else np.zeros((0, max_len), dtype=np.int32)
    if ids.shape[0] == 0:
        raise nothing_fits(max_len, too_long)
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


def resolve_max_len(seq_len: int, tok, train_lines: list[str]) -> tuple[int, list[str]]:
    """The max length T (<eos> included) of a text run, and a note on how it was chosen.

    `seq_len` (the run's data.seq_len) when it is set; with 0, the AUTO_LEN_PERCENTILE-th percentile of the
    training lines' token counts plus the <eos>, at most AUTO_LEN_CAP: from the (saved) training split and
    tokenizer only, so training, resuming, sampling, evaluating and reading a run dir all get the same T.

    Args:
        seq_len: the run's data.seq_len (0: size it from the training lines).
        tok: the run's tokenizer.
        train_lines: the training split (not read when `seq_len` is set).
    """
    if seq_len:
        return seq_len, []
    lengths = token_lengths(tok, train_lines)
    max_len = auto_max_len(lengths)
    fit = int((lengths < max_len).sum())  # tokens + <eos> <= T
    wanted = int(auto_max_len(lengths, cap=10**9))
    why = (f"the {AUTO_LEN_PERCENTILE:g}th percentile of the training lines' lengths + <eos>"
           + (f", capped at {AUTO_LEN_CAP}" if wanted > max_len else ""))
    return max_len, [f"max length {max_len} tokens (<eos> included), {why}: {fit} of {len(lengths)} training "
                     f"lines fit, the longest has {int(lengths.max())} tokens (--max-len sets it)"]


def model_texts(tok, lines: Iterable[str], max_len: int, too_long: str = "truncate",
                specials: SpecialIds = WORD_IDS) -> list[str]:
    """Lines the way the models see them: encoded, cut to `max_len` (or dropped), decoded like samples.

    A real line and a generated one that have the same ids read the same (unknown words show as <unk>, the
    same spacing), so comparing them compares only the model. An <unk> keeps the spacing of the word it
    replaced (`unk_spacing`): the line says what a sample's ids cannot. Lines with no tokens, or too long with
    "drop", are left out (as by `encode_lines`).

    Args:
        tok: a tokenizer from `build_tokenizer`.
        lines: text, one example per item.
        max_len: T, including the <eos>.
        too_long: "truncate" or "drop", as in `encode_lines`.
        specials: the tokenizer's special ids, as in `encode_lines`.
    """
    check_fit_args(max_len, too_long)
    texts = []
    for chunk in _chunks(lines, ENCODE_CHUNK):
        for line, enc in zip(chunk, tok.encode_batch(chunk, add_special_tokens=False), strict=True):
            ids, _cut = fit_ids(enc.ids, max_len, too_long)
            if ids is not None:
                texts.append(decode(tok, ids, unk_spacing(line, enc, specials.unk), specials))
    if not texts:
        raise nothing_fits(max_len, too_long)
    return texts
