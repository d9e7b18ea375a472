"""KV-cached Monte Carlo rollouts for a transformer G: every completion reuses its prefix's keys and values.

The batching is the LSTM's (`seqgan.text.rollout`): the (T-1) x N x B completion rows are ordered by prefix
length t (row r = ((t-1) * N + i) * B + b), so at generation step s (drawing token s, 1-based) the rows
still generating are exactly those whose prefix is shorter than s. What changes is the state a row carries:
instead of (h, c), its key/value cache.

- ONE forward pass over the sampled sequences' teacher-forcing inputs [start, y_1 .. y_{T-1}] gives the final
  hidden state at every position (position t draws token t+1 of the prefix of length t) and every layer's
  keys and values (B, heads, T, d). Nothing recomputes a prefix afterwards.
- Rows with prefix length s-1 join at step s: their first token comes from the prefix pass's hidden state at
  position s-1, and their cache becomes that pass's keys and values at positions 0 .. s-1 (written N times
  into the rows' slots, no intermediate copies).
- Rows already rolling feed the token they drew at step s-1, at position s-1. Every rolling row's cache then
  holds exactly s-1 positions, so all of them take one batched cached step with no attention mask: the cache
  of a row of prefix t is the prefix's positions 0 .. t followed by its own generated tokens.

The caches live in buffers allocated once at their final size (`RolloutLayer`): a cache that grows by
concatenation copies every row's keys and values at every step, which made the rollouts several times slower.
The buffers hold (rows, heads, T, d) per layer, which for all (T-1) * N * B rows can be gigabytes; the prefix
lengths are therefore rolled out in groups whose caches fit `CACHE_BYTES`. Grouping depends only on the shapes,
never on the machine, so the draws (each row keeps its own uniforms) are the same for every group size.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer

from seqgan.text.transformer_generator import CausalLMGenerator

CACHE_BYTES = 1 << 30  # at most this much key/value cache per group of prefix lengths (all layers together)


class RolloutLayer(DynamicLayer):
    """One attention layer's keys and values for a block of completion rows, in buffers allocated once.

    Every cached step appends one position to the first `rows` rows (those feeding a token) and hands the
    attention a view of exactly those rows and positions; `add_rows` fills the slots of rows that join."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.key_buf, self.value_buf = keys, values  # (rows, heads, T, d)
        self.length = 0  # cached positions of every rolling row
        self.device = keys.device
        self.is_initialized = True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Nothing to do: the buffers exist from the start."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object,
               **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new positions of the first key_states.shape[0] rows; return their whole cache (views)."""
        rows, new = key_states.shape[0], key_states.shape[2]
        end = self.length + new
        self.key_buf[:rows, :, self.length:end] = key_states
        self.value_buf[:rows, :, self.length:end] = value_states
        self.length = end
        self.keys, self.values = self.key_buf[:rows, :, :end], self.value_buf[:rows, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        """Cached positions (where the next fed token goes)."""
        return self.length

    def add_rows(self, lo: int, keys: torch.Tensor, values: torch.Tensor, n: int) -> None:
        """Rows lo .. lo + n*B - 1 take keys/values (B, heads, L, d) as their first L positions, row lo + i*B + b
        holding sequence b's; the rolling rows then hold L positions."""
        B, _, L, _ = keys.shape
        self.key_buf[lo:lo + n * B, :, :L].view(n, B, *keys.shape[1:]).copy_(keys.expand(n, *keys.shape))
        self.value_buf[lo:lo + n * B, :, :L].view(n, B, *values.shape[1:]).copy_(values.expand(n, *values.shape))
        self.length = L


def group_size(seqs_per_prefix: int, prefix_cache: Cache, max_len: int) -> int:
    """How many prefix lengths one group rolls out: as many as keep its caches within CACHE_BYTES (at least 1)."""
    per_row = sum(2 * layer.keys[0, :, :1].numel() * layer.keys.element_size() for layer in prefix_cache.layers)
    return max(1, CACHE_BYTES // (per_row * max_len * seqs_per_prefix))


@torch.no_grad()
def cached_completions(net: CausalLMGenerator, seqs: torch.Tensor, n: int, uniforms: torch.Tensor) -> torch.Tensor:
    """All n completions of every proper prefix of seqs (B, T) under `net`, as one batch per group of prefixes.

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
    prefix_hidden, prefix_cache = net.prefill(net.shift_right(seqs))  # (B, T, H): position t draws token t+1
    out = seqs.repeat((T - 1) * n, 1)  # ((T-1)*n*B, T), every row starts as a copy of its sequence
    span = group_size(NB, prefix_cache, T)
    for t_lo in range(1, T, span):
        t_hi = min(T - 1, t_lo + span - 1)
        rows = slice((t_lo - 1) * NB, t_hi * NB)
        out[rows] = _complete_group(net, prefix_hidden, prefix_cache, out[rows], uniforms[rows], n, t_lo)
    return net.pad_after_eos(out).view(T - 1, n, B, T)


def _complete_group(net: CausalLMGenerator, prefix_hidden: torch.Tensor, prefix_cache: Cache, out: torch.Tensor,
                    uniforms: torch.Tensor, n: int, t_lo: int) -> torch.Tensor:
    """Complete the rows of prefix lengths t_lo .. t_lo + len(out) / (n*B) - 1 (out: copies of their sequences,
    row ((t - t_lo) * n + i) * B + b); returns out filled in."""
    B, T = prefix_hidden.shape[0], out.shape[1]
    NB, R = n * B, out.shape[0]
    t_hi = t_lo + R // NB - 1
    sampler = net.sampler()
    layers = [RolloutLayer(layer.keys.new_empty(R, *layer.keys.shape[1:]),
                           layer.values.new_empty(R, *layer.values.shape[1:])) for layer in prefix_cache.layers]
    cache = Cache(layers=layers)
    hidden = prefix_hidden.new_empty(R, prefix_hidden.shape[2])
    tokens = torch.empty(R, dtype=torch.long, device=out.device)
    for s in range(t_lo + 1, T + 1):  # generate token s (1-based) for rows whose prefix length t < s
        rolling = NB * (min(s - 2, t_hi) - t_lo + 1)  # rows with t <= s-2: they drew token s-1 last step
        active = NB * (min(s - 1, t_hi) - t_lo + 1)  # ... and the rows with t = s-1, which join now
        if rolling:  # feed the token each drew at step s-1, at position s-1
            hidden[:rolling] = net.hidden(tokens[:rolling].unsqueeze(1), cache)[:, -1]
        if active > rolling:  # rows with prefix length s-1 start from the prefix pass's state that draws token s
            hidden[rolling:active] = prefix_hidden[:, s - 1].repeat(n, 1)
        tokens[:active] = sampler.sample(hidden[:active], uniforms[:active, s - 1])
        out[:active, s - 1] = tokens[:active]
        if s < T and active > rolling:  # the joined rows roll from the next step on, with positions 0 .. s-1
            for layer, prefix in zip(layers, prefix_cache.layers, strict=True):
                layer.add_rows(rolling, prefix.keys[:, :, :s], prefix.values[:, :, :s], n)
    return out
