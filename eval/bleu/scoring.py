"""BLEU from sufficient statistics with nltk's arithmetic: modified precisions, smoothing methods 0-7 of
`SmoothingFunction()` (its default epsilon=0.1, alpha=5, k=5), brevity penalty, the early `0` when no unigram
matches; per sentence (`sentence_scores`) or micro-averaged over a corpus (`corpus_bleu_from_sums`)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np

from eval.bleu.stats import SentenceStats, check_order
from seqgan.base.errors import UserError

SMOOTHING_METHODS = (
    "none",
    "method0",
    "method1",
    "method2",
    "method3",
    "method4",
    "method5",
    "method6",
    "method7",
)
DEFAULT_SMOOTHING = "method1"  # what SeqGAN/Texygen use: SmoothingFunction().method1

# nltk SmoothingFunction() defaults.
_EPSILON = 0.1
_ALPHA = 5
_K = 5
# nltk's method5 always appends the modified precision of order 5 (hard-coded in nltk).
_METHOD5_ORDER = 5


def normalize_smoothing(smoothing: str | None) -> str:
    """Canonical smoothing name (`none` for None/method0); UserError naming the supported ones otherwise.

    Args:
        smoothing: `none`, `method0`..`method7` or None.
    """
    name = "none" if smoothing is None else str(smoothing).lower()
    if name == "method0":
        name = "none"
    if name not in SMOOTHING_METHODS:
        raise UserError(
            f"unknown smoothing {smoothing!r}; use one of {', '.join(SMOOTHING_METHODS)} "
            f"(nltk SmoothingFunction().methodN; none = method0)"
        )
    return name


def normalize_weights(n: int | None, weights: Sequence[float] | None) -> tuple[float, ...]:
    """The weights of orders 1..k: uniform 1/n when none are given, else the given ones (checked against n).

    Args:
        n: BLEU-n (None when weights are given).
        weights: explicit weights, or None.
    """
    if weights is None:
        if n is None or int(n) < 1:
            raise UserError(f"n-gram order must be >= 1, got {n}")
        return (1.0 / int(n),) * int(n)
    weights = tuple(float(w) for w in weights)
    if not weights or not all(math.isfinite(w) for w in weights):
        raise UserError(f"weights must be a non-empty list of finite numbers, got {weights}")
    if n is not None and int(n) != len(weights):
        raise UserError(f"n={n} but {len(weights)} weights were given; give one weight per order")
    return weights


def needed_order(n_weights: int, smoothing: str | None) -> int:
    """Highest n-gram order whose statistics are needed (method5/method7 also read order 5, as nltk).

    Args:
        n_weights: number of weights (BLEU-n: n).
        smoothing: smoothing method name.
    """
    name = normalize_smoothing(smoothing)
    return max(n_weights, _METHOD5_ORDER) if name in ("method5", "method7") else n_weights


def _score_rows(
    matches: np.ndarray,
    denominators: np.ndarray,
    raw_totals: np.ndarray,
    hyp_len: np.ndarray,
    ref_len: np.ndarray,
    weights: tuple[float, ...],
    smoothing: str,
    p5: np.ndarray | None,
) -> np.ndarray:
    """nltk corpus_bleu arithmetic, one row = one call (float64 instead of Fractions: equal to ~1e-15)."""
    n_rows, k = matches.shape
    num = matches.astype(np.float64)
    den = denominators.astype(np.float64)
    zero = matches == 0
    active = matches[:, 0] != 0  # nltk returns 0 before smoothing when no unigram matches
    p = num / den
    if smoothing == "none":
        p = np.where(zero, sys.float_info.min, p)
    elif smoothing == "method1":
        p = np.where(zero, (0 + _EPSILON) / den, p)
    elif smoothing == "method2":
        p[:, 1:] = (num[:, 1:] + 1) / (den[:, 1:] + 1)
    elif smoothing == "method3":
        incvnt = np.cumsum(zero, axis=1)
        p = np.where(zero, 1 / (2.0**incvnt * den), p)
    elif smoothing in ("method4", "method7"):
        p = _method4(p, zero, den, hyp_len)
    if smoothing in ("method5", "method7"):
        assert p5 is not None
        orig = p.copy()
        prev = orig[:, 0] + 1
        for i in range(k):
            nxt = orig[:, i + 1] if i + 1 < k else p5
            p[:, i] = (prev + orig[:, i] + nxt) / 3
            prev = p[:, i]
    if smoothing == "method6":
        if k < 3 and active.any():
            raise UserError(
                "smoothing method6 needs n >= 3 (nltk reads the trigram precision; it fails for "
                f"n={k}); use one of {', '.join(s for s in SMOOTHING_METHODS if s != 'method6')}"
            )
        bad = np.flatnonzero(active & zero[:, 2]) if k >= 3 else np.array([], dtype=np.int64)
        if bad.shape[0]:
            raise UserError(
                f"smoothing method6 is undefined for hypothesis #{int(bad[0])} (a unigram match but "
                "no trigram match: nltk raises AssertionError); use method1..method5 or method7"
            )
        for i in range(2, k):
            safe = np.where(p[:, i - 2] == 0, 1.0, p[:, i - 2])
            pi0 = np.where(p[:, i - 2] == 0, 0.0, p[:, i - 1] ** 2 / safe)
            p[:, i] = (num[:, i] + _ALPHA * pi0) / (raw_totals[:, i] + _ALPHA)
    w = np.asarray(weights, dtype=np.float64)
    positive = p > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(positive, w[None, :] * np.log(np.where(positive, p, 1.0)), 0.0)
    log_sum = terms.sum(axis=1)
    h = hyp_len.astype(np.float64)
    r = ref_len.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(hyp_len > ref_len, 1.0, np.where(hyp_len == 0, 0.0, np.exp(1 - r / np.maximum(h, 1))))
    scores = bp * np.exp(log_sum)
    return np.where(active, scores, 0.0)


def _method4(p: np.ndarray, zero: np.ndarray, den: np.ndarray, hyp_len: np.ndarray) -> np.ndarray:
    """nltk method4: zero precisions get 1/(2^k * K / ln(len)) / denominator, only when len > 1."""
    zero = zero & (hyp_len > 1)[:, None]
    incvnt = np.cumsum(zero, axis=1)
    # math.log (not np.log) on the few distinct lengths, to use the very same float as nltk.
    uniq, inverse = np.unique(np.maximum(hyp_len, 2), return_inverse=True)
    log_len = np.array([math.log(int(x)) for x in uniq], dtype=np.float64)[inverse.reshape(-1)]
    numerator = 1 / (2.0**incvnt * _K / log_len[:, None])
    return np.where(zero, numerator / den, p)


def sentence_scores(
    stats: SentenceStats,
    n: int | None = None,
    *,
    weights: Sequence[float] | None = None,
    smoothing: str | None = DEFAULT_SMOOTHING,
) -> np.ndarray:
    """Per-hypothesis BLEU from statistics, equal to nltk sentence_bleu(references, hyp, weights, smoothing).

    Args:
        stats: per-sentence statistics (`ReferenceSet.stats` or `self_bleu_stats`).
        n: BLEU-n with uniform weights 1/n (ignored when weights are given, except as a check).
        weights: explicit weights for orders 1..len(weights).
        smoothing: `none`/`method0` (nltk's default) or `method1`..`method7`.
    """
    weights = normalize_weights(n, weights)
    name = normalize_smoothing(smoothing)
    k = len(weights)
    check_order(needed_order(k, name), stats.max_n)
    p5 = None
    if name in ("method5", "method7"):
        o = _METHOD5_ORDER - 1
        p5 = stats.matches[:, o] / np.maximum(stats.totals[:, o], 1).astype(np.float64)
    return _score_rows(
        stats.matches[:, :k],
        np.maximum(stats.totals[:, :k], 1),
        stats.totals[:, :k],
        stats.hyp_len,
        stats.ref_len,
        weights,
        name,
        p5,
    )


def corpus_bleu_from_sums(
    sums: np.ndarray, weights: Sequence[float], smoothing: str | None = "none"
) -> np.ndarray:
    """nltk corpus_bleu (micro-averaged) from summed `SentenceStats.matrix` rows, e.g. bootstrap resamples.

    Args:
        sums: (2k+2,) or (R, 2k+2) sums of `stats.matrix(k)` rows; k = len(weights).
        weights: weights for orders 1..k.
        smoothing: `none` or `method1`..`method4` (nltk's method5-7 at corpus level read the last hypothesis).
    """
    weights = normalize_weights(None, weights)
    name = normalize_smoothing(smoothing)
    if name not in ("none", "method1", "method2", "method3", "method4"):
        raise UserError(f"corpus-level BLEU supports smoothing none or method1..method4, not {name}")
    sums = np.asarray(sums, dtype=np.float64)
    one = sums.ndim == 1
    sums = np.atleast_2d(sums)
    k = len(weights)
    if sums.shape[1] != 2 * k + 2:
        raise UserError(f"expected {2 * k + 2} columns (stats.matrix({k})), got {sums.shape[1]}")
    matches = np.rint(sums[:, :k]).astype(np.int64)
    dens = np.rint(sums[:, k : 2 * k]).astype(np.int64)
    hyp_len = np.rint(sums[:, 2 * k]).astype(np.int64)
    ref_len = np.rint(sums[:, 2 * k + 1]).astype(np.int64)
    out = _score_rows(matches, dens, dens, hyp_len, ref_len, weights, name, None)
    return out[0] if one else out
