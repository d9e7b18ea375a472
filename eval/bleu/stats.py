"""BLEU's sufficient statistics: per-hypothesis clipped n-gram matches, n-gram totals and lengths, counted against a
`ReferenceSet` (references counted once) or leave-one-out among samples (`self_bleu_stats`).

All n-gram work is vectorised with numpy: tokens get integer ids, an n-gram's id is the rank of (id of its (n-1)-gram
prefix, id of its last token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eval.bleu.parallel import chunked_stats
from seqgan.base.errors import UserError


@dataclass
class SentenceStats:
    """Per-hypothesis BLEU sufficient statistics (one row per hypothesis).

    Args:
        matches: (N, max_n) int64, clipped n-gram matches of order 1..max_n.
        totals: (N, max_n) int64, number of hypothesis n-grams of each order (0 when shorter than n;
            nltk's precision denominator is max(1, total)).
        hyp_len: (N,) int64 hypothesis lengths.
        ref_len: (N,) int64 closest reference length (ties go to the shorter one, as in nltk).
    """

    matches: np.ndarray
    totals: np.ndarray
    hyp_len: np.ndarray
    ref_len: np.ndarray

    @property
    def max_n(self) -> int:
        """Highest n-gram order stored."""
        return int(self.matches.shape[1])

    def __len__(self) -> int:
        return int(self.hyp_len.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> SentenceStats:
        """Rows `index` (e.g. a bootstrap resample) as new statistics.

        Args:
            index: integer indices or boolean mask.
        """
        index = np.asarray(index)
        return SentenceStats(
            self.matches[index], self.totals[index], self.hyp_len[index], self.ref_len[index]
        )

    def matrix(self, n: int | None = None) -> np.ndarray:
        """Return an (N, 2n+2) float64 matrix [matches_1..n, max(1,totals)_1..n, hyp_len, ref_len].

        Summing its rows gives nltk's corpus-level statistics; see `corpus_bleu_from_sums`.

        Args:
            n: highest order to include (default: all stored orders).
        """
        n = self.max_n if n is None else n
        check_order(n, self.max_n)
        return np.column_stack(
            [
                self.matches[:, :n],
                np.maximum(self.totals[:, :n], 1),
                self.hyp_len,
                self.ref_len,
            ]
        ).astype(np.float64)

    @staticmethod
    def concatenate(parts: Sequence[SentenceStats]) -> SentenceStats:
        """Stack statistics of consecutive hypothesis chunks.

        Args:
            parts: statistics with the same max_n.
        """
        return SentenceStats(
            np.concatenate([p.matches for p in parts]),
            np.concatenate([p.totals for p in parts]),
            np.concatenate([p.hyp_len for p in parts]),
            np.concatenate([p.ref_len for p in parts]),
        )


def check_order(n: int, max_n: int) -> None:
    """UserError unless statistics counted up to order `max_n` cover order `n`.

    Args:
        n: the highest order a score reads.
        max_n: the highest order counted.
    """
    if n > max_n:
        raise UserError(
            f"n-gram order {n} needs statistics up to order {n}, but only {max_n} were computed; "
            f"build the ReferenceSet with max_n={n}"
        )


def _encode(sentences: Sequence[Sequence[str]], vocab: dict, grow: bool) -> tuple[np.ndarray, np.ndarray]:
    """Map tokens to integer ids (unknown: -1 unless grow) and return (flat ids, lengths)."""
    if any(isinstance(s, str) for s in sentences):
        raise UserError("sentences must be token lists, not strings; split them first (eval.bleu.tokenize)")
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    total = int(lengths.sum())
    if grow:
        ids = [vocab.setdefault(t, len(vocab)) for s in sentences for t in s]
        flat = np.fromiter(ids, dtype=np.int64, count=total)
    else:
        get = vocab.get
        flat = np.fromiter((get(t, -1) for s in sentences for t in s), dtype=np.int64, count=total)
    return flat, lengths


def _layout(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each flat token position: its sentence index and how many tokens remain in it (itself included)."""
    n_sent = lengths.shape[0]
    total = int(lengths.sum())
    sent = np.repeat(np.arange(n_sent, dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    remaining = np.repeat(lengths, lengths) - (np.arange(total, dtype=np.int64) - np.repeat(starts, lengths))
    return sent, remaining


def _sentence_ngram_counts(sent: np.ndarray, ngram: np.ndarray, n_ngrams: int):
    """Count each (sentence, n-gram id) pair over positions with ngram >= 0: (sentence, id, count) arrays."""
    pos = np.flatnonzero(ngram >= 0)
    pair = sent[pos] * np.int64(max(n_ngrams, 1)) + ngram[pos]
    uniq, counts = np.unique(pair, return_counts=True)
    return uniq // max(n_ngrams, 1), uniq % max(n_ngrams, 1), counts.astype(np.int64)


def _closest_lengths(
    hyp_len: np.ndarray, lower: np.ndarray, lower_ok: np.ndarray, upper: np.ndarray, upper_ok: np.ndarray
) -> np.ndarray:
    """Pick the closer of two candidate lengths, ties to the shorter (nltk's closest_ref_length)."""
    take_lower = lower_ok & (~upper_ok | ((hyp_len - lower) <= (upper - hyp_len)))
    return np.where(take_lower, lower, upper).astype(np.int64)


def _totals(hyp_len: np.ndarray, max_n: int) -> np.ndarray:
    orders = np.arange(1, max_n + 1, dtype=np.int64)
    return np.maximum(hyp_len[:, None] - orders[None, :] + 1, 0)


class ReferenceSet:
    """A fixed reference set, counted once: max count of every n-gram over all references, sorted lengths.

    Args:
        references: tokenized reference sentences; every one is a reference of every hypothesis.
        max_n: highest n-gram order to count (smoothing method5/method7 need 5).
    """

    def __init__(self, references: Sequence[Sequence[str]], max_n: int = 4) -> None:
        if max_n < 1:
            raise UserError(f"max_n must be >= 1, got {max_n}")
        if len(references) == 0:
            raise UserError("the reference set is empty; give at least one reference sentence")
        self.max_n = int(max_n)
        self.n_refs = len(references)
        self.vocab: dict = {}
        ids, lengths = _encode(references, self.vocab, grow=True)
        self.n_vocab = len(self.vocab)
        self.lengths = np.unique(lengths)  # sorted distinct reference lengths: closest length by bisection
        _check_key_range(int(ids.shape[0]), self.n_vocab)
        sent, remaining = _layout(lengths)
        self.keys: list[np.ndarray] = []  # per order: sorted n-gram keys; index in it = n-gram id
        self.max_counts: list[np.ndarray] = []  # per order: max count over references, aligned with keys
        prev = ids
        for n in range(1, self.max_n + 1):
            if n == 1:
                keys, ngram = np.arange(self.n_vocab, dtype=np.int64), ids
            else:
                pos = np.flatnonzero(remaining >= n)
                keys, inverse = np.unique(prev[pos] * self.n_vocab + ids[pos + n - 1], return_inverse=True)
                ngram = np.full(ids.shape[0], -1, dtype=np.int64)
                ngram[pos] = inverse.reshape(-1)
            _, gid, counts = _sentence_ngram_counts(sent, ngram, keys.shape[0])
            max_counts = np.zeros(keys.shape[0], dtype=np.int64)
            np.maximum.at(max_counts, gid, counts)
            self.keys.append(keys)
            self.max_counts.append(max_counts)
            prev = ngram

    def closest_ref_length(self, hyp_len: np.ndarray) -> np.ndarray:
        """Closest reference length for each hypothesis length (ties to the shorter reference).

        Args:
            hyp_len: hypothesis lengths.
        """
        hyp_len = np.asarray(hyp_len, dtype=np.int64)
        lens = self.lengths
        i = np.searchsorted(lens, hyp_len, side="left")
        upper_ok = i < lens.shape[0]
        lower_ok = i > 0
        upper = lens[np.minimum(i, lens.shape[0] - 1)]
        lower = lens[np.maximum(i - 1, 0)]
        return _closest_lengths(hyp_len, lower, lower_ok, upper, upper_ok)

    def stats(self, hypotheses: Sequence[Sequence[str]], processes: int = 1) -> SentenceStats:
        """Sufficient statistics of tokenized hypotheses against this reference set.

        Args:
            hypotheses: tokenized hypotheses.
            processes: worker processes (1: in this process); results do not depend on it.
        """
        if processes > 1 and len(hypotheses) > 1:
            return SentenceStats.concatenate(chunked_stats(self, hypotheses, processes))
        return self._stats(hypotheses)

    def _stats(self, hypotheses: Sequence[Sequence[str]]) -> SentenceStats:
        ids, hyp_len = _encode(hypotheses, self.vocab, grow=False)
        n_hyp = hyp_len.shape[0]
        sent, remaining = _layout(hyp_len)
        matches = np.zeros((n_hyp, self.max_n), dtype=np.int64)
        prev = ids
        for n in range(1, self.max_n + 1):
            keys = self.keys[n - 1]
            if n == 1:
                ngram = ids
            else:
                pos = np.flatnonzero(remaining >= n)
                prefix, last = prev[pos], ids[pos + n - 1]
                key = prefix * self.n_vocab + last
                idx = np.searchsorted(keys, key)
                found = (prefix >= 0) & (last >= 0) & (idx < keys.shape[0])
                found[found] = keys[idx[found]] == key[found]
                ngram = np.full(ids.shape[0], -1, dtype=np.int64)
                ngram[pos[found]] = idx[found]
            sid, gid, counts = _sentence_ngram_counts(sent, ngram, keys.shape[0])
            clipped = np.minimum(counts, self.max_counts[n - 1][gid])
            matches[:, n - 1] = np.bincount(sid, weights=clipped, minlength=n_hyp).round().astype(np.int64)
            prev = ngram
        return SentenceStats(matches, _totals(hyp_len, self.max_n), hyp_len, self.closest_ref_length(hyp_len))


def _check_key_range(n_tokens: int, n_vocab: int) -> None:
    if n_tokens * max(n_vocab, 1) >= 2**62:
        raise UserError("corpus too large for 64-bit n-gram keys; split the reference set")


def self_bleu_stats(samples: Sequence[Sequence[str]], max_n: int = 4) -> SentenceStats:
    """Leave-one-out statistics: sample i against all OTHER samples (by position; duplicates stay references).

    Keeps, per n-gram, the top count, which sample holds it and the second-highest count, so dropping
    sample i from the references is O(len(sample i)).

    Args:
        samples: tokenized samples (at least 2).
        max_n: highest n-gram order.
    """
    if len(samples) < 2:
        raise UserError(f"Self-BLEU needs at least 2 samples, got {len(samples)}")
    vocab: dict = {}
    ids, lengths = _encode(samples, vocab, grow=True)
    n_sent, n_vocab = lengths.shape[0], len(vocab)
    _check_key_range(int(ids.shape[0]), n_vocab)
    sent, remaining = _layout(lengths)
    matches = np.zeros((n_sent, max_n), dtype=np.int64)
    prev = ids
    for n in range(1, max_n + 1):
        if n == 1:
            n_ngrams, ngram = n_vocab, ids
        else:
            pos = np.flatnonzero(remaining >= n)
            keys, inverse = np.unique(prev[pos] * n_vocab + ids[pos + n - 1], return_inverse=True)
            n_ngrams = keys.shape[0]
            ngram = np.full(ids.shape[0], -1, dtype=np.int64)
            ngram[pos] = inverse.reshape(-1)
        sid, gid, counts = _sentence_ngram_counts(sent, ngram, n_ngrams)
        if counts.shape[0]:
            order = np.lexsort((-counts, gid))  # by n-gram, then count descending
            g, c, s = gid[order], counts[order], sid[order]
            first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            top1 = np.zeros(n_ngrams, dtype=np.int64)
            top1_sent = np.full(n_ngrams, -1, dtype=np.int64)
            top2 = np.zeros(n_ngrams, dtype=np.int64)
            top1[g[first]], top1_sent[g[first]] = c[first], s[first]
            second = first + 1
            has2 = second < g.shape[0]
            has2[has2] = g[second[has2]] == g[first[has2]]
            top2[g[first[has2]]] = c[second[has2]]
            others = np.where(top1_sent[gid] == sid, top2[gid], top1[gid])
            clipped = np.minimum(counts, others)
            matches[:, n - 1] = np.bincount(sid, weights=clipped, minlength=n_sent).round().astype(np.int64)
        prev = ngram
    # Closest length among the other samples: the multiset of lengths minus one copy of the sample's own.
    lens, lens_count = np.unique(lengths, return_counts=True)
    k = np.searchsorted(lens, lengths)
    lower_ok, upper_ok = k > 0, k + 1 < lens.shape[0]
    lower = lens[np.maximum(k - 1, 0)]
    upper = lens[np.minimum(k + 1, lens.shape[0] - 1)]
    ref_len = np.where(
        lens_count[k] >= 2, lengths, _closest_lengths(lengths, lower, lower_ok, upper, upper_ok)
    )
    return SentenceStats(matches, _totals(lengths, max_n), lengths, ref_len.astype(np.int64))
