"""Significance tests for generators: paired bootstrap, approximate randomization, Welch t, Mann-Whitney U.

numpy only (scipy is a test dependency, used to check these against scipy.stats).

Paired tests (same hypotheses order in both systems) take either per-sample scores (1-D, the system score is
their mean, e.g. `Score.per_sample` of paper-style BLEU) or per-sample sufficient statistics (2-D, the system
score is `statistic(column sums)`, e.g. `SentenceStats.matrix(n)` with `eval.bleu.corpus_bleu_from_sums`, or
sacrebleu's per-sentence statistics). The resampling follows sacrebleu 2.x exactly (same index draws for a
given seed), so p-values, means and intervals match `sacrebleu --paired-bs/--paired-ar`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function, modified Lentz's method."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta_even = d * c
        h *= delta_even
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        # Both half-steps must have converged: for large a the even one can still matter when the odd is 1.
        if abs(delta - 1.0) < 1e-16 and abs(delta_even - 1.0) < 1e-16:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _stirling_corr(z: float) -> float:
    """lgamma(z) - [(z - 0.5) log z - z + log(2 pi) / 2], asymptotic series (z >= 20: error < 1e-17)."""
    z2 = z * z
    return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * z2)) / z2) / z2) / z2) / z


def _log_beta_inverse(a: float, b: float) -> float:
    """log(Gamma(a + b) / (Gamma(a) Gamma(b))), avoiding cancellation of lgamma differences for large a."""
    big, small = max(a, b), min(a, b)
    if big < 20:
        return math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    # lgamma(big + small) - lgamma(big) by Stirling, written so that nothing large cancels.
    diff = (
        (big - 0.5) * math.log1p(small / big)
        + small * math.log(big + small)
        - small
        + _stirling_corr(big + small)
        - _stirling_corr(big)
    )
    return diff - math.lgamma(small)


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """I_x(a, b) given x and y = 1 - x, both accurate (so x close to 1 keeps its precision)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log1p(-y) if x > 0.5 else math.log(x)
    log_y = math.log1p(-x) if y > 0.5 else math.log(y)
    front = math.exp(_log_beta_inverse(a, b) + a * log_x + b * log_y)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, y) / b


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) (as scipy.special.betainc).

    Args:
        a: first shape parameter, > 0.
        b: second shape parameter, > 0.
        x: point in [0, 1].
    """
    if not (a > 0 and b > 0) or not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs a, b > 0 and 0 <= x <= 1, got a={a}, b={b}, x={x}")
    return _betainc(a, b, x, 1.0 - x)


def student_t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t distribution with df degrees of freedom.

    Args:
        t: the point.
        df: degrees of freedom, > 0.
    """
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    t2 = t * t
    tail = 0.5 * _betainc(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2))  # P(T > |t|)
    return tail if t >= 0 else 1.0 - tail


def welch_t_test(x: np.ndarray, y: np.ndarray) -> TestResult:
    """Welch's unequal-variance t-test, two-sided (scipy.stats.ttest_ind(x, y, equal_var=False)).

    Returns NaN statistic and p-value when both groups have zero variance, as scipy does.

    Args:
        x: per-sample values of the first system (e.g. per-sample BLEU or NLL).
        y: per-sample values of the second system.
    """
    x, y = _unpaired_inputs(x, y, 2)
    n1, n2 = x.shape[0], y.shape[0]
    v1, v2 = np.var(x, ddof=1) / n1, np.var(y, ddof=1) / n2
    se2 = v1 + v2
    if se2 == 0:
        return TestResult("welch_t", math.nan, math.nan, df=math.nan)
    t = float((np.mean(x) - np.mean(y)) / np.sqrt(se2))
    df = float(se2**2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)))
    p = 2.0 * student_t_sf(abs(t), df) if math.isfinite(t) else 0.0
    return TestResult("welch_t", t, float(min(1.0, p)), df=df)


def _average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks 1..n with ties averaged, and the size of every tie group."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, values.shape[0]])
    ranks = np.empty(values.shape[0], dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks, counts


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> TestResult:
    """Mann-Whitney U test, two-sided, normal approximation with tie and continuity correction.

    Equals scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic"); statistic: U of x.

    Args:
        x: per-sample values of the first system.
        y: per-sample values of the second system.
    """
    x, y = _unpaired_inputs(x, y, 1)
    n1, n2 = x.shape[0], y.shape[0]
    ranks, ties = _average_ranks(np.concatenate([x, y]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    u = max(u1, n1 * n2 - u1)
    n = n1 + n2
    tie_term = float(np.sum(ties.astype(np.float64) ** 3 - ties))
    s = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))) if n > 1 else 0.0
    numerator = u - n1 * n2 / 2 - 0.5
    if s == 0:
        z = math.inf if numerator > 0 else -math.inf if numerator < 0 else math.nan
    else:
        z = numerator / s
    p = 1.0 if math.isnan(z) else 2 * 0.5 * math.erfc(z / math.sqrt(2))
    return TestResult("mann_whitney_u", u1, float(min(max(p, 0.0), 1.0)))
