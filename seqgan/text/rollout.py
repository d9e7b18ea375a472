"""Monte Carlo rollouts (SeqGAN Eq. 33-34) from a delayed copy of G, computed as one batch.

For a batch of B sampled sequences Y_{1:T}, the reward of token t is the mean discriminator score of N
completions of the prefix Y_{1:t}, and the reward of the last token is D on the full sequence (Eq. 33).

All (T-1) x N x B completions run together, through G's `complete_prefixes` (the LSTM's in
`seqgan.text.generator`, the transformer's KV-cached one in `seqgan.text.lm_rollout`). Rows are ordered by
prefix length t, so at generation step s the rows still generating are exactly the first N*B*(s-1): each
step is one slice, no masks, no loop over rollouts, and the prefix states come from one teacher-forced pass
over Y instead of being recomputed.

The rollout policy is a delayed copy of G: after every G update its parameters move as
theta_rollout <- rate * theta_rollout + (1 - rate) * theta_G (paper: rate 0.8). The original TensorFlow
code built this update but the graph kept reading G's live weights, so its rollouts always used the
current G; `update_rate=0` reproduces that behaviour.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from seqgan.text.generator_api import TextGenerator

ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # (R, T) ids -> (R,) rewards


class Rollout:
    """The rollout policy and its Monte Carlo reward estimate.

    Args:
        generator: G; the rollout network starts as an exact copy.
        update_rate: weight of the old rollout parameters in each delayed update (0 = always current G).
    """

    def __init__(self, generator: TextGenerator, update_rate: float) -> None:
        if not 0.0 <= update_rate < 1.0:
            raise ValueError("update_rate must be in [0, 1)")
        self.update_rate = update_rate
        self.net = copy.deepcopy(generator).requires_grad_(False)
        self.generator = generator

    def policy(self) -> TextGenerator:
        """The network rollouts are drawn from."""
        return self.generator if self.update_rate == 0.0 else self.net

    @torch.no_grad()
    def sync_(self) -> None:
        """Make the rollout network an exact copy of G (at the start of the adversarial phase)."""
        for p_roll, p_gen in zip(self.net.parameters(), self.generator.parameters(), strict=True):
            p_roll.copy_(p_gen)

    @torch.no_grad()
    def update_(self) -> None:
        """Delayed update after a G step: rollout <- rate * rollout + (1 - rate) * G."""
        for p_roll, p_gen in zip(self.net.parameters(), self.generator.parameters(), strict=True):
            p_roll.lerp_(p_gen, 1.0 - self.update_rate)

    @torch.no_grad()
    def completions(self, seqs: torch.Tensor, n: int, gen: torch.Generator,
                    uniforms: torch.Tensor | None = None) -> torch.Tensor:
        """All N completions of every proper prefix of `seqs`.

        Args:
            seqs: (B, T) sampled sequences.
            n: rollouts per prefix (N).
            gen: source of the uniforms, unless `uniforms` is given.
            uniforms: optional ((T-1) * N * B, T) draws in [0, 1); row r = ((t-1) * N + i) * B + b uses
                column s-1 to draw token s. Exposed so tests can replay the same draws slowly.

        Returns:
            (T-1, N, B, T) ids; [t-1, i, b] keeps seqs[b, :t] and completes it.
        """
        B, T = seqs.shape
        if uniforms is None:
            uniforms = torch.rand((T - 1) * n * B, T, generator=gen, device=seqs.device)
        return self.policy().complete_prefixes(seqs, n, uniforms)

    @torch.no_grad()
    def rewards(self, seqs: torch.Tensor, n: int, score: ScoreFn, gen: torch.Generator,
                rows: slice | None = None) -> torch.Tensor:
        """Per-token rewards Q (B, T) (Eq. 33-34): mean score of N completions; the last column is score(seqs).

        Args:
            seqs: (B, T) sampled sequences.
            n: rollouts per prefix.
            score: maps (R, T) ids to (R,) rewards, e.g. D's probability of "real". If it also has a
                `completions(done, seqs) -> (T-1, N, B)` method (D does: it shares work across the
                completions of one prefix), that is used for the completions.
            gen: random source for the completions.
            rows: only these rows' rewards, (b, T) (a process's share under torchrun): the uniforms of all B rows
                are drawn, as one process draws them, and those rows' completions use their own.
        """
        B, T = seqs.shape
        if rows is not None:
            uniforms = torch.rand((T - 1) * n * B, T, generator=gen, device=seqs.device)
            seqs = seqs[rows]
            if not seqs.shape[0]:  # fewer rows than processes: none here
                return seqs.new_zeros(seqs.shape, dtype=torch.float32)
            mine = uniforms.view(T - 1, n, B, T)[:, :, rows].reshape(-1, T)  # rows ((t-1) * n + i) * b + r
            B = seqs.shape[0]
            done = self.completions(seqs, n, gen, mine)  # (T-1, N, b, T)
        else:
            done = self.completions(seqs, n, gen)  # (T-1, N, B, T)
        if hasattr(score, "completions"):
            scored = score.completions(done, seqs)  # (T-1, N, B)
        else:
            scored = score(done.view(-1, T)).view(T - 1, n, B)
        q_prefix = scored.mean(dim=1)  # (T-1, B)
        return torch.cat([q_prefix.t(), score(seqs).unsqueeze(1)], dim=1)  # (B, T)
