"""seqgan.text.lm_rollout's memory bound: rolling prefix lengths out in groups draws exactly the same tokens."""

from __future__ import annotations

import pytest
import torch

from seqgan.text import lm_rollout
from tests.test_transformer_generator import EOS, B, N, T, tiny_gpt


@pytest.mark.parametrize("eos", [None, EOS])
def test_grouped_rollouts_equal_one_group(eos, monkeypatch):
    g = tiny_gpt(eos=eos)
    seqs = g.sample(B, torch.Generator().manual_seed(0))
    u = torch.rand((T - 1) * N * B, T, generator=torch.Generator().manual_seed(1))
    whole = g.complete_prefixes(seqs, N, u)
    _, cache = g.prefill(g.shift_right(seqs))
    assert lm_rollout.group_size(N * B, cache, T) >= T - 1  # the default budget holds this toy in one group
    spans = []
    real_complete = lm_rollout._complete_group

    def spy(net, hidden, cache, out, uniforms, n, t_lo):
        spans.append((t_lo, out.shape[0] // (n * B)))
        return real_complete(net, hidden, cache, out, uniforms, n, t_lo)

    monkeypatch.setattr(lm_rollout, "_complete_group", spy)
    for budget_rows in (1, 2, 4):  # groups of 1, 2 and 4 prefix lengths (the last group shorter)
        per_row = sum(2 * layer.keys[0, :, :1].numel() * 4 for layer in cache.layers)
        monkeypatch.setattr(lm_rollout, "CACHE_BYTES", per_row * T * N * B * budget_rows)
        spans.clear()
        assert torch.equal(g.complete_prefixes(seqs, N, u), whole)
        assert [span for _, span in spans] == [min(budget_rows, T - t_lo) for t_lo, _ in spans]
        assert sum(span for _, span in spans) == T - 1
