"""seqgan.text.fused: the fused output layer + softmax + NLL against F.cross_entropy, values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from seqgan.text.fused import CHUNK_ROWS, _needs_max, linear_softmax_nll, weighted_nll

ROWS = [1, 7, CHUNK_ROWS, CHUNK_ROWS + 45, 2 * CHUNK_ROWS + 3]  # partial, exact and several chunks


def _problem(rows: int, vocab: int = 70, hidden: int = 16, scale: float = 0.3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed + rows)
    h = torch.tanh(2 * torch.randn(rows, hidden, generator=gen, dtype=torch.float64))
    weight = torch.randn(vocab, hidden, generator=gen, dtype=torch.float64) * scale
    bias = torch.randn(vocab, generator=gen, dtype=torch.float64) * scale
    targets = torch.randint(0, vocab, (rows,), generator=gen)
    return h, weight, bias, targets


def _leaves(*tensors):
    return [t.clone().requires_grad_(True) for t in tensors]


# (scale of the weights, h_bound): small weights with |h| <= 1 skip the max pass; huge weights or an
# unknown bound take it.
PATHS = {"no-max": (0.3, 1.0), "max-auto": (80.0, 1.0), "max-unbounded": (0.3, None)}


def test_paths_are_what_the_cases_say():
    h, w, b, _ = _problem(3, scale=0.3)
    assert not _needs_max(w, b, 1.0)
    assert _needs_max(w, b, None)
    h, w, b, _ = _problem(3, scale=80.0)
    assert _needs_max(w, b, 1.0)


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("path", list(PATHS))
def test_linear_softmax_nll_values_and_gradients(rows, path):
    scale, h_bound = PATHS[path]
    h0, w0, b0, targets = _problem(rows, scale=scale)
    h, w, b = _leaves(h0, w0, b0)
    nll = linear_softmax_nll(h, w, b, targets, h_bound)
    g_out = torch.randn(rows, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (nll * g_out).sum().backward()

    hr, wr, br = _leaves(h0, w0, b0)
    ref = F.cross_entropy(hr @ wr.t() + br, targets, reduction="none")
    (ref * g_out).sum().backward()

    assert torch.allclose(nll, ref, rtol=1e-10, atol=1e-9)
    assert torch.allclose(h.grad, hr.grad, rtol=1e-9, atol=1e-10)
    assert torch.allclose(w.grad, wr.grad, rtol=1e-9, atol=1e-10)
    assert torch.allclose(b.grad, br.grad, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("path", list(PATHS))
def test_linear_softmax_nll_without_grad(path):
    scale, h_bound = PATHS[path]
    h, w, b, targets = _problem(CHUNK_ROWS + 45, scale=scale)
    with torch.no_grad():
        nll = linear_softmax_nll(h, w, b, targets, h_bound)
    ref = F.cross_entropy(h @ w.t() + b, targets, reduction="none")
    assert torch.allclose(nll, ref, rtol=1e-10, atol=1e-9)
    assert torch.isfinite(nll).all()


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("path", list(PATHS))
def test_weighted_nll_values_and_gradients(rows, path):
    scale, h_bound = PATHS[path]
    h0, w0, b0, targets = _problem(rows, scale=scale, seed=5)
    gen = torch.Generator().manual_seed(rows)
    row_weights = torch.randn(rows, generator=gen, dtype=torch.float64)  # rewards can be negative
    row_weights[::5] = 0.0  # padding rows
    h, w, b = _leaves(h0, w0, b0)
    loss, nll = weighted_nll(h, w, b, targets, row_weights, h_bound)
    (3.0 * loss).backward()  # a non-unit upstream gradient

    hr, wr, br = _leaves(h0, w0, b0)
    ref_nll = F.cross_entropy(hr @ wr.t() + br, targets, reduction="none")
    ref_loss = (row_weights * ref_nll).sum()
    (3.0 * ref_loss).backward()

    assert torch.allclose(loss, ref_loss, rtol=1e-10, atol=1e-9)
    assert torch.allclose(nll, ref_nll.detach(), rtol=1e-10, atol=1e-9)
    assert not nll.requires_grad
    assert torch.allclose(h.grad, hr.grad, rtol=1e-9, atol=1e-10)
    assert torch.allclose(w.grad, wr.grad, rtol=1e-9, atol=1e-10)
    assert torch.allclose(b.grad, br.grad, rtol=1e-9, atol=1e-10)


def test_weighted_nll_mean_weights_is_the_mean_cross_entropy():
    h0, w0, b0, targets = _problem(300)
    h, w, b = _leaves(h0, w0, b0)
    loss, _ = weighted_nll(h, w, b, targets, torch.full((300,), 1 / 300, dtype=torch.float64))
    loss.backward()
    hr, wr, br = _leaves(h0, w0, b0)
    ref = F.cross_entropy(hr @ wr.t() + br, targets)
    ref.backward()
    assert torch.allclose(loss, ref, rtol=1e-12)
    assert torch.allclose(w.grad, wr.grad, rtol=1e-9, atol=1e-12)


def test_gradients_flow_into_an_lstm_like_float32_model():
    """float32, as in training: gradients through h reach upstream parameters like autograd's."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 16, batch_first=True)
    out = torch.nn.Linear(16, 70)
    x = torch.randn(4, 9, 8)
    targets = torch.randint(0, 70, (36,))
    hidden, _ = lstm(x)
    nll = linear_softmax_nll(hidden.flatten(0, 1), out.weight, out.bias, targets)
    nll.mean().backward()
    ours = [p.grad.clone() for p in (*lstm.parameters(), *out.parameters())]
    for p in (*lstm.parameters(), *out.parameters()):
        p.grad = None
    hidden, _ = lstm(x)
    F.cross_entropy(out(hidden.flatten(0, 1)), targets).backward()
    theirs = [p.grad for p in (*lstm.parameters(), *out.parameters())]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
