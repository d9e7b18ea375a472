"""seqgan.text.rollout: the batched rollout against a slow per-rollout reference, rewards, delayed update."""

from __future__ import annotations

import copy

import pytest
import torch

from seqgan.text.generator import LSTMGenerator
from seqgan.text.rollout import Rollout
from seqgan.text.sampling import reference_sample
from tests.conftest import tiny_discriminator, tiny_generator

B, N, T, V = 3, 2, 6, 40


def _seqs(model: LSTMGenerator, batch: int = B, seed: int = 0) -> torch.Tensor:
    return model.sample(batch, torch.Generator().manual_seed(seed))


def _uniforms(seed: int = 1, batch: int = B, n: int = N, length: int = T) -> torch.Tensor:
    return torch.rand((length - 1) * n * batch, length, generator=torch.Generator().manual_seed(seed))


def slow_completions(net: LSTMGenerator, seqs: torch.Tensor, n: int, uniforms: torch.Tensor) -> torch.Tensor:
    """Plain loops over t, i, b and every generated token; the whole prefix goes through nn.LSTM (float64
    copy) again at each token; tokens come from reference_sample with uniforms[row, s-1],
    row = ((t-1) * n + i) * B + b."""
    m64 = copy.deepcopy(net).double()
    batch, length = seqs.shape
    out = torch.empty(length - 1, n, batch, length, dtype=torch.long)
    for t in range(1, length):
        for i in range(n):
            for b in range(batch):
                row = ((t - 1) * n + i) * batch + b
                seq = seqs[b, :t].tolist()
                for s in range(t + 1, length + 1):  # draw token s (1-based)
                    inputs = torch.tensor([[net.start_token] + seq])  # (1, s): start token and tokens 1..s-1
                    logits = m64(inputs)[:, -1]  # (1, V)
                    seq.append(int(reference_sample(logits, uniforms[row, s - 1:s])[0]))
                out[t - 1, i, b] = torch.tensor(seq)
    return out


def test_batched_completions_equal_slow_reference():
    g = tiny_generator(vocab=V, max_len=T, std=0.5)
    roll = Rollout(g, update_rate=0.0)
    seqs = _seqs(g)
    u = _uniforms()
    fast = roll.completions(seqs, N, torch.Generator(), uniforms=u)
    assert fast.shape == (T - 1, N, B, T)
    slow = slow_completions(g, seqs, N, u)
    assert torch.equal(fast, slow)
    for t in range(1, T):  # prefixes are kept
        for i in range(N):
            assert torch.equal(fast[t - 1, i, :, :t], seqs[:, :t])
    # different draws give different continuations (so the equality above is not vacuous)
    other = roll.completions(seqs, N, torch.Generator(), uniforms=_uniforms(seed=2))
    assert not torch.equal(other, fast)


def test_completions_without_uniforms_draw_them_from_gen():
    g = tiny_generator(vocab=V, max_len=T)
    roll = Rollout(g, update_rate=0.0)
    seqs = _seqs(g)
    a = roll.completions(seqs, N, torch.Generator().manual_seed(9))
    b = roll.completions(seqs, N, torch.Generator(), uniforms=_uniforms(seed=9))
    assert torch.equal(a, b)


def test_rewards_shape_last_column_and_rollout_means():
    g = tiny_generator(vocab=V, max_len=T)
    d = tiny_discriminator(vocab=V)
    d.train()  # rewards must still be computed without dropout
    roll = Rollout(g, update_rate=0.8)
    seqs = _seqs(g, seed=4)
    q = roll.rewards(seqs, N, d.prob_real, torch.Generator().manual_seed(5))
    assert q.shape == (B, T)
    assert torch.allclose(q[:, -1], d.prob_real(seqs), atol=1e-6)
    assert d.training
    done = roll.completions(seqs, N, torch.Generator().manual_seed(5))  # the same draws
    for t in range(1, T):
        want = torch.stack([d.prob_real(done[t - 1, i]) for i in range(N)]).mean(0)  # (B,)
        assert torch.allclose(q[:, t - 1], want, atol=1e-6)
    again = roll.rewards(seqs, N, d.prob_real, torch.Generator().manual_seed(5))
    assert torch.equal(q, again)  # eval-mode scoring: no dropout noise
    assert ((q >= 0) & (q <= 1)).all()


