"""Output layer + softmax + NLL in one autograd function: the hot path of MLE, policy gradient and scoring.

For (rows x V) logits this saves the separate max, log-softmax and gather passes of `F.cross_entropy`:
the forward is one GEMM, one in-place exp2 and one row sum per block of rows; the backward turns the kept
probabilities into dlogits in place and runs two GEMMs. Tricks, none of which changes the result beyond
float rounding:
- logits are pre-scaled by log2(e) so exp2 can be used (3x cheaper than exp on CPU);
- the max-subtraction pass is skipped when |h| <= 1 bounds the logits (LSTM outputs);
- rows are processed in blocks of 256 so each (rows x V) buffer stays cache-sized.
"""

from __future__ import annotations

import math

import torch

from seqgan.text.sampling import LOG2E, SAFE_EXP2

LN2 = math.log(2.0)
CHUNK_ROWS = 256


def _needs_max(weight: torch.Tensor, bias: torch.Tensor, h_bound: float | None) -> bool:
    if h_bound is None:
        return True
    bound = (weight.detach().abs().sum(1) * h_bound + bias.detach().abs()).max().item() * LOG2E
    return bound > SAFE_EXP2


def _scaled(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight.T * log2(e), bias * log2(e)): (H, V) and (V,), so that addmm gives base-2 logits."""
    return weight.detach().t() * LOG2E, bias.detach() * LOG2E


def _probs_and_nll(h, scaled, targets, needs_max, out=None):
    """Unnormalised probabilities (R, V), their row sums (R,), and NLL (R,) in nats.

    `out`, an (R, V) buffer reused across chunks, gets the same numbers as a fresh addmm: the bias is copied in
    and the product added, which skips faulting in a new (R, V) block per chunk.
    """
    w2, b2 = scaled
    if out is None:
        x = torch.addmm(b2, h, w2)  # (R, V) base-2 logits; K = H stays a multiple of 16 for a fast GEMM
    else:
        x = out.copy_(b2.expand_as(out)).addmm_(h, w2)
    target_logit2 = x.gather(1, targets.unsqueeze(1)).squeeze(1)  # (R,)
    if needs_max:
        shift = x.max(dim=1, keepdim=True).values  # (R, 1)
        x -= shift
        target_logit2 = target_logit2 - shift.squeeze(1)
    p = x.exp2_()  # (R, V)
    z = p.sum(dim=1)  # (R,)
    nll = (torch.log2(z) - target_logit2) * LN2
    return p, z, nll


class LinearSoftmaxNLL(torch.autograd.Function):
    """nll[r] = -log softmax(h[r] @ weight.T + bias)[targets[r]], with gradients for h, weight, bias."""

    @staticmethod
    def forward(ctx, h, weight, bias, targets, h_bound):  # noqa: D102
        needs_max = _needs_max(weight, bias, h_bound)
        scaled = _scaled(weight, bias)
        chunks, nll = [], torch.empty(h.shape[0], dtype=h.dtype, device=h.device)
        for lo in range(0, h.shape[0], CHUNK_ROWS):
            p, z, nll[lo:lo + CHUNK_ROWS] = _probs_and_nll(h[lo:lo + CHUNK_ROWS], scaled,
                                                           targets[lo:lo + CHUNK_ROWS], needs_max)
            chunks.append((p, z))
        ctx.save_for_backward(h, weight, targets)
        ctx.chunks = chunks
        return nll

    @staticmethod
    def backward(ctx, grad_nll):  # noqa: D102
        h, weight, targets = ctx.saved_tensors
        grad_h = torch.empty_like(h) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(weight)  # (V, H)
        grad_b = torch.zeros_like(weight[:, 0])  # (V,)
        for i, (p, z) in enumerate(ctx.chunks):
            rows = slice(i * CHUNK_ROWS, i * CHUNK_ROWS + p.shape[0])
            g = grad_nll[rows]
            dlogits = p  # reuse the buffer: softmax * grad, minus grad at the target
            dlogits.mul_((g / z).unsqueeze(1))
            dlogits.scatter_add_(1, targets[rows].unsqueeze(1), -g.unsqueeze(1))
            if grad_h is not None:
                torch.mm(dlogits, weight, out=grad_h[rows])  # (r, H)
            grad_w.addmm_(dlogits.t(), h[rows])  # (V, H)
            grad_b += dlogits.sum(dim=0)
        ctx.chunks = None
        return grad_h, grad_w, grad_b, None, None


class WeightedNLL(torch.autograd.Function):
    """loss = sum_r row_weights[r] * nll[r], with the gradients computed chunk by chunk during the forward.

    The row weights are known before the forward (1/N for MLE, the rewards for policy gradient), so each
    (rows x V) block of probabilities is turned into its gradient while it is still in cache, instead of
    being kept for a backward pass that finds it evicted.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, targets, row_weights, h_bound):  # noqa: D102
        needs_max = _needs_max(weight, bias, h_bound)
        scaled = _scaled(weight, bias)
        nll = torch.empty(h.shape[0], dtype=h.dtype, device=h.device)
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros_like(weight)  # (V, H)
        grad_b = torch.zeros_like(bias)  # (V,)
        block = h.new_empty(min(CHUNK_ROWS, h.shape[0]), weight.shape[0])  # (r, V), turned into gradients in place
        for lo in range(0, h.shape[0], CHUNK_ROWS):
            rows = slice(lo, lo + CHUNK_ROWS)
            p, z, nll[rows] = _probs_and_nll(h[rows], scaled, targets[rows], needs_max,
                                             block[:min(CHUNK_ROWS, h.shape[0] - lo)])
            g = row_weights[rows]
            p.mul_((g / z).unsqueeze(1))  # softmax * weight ...
            p.scatter_add_(1, targets[rows].unsqueeze(1), -g.unsqueeze(1))  # ... minus weight at the target
            torch.mm(p, weight, out=grad_h[rows])  # (r, H)
            grad_w.addmm_(p.t(), h[rows])  # (V, H)
            grad_b += p.sum(dim=0)
        ctx.grads = (grad_h, grad_w, grad_b)
        ctx.mark_non_differentiable(nll)
        return (nll * row_weights).sum(), nll

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll):  # noqa: D102
        grad_h, grad_w, grad_b = (g * grad_loss for g in ctx.grads)
        ctx.grads = None
        return grad_h, grad_w, grad_b, None, None, None


