"""PG-BLEU: SeqGAN's policy-gradient update with BLEU as the reward, the paper's third baseline.

The reward of a complete sequence is its sentence BLEU-n against a fixed reference set (a seeded random
fraction of the training data); per-token rewards come from the same Monte Carlo rollouts as SeqGAN's, so
this is SeqGAN with D replaced by BLEU, not a second policy-gradient loop. The original code used BLEU-3
without smoothing, one rollout, and 40% of the training data as references. BLEU is computed with
`eval.bleu`'s cached reference n-gram maxima (equal to nltk's sentence_bleu), so scoring every rollout of a
batch takes milliseconds.
"""

from __future__ import annotations

import numpy as np
import torch

from eval.bleu import ReferenceSet, needed_order, normalize_smoothing, sentence_scores


def strip_sequences(ids: torch.Tensor, eos_token: int | None) -> list[list[int]]:
    """Rows of ids as token lists, cut before the first EOS (everything after it is padding)."""
    rows = ids.tolist()
    if eos_token is None:
        return rows
    return [row[:row.index(eos_token)] if eos_token in row else row for row in rows]


class BleuReward:
    """Sentence BLEU-n of id sequences against a fixed reference set; a rollout score function.

    Args:
        references: (N, T) reference sequences (ids).
        n: BLEU order (uniform weights 1/n).
        smoothing: `none` or nltk's `method1`..`method7`.
        eos_token: end-of-sequence id (text corpora), or None (the oracle: every row is T tokens).
    """

    def __init__(self, references: torch.Tensor, n: int = 3, smoothing: str = "none",
                 eos_token: int | None = None) -> None:
        self.n, self.smoothing, self.eos_token = n, normalize_smoothing(smoothing), eos_token
        self.refset = ReferenceSet(strip_sequences(references.cpu(), eos_token), needed_order(n, self.smoothing))

    def __call__(self, seqs: torch.Tensor) -> torch.Tensor:
        """(R,) BLEU of each row of `seqs` (R, T), as float32 on the same device."""
        stats = self.refset.stats(strip_sequences(seqs.cpu(), self.eos_token))
        scores = sentence_scores(stats, self.n, smoothing=self.smoothing)
        return torch.from_numpy(np.asarray(scores, dtype=np.float32)).to(seqs.device)


def reference_subset(real: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A seeded random `fraction` of the training sequences (at least one), in their original order."""
    count = max(1, round(fraction * real.shape[0]))
    gen = torch.Generator().manual_seed(seed)
    index = torch.randperm(real.shape[0], generator=gen)[:count].sort().values
    return real[index.to(real.device)]
