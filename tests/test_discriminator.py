"""seqgan.text.discriminator: CNN and RNN discriminators, prob_real, and D training on a separable toy problem."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqgan.text.discriminator import CNNDiscriminator, RNNDiscriminator
from seqgan.text.pretrain import discriminator_epoch
from tests.conftest import tiny_discriminator

VOCAB, T = 60, 8


def _ids(batch: int, length: int = T, seed: int = 0, lo: int = 0, hi: int = VOCAB) -> torch.Tensor:
    return torch.randint(lo, hi, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_cnn_forward_shape_and_training_mode_uses_dropout():
    d = tiny_discriminator(VOCAB)
    ids = _ids(16)
    d.train()
    torch.manual_seed(0)
    a = d(ids)
    b = d(ids)
    assert a.shape == (16, 2)
    assert not torch.equal(a, b)  # dropout on in training mode


def test_cnn_forward_equals_a_hand_written_reference():
    d = tiny_discriminator(VOCAB).eval()
    ids = _ids(5, seed=1)
    x = d.embedding(ids)  # (B, T, E)
    feats = []
    for conv, k in zip(d.convs, d.filter_sizes):
        windows = torch.stack([x[:, t:t + k].flatten(1) for t in range(T - k + 1)], dim=1)  # (B, T-k+1, k*E)
        w = conv.weight.permute(0, 2, 1).flatten(1)  # (n, k*E), position-major like the windows
        feats.append(torch.relu(windows @ w.t() + conv.bias).max(dim=1).values)  # (B, n)
    z = torch.cat(feats, dim=1)
    hw = d.highway(z)
    transform, gate = hw[:, : z.shape[1]], torch.sigmoid(hw[:, z.shape[1]:])
    z = gate * torch.relu(transform) + (1 - gate) * z
    want = d.out(z)
    assert torch.allclose(d(ids), want, atol=1e-5)


def test_prob_real_is_deterministic_in_unit_interval_and_keeps_mode():
    d = tiny_discriminator(VOCAB)
    ids = _ids(40, seed=2)
    d.train()
    p1, p2 = d.prob_real(ids), d.prob_real(ids)
    assert p1.shape == (40,)
    assert torch.equal(p1, p2)
    assert ((p1 >= 0) & (p1 <= 1)).all()
    assert d.training  # restored
    d.eval()
    assert torch.allclose(p1, torch.softmax(d(ids), dim=1)[:, 1])
    assert not d.training


def test_prob_real_chunks(monkeypatch):
    import seqgan.text.discriminator as D

    d = tiny_discriminator(VOCAB)
    ids = _ids(23, seed=3)
    whole = d.prob_real(ids)
    monkeypatch.setattr(D, "SCORE_ROWS", 5)
    assert torch.allclose(d.prob_real(ids), whole, atol=1e-6)


@pytest.mark.parametrize("length", [1, 2, 4])
def test_input_shorter_than_widest_filter(length):
    d = CNNDiscriminator(VOCAB, 8, (2, 5), (8, 8), pad_token=0).eval()
    ids = _ids(6, length=length, seed=4)
    out = d(ids)
    assert out.shape == (6, 2) and torch.isfinite(out).all()
    padded = torch.cat([ids, torch.zeros(6, 5 - length, dtype=torch.long)], dim=1)
    assert torch.allclose(out, d(padded))  # right-padded with pad_token up to the widest filter


def test_rnn_discriminator():
    torch.manual_seed(0)
    d = RNNDiscriminator(VOCAB, 8, 12)
    ids = _ids(10, seed=5)
    assert d(ids).shape == (10, 2)
    p = d.prob_real(ids)
    assert p.shape == (10,) and ((p >= 0) & (p <= 1)).all()
    assert torch.equal(p, d.prob_real(ids))
    assert d.architecture()["kind"] == "rnn"
    assert d.l2_penalty().item() == pytest.approx(0.5 * sum(p.square().sum().item() for p in d.out.parameters()))


def test_l2_penalty_is_half_sum_of_squares_of_output_layer():
    d = tiny_discriminator(VOCAB)
    want = 0.5 * (d.out.weight.square().sum() + d.out.bias.square().sum())
    assert torch.allclose(d.l2_penalty(), want)


def test_mismatched_filter_bank_is_rejected():
    with pytest.raises(ValueError):
        CNNDiscriminator(VOCAB, 8, (2, 3), (8,))


def _toy(seed: int):
    """Positives use tokens [0, V/2), negatives [V/2, V): separable by a single filter."""
    return _ids(128, seed=seed, hi=VOCAB // 2), _ids(128, seed=seed + 1, lo=VOCAB // 2)


def _accuracy(d: nn.Module, pos: torch.Tensor, neg: torch.Tensor) -> float:
    p_pos, p_neg = d.prob_real(pos), d.prob_real(neg)
    return ((p_pos > 0.5).float().mean().item() + (p_neg <= 0.5).float().mean().item()) / 2


@pytest.mark.parametrize("kind", ["cnn", "rnn"])
def test_d_epochs_learn_a_separable_toy_problem(kind):
    torch.manual_seed(1)
    d = tiny_discriminator(VOCAB) if kind == "cnn" else RNNDiscriminator(VOCAB, 8, 12)
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    pos, neg = _toy(10)
    test_pos, test_neg = _toy(20)
    before = _accuracy(d, test_pos, test_neg)
    gen = torch.Generator().manual_seed(0)
    losses = [discriminator_epoch(d, opt, pos, neg, 32, 0.2, gen)["d_loss"] for _ in range(4)]
    after = _accuracy(d, test_pos, test_neg)
    assert after >= 0.95 and after > before
    assert losses[-1] < losses[0]


def test_discriminator_epoch_metrics_by_hand():
    """d_loss is the example-weighted mean of cross-entropy + l2 over batches; accuracy counts argmax hits."""
    d = tiny_discriminator(VOCAB)
    d.dropout.p = 0.0
    pos, neg = _toy(30)
    opt = torch.optim.SGD(d.parameters(), lr=0.0)  # no change: metrics of a fixed model
    gen = torch.Generator().manual_seed(0)
    m = discriminator_epoch(d, opt, pos, neg, 1000, 0.2, gen)  # one batch of everything
    d.eval()
    data = torch.cat([pos, neg])
    labels = torch.cat([torch.ones(128, dtype=torch.long), torch.zeros(128, dtype=torch.long)])
    logits = d(data)
    ce = torch.nn.functional.cross_entropy(logits, labels) + 0.2 * d.l2_penalty()
    assert m["d_loss"] == pytest.approx(ce.item(), rel=1e-5)
    assert m["d_accuracy"] == pytest.approx((logits.argmax(1) == labels).float().mean().item())


@pytest.mark.parametrize("filters", [(2, 3), (1, 4, 8), (3,)])
def test_prob_real_completions_equals_prob_real_on_every_completion(filters):
    """The prefix-sharing scorer of rollouts equals plain prob_real on the flattened completions."""
    torch.manual_seed(0)
    d = CNNDiscriminator(VOCAB, 8, filters, tuple(8 for _ in filters))
    d.train()
    Tm1, n, b = T - 1, 3, 4
    seqs = _ids(b, seed=6)
    done = _ids(Tm1 * n * b, seed=7).view(Tm1, n, b, T)
    for t in range(1, T):  # completion [t-1, i, b] starts with seqs[b, :t]
        done[t - 1, :, :, :t] = seqs[:, :t]
    got = d.prob_real_completions(done, seqs)
    assert got.shape == (Tm1, n, b)
    want = d.prob_real(done.reshape(-1, T)).view(Tm1, n, b)
    assert torch.allclose(got, want, atol=1e-6)
    assert d.training


def test_prob_real_completions_short_sequences_fall_back():
    d = CNNDiscriminator(VOCAB, 8, (2, 9), (8, 8))
    seqs = _ids(2, length=5, seed=8)
    done = _ids(4 * 2 * 2, length=5, seed=9).view(4, 2, 2, 5)
    got = d.prob_real_completions(done, seqs)
    assert torch.allclose(got, d.prob_real(done.reshape(-1, 5)).view(4, 2, 2), atol=1e-6)


# ---------------------------------------------------------------- window GEMM and bf16 mixed precision


def _conv_reference(d: CNNDiscriminator, ids: torch.Tensor) -> torch.Tensor:
    """Pooled features through torch's own conv1d, for gradients to compare against."""
    x = d.embedding(ids).transpose(1, 2)  # (B, E, T)
    return torch.relu(torch.cat([conv(x).amax(dim=2) for conv in d.convs], dim=1))


