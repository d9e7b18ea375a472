"""Significance tests for generators: paired bootstrap, approximate randomization, Welch t, Mann-Whitney U.

The analytic tests (Welch t, Mann-Whitney U, the t distribution) are scipy's; the paired resampling tests
are written here because they must draw exactly sacrebleu's resamples.

Paired tests (same hypotheses order in both systems) take either per-sample scores (1-D, the system score is
their mean, e.g. `Score.per_sample` of paper-style BLEU) or per-sample sufficient statistics (2-D, the system
score is `statistic(column sums)`, e.g. `SentenceStats.matrix(n)` with `eval.bleu.corpus_bleu_from_sums`, or
sacrebleu's per-sentence statistics). The resampling follows sacrebleu 2.x exactly (same index draws for a
given seed), so p-values, means and intervals match `sacrebleu --paired-bs/--paired-ar`.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special
import scipy.stats

from seqgan.base.errors import UserError

_CHUNK_ELEMENTS = 4_000_000  # rows of resamples are gathered in chunks of about this many numbers


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value): the "mean ± std over seeds" of every study table."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


@dataclass(frozen=True)
class TestResult:
    """Outcome of a significance test.

    Args:
        test: which test (`paired_bootstrap`, `approximate_randomization`, `welch_t`, `mann_whitney_u`).
        statistic: bootstrap/randomization: observed score difference system - baseline; Welch: t;
            Mann-Whitney: U of the first sample (as scipy).
        p_value: two-sided p-value.
        seed: seed of the resampling (None for the analytic tests).
        n_resamples: number of bootstrap resamples / randomization trials (None for the analytic tests).
        mean: bootstrap: mean system score over resamples.
        ci_low: bootstrap: lower end of the 95% percentile interval of the system score.
        ci_high: bootstrap: upper end of that interval.
        ci: bootstrap: half width of that interval (sacrebleu's "± ci").
        baseline_mean: bootstrap: mean baseline score over resamples.
        df: Welch: degrees of freedom.
    """

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float
    seed: int | None = None
    n_resamples: int | None = None
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci: float | None = None
    baseline_mean: float | None = None
    df: float | None = None


Statistic = Callable[[np.ndarray], np.ndarray]


def _paired_inputs(baseline, system, statistic: Statistic | None) -> tuple[np.ndarray, np.ndarray, Statistic]:
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(system, dtype=np.float64)
    if a.shape != b.shape:
        raise UserError(
            f"paired test needs the same samples for both systems: shapes {a.shape} and {b.shape}"
        )
    if a.ndim not in (1, 2) or a.shape[0] == 0:
        raise UserError("paired test needs per-sample scores (1-D) or per-sample statistics (2-D), non-empty")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise UserError("paired test input contains NaN or infinite values")
    n = a.shape[0]
    if a.ndim == 1:
        if statistic is None:

            def statistic(sums: np.ndarray) -> np.ndarray:
                return sums[:, 0] / n

        a, b = a[:, None], b[:, None]
    elif statistic is None:
        raise UserError("2-D sufficient statistics need statistic=(summed rows (R, k) -> R scores)")
    return a, b, statistic


def _scores(statistic: Statistic, sums: np.ndarray) -> np.ndarray:
    out = np.asarray(statistic(sums), dtype=np.float64).reshape(-1)
    if out.shape[0] != sums.shape[0]:
        raise UserError(f"statistic must return one score per row of its (R, k) input, got shape {out.shape}")
    return out


def _chunk_rows(n: int, k: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(1, n * k))


def paired_bootstrap(
    baseline: np.ndarray,
    system: np.ndarray,
    n_resamples: int = 1000,
    seed: int | None = 12345,
    statistic: Statistic | None = None,
) -> TestResult:
    """Paired bootstrap resampling (Koehn 2004), as sacrebleu's `--paired-bs`.

    Draws `n_resamples` index sets with replacement (shared by both systems), scores both systems on each,
    and counts how often the centred resampled |difference| reaches the observed one: p = (c + 1) / (R + 1).
    sacrebleu counts strictly greater, which differs only on exact ties, e.g. two identical systems
    (sacrebleu: p = 1/(R+1), here p = 1). The index matrix (R x N int64) is drawn at once as sacrebleu does:
    80 MB for R=1000, N=10,000.

    Args:
        baseline: per-sample scores (N,) or sufficient statistics (N, k) of the baseline system.
        system: the same for the compared system (same samples, same order).
        n_resamples: number of bootstrap resamples (sacrebleu default 1000).
        seed: numpy Generator seed (sacrebleu's default 12345); None draws fresh entropy.
        statistic: for 2-D input, maps summed statistics (R, k) to R scores.
    """
    a, b, statistic = _paired_inputs(baseline, system, statistic)
    if n_resamples < 1:
        raise UserError(f"n_resamples must be >= 1, got {n_resamples}")
    n, k = a.shape
    rng = np.random.default_rng(seed)
    idxs = rng.choice(n, size=(n_resamples, n), replace=True)
    scores_a = np.empty(n_resamples)
    scores_b = np.empty(n_resamples)
    step = _chunk_rows(n, k)
    for start in range(0, n_resamples, step):
        rows = idxs[start : start + step]
        scores_a[start : start + step] = _scores(statistic, a[rows].sum(axis=1))
        scores_b[start : start + step] = _scores(statistic, b[rows].sum(axis=1))
    real_a = _scores(statistic, a.sum(axis=0)[None, :])[0]
    real_b = _scores(statistic, b.sum(axis=0)[None, :])[0]
    diff = abs(real_b - real_a)
    sample_diffs = np.abs(scores_b - scores_a)
    centred = sample_diffs - sample_diffs.mean()
    p = (int(np.sum(centred >= diff - 1e-12 * max(1.0, diff))) + 1) / (n_resamples + 1)
    ordered = np.sort(scores_b)
    lower = n_resamples // 40
    upper = n_resamples - lower - 1
    return TestResult(
        "paired_bootstrap",
        float(real_b - real_a),
        float(p),
        seed,
        int(n_resamples),
        mean=float(ordered.mean()),
        ci_low=float(ordered[lower]),
        ci_high=float(ordered[upper]),
        ci=float(0.5 * (ordered[upper] - ordered[lower])),
        baseline_mean=float(scores_a.mean()),
    )


def approximate_randomization(
    baseline: np.ndarray,
    system: np.ndarray,
    n_resamples: int = 10000,
    seed: int | None = 12345,
    statistic: Statistic | None = None,
) -> TestResult:
    """Paired two-sided approximate randomization (permutation) test (Noreen 1989; Riezler & Maxwell 2005).

    Each trial swaps the two systems' outputs for a random half of the samples (the same draws as sacrebleu's
    `--paired-ar`); p = (c + 1) / (R + 1) with c the trials whose |difference| is at least the observed one
    (sacrebleu counts strictly greater, which calls two identical systems significantly different). The swap
    mask (R x N bool) is drawn at once: 100 MB for R=10,000, N=10,000.

    Args:
        baseline: per-sample scores (N,) or sufficient statistics (N, k) of the baseline system.
        system: the same for the compared system (same samples, same order).
        n_resamples: number of randomization trials (sacrebleu default 10,000).
        seed: numpy Generator seed; None draws fresh entropy.
        statistic: for 2-D input, maps summed statistics (R, k) to R scores.
    """
    a, b, statistic = _paired_inputs(baseline, system, statistic)
    if n_resamples < 1:
        raise UserError(f"n_resamples must be >= 1, got {n_resamples}")
    n, k = a.shape
    rng = np.random.default_rng(seed)
    pos_sel = rng.integers(2, size=(n_resamples, n), dtype=bool)
    diffs = np.empty(n_resamples)
    step = max(1, _CHUNK_ELEMENTS // max(1, n))
    for start in range(0, n_resamples, step):
        pos = pos_sel[start : start + step].astype(np.float64)
        neg = 1.0 - pos
        shuf_a = pos @ a + neg @ b
        shuf_b = neg @ a + pos @ b
        diffs[start : start + step] = np.abs(_scores(statistic, shuf_a) - _scores(statistic, shuf_b))
    real_a = _scores(statistic, a.sum(axis=0)[None, :])[0]
    real_b = _scores(statistic, b.sum(axis=0)[None, :])[0]
    diff = abs(real_b - real_a)
    tol = 1e-12 * max(1.0, diff)  # the identity swap must count even after float re-summation
    p = (int(np.sum(diffs >= diff - tol)) + 1) / (n_resamples + 1)
    return TestResult("approximate_randomization", float(real_b - real_a), float(p), seed, int(n_resamples))


def _unpaired_inputs(x, y, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape[0] < min_size or y.shape[0] < min_size:
        raise UserError(f"need at least {min_size} values per group, got {x.shape[0]} and {y.shape[0]}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise UserError("input contains NaN or infinite values")
    return x, y


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b): scipy.special.betainc, with its domain checked.

    Args:
        a: first shape parameter, > 0.
        b: second shape parameter, > 0.
        x: point in [0, 1].
    """
    if not (a > 0 and b > 0) or not 0.0 <= x <= 1.0:  # scipy would return NaN silently
        raise ValueError(f"betainc needs a, b > 0 and 0 <= x <= 1, got a={a}, b={b}, x={x}")
    return float(scipy.special.betainc(a, b, x))


def student_t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t distribution with df degrees of freedom (scipy.stats.t.sf).

    Args:
        t: the point.
        df: degrees of freedom, > 0.
    """
    return float(scipy.stats.t.sf(t, df))


def welch_t_test(x: np.ndarray, y: np.ndarray) -> TestResult:
    """Welch's unequal-variance t-test, two-sided (scipy.stats.ttest_ind(x, y, equal_var=False)).

    When both groups have zero variance the statistic, p-value and df are NaN: no variance, nothing to test.
    scipy (1.17) returns NaN only when the two constants are equal and t = +-inf, p = 0, df = 1 when they
    differ; the study tables read NaN as "n/a" (`seed_welch_p`: every seed gave the same value in both
    groups), and a p of 0 from two constant groups would claim a certainty the data cannot give.

    Args:
        x: per-sample values of the first system (e.g. per-sample BLEU or NLL).
        y: per-sample values of the second system.
    """
    x, y = _unpaired_inputs(x, y, 2)
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return TestResult("welch_t", math.nan, math.nan, df=math.nan)
    with warnings.catch_warnings():  # scipy warns about near-constant samples; the result is still defined
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = scipy.stats.ttest_ind(x, y, equal_var=False)
    return TestResult("welch_t", float(ref.statistic), float(ref.pvalue), df=float(ref.df))


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> TestResult:
    """Mann-Whitney U test, two-sided, normal approximation with tie and continuity correction.

    Equals scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic"); statistic: U of x.

    Args:
        x: per-sample values of the first system.
        y: per-sample values of the second system.
    """
    x, y = _unpaired_inputs(x, y, 1)
    ref = scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    return TestResult("mann_whitney_u", float(ref.statistic), float(ref.pvalue))
