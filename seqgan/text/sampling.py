"""Exact inverse-CDF sampling from softmax(h W + b) over a large vocabulary, without torch.multinomial.

Per row we draw one uniform u, and pick the token i with F(i-1) <= u*Z < F(i), where F is the cumulative
sum of the unnormalised probabilities and Z their total. Two levels keep it cheap: block sums of 64 tokens
locate the block, a 64-wide cumulative sum inside it locates the token. `exp2` on logits pre-scaled by
log2(e) is about 3x cheaper than `exp` on CPU, and when the logits are provably bounded (|h| <= 1 for an
LSTM output) the usual max-subtraction pass is skipped: neither changes which token a given u selects
beyond float rounding.
"""

from __future__ import annotations

import math

import torch

BLOCK = 64
CHUNK_ROWS = 512  # rows per (rows x V) buffer: small enough to stay in cache, big enough for a fast GEMM
LOG2E = 1.0 / math.log(2.0)
# Largest exponent (base 2) that is safe without max-subtraction: V * 2^100 stays far below float32's max.
SAFE_EXP2 = 100.0


class SoftmaxSampler:
    """Samples tokens from softmax((h @ weight.T + bias) / temperature) given uniforms.

    Args:
        weight: (V, H) output projection.
        bias: (V,) output bias.
        temperature: softmax temperature (> 0).
        h_bound: bound on |h| elementwise (1.0 for LSTM outputs), or None if unknown.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, temperature: float = 1.0,
                 h_bound: float | None = 1.0) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        V, H = weight.shape
        self.V = V
        self.nblocks = (V + BLOCK - 1) // BLOCK
        Vp = self.nblocks * BLOCK
        scale = LOG2E / temperature
        w = torch.zeros(H, Vp, dtype=weight.dtype, device=weight.device)  # (H, Vp)
        w[:, :V] = weight.detach().t() * scale
        b = torch.full((Vp,), -math.inf, dtype=weight.dtype, device=weight.device)  # padding never drawn
        b[:V] = bias.detach() * scale
        self.w, self.b = w, b
        if h_bound is None:
            self.needs_max = True
        else:
            bound = (weight.detach().abs().sum(1) * h_bound + bias.detach().abs()).max().item() * scale
            self.needs_max = bound > SAFE_EXP2

    def logits2(self, h: torch.Tensor) -> torch.Tensor:
        """Base-2 logits (rows, Vp) for hidden states h (rows, H); padding columns are -inf."""
        x = torch.addmm(self.b, h, self.w)  # (R, Vp)
        if self.needs_max:
            x -= x.max(dim=1, keepdim=True).values
        return x

    @torch.no_grad()
    def sample(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Token ids (R,) for hidden states h (R, H) and uniforms u (R,) in [0, 1)."""
        out = torch.empty(h.shape[0], dtype=torch.long, device=h.device)
        for lo in range(0, h.shape[0], CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, h.shape[0])
            out[lo:hi] = self._sample_chunk(h[lo:hi], u[lo:hi])
        return out

    def _sample_chunk(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        R = h.shape[0]
        p = self.logits2(h).exp2_()  # (R, Vp) unnormalised probabilities
        blocks = p.view(R, self.nblocks, BLOCK)  # (R, NB, 64)
        cum_blocks = blocks.sum(dim=2).cumsum_(dim=1)  # (R, NB)
        total = cum_blocks[:, -1:]  # (R, 1)
        # u*Z can round up to Z; the largest float below Z keeps the search inside the support.
        target = torch.minimum(u.unsqueeze(1) * total, torch.nextafter(total, torch.zeros_like(total)))
        blk = torch.searchsorted(cum_blocks, target, right=True)  # (R, 1) first block with F > target
        before = torch.where(blk > 0, cum_blocks.gather(1, (blk - 1).clamp_(min=0)), torch.zeros_like(target))
        rows = torch.arange(R, device=h.device)
        inner = blocks[rows, blk.squeeze(1)].cumsum_(dim=1)  # (R, 64)
        rest = torch.minimum(target - before, torch.nextafter(inner[:, -1:], torch.zeros_like(target)))
        within = torch.searchsorted(inner, rest, right=True)  # (R, 1)
        return (blk * BLOCK + within).squeeze(1)


def reference_sample(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Plain inverse-CDF sampling (softmax, cumsum, search) in float64: the slow reference for tests."""
    probs = torch.softmax(logits.double(), dim=-1)  # (R, V)
    cdf = probs.cumsum(dim=-1)  # (R, V)
    idx = torch.searchsorted(cdf, (u.double() * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
    return idx.clamp_(max=logits.shape[1] - 1)


def filtered_sample(logits: torch.Tensor, u: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Inverse-CDF sampling after top-k and nucleus (top-p) filtering; the slower path for those options.

    Args:
        logits: (R, V) already divided by the temperature.
        u: (R,) uniforms in [0, 1).
        top_k: keep the k most likely tokens (0 = all).
        top_p: keep the smallest set of most likely tokens whose probability reaches top_p (1 = all).
    """
    probs = torch.softmax(logits.float(), dim=-1)  # (R, V)
    if top_k and top_k < probs.shape[1]:
        kth = probs.topk(top_k, dim=-1).values[:, -1:]  # (R, 1)
        probs = probs.masked_fill(probs < kth, 0.0)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)  # (R, V)
        before = sorted_p.cumsum(dim=-1) - sorted_p  # mass of strictly more likely tokens
        drop_sorted = before >= top_p * sorted_p.sum(dim=-1, keepdim=True)
        probs = probs.scatter(1, order, sorted_p.masked_fill(drop_sorted, 0.0))
    cdf = probs.cumsum(dim=-1)  # (R, V)
    target = torch.minimum(u.unsqueeze(1) * cdf[:, -1:], torch.nextafter(cdf[:, -1:], torch.zeros_like(u[:1, None])))
    return torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=logits.shape[1] - 1)