@pytest.mark.parametrize("filters", [(1, 3), (2, 5, 8)])
def test_window_gemm_gradients_equal_conv1d(filters):
    torch.manual_seed(0)
    d = CNNDiscriminator(VOCAB, 6, filters, tuple(5 for _ in filters))
    ids = _ids(7, seed=3)
    weights = torch.randn(7, 5 * len(filters), generator=torch.Generator().manual_seed(1))
    grads = []
    for features in (d.features, lambda i: _conv_reference(d, i)):
        d.zero_grad()
        (features(ids) * weights).sum().backward()
        grads.append([p.grad.clone() for p in (d.embedding.weight, *[c.weight for c in d.convs],
                                               *[c.bias for c in d.convs])])
    for mine, ref in zip(*grads):
        assert torch.allclose(mine, ref, atol=1e-5), (mine - ref).abs().max()
    # and on a time slice (the rollout scorer passes x[:, start:])
    x = d.embedding(ids).detach()
    from seqgan.text.discriminator import _windows

    got = _windows(d.convs[0], x[:, 2:])
    want = d.convs[0](x[:, 2:].transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(got, want, atol=1e-5)


def _pair(filters=(2, 3, 5), emb=16, n=32):
    torch.manual_seed(0)
    fp32 = CNNDiscriminator(VOCAB, emb, filters, tuple(n for _ in filters))
    bf16 = CNNDiscriminator(VOCAB, emb, filters, tuple(n for _ in filters), precision="bf16")
    bf16.load_state_dict(fp32.state_dict())
    return fp32.eval(), bf16.eval()


def test_bf16_discriminator_is_close_to_fp32_and_keeps_fp32_weights():
    fp32, bf16 = _pair()
    ids = _ids(64, seed=2)
    a, b = fp32.prob_real(ids), bf16.prob_real(ids)
    assert b.dtype == torch.float32 and all(p.dtype == torch.float32 for p in bf16.parameters())
    assert not torch.equal(a, b)  # the products really ran in bf16
    assert (a - b).abs().max() < 0.02
    # gradients agree to bf16 accuracy (a few per cent of their size)
    labels = torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(3))
    grads = []
    for d in (fp32, bf16):
        d.zero_grad()
        torch.nn.functional.cross_entropy(d(ids), labels).backward()
        grads.append(torch.cat([p.grad.flatten() for p in d.parameters()]))
    rel = (grads[0] - grads[1]).norm() / grads[0].norm()
    assert rel < 0.05, rel
    assert all(p.grad.dtype == torch.float32 for p in bf16.parameters())


