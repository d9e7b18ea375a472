"""The human-eval statistics agree with scipy and with hand-computed values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from eval import human_stats as stats

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")


@pytest.mark.parametrize(
    ("a", "b", "x"),
    [
        (0.5, 0.5, 0.3),
        (2.0, 3.0, 0.9),
        (10.0, 0.5, 0.01),
        (0.5, 40.0, 0.999),
        (300.0, 0.5, 0.97),
        (1.0, 1.0, 0.5),
    ],
)
def test_betainc_matches_scipy(a: float, b: float, x: float) -> None:
    assert stats.betainc(a, b, x) == pytest.approx(
        float(scipy_special.betainc(a, b, x)), rel=1e-10, abs=1e-14
    )


@pytest.mark.parametrize("df", [1.0, 2.5, 7.0, 30.0, 123.4, 5000.0])
@pytest.mark.parametrize("t", [-6.0, -1.3, 0.0, 0.4, 2.1, 12.0])
def test_t_cdf_matches_scipy(t: float, df: float) -> None:
    assert stats.t_cdf(t, df) == pytest.approx(float(scipy_stats.t.cdf(t, df)), rel=1e-9, abs=1e-15)
    assert stats.t_sf2(t, df) == pytest.approx(float(2 * scipy_stats.t.sf(abs(t), df)), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("df", [1.0, 3.0, 9.5, 69.0])
@pytest.mark.parametrize("q", [0.025, 0.5, 0.9, 0.975, 0.999])
def test_t_ppf_matches_scipy(q: float, df: float) -> None:
    assert stats.t_ppf(q, df) == pytest.approx(float(scipy_stats.t.ppf(q, df)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_welch_ttest_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.5, 0.2, size=int(rng.integers(2, 80)))
    b = rng.normal(0.45, 0.35, size=int(rng.integers(2, 80)))
    ours = stats.welch_ttest(a, b)
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert ours.t == pytest.approx(float(ref.statistic), rel=1e-12)
    assert ours.p == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-300)
    if hasattr(ref, "df"):
        assert ours.df == pytest.approx(float(ref.df), rel=1e-12)


def test_welch_ttest_on_fractions_like_a_study() -> None:
    """Per-rater human scores (fractions of 20) as in the paper's design, 70 raters per system."""
    rng = np.random.default_rng(3)
    a = rng.binomial(20, 0.54, size=70) / 20
    b = rng.binomial(20, 0.42, size=70) / 20
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert stats.welch_ttest(a, b).p == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_welch_ttest_degenerate_cases_are_nan() -> None:
    assert math.isnan(stats.welch_ttest([1.0], [0.0, 1.0]).p)
    assert math.isnan(stats.welch_ttest([0.5, 0.5], [0.5, 0.5]).p)


def test_fleiss_kappa_wikipedia_worked_example() -> None:
    """10 subjects, 14 raters, 5 categories: P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210."""
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    # By hand: p_j = column sums / 140 = (20, 28, 39, 21, 32) / 140; P_e = sum p_j^2 = 3150 / 19600.
    p_e = (20**2 + 28**2 + 39**2 + 21**2 + 32**2) / 140**2
    # P_i = (sum_j n_ij^2 - 14) / (14 * 13); P-bar = mean over the 10 subjects.
    p_i = [(sum(v * v for v in row) - 14) / 182 for row in table.tolist()]
    p_bar = sum(p_i) / 10
    assert p_e == pytest.approx(0.2130, abs=5e-4)
    assert p_bar == pytest.approx(0.3780, abs=5e-4)
    assert stats.fleiss_kappa(table) == pytest.approx((p_bar - p_e) / (1 - p_e), rel=1e-12)
    assert stats.fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_two_categories_by_hand() -> None:
    # 4 items, 3 raters: agreement 1, 1, 1/3, 1/3 -> P-bar = 2/3; shares 0.5/0.5 -> P_e = 1/2; kappa = 1/3.
    assert stats.fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 2]]) == pytest.approx(1 / 3, rel=1e-12)
    assert stats.fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)
    # Items answered only once are ignored.
    assert stats.fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 2], [1, 0]]) == pytest.approx(1 / 3, rel=1e-12)