def weighted_nll(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor,
                 row_weights: torch.Tensor, h_bound: float | None = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum_r row_weights[r] * nll[r], nll) for softmax(h @ weight.T + bias); fast when training.

    Args:
        h: (R, H) hidden states; |h| <= h_bound elementwise (1.0 for LSTM outputs, None if unbounded).
        weight: (V, H).
        bias: (V,).
        targets: (R,) token ids.
        row_weights: (R,) constant weights (no gradient flows into them): 1/N for MLE, 0 for padding,
            the reward Q for policy gradient (Eq. 37).
    """
    return WeightedNLL.apply(h, weight, bias, targets, row_weights.detach().to(h.dtype), h_bound)


def linear_softmax_nll(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor,
                       h_bound: float | None = 1.0) -> torch.Tensor:
    """Per-row NLL in nats of `targets` under softmax(h @ weight.T + bias).

    Args:
        h: (R, H) hidden states; |h| <= h_bound elementwise (1.0 for LSTM outputs, None if unbounded).
        weight: (V, H).
        bias: (V,).
        targets: (R,) token ids.
    """
    if torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad):
        return LinearSoftmaxNLL.apply(h, weight, bias, targets, h_bound)
    needs_max = _needs_max(weight, bias, h_bound)
    scaled = _scaled(weight, bias)
    out = torch.empty(h.shape[0], dtype=h.dtype, device=h.device)
    with torch.no_grad():
        for lo in range(0, h.shape[0], CHUNK_ROWS):
            out[lo:lo + CHUNK_ROWS] = _probs_and_nll(h[lo:lo + CHUNK_ROWS], scaled,
                                                     targets[lo:lo + CHUNK_ROWS], needs_max)[2]
    return out
