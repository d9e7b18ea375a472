"""seqgan.text.sampling: the two-level inverse-CDF sampler against plain float64 references."""

from __future__ import annotations

import math

import pytest
import torch

from seqgan.text.sampling import BLOCK, CHUNK_ROWS, SoftmaxSampler, reference_sample


def _problem(rows: int, vocab: int, hidden: int = 16, scale: float = 1.0, seed: int = 0,
             dtype: torch.dtype = torch.float64):
    gen = torch.Generator().manual_seed(seed)
    h = torch.tanh(torch.randn(rows, hidden, generator=gen, dtype=dtype) * 2)  # |h| <= 1, like an LSTM output
    weight = torch.randn(vocab, hidden, generator=gen, dtype=dtype) * scale
    bias = torch.randn(vocab, generator=gen, dtype=dtype) * scale
    u = torch.rand(rows, generator=gen, dtype=dtype)
    return h, weight, bias, u


def _logits64(h, weight, bias, temperature=1.0):
    return (h.double() @ weight.double().t() + bias.double()) / temperature


def _boundary_distance(logits64: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per row, the distance of u to the nearest edge of the float64 CDF."""
    cdf = torch.softmax(logits64, dim=1).cumsum(dim=1)
    return (cdf - u.double().unsqueeze(1)).abs().min(dim=1).values


def test_hand_computed_three_tokens():
    probs = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    weight = torch.zeros(3, 4, dtype=torch.float64)
    bias = probs.log()
    sampler = SoftmaxSampler(weight, bias)
    u = torch.tensor([0.0, 0.1, 0.199, 0.201, 0.49, 0.501, 0.99, 0.999999], dtype=torch.float64)
    h = torch.zeros(len(u), 4, dtype=torch.float64)
    expected = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    assert torch.equal(sampler.sample(h, u), expected)
    assert torch.equal(reference_sample(bias.expand(len(u), 3), u), expected)


@pytest.mark.parametrize("vocab", [5, 64, 70, 129, 200])
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_equals_reference_float64(vocab, temperature):
    h, weight, bias, u = _problem(300, vocab, scale=1.5, seed=vocab)
    sampler = SoftmaxSampler(weight, bias, temperature=temperature)
    got = sampler.sample(h, u)
    want = reference_sample(_logits64(h, weight, bias, temperature), u)
    assert torch.equal(got, want)


def test_equals_reference_across_chunks():
    rows = 2 * CHUNK_ROWS + 77  # chunk boundaries inside, last chunk partial
    h, weight, bias, u = _problem(rows, 70, scale=1.0, seed=3)
    got = SoftmaxSampler(weight, bias).sample(h, u)
    assert torch.equal(got, reference_sample(_logits64(h, weight, bias), u))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_float32_agrees_except_at_cdf_edges(temperature):
    h, weight, bias, u = _problem(2000, 150, scale=1.0, seed=11, dtype=torch.float32)
    got = SoftmaxSampler(weight, bias, temperature=temperature).sample(h, u)
    logits = _logits64(h, weight, bias, temperature)
    want = reference_sample(logits, u)
    differ = got != want
    # float32 rounding may move a draw only when u lies within rounding distance of a CDF edge
    assert differ.sum() <= 2
    if differ.any():
        assert (_boundary_distance(logits[differ], u[differ]) < 1e-5).all()
    assert (got - want).abs().max() <= 1


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_huge_logits_take_the_max_subtraction_path(dtype):
    # logits of order +-1000: exp2 without subtracting the max would overflow to inf
    h, weight, bias, u = _problem(400, 70, scale=60.0, seed=5, dtype=dtype)
    sampler = SoftmaxSampler(weight, bias)
    assert sampler.needs_max
    assert torch.isfinite(sampler.logits2(h)[:, :70]).all()
    got = sampler.sample(h, u)
    logits = _logits64(h, weight, bias)
    assert logits.abs().max() > 500
    want = reference_sample(logits, u)
    if dtype == torch.float64:
        assert torch.equal(got, want)
    else:
        differ = got != want
        assert differ.sum() <= 2
        if differ.any():
            assert (_boundary_distance(logits[differ], u[differ]) < 1e-4).all()


def test_unknown_h_bound_forces_max_and_small_bound_skips_it():
    h, weight, bias, u = _problem(50, 70, scale=0.1)
    assert not SoftmaxSampler(weight, bias, h_bound=1.0).needs_max
    unbounded = SoftmaxSampler(weight, bias, h_bound=None)
    assert unbounded.needs_max
    h_big = h * 5000.0  # no bound was promised: the max path keeps this exact
    assert torch.equal(unbounded.sample(h_big, u), reference_sample(_logits64(h_big, weight, bias), u))


def test_empirical_frequencies_match_softmax():
    vocab, draws = 70, 200_000
    gen = torch.Generator().manual_seed(1234)
    weight = torch.randn(vocab, 8, generator=gen)
    bias = torch.randn(vocab, generator=gen)
    h = torch.tanh(torch.randn(1, 8, generator=gen)).expand(draws, 8).contiguous()
    u = torch.rand(draws, generator=gen)
    counts = torch.bincount(SoftmaxSampler(weight, bias).sample(h, u), minlength=vocab).double()
    assert counts.shape[0] == vocab
    p = torch.softmax(_logits64(h[:1], weight, bias)[0], dim=0)
    expected = draws * p
    std = (draws * p * (1 - p)).sqrt()
    # every token two-sided within 5 binomial standard deviations (fixed seed: a deterministic check)
    assert ((counts - expected).abs() <= 5 * std + 1).all()
    # and the chi-square statistic within 5 standard deviations of its mean (df = V - 1)
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    df = vocab - 1
    assert abs(chi2 - df) < 5 * math.sqrt(2 * df)


def test_empirical_frequencies_detect_a_wrong_temperature():
    """The frequency check above is able to fail: the same draws at temperature 2 are far off."""
    vocab, draws = 70, 50_000
    gen = torch.Generator().manual_seed(99)
    weight = torch.randn(vocab, 8, generator=gen)
    bias = torch.randn(vocab, generator=gen)
    h = torch.tanh(torch.randn(1, 8, generator=gen)).expand(draws, 8).contiguous()
    u = torch.rand(draws, generator=gen)
    counts = torch.bincount(SoftmaxSampler(weight, bias, temperature=2.0).sample(h, u), minlength=vocab).double()
    p = torch.softmax(_logits64(h[:1], weight, bias)[0], dim=0)
    chi2 = ((counts - draws * p) ** 2 / (draws * p)).sum().item()
    assert chi2 > 10 * vocab


@pytest.mark.parametrize("vocab", [1, 3, 65, 127])
def test_padding_ids_are_never_returned(vocab):
    gen = torch.Generator().manual_seed(vocab)
    weight = torch.randn(vocab, 4, generator=gen)
    bias = torch.randn(vocab, generator=gen)
    bias[-1] = -30.0  # last real token nearly impossible: its CDF edge sits right at 1
    sampler = SoftmaxSampler(weight, bias)
    assert sampler.w.shape[1] % BLOCK == 0 and sampler.w.shape[1] >= vocab
    edge = [0.0, 1e-12, 0.5, 1 - 2.0 ** -24, 1 - 1e-12, math.nextafter(1.0, 0.0)]
    u = torch.tensor(edge * 50 + torch.rand(700, generator=gen).tolist())
    h = torch.tanh(torch.randn(len(u), 4, generator=gen))
    out = sampler.sample(h, u)
    assert out.dtype == torch.long and out.shape == (len(u),)
    assert (out >= 0).all() and (out < vocab).all()


def test_zero_probability_tokens_are_never_drawn():
    weight = torch.zeros(130, 4)
    bias = torch.full((130,), -1e4)
    bias[[3, 70, 129]] = 0.0  # only these three are possible; many exact zeros (after exp2) around them
    sampler = SoftmaxSampler(weight, bias, h_bound=None)
    u = torch.linspace(0, 1 - 1e-7, 1000)
    out = sampler.sample(torch.zeros(1000, 4), u)
    assert set(out.tolist()) == {3, 70, 129}


def test_temperature_must_be_positive():
    with pytest.raises(ValueError):
        SoftmaxSampler(torch.zeros(3, 2), torch.zeros(3), temperature=0.0)
    with pytest.raises(ValueError):
        SoftmaxSampler(torch.zeros(3, 2), torch.zeros(3), temperature=-1.0)


def test_reference_sample_matches_multinomial_distribution():
    """reference_sample itself is an exact sampler: compare to torch.multinomial's frequencies."""
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0, 0.5]], dtype=torch.float64)
    n = 100_000
    gen = torch.Generator().manual_seed(7)
    ours = torch.bincount(reference_sample(logits.expand(n, 5), torch.rand(n, generator=gen)), minlength=5)
    theirs = torch.bincount(torch.multinomial(torch.softmax(logits[0], 0), n, replacement=True, generator=gen),
                            minlength=5)
    p = torch.softmax(logits[0], 0)
    std = (n * p * (1 - p)).sqrt()
    assert ((ours - theirs).abs().double() <= 5 * math.sqrt(2) * std).all()
