"""seqgan.text.generator: the LSTM policy, its stepper, scoring and sampling against nn.LSTM / float64 references."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from seqgan.text.generator import LSTMGenerator, LSTMStepper
from seqgan.text.sampling import reference_sample
from tests.conftest import tiny_generator


def _ids(model: LSTMGenerator, batch: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.vocab_size, (batch, model.max_len), generator=gen)


def test_shift_right_by_hand():
    model = LSTMGenerator(10, 4, 4, 3, start_token=7)
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert torch.equal(model.shift_right(ids), torch.tensor([[7, 1, 2], [7, 4, 5]]))


def test_stepper_matches_nn_lstm():
    model = tiny_generator()
    ids = _ids(model, 5)
    inputs = model.shift_right(ids)
    ref_h, (h_last, c_last) = model.lstm(model.embedding(inputs))  # (B, T, H)
    stepper = LSTMStepper(model)
    h = torch.zeros(5, model.hidden_dim)
    c = torch.zeros_like(h)
    for t in range(model.max_len):
        h, c = stepper.step(inputs[:, t], h, c)
        assert torch.allclose(h, ref_h[:, t], atol=1e-6)
    assert torch.allclose(c, c_last[0], atol=1e-6)


def test_prefix_states_are_nn_lstm_states():
    model = tiny_generator()
    ids = _ids(model, 4, seed=1)
    hs, cs = model.prefix_states(ids)
    assert hs.shape == cs.shape == (4, model.max_len, model.hidden_dim)
    inputs = model.shift_right(ids)
    for t in range(model.max_len):
        # entry t has consumed the start token and ids[:, :t]: run nn.LSTM over exactly that prefix
        _, (h, c) = model.lstm(model.embedding(inputs[:, : t + 1]))
        assert torch.allclose(hs[:, t], h[0], atol=1e-6)
        assert torch.allclose(cs[:, t], c[0], atol=1e-6)


def test_token_log_probs_and_score_match_log_softmax():
    model = tiny_generator()
    ids = _ids(model, 6, seed=2)
    logits = model(model.shift_right(ids)).double()  # (B, T, V)
    ref = F.log_softmax(logits, dim=-1).gather(2, ids.unsqueeze(2)).squeeze(2)  # (B, T)
    got = model.token_log_probs(ids)
    assert got.shape == ids.shape
    assert torch.allclose(got.double(), ref, atol=1e-5)
    assert torch.allclose(model.score(ids).double(), -ref.sum(1), atol=1e-4)
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, 4:] = False
    assert torch.allclose(model.score(ids, mask).double(), -ref[:, :4].sum(1), atol=1e-4)


def test_score_chunks_do_not_change_the_result(monkeypatch):
    import seqgan.text.generator as G

    model = tiny_generator()
    ids = _ids(model, 25, seed=3)
    whole = model.score(ids)
    monkeypatch.setattr(G, "SCORE_ROWS", 2 * model.max_len)  # 2 sequences per chunk
    assert torch.allclose(model.score(ids), whole, atol=1e-5)


def test_token_log_probs_is_differentiable():
    model = tiny_generator()
    loss = -model.token_log_probs(_ids(model, 3)).sum()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def _reference_sample_loop(model: LSTMGenerator, uniforms: torch.Tensor, temperature: float = 1.0):
    """Slow sampler: float64 copy of the model, nn.LSTM over the whole prefix each step, reference_sample."""
    m64 = copy.deepcopy(model).double()
    n, T = uniforms.shape
    seqs = torch.empty(n, 0, dtype=torch.long)
    for s in range(T):
        inputs = torch.cat([torch.full((n, 1), model.start_token), seqs], dim=1)  # (n, s+1)
        logits = m64(inputs)[:, -1] / temperature  # (n, V)
        seqs = torch.cat([seqs, reference_sample(logits, uniforms[:, s]).unsqueeze(1)], dim=1)
    return seqs


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sample_equals_slow_reference_given_the_same_draws(temperature):
    model = tiny_generator(vocab=70, max_len=7, std=0.4)
    gen = torch.Generator().manual_seed(42)
    uniforms = torch.rand(20, model.max_len, generator=torch.Generator().manual_seed(42))  # what sample() draws
    got = model.sample(20, gen, temperature)
    assert got.shape == (20, 7) and got.dtype == torch.long
    assert torch.equal(got, _reference_sample_loop(model, uniforms, temperature))


def test_same_seed_same_samples_different_seed_different():
    model = tiny_generator(vocab=70)
    a = model.sample(30, torch.Generator().manual_seed(5))
    b = model.sample(30, torch.Generator().manual_seed(5))
    c = model.sample(30, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_low_temperature_concentrates_samples():
    model = tiny_generator(vocab=70)
    cold = model.sample(200, torch.Generator().manual_seed(0), temperature=0.05)
    hot = model.sample(200, torch.Generator().manual_seed(0), temperature=5.0)
    # near-greedy decoding repeats the same few sequences; a hot sampler almost never does
    assert len({tuple(r) for r in cold.tolist()}) < 20
    assert len({tuple(r) for r in hot.tolist()}) > 190


def test_pad_after_eos_by_hand():
    model = LSTMGenerator(10, 4, 4, 5, eos_token=2, pad_token=9)
    ids = torch.tensor([[1, 2, 3, 2, 4], [2, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    want = torch.tensor([[1, 2, 9, 9, 9], [2, 9, 9, 9, 9], [1, 1, 1, 1, 1]])
    assert torch.equal(model.pad_after_eos(ids), want)
    assert torch.equal(LSTMGenerator(10, 4, 4, 5).pad_after_eos(ids), ids)  # no EOS: unchanged


def test_sample_with_eos_pads_the_tail():
    model = tiny_generator(vocab=12, max_len=8)
    model.eos_token, model.pad_token = 3, 11
    out = model.sample(200, torch.Generator().manual_seed(0))
    for row in out.tolist():
        if 3 in row:
            assert all(tok == 11 for tok in row[row.index(3) + 1:])


def test_init_normal_zeroes_biases_and_is_seeded():
    a = LSTMGenerator(50, 8, 16, 6).init_normal_(0.1, torch.Generator().manual_seed(3))
    b = LSTMGenerator(50, 8, 16, 6).init_normal_(0.1, torch.Generator().manual_seed(3))
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q)
        if "bias" in name:
            assert (p == 0).all()
    assert abs(a.embedding.weight.std().item() - 0.1) < 0.02
    assert a.architecture() == {"vocab_size": 50, "emb_dim": 8, "hidden_dim": 16, "max_len": 6}


def test_masked_mle_loss_and_score_skip_padding_but_equal_the_full_computation():
    """Only real positions go through the output layer; the numbers equal the all-positions formula."""
    import torch.nn.functional as F

    from seqgan.text.pretrain import mle_loss

    g = tiny_generator(vocab=30, max_len=9)
    ids = torch.randint(0, 30, (6, 9), generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([9, 3, 1, 5, 7, 2])
    mask = torch.arange(9).unsqueeze(0) < lengths.unsqueeze(1)
    hidden, _ = g.lstm(g.embedding(g.shift_right(ids)))
    per_token = F.cross_entropy(g.out(hidden).flatten(0, 1), ids.flatten(), reduction="none").view(6, 9)
    want = (per_token * mask).sum() / mask.sum()
    got = mle_loss(g, ids, mask)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    grads = [torch.autograd.grad(x, g.out.weight)[0] for x in (got, want)]
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    assert torch.allclose(g.score(ids, mask), (per_token * mask).sum(1).detach(), atol=1e-4)
