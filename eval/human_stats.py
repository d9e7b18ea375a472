"""Statistics for a human-or-machine study (numpy; the t distribution and Welch's test are scipy's).

The score of a system is the fraction of its answers that said "written by a person" (the SeqGAN paper's
human score). Answers by one rater (or on one item) are not independent, so confidence intervals treat the
rater (or the item, with ``unit="item"``) as the cluster: a ratio estimator with a cluster-robust standard
error and a Student t critical value with ``clusters - 1`` degrees of freedom. When every rater answered
every item this is the plain ``mean +- t * sd / sqrt(k)`` over per-rater scores.

Pairwise comparisons use Welch's t-test on per-cluster scores (the paper used a t-test) and a permutation
test: paired sign-flipping of per-rater differences for ``unit="rater"`` (each rater judged both systems),
or label shuffling between the two systems' items for ``unit="item"``. Agreement between raters is
Fleiss' kappa over the human/machine judgements, in the form that allows items with unequal numbers of
ratings (it equals the textbook formula when the numbers are equal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from eval.significance import betainc, welch_t_test  # betainc re-exported: part of this module's interface

__all__ = ["betainc", "t_sf2", "t_cdf", "t_ppf", "welch_ttest", "fleiss_kappa", "analyse"]


def t_sf2(t: float, df: float) -> float:
    """Two-sided tail probability P(|T| >= |t|) of Student's t distribution (2 * scipy.stats.t.sf(|t|, df)).

    Args:
        t: the statistic.
        df: degrees of freedom (> 0, need not be an integer).
    """
    if math.isnan(t) or math.isnan(df):
        return math.nan
    return float(2.0 * scipy.stats.t.sf(abs(t), df))


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t distribution (scipy.stats.t.cdf).

    Args:
        t: the point.
        df: degrees of freedom (> 0).
    """
    return float(scipy.stats.t.cdf(t, df))


def t_ppf(q: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t distribution (scipy.stats.t.ppf).

    Args:
        q: probability in (0, 1).
        df: degrees of freedom (> 0).
    """
    if not 0.0 < q < 1.0:  # scipy would return NaN or +-inf silently
        raise ValueError("t_ppf needs 0 < q < 1")
    return float(scipy.stats.t.ppf(q, df))


@dataclass(frozen=True)
class TTest:
    """Result of a two-sample t-test: statistic, degrees of freedom, two-sided p-value."""

    t: float
    df: float
    p: float


def welch_ttest(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Welch's unequal-variance two-sample t-test (two-sided), as scipy's ttest_ind(equal_var=False).

    NaN (no test) with fewer than 2 values in a group or no variance in either group (see
    `eval.significance.welch_t_test`).

    Args:
        a: first sample (at least 2 values).
        b: second sample (at least 2 values).
    """
    if len(a) < 2 or len(b) < 2:
        return TTest(math.nan, math.nan, math.nan)
    result = welch_t_test(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return TTest(result.statistic, result.df, result.p_value)


@dataclass(frozen=True)
class PermutationTest:
    """Result of a two-sided permutation test on a difference of means."""

    kind: str  # "paired" (sign flips) or "unpaired" (label shuffles)
    statistic: float
    p: float
    n_resamples: int
    exact: bool
    seed: int


def permutation_test_paired(
    diffs: Sequence[float], n_resamples: int = 10_000, seed: int = 0
) -> PermutationTest:
    """Two-sided sign-flip permutation test that the mean of paired differences is zero.

    Enumerates all 2^n sign patterns when that is no more than `n_resamples`; otherwise draws
    `n_resamples` random patterns and uses the (count + 1) / (n_resamples + 1) estimate.

    Args:
        diffs: per-pair differences (e.g. one rater's score for system A minus for system B).
        n_resamples: number of random sign patterns when not exact.
        seed: seed of the random generator (recorded in the result).
    """
    d = np.asarray(diffs, dtype=float)
    n = d.size
    if n == 0:
        return PermutationTest("paired", math.nan, math.nan, 0, False, seed)
    observed = float(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))
    if 2**n <= n_resamples:
        codes = np.arange(2**n, dtype=np.int64)
        signs = 1.0 - 2.0 * ((codes[:, None] >> np.arange(n)) & 1)
        stats = (signs * d).mean(axis=1)
        p = float(np.mean(np.abs(stats) >= abs(observed) - tol))
        return PermutationTest("paired", observed, p, int(2**n), True, seed)
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    while done < n_resamples:
        batch = min(4096, n_resamples - done)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(batch, n))
        stats = (signs * d).mean(axis=1)
        hits += int(np.sum(np.abs(stats) >= abs(observed) - tol))
        done += batch
    return PermutationTest("paired", observed, (hits + 1) / (n_resamples + 1), n_resamples, False, seed)


