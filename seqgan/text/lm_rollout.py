"""KV-cached Monte Carlo rollouts for a transformer G: every completion reuses its prefix's keys and values.

The batching is the LSTM's (`seqgan.text.rollout`): the (T-1) x N x B completion rows are ordered by prefix
length t (row r = ((t-1) * N + i) * B + b), so at generation step s (drawing token s, 1-based) the rows
still generating are exactly the first N*B*(s-1). What changes is the state a row carries: instead of (h, c),
its key/value cache.

- ONE forward pass over the sampled sequences' teacher-forcing inputs [start, y_1 .. y_{T-1}] gives the final
  hidden state at every position (position t draws token t+1 of the prefix of length t) and every layer's
  keys and values (B, heads, T, d). Nothing recomputes a prefix afterwards.
- Rows with prefix length s-1 join at step s: their first token comes from the prefix pass's hidden state at
  position s-1, and their cache becomes that pass's keys and values at positions 0 .. s-1, expanded N times.
- Rows already rolling feed the token they drew at step s-1, at position s-1. Every rolling row's cache then
  holds exactly s-1 positions, so all of them take one batched cached step with no attention mask: the cache
  of a row of prefix t is the prefix's positions 0 .. t followed by its own generated tokens.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from seqgan.text.transformer_generator import GPTGenerator


def _prefix_kv(cache: DynamicCache, length: int, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every layer's cached keys and values of positions 0 .. length-1, each row repeated n times
    ((n * B, heads, length, d), row i * B + b holding sequence b)."""
    return [(layer.keys[:, :, :length].repeat(n, 1, 1, 1), layer.values[:, :, :length].repeat(n, 1, 1, 1))
            for layer in cache.layers]


def _append_rows(cache: DynamicCache | None, rows: list[tuple[torch.Tensor, torch.Tensor]]) -> DynamicCache:
    """`cache` with the rows `rows` (per layer: keys, values of the same length) added after its own rows."""
    if cache is None:
        return DynamicCache(rows)
    for layer, (keys, values) in zip(cache.layers, rows, strict=True):
        layer.keys = torch.cat([layer.keys, keys])
        layer.values = torch.cat([layer.values, values])
    return cache


@torch.no_grad()
def cached_completions(net: GPTGenerator, seqs: torch.Tensor, n: int, uniforms: torch.Tensor) -> torch.Tensor:
    """All n completions of every proper prefix of seqs (B, T) under `net`, as one batch.

    Args:
        net: the rollout policy.
        seqs: (B, T) sampled sequences.
        n: completions per prefix (N).
        uniforms: ((T-1) * n * B, T) draws in [0, 1); row r = ((t-1) * n + i) * B + b uses column s-1 to draw
            token s of the completion of seqs[b, :t].

    Returns:
        (T-1, n, B, T) ids; [t-1, i, b] keeps seqs[b, :t] and completes it.
    """
    B, T = seqs.shape
    NB = n * B
    R = (T - 1) * NB
    sampler = net.sampler()
    prefix_hidden, prefix_cache = net.prefill(net.shift_right(seqs))  # (B, T, H): position t draws token t+1
    out = seqs.repeat(R // B, 1)  # (R, T) every row starts as a copy of its sequence
    hidden = torch.empty(R, prefix_hidden.shape[2], device=seqs.device, dtype=prefix_hidden.dtype)
    tokens = torch.empty(R, dtype=torch.long, device=seqs.device)
    cache: DynamicCache | None = None  # the rolling rows' caches, (rows, heads, s-1, d) before step s
    for s in range(2, T + 1):  # generate token s (1-based) for rows whose prefix length t < s
        active, joining = NB * (s - 1), NB * (s - 2)
        if joining:  # rows already rolling: feed the token they drew at step s-1, at position s-1
            hidden[:joining] = net.hidden(tokens[:joining].unsqueeze(1), cache)[:, -1]
        # rows with prefix length s-1 join now, from the prefix pass's state that draws token s
        hidden[joining:active] = prefix_hidden[:, s - 1].repeat(n, 1)
        tokens[:active] = sampler.sample(hidden[:active], uniforms[:active, s - 1])
        out[:active, s - 1] = tokens[:active]
        if s < T:  # the rows that joined roll from the next step on, with the prefix's positions 0 .. s-1
            cache = _append_rows(cache, _prefix_kv(prefix_cache, s, n))
    return net.pad_after_eos(out).view(T - 1, n, B, T)
