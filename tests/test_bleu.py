"""eval.bleu equals nltk sentence_bleu/corpus_bleu and sacrebleu, Self-BLEU is leave-one-out."""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu

from eval import bleu as B
from seqgan.base.errors import UserError

SMOOTHINGS = ["none", "method1", "method2", "method3", "method4", "method5", "method6", "method7"]
TOL = 1e-9


def _nltk(refs, hyp, weights, smoothing):
    fn = None if smoothing == "none" else getattr(SmoothingFunction(), smoothing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # method0's "0 counts of n-gram overlaps" warning
        return sentence_bleu(refs, hyp, weights, smoothing_function=fn)


def _random_corpus(rng: random.Random, n_sent: int, max_len: int) -> list[list[str]]:
    size = rng.choice([2, 3, 5, 8])  # small vocabularies so that n-grams match
    vocab = [rng.choice(["w", "ü", "ß", "猫", "😀", "a b"]) + str(i) for i in range(size)]
    return [[rng.choice(vocab) for _ in range(rng.randint(0, max_len))] for _ in range(n_sent)]


def _random_weights(rng: random.Random, n: int) -> tuple[float, ...]:
    if rng.random() < 0.5:
        return tuple(1.0 / n for _ in range(n))
    return tuple(rng.uniform(0.0, 1.0) for _ in range(n))


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_sentence_scores_equal_nltk_randomized(smoothing):
    rng = random.Random(hash(smoothing) % 1000)
    n_compared = 0
    for _ in range(40):
        corpus = _random_corpus(rng, 14, 9)
        refs, hyps = corpus[: rng.randint(1, 6)], corpus[6:]
        hyps += [[], hyps[0][:1], [refs[0][0]] if refs[0] else []]  # empty and very short hypotheses
        n = rng.randint(1, 7)
        weights = _random_weights(rng, n)
        stats = B.ReferenceSet(refs, B.needed_order(n, smoothing)).stats(hyps)
        expected = []
        for hyp in hyps:
            try:
                expected.append(_nltk(refs, hyp, weights, smoothing))
            except (AssertionError, IndexError):  # nltk's method6 fails on these inputs
                expected.append(None)
        if None in expected:
            assert smoothing == "method6"
            with pytest.raises(UserError, match="method6"):
                B.sentence_scores(stats, weights=weights, smoothing=smoothing)
            keep = [i for i, e in enumerate(expected) if e is not None]
            if not keep:
                continue
            stats, expected = stats.subset(keep), [expected[i] for i in keep]
        ours = B.sentence_scores(stats, weights=weights, smoothing=smoothing)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=TOL)
        n_compared += len(expected)
    assert n_compared > 50


def test_bleu_mean_equals_nltk_for_orders_1_to_5_with_unicode():
    rng = random.Random(7)
    corpus = _random_corpus(rng, 60, 12)
    refs, hyps = corpus[:30], corpus[30:]
    for n in range(1, 6):
        for smoothing in ["none", "method1"]:
            weights = tuple(1.0 / n for _ in range(n))
            expected = np.mean([_nltk(refs, h, weights, smoothing) for h in hyps])
            result = B.bleu(hyps, refs, n, smoothing=smoothing)
            assert abs(result.score - expected) < TOL
            assert result.signature.startswith(f"bleu-n:{n}|")
            assert f"smooth:{smoothing}|" in result.signature
            assert "nrefs:30|nhyps:30|" in result.signature


def test_hand_computed_values():
    refs = [["a", "b", "c", "d"], ["a", "b", "x"]]
    # hyp a b b x: closest ref length 4 (bp 1); unigrams a,b,(2nd b clipped),x -> 3/4;
    # bigrams ab, bx match, bb does not -> 2/3
    hyp = ["a", "b", "b", "x"]
    assert B.bleu([hyp], refs, 1, smoothing="none").score == pytest.approx(3 / 4, abs=1e-15)
    assert B.bleu([hyp], refs, 2, smoothing="none").score == pytest.approx(math.sqrt(0.5), abs=1e-15)
    # trigrams abb, bbx: 0/2 -> method1 gives 0.1/2
    assert B.bleu([hyp], refs, 3, smoothing="method1").score == pytest.approx(0.025 ** (1 / 3), abs=1e-15)
    # hyp a b: closest length 3 -> brevity penalty exp(1 - 3/2), precisions 1
    assert B.bleu([["a", "b"]], refs, 2, smoothing="none").score == pytest.approx(math.exp(-0.5), abs=1e-15)
    # the "the the the" example of the BLEU paper: unigram precision clipped by the max reference count
    refs2 = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
    assert B.bleu([["the"] * 7], refs2, 1, smoothing="none").score == pytest.approx(2 / 7, abs=1e-15)
    # closest-length ties go to the shorter reference: lengths 3 and 5 for a hypothesis of length 4 -> bp 1
    refs3 = [["a", "b", "c"], ["a", "b", "c", "d", "e"]]
    assert B.bleu([["a", "b", "c", "d"]], refs3, 2, smoothing="none").score == pytest.approx(1.0, abs=1e-15)