def permutation_test_unpaired(
    a: Sequence[float], b: Sequence[float], n_resamples: int = 10_000, seed: int = 0
) -> PermutationTest:
    """Two-sided permutation test that two independent samples have the same mean (label shuffling).

    Args:
        a: first sample.
        b: second sample.
        n_resamples: number of random relabellings.
        seed: seed of the random generator (recorded in the result).
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        return PermutationTest("unpaired", math.nan, math.nan, 0, False, seed)
    pooled = np.concatenate([x, y])
    observed = float(x.mean() - y.mean())
    tol = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    while done < n_resamples:
        batch = min(2048, n_resamples - done)
        perms = np.argsort(rng.random((batch, pooled.size)), axis=1)
        shuffled = pooled[perms]
        stats = shuffled[:, : x.size].mean(axis=1) - shuffled[:, x.size :].mean(axis=1)
        hits += int(np.sum(np.abs(stats) >= abs(observed) - tol))
        done += batch
    return PermutationTest("unpaired", observed, (hits + 1) / (n_resamples + 1), n_resamples, False, seed)


@dataclass(frozen=True)
class Estimate:
    """A ratio estimate (e.g. fraction judged human) with a cluster-robust confidence interval."""

    value: float
    low: float
    high: float
    clusters: int
    n: int


def cluster_ratio_ci(
    sums: Sequence[float],
    counts: Sequence[float],
    level: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> Estimate:
    """Ratio estimate sum(sums) / sum(counts) with a cluster-robust t confidence interval.

    Each cluster (a rater or an item) contributes the sum of its values (e.g. number of "human" answers)
    and its number of answers. The variance is the linearised (sandwich) variance of a ratio estimator
    with the small-sample factor k / (k - 1); the critical value is Student's t with k - 1 degrees of freedom.

    Args:
        sums: per-cluster sum of the answer values.
        counts: per-cluster number of answers (clusters with 0 answers are ignored).
        level: confidence level.
        bounds: clip the interval to these bounds (e.g. (0, 1) for a proportion).
    """
    s = np.asarray(sums, dtype=float)
    c = np.asarray(counts, dtype=float)
    keep = c > 0
    s, c = s[keep], c[keep]
    k = int(c.size)
    n = int(c.sum())
    if k == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, 0)
    value = float(s.sum() / c.sum())
    if k < 2:
        return Estimate(value, math.nan, math.nan, k, n)
    resid = s - value * c
    var = (k / (k - 1)) * float(np.sum(resid * resid)) / float(c.sum()) ** 2
    half = t_ppf(0.5 + level / 2.0, k - 1) * math.sqrt(var)
    low, high = value - half, value + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Estimate(value, low, high, k, n)


def fleiss_kappa(counts: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Fleiss' kappa from an items x categories table of rating counts.

    Items rated fewer than twice are dropped. Items may have unequal numbers of ratings; then each item's
    agreement uses its own number of ratings and the category shares pool all ratings (with equal numbers
    this is exactly Fleiss' 1971 formula).

    Args:
        counts: counts[i][j] = how many raters put item i in category j.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.size == 0:
        return math.nan
    per_item = table.sum(axis=1)
    table = table[per_item >= 2]
    per_item = per_item[per_item >= 2]
    if table.shape[0] == 0:
        return math.nan
    agreement = ((table * table).sum(axis=1) - per_item) / (per_item * (per_item - 1))
    p_bar = float(agreement.mean())
    shares = table.sum(axis=0) / per_item.sum()
    p_e = float(np.sum(shares * shares))
    if p_e >= 1.0:
        return math.nan
    return (p_bar - p_e) / (1.0 - p_e)


@dataclass(frozen=True)
class Answer:
    """One judgement: which rater, which item, which system made it, human or not, optional fluency."""

    rater: str
    item: str
    system: str
    human: bool
    fluency: int | None = None


def _clusters(answers: Iterable[Answer], unit: str) -> dict[str, list[Answer]]:
    groups: dict[str, list[Answer]] = {}
    for ans in answers:
        key = ans.rater if unit == "rater" else ans.item
        groups.setdefault(key, []).append(ans)
    return groups


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def analyse(
    answers: Sequence[Answer],
    systems: Sequence[str],
    unit: str = "rater",
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict:
    """Full report of a study: per-system scores with CIs, pairwise tests, Fleiss' kappa (JSON-ready).

    Args:
        answers: every judgement.
        systems: system names in report order (systems with no answers still get a row).
        unit: "rater" (clusters and t-test over raters; paired permutation test) or "item" (over items;
            unpaired permutation test).
        level: confidence level of the intervals.
        n_resamples: permutation test resamples.
        seed: permutation test seed (recorded in the report).
    """
    if unit not in ("rater", "item"):
        raise ValueError("unit must be 'rater' or 'item'")
    by_system: dict[str, list[Answer]] = {name: [] for name in systems}
    for ans in answers:
        by_system.setdefault(ans.system, []).append(ans)

    rows = []
    cluster_scores: dict[str, dict[str, float]] = {}
    for name, sys_answers in by_system.items():
        groups = _clusters(sys_answers, unit)
        keys = sorted(groups)
        human = [sum(a.human for a in groups[key]) for key in keys]
        total = [len(groups[key]) for key in keys]
        est = cluster_ratio_ci(human, total, level, bounds=(0.0, 1.0))
        cluster_scores[name] = {key: h / t for key, h, t in zip(keys, human, total, strict=True)}
        flu_groups = {key: [a.fluency for a in groups[key] if a.fluency is not None] for key in keys}
        flu = cluster_ratio_ci(
            [sum(v) for v in flu_groups.values()],
            [len(v) for v in flu_groups.values()],
            level,
            bounds=(1.0, 5.0),
        )
        rows.append(
            {
                "system": name,
                "items": len({a.item for a in sys_answers}),
                "answers": len(sys_answers),
                "judged_human": int(sum(a.human for a in sys_answers)),
                "score": _finite(est.value),
                "ci_low": _finite(est.low),
                "ci_high": _finite(est.high),
                "clusters": est.clusters,
                "fluency": _finite(flu.value),
                "fluency_ci_low": _finite(flu.low),
                "fluency_ci_high": _finite(flu.high),
                "fluency_answers": flu.n,
            }
        )

    pairwise = []
    names = list(by_system)
    for i, a_name in enumerate(names):
        for b_name in names[i + 1 :]:
            sa, sb = cluster_scores[a_name], cluster_scores[b_name]
            welch = welch_ttest(list(sa.values()), list(sb.values()))
            if unit == "rater":
                shared = sorted(set(sa) & set(sb))
                perm = permutation_test_paired([sa[r] - sb[r] for r in shared], n_resamples, seed)
                n_perm = len(shared)
            else:
                perm = permutation_test_unpaired(list(sa.values()), list(sb.values()), n_resamples, seed)
                n_perm = len(sa) + len(sb)
            row_a = next(r for r in rows if r["system"] == a_name)
            row_b = next(r for r in rows if r["system"] == b_name)
            diff = None
            if row_a["score"] is not None and row_b["score"] is not None:
                diff = row_a["score"] - row_b["score"]
            pairwise.append(
                {
                    "a": a_name,
                    "b": b_name,
                    "diff": diff,
                    "welch": {
                        "t": _finite(welch.t),
                        "df": _finite(welch.df),
                        "p": _finite(welch.p),
                        "n_a": len(sa),
                        "n_b": len(sb),
                    },
                    "permutation": {
                        "kind": perm.kind,
                        "p": _finite(perm.p),
                        "n": n_perm,
                        "n_resamples": perm.n_resamples,
                        "exact": perm.exact,
                        "seed": perm.seed,
                    },
                }
            )

    per_item: dict[str, list[int]] = {}
    for ans in answers:
        cell = per_item.setdefault(ans.item, [0, 0])
        cell[0 if ans.human else 1] += 1
    table = np.array(list(per_item.values()), dtype=float).reshape(-1, 2)
    rated_twice = int(np.sum(table.sum(axis=1) >= 2)) if table.size else 0
    return {
        "unit": unit,
        "confidence": level,
        "answers": len(answers),
        "raters": len({a.rater for a in answers}),
        "systems": rows,
        "pairwise": pairwise,
        "fleiss_kappa": {
            "kappa": _finite(fleiss_kappa(table)) if table.size else None,
            "items": rated_twice,
            "categories": ["human", "machine"],
        },
    }