def test_paired_permutation_exact_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    d = rng.normal(0.1, 0.2, size=9)
    ours = stats.permutation_test_paired(d, n_resamples=10_000, seed=1)
    assert ours.exact and ours.n_resamples == 2**9
    ref = scipy_stats.permutation_test(
        (d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples", n_resamples=np.inf
    )
    assert ours.p == pytest.approx(float(ref.pvalue), rel=1e-12)


def test_paired_permutation_sampled_is_close_and_reproducible() -> None:
    rng = np.random.default_rng(6)
    d = rng.normal(0.05, 0.2, size=30)
    first = stats.permutation_test_paired(d, n_resamples=20_000, seed=11)
    again = stats.permutation_test_paired(d, n_resamples=20_000, seed=11)
    assert not first.exact and first.p == again.p and first.seed == 11
    ref = stats.t_sf2(float(d.mean() / (d.std(ddof=1) / math.sqrt(d.size))), d.size - 1)
    assert first.p == pytest.approx(ref, abs=0.03)


def test_unpaired_permutation_close_to_exact_enumeration() -> None:
    a = np.array([0.9, 0.7, 0.8, 0.65, 0.75])
    b = np.array([0.4, 0.6, 0.5, 0.7, 0.35])
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    hits = total = 0
    for idx in itertools.combinations(range(10), 5):
        mask = np.zeros(10, dtype=bool)
        mask[list(idx)] = True
        total += 1
        hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed - 1e-12
    exact = hits / total
    ours = stats.permutation_test_unpaired(a, b, n_resamples=20_000, seed=3)
    assert ours.kind == "unpaired" and ours.seed == 3
    assert ours.p == pytest.approx(exact, abs=0.01)


def test_cluster_ci_equals_t_interval_when_clusters_are_equal() -> None:
    human = [12, 9, 15, 11, 8, 14]
    total = [20] * 6
    est = stats.cluster_ratio_ci(human, total)
    scores = np.array(human) / 20
    half = scipy_stats.t.ppf(0.975, 5) * scores.std(ddof=1) / math.sqrt(6)
    assert est.value == pytest.approx(scores.mean())
    assert (est.low, est.high) == pytest.approx((scores.mean() - half, scores.mean() + half), rel=1e-9)
    assert est.clusters == 6 and est.n == 120


def test_cluster_ci_is_the_pooled_fraction_with_unequal_clusters() -> None:
    est = stats.cluster_ratio_ci([3, 1, 0], [4, 2, 1], bounds=(0, 1))
    assert est.value == pytest.approx(4 / 7)
    assert 0 <= est.low < est.value < est.high <= 1


def test_analyse_reports_scores_tests_and_kappa() -> None:
    # Three raters answer the same four items per system; rater r3 stops after two mle items.
    answers = []
    plan = {
        "r1": {"mle": [1, 0, 0, 0], "real": [1, 1, 1, 0]},
        "r2": {"mle": [1, 1, 0, 0], "real": [1, 1, 0, 0]},
        "r3": {"mle": [0, 0], "real": [1, 1, 1, 1]},
    }
    for rater, per_system in plan.items():
        for system, judgements in per_system.items():
            for i, h in enumerate(judgements):
                answers.append(stats.Answer(rater, f"{system}{i}", system, bool(h)))
    report = stats.analyse(answers, ["mle", "real"], unit="rater", seed=4)
    mle, real = report["systems"]
    assert (mle["answers"], mle["judged_human"], mle["score"]) == (10, 3, pytest.approx(0.3))
    assert (real["answers"], real["judged_human"], real["score"]) == (12, 9, pytest.approx(0.75))
    pair = report["pairwise"][0]
    ref = scipy_stats.ttest_ind([0.25, 0.5, 0.0], [0.75, 0.5, 1.0], equal_var=False)
    assert pair["welch"]["p"] == pytest.approx(float(ref.pvalue), rel=1e-9)
    assert pair["permutation"]["kind"] == "paired" and pair["permutation"]["exact"]
    assert pair["permutation"]["seed"] == 4
    # Fleiss' kappa over the 8 items (each with 2 or 3 answers), computed from the counts by hand.
    counts = {}
    for a in answers:
        counts.setdefault(a.item, [0, 0])[0 if a.human else 1] += 1
    assert report["fleiss_kappa"]["kappa"] == pytest.approx(stats.fleiss_kappa(list(counts.values())))
    by_item = stats.analyse(answers, ["mle", "real"], unit="item", seed=4)
    assert by_item["pairwise"][0]["permutation"]["kind"] == "unpaired"
    assert by_item["systems"][0]["score"] == pytest.approx(0.3)