def test_nltk_quirks_reproduced():
    refs = [["a", "b", "c", "d", "e"]]
    # no unigram match: nltk returns exactly 0 whatever the smoothing
    for smoothing in SMOOTHINGS:
        assert B.bleu([["z", "z"]], refs, 4, smoothing=smoothing).score == 0.0
    assert B.bleu([[]], refs, 4).score == 0.0
    # method0 with a missing order: nltk uses sys.float_info.min, a tiny but non-zero score
    tiny = B.bleu([["a", "b", "z", "c"]], refs, 3, smoothing="none").score
    assert tiny == pytest.approx(_nltk(refs, ["a", "b", "z", "c"], (1 / 3,) * 3, "none"), abs=0, rel=1e-12)
    assert 0 < tiny < 1e-100
    # method5 can exceed 1 in nltk (it averages with p1 + 1)
    hi = B.bleu([["a", "b", "c", "d", "e"]], refs, 4, smoothing="method5").score
    assert hi == pytest.approx(_nltk(refs, ["a", "b", "c", "d", "e"], (0.25,) * 4, "method5"), abs=TOL)
    assert hi > 1


def test_reference_set_is_reusable_and_checks_order():
    rng = random.Random(3)
    corpus = _random_corpus(rng, 40, 10)
    refs = corpus[:20]
    refset = B.ReferenceSet(refs, 4)
    for hyps in (corpus[20:30], corpus[30:]):
        assert B.bleu(hyps, refset, 4).score == pytest.approx(B.bleu(hyps, refs, 4).score, abs=1e-15)
    with pytest.raises(UserError, match="max_n=5"):
        B.bleu(corpus[20:], refset, 5)
    with pytest.raises(UserError, match="max_n=5"):
        B.bleu(corpus[20:], refset, 4, smoothing="method5")  # nltk's method5 reads order 5


def test_user_errors():
    with pytest.raises(UserError, match="method1"):
        B.bleu([["a"]], [["a"]], 2, smoothing="method9")
    with pytest.raises(UserError, match="empty"):
        B.ReferenceSet([], 4)
    with pytest.raises(UserError, match="no hypotheses"):
        B.bleu([], [["a"]], 2)
    with pytest.raises(UserError, match="token lists"):
        B.bleu(["a b c"], [["a"]], 2)
    with pytest.raises(UserError, match="method6"):
        B.bleu([["a", "b"]], [["a", "b"]], 2, smoothing="method6")


def test_processes_do_not_change_statistics():
    rng = random.Random(5)
    corpus = _random_corpus(rng, 200, 12)
    refset = B.ReferenceSet(corpus[:100], 4)
    one = refset.stats(corpus[100:])
    two = refset.stats(corpus[100:], processes=2)
    for field in ("matches", "totals", "hyp_len", "ref_len"):
        np.testing.assert_array_equal(getattr(one, field), getattr(two, field))


def test_statistics_fields_and_corpus_bleu_from_sums():
    rng = random.Random(11)
    corpus = _random_corpus(rng, 50, 10)
    refs, hyps = corpus[:25], corpus[25:]
    stats = B.ReferenceSet(refs, 4).stats(hyps)
    assert stats.matches.shape == (25, 4) and len(stats) == 25
    np.testing.assert_array_equal(stats.hyp_len, [len(h) for h in hyps])
    np.testing.assert_array_equal(stats.totals[:, 1], [max(0, len(h) - 1) for h in hyps])
    assert (stats.matches <= stats.totals).all()
    for smoothing in ["none", "method1", "method2", "method3", "method4"]:
        fn = None if smoothing == "none" else getattr(SmoothingFunction(), smoothing)
        for n in (2, 4):
            weights = (1.0 / n,) * n
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = corpus_bleu([refs] * len(hyps), hyps, weights, smoothing_function=fn)
            ours = B.corpus_bleu_from_sums(stats.matrix(n).sum(axis=0), weights, smoothing)
            assert abs(ours - expected) < TOL


def _brute_self_bleu(samples, weights, smoothing):
    return [_nltk(samples[:i] + samples[i + 1 :], s, weights, smoothing) for i, s in enumerate(samples)]


