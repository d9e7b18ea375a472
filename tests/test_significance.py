"""eval.significance against scipy.stats and sacrebleu's paired tests."""

from __future__ import annotations

import random

import numpy as np
import pytest
import scipy.special
import scipy.stats

from eval import significance as S
from seqgan.base.errors import UserError


def _samples(rng: np.random.Generator, i: int) -> tuple[np.ndarray, np.ndarray]:
    n1, n2 = rng.integers(2, 80, size=2)
    x = rng.normal(0.0, rng.uniform(0.1, 3.0), n1)
    y = rng.normal(rng.uniform(-1.5, 1.5), rng.uniform(0.1, 3.0), n2)
    if i % 3 == 0:  # many ties
        x, y = np.round(x), np.round(y)
    return x, y


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy warns on constant (rounded) samples
def test_welch_t_equals_scipy():
    rng = np.random.default_rng(0)
    for i in range(200):
        x, y = _samples(rng, i)
        ours = S.welch_t_test(x, y)
        ref = scipy.stats.ttest_ind(x, y, equal_var=False)
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
        assert ours.df == pytest.approx(ref.df, rel=1e-9)


def test_welch_t_large_samples_and_tiny_p_values():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 20000), rng.normal(0.15, 1.3, 15000)
    ours, ref = S.welch_t_test(x, y), scipy.stats.ttest_ind(x, y, equal_var=False)
    assert ref.pvalue < 1e-30
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    with pytest.raises(UserError):
        S.welch_t_test([1.0], [1.0, 2.0])


def test_mann_whitney_u_equals_scipy_asymptotic():
    rng = np.random.default_rng(2)
    for i in range(200):
        x, y = _samples(rng, i)
        ours = S.mann_whitney_u(x, y)
        ref = scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    same = S.mann_whitney_u([1.0, 1.0, 1.0], [1.0, 1.0])  # all tied
    assert same.p_value == scipy.stats.mannwhitneyu([1.0] * 3, [1.0] * 2, method="asymptotic").pvalue == 1.0


def test_betainc_and_t_distribution_equal_scipy():
    for a in [0.5, 1.0, 2.5, 10.0, 150.0, 5000.0]:
        for b in [0.5, 1.0, 3.0, 40.0]:
            for x in [1e-8, 0.01, 0.3, 0.5, 0.77, 0.99, 1 - 1e-9]:
                assert S.betainc(a, b, x) == pytest.approx(
                    scipy.special.betainc(a, b, x), rel=1e-9, abs=1e-300
                )
    for df in [1.0, 2.5, 7.0, 30.0, 1e3, 1e5, 1e6]:
        for t in [-4.0, -0.3, 0.0, 1e-3, 0.7, 1.96, 6.0, 40.0]:
            assert S.student_t_sf(t, df) == pytest.approx(scipy.stats.t.sf(t, df), rel=1e-9, abs=1e-300)


def _sacrebleu_inputs(n: int = 60):
    from sacrebleu.metrics import BLEU

    rng = random.Random(0)
    vocab = "a b c d e f g h".split()
    refs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 12))) for _ in range(n)]

    def noisy(p):
        return [" ".join(w if rng.random() > p else rng.choice(vocab) for w in r.split()) for r in refs]

    return BLEU(), refs, noisy(0.5), noisy(0.35)


@pytest.mark.parametrize("test_type", ["bs", "ar"])
def test_paired_tests_equal_sacrebleu(monkeypatch, test_type):
    from sacrebleu.significance import PairedTest

    monkeypatch.delenv("SACREBLEU_SEED", raising=False)  # sacrebleu's default seed: 12345
    metric, refs, base, system = _sacrebleu_inputs()
    n_resamples = 300 if test_type == "bs" else 600
    _, results = PairedTest(
        [("base", base), ("sys", system)],
        {"BLEU": metric},
        [refs],
        test_type=test_type,
        n_samples=n_resamples,
    )()
    expected = results[next(k for k in results if k != "System")][1]
    stats_a = np.array(metric._extract_corpus_statistics(base, [refs]))
    stats_b = np.array(metric._extract_corpus_statistics(system, [refs]))

    def statistic(sums):
        if test_type == "bs":
            sums = sums.astype(np.float32)  # sacrebleu's bootstrap sums float32 statistics
        return np.array([metric._compute_score_from_stats(list(row)).score for row in sums])

    fn = S.paired_bootstrap if test_type == "bs" else S.approximate_randomization
    ours = fn(stats_a, stats_b, n_resamples=n_resamples, seed=12345, statistic=statistic)
    assert 0.001 < expected.p_value < 0.5  # a case where the p-value is informative
    assert ours.p_value == expected.p_value
    assert ours.seed == 12345 and ours.n_resamples == n_resamples
    assert ours.statistic == pytest.approx(expected.score - metric.corpus_score(base, [refs]).score, rel=1e-6)
    if test_type == "bs":
        assert ours.mean == pytest.approx(expected.mean, rel=1e-12)
        assert ours.ci == pytest.approx(expected.ci, rel=1e-12)
        assert ours.ci_low <= ours.mean <= ours.ci_high


def test_paired_tests_on_per_sample_scores():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, 300)
    better = np.clip(base + rng.normal(0.1, 0.05, 300), 0, 1)
    for fn in (S.paired_bootstrap, S.approximate_randomization):
        clear = fn(base, better, n_resamples=500, seed=4)
        assert clear.p_value == pytest.approx(1 / 501)
        assert clear.statistic == pytest.approx(better.mean() - base.mean(), rel=1e-12)
        same = fn(base, base.copy(), n_resamples=500, seed=4)
        assert same.p_value == 1.0  # identical systems are never significantly different
        noise = fn(base, base + rng.normal(0, 0.2, 300), n_resamples=500, seed=4)
        assert noise.p_value > 0.05
        again = fn(base, base + rng.normal(0, 0.2, 300), n_resamples=500, seed=4)
        assert again.p_value != noise.p_value or again.statistic != noise.statistic
    boot = S.paired_bootstrap(base, better, n_resamples=400, seed=9)
    # independent re-computation of the bootstrap distribution of the system mean
    idx = np.random.default_rng(9).choice(300, size=(400, 300), replace=True)
    means = np.sort(better[idx].mean(axis=1))
    assert boot.mean == pytest.approx(means.mean(), rel=1e-12)
    assert (boot.ci_low, boot.ci_high) == pytest.approx((means[10], means[389]), rel=1e-12)
    assert boot.baseline_mean == pytest.approx(base[idx].mean(axis=1).mean(), rel=1e-12)


def test_paired_input_errors():
    with pytest.raises(UserError, match="same samples"):
        S.paired_bootstrap(np.zeros(3), np.zeros(4))
    with pytest.raises(UserError, match="statistic"):
        S.approximate_randomization(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(UserError, match="NaN"):
        S.paired_bootstrap(np.array([1.0, np.nan]), np.zeros(2))


def test_mean_std_is_the_sample_std_over_seeds():
    values = [8.893, 8.95, 8.81]
    mean, std = S.mean_std(values)
    assert mean == pytest.approx(np.mean(values)) and std == pytest.approx(np.std(values, ddof=1))
    assert S.mean_std([4.5]) == (4.5, 0.0)