def test_bf16_prefix_sharing_scorer_matches_plain_bf16_scoring():
    _, d = _pair(filters=(2, 3), emb=8, n=8)
    Tm1, n, b = T - 1, 3, 4
    seqs = _ids(b, seed=6)
    done = _ids(Tm1 * n * b, seed=7).view(Tm1, n, b, T)
    for t in range(1, T):
        done[t - 1, :, :, :t] = seqs[:, :t]
    got = d.prob_real_completions(done, seqs)
    want = d.prob_real(done.reshape(-1, T)).view(Tm1, n, b)
    assert torch.allclose(got, want, atol=1e-2)


def test_bf16_discriminator_learns_the_toy_problem():
    torch.manual_seed(0)
    d = CNNDiscriminator(VOCAB, 16, (2, 3), (16, 16), precision="bf16")
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    pos, neg = _ids(256, seed=1, lo=0, hi=VOCAB // 2), _ids(256, seed=2, lo=VOCAB // 2, hi=VOCAB)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        m = discriminator_epoch(d, opt, pos, neg, 32, 0.2, gen)
    assert m["d_accuracy"] > 0.95


def test_precision_resolution(monkeypatch):
    from seqgan.core import runtime

    cpu = torch.device("cpu")
    assert runtime.resolve_precision("fp32", cpu) == "fp32" and runtime.resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    assert runtime.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    assert runtime.resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError):
        CNNDiscriminator(VOCAB, 4, (2,), (4,), precision="fp16")