@pytest.mark.parametrize("smoothing", ["none", "method1", "method3", "method4", "method5", "method7"])
def test_self_bleu_is_leave_one_out(smoothing):
    rng = random.Random(13)
    for _ in range(15):
        samples = _random_corpus(rng, rng.randint(2, 12), 8)
        samples.append(list(samples[0]))  # a duplicate: it stays a reference of its twin
        n = rng.randint(1, 5)
        weights = (1.0 / n,) * n
        result = B.self_bleu(samples, n, smoothing=smoothing)
        np.testing.assert_allclose(result.per_sample, _brute_self_bleu(samples, weights, smoothing), atol=TOL)
        assert result.score == pytest.approx(np.mean(result.per_sample), abs=1e-15)
        assert "leave-one-out" in result.signature


def test_self_bleu_excludes_the_sample_itself():
    samples = [["a", "b", "c", "d"], ["e", "f", "g", "h"], ["a", "b", "x", "y"]]
    result = B.self_bleu(samples, 2, smoothing="none")
    # with itself among the references every sample would score 1
    assert result.per_sample[1] == 0.0
    assert result.per_sample[0] < 1.0
    assert result.per_sample[0] == pytest.approx(_nltk(samples[1:], samples[0], (0.5, 0.5), "none"), abs=TOL)


def test_self_bleu_subset_is_seeded_and_leave_one_out_within_it():
    rng = random.Random(17)
    samples = _random_corpus(rng, 40, 8)
    a = B.self_bleu(samples, 3, n_samples=10, seed=1)
    b = B.self_bleu(samples, 3, n_samples=10, seed=1)
    c = B.self_bleu(samples, 3, n_samples=10, seed=2)
    np.testing.assert_array_equal(a.sample_index, b.sample_index)
    assert not np.array_equal(a.sample_index, c.sample_index)
    assert len(a.sample_index) == 10 and "samples:10|of:40|seed:1" in a.signature
    chosen = [samples[i] for i in a.sample_index]
    np.testing.assert_allclose(a.per_sample, _brute_self_bleu(chosen, (1 / 3,) * 3, "method1"), atol=TOL)
    with pytest.raises(UserError):
        B.self_bleu(samples, 3, n_samples=1)


def test_sacrebleu_and_chrf_equal_sacrebleu():
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF

    hyps = ["the cat sat on the mat .", "a dog runs in the park", "über café naïve"]
    refs = ["the cat sat on a mat .", "a dog is running in the park", "über das café"]
    refs2 = ["a cat was on the mat .", "the dog runs in a park", "naïve café"]
    got = B.corpus_sacrebleu(hyps, refs)
    assert got.score == sacrebleu.corpus_bleu(hyps, [refs]).score
    metric = BLEU()
    metric.corpus_score(hyps, [refs])
    assert got.signature == str(metric.get_signature())
    assert got.signature.startswith("nrefs:1|case:mixed|") and "tok:13a" in got.signature
    got2 = B.corpus_sacrebleu(hyps, [refs, refs2], max_ngram_order=2, lowercase=True)
    expected2 = BLEU(max_ngram_order=2, lowercase=True).corpus_score(hyps, [refs, refs2]).score
    assert got2.score == expected2 and got2.score != got.score
    chrf = B.corpus_chrf(hyps, refs)
    assert chrf.score == sacrebleu.corpus_chrf(hyps, [refs]).score
    metric = CHRF()
    metric.corpus_score(hyps, [refs])
    assert chrf.signature == str(metric.get_signature())
    with pytest.raises(UserError, match="one reference per hypothesis"):
        B.corpus_sacrebleu(hyps, refs[:2])


def test_tokenize_modes():
    assert B.tokenize("Ab c\td", "char") == ["A", "b", "c", "d"]
    assert B.tokenize("Ab c\td", "char", lowercase=True) == ["a", "b", "c", "d"]
    assert B.tokenize(" A  man,  ok. ", "word") == ["A", "man,", "ok."]
    assert B.tokenize(" A  man ", "none", lowercase=True) == ["a", "man"]
    with pytest.raises(UserError, match="char, word, nltk, none"):
        B.tokenize("a", "bpe")
    import nltk

    # nltk's word_tokenize without sentence splitting: no punkt data needed (see test_bleu_cli for offline use)
    line = 'A man, riding. He said "hi" (ok) don\'t 3.5.'
    assert B.tokenize(line, "nltk", lowercase=True) == nltk.word_tokenize(line.lower(), preserve_line=True)
    assert B.tokenize(line, "nltk")[:4] == ["A", "man", ",", "riding."]