def test_rewards_with_a_hand_checkable_score():
    """score = fraction of tokens equal to the first token: the last column is exact by hand."""
    g = tiny_generator(vocab=V, max_len=T)
    roll = Rollout(g, update_rate=0.0)
    seqs = torch.tensor([[1] * T, [2, 3, 4, 5, 6, 7], [5, 5, 5, 0, 0, 0]])

    def score(ids: torch.Tensor) -> torch.Tensor:
        return (ids == ids[:, :1]).float().mean(dim=1)

    q = roll.rewards(seqs, 4, score, torch.Generator().manual_seed(0))
    assert torch.allclose(q[:, -1], torch.tensor([1.0, 1 / 6, 0.5]))
    assert q.shape == (3, T)


def _perturb_(model: LSTMGenerator, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)


def test_delayed_update_moves_rollout_params_towards_g():
    g = tiny_generator(vocab=V, max_len=T)
    roll = Rollout(g, update_rate=0.8)
    assert roll.policy() is roll.net and roll.net is not g
    assert all(torch.equal(a, b) for a, b in zip(roll.net.parameters(), g.parameters()))
    _perturb_(g)
    old = [p.clone() for p in roll.net.parameters()]
    roll.update_()
    for p_roll, p_old, p_g in zip(roll.net.parameters(), old, g.parameters()):
        assert torch.allclose(p_roll, 0.8 * p_old + 0.2 * p_g, atol=1e-6)
        assert not p_roll.requires_grad
    _perturb_(g, seed=1)
    old = [p.clone() for p in roll.net.parameters()]
    roll.update_()
    for p_roll, p_old, p_g in zip(roll.net.parameters(), old, g.parameters()):
        assert torch.allclose(p_roll, 0.8 * p_old + 0.2 * p_g, atol=1e-6)


def test_delayed_policy_is_used_for_completions():
    g = tiny_generator(vocab=V, max_len=T)
    roll = Rollout(g, update_rate=0.8)
    _perturb_(g)  # G moved, the rollout copy did not
    seqs = _seqs(g)
    u = _uniforms()
    fast = roll.completions(seqs, N, torch.Generator(), uniforms=u)
    assert torch.equal(fast, slow_completions(roll.net, seqs, N, u))
    assert not torch.equal(fast, slow_completions(g, seqs, N, u))


def test_rate_zero_is_always_the_current_g():
    g = tiny_generator(vocab=V, max_len=T)
    roll = Rollout(g, update_rate=0.0)
    assert roll.policy() is g
    _perturb_(g)
    roll.update_()
    seqs = _seqs(g)
    u = _uniforms()
    assert torch.equal(roll.completions(seqs, N, torch.Generator(), uniforms=u), slow_completions(g, seqs, N, u))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_update_rate_out_of_range(rate):
    with pytest.raises(ValueError):
        Rollout(tiny_generator(vocab=V, max_len=T), rate)


def test_rewards_through_the_prefix_sharing_discriminator_reward():
    """SeqGAN's reward object scores completions with D's prefix-sharing path: same numbers as prob_real."""
    from seqgan.text.adversarial import DiscriminatorReward

    g = tiny_generator(vocab=V, max_len=T)
    d = tiny_discriminator(vocab=V)
    roll = Rollout(g, update_rate=0.8)
    seqs = _seqs(g, seed=4)
    reward = DiscriminatorReward(d)
    assert hasattr(reward, "completions")
    q = roll.rewards(seqs, N, reward, torch.Generator().manual_seed(5))
    plain = roll.rewards(seqs, N, d.prob_real, torch.Generator().manual_seed(5))
    assert q.shape == (B, T)
    assert torch.allclose(q[:, -1], d.prob_real(seqs), atol=1e-6)
    assert torch.allclose(q, plain, atol=1e-6)
