"""Paper-style (SeqGAN/Texygen) BLEU and leave-one-out Self-BLEU of token lists, with their signatures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eval.bleu.scoring import DEFAULT_SMOOTHING, needed_order, normalize_smoothing, normalize_weights, sentence_scores
from eval.bleu.signature import Score, bleu_signature, self_bleu_signature
from eval.bleu.stats import ReferenceSet, check_order, self_bleu_stats
from seqgan.base.errors import UserError


def bleu(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[str]] | ReferenceSet,
    n: int | None = 4,
    *,
    weights: Sequence[float] | None = None,
    smoothing: str | None = DEFAULT_SMOOTHING,
    processes: int = 1,
    tok: str = "word",
) -> Score:
    """Paper-style BLEU: mean over hypotheses of nltk sentence_bleu(all references, hypothesis).

    Args:
        hypotheses: tokenized hypotheses (e.g. generated samples).
        references: tokenized references, or a prebuilt `ReferenceSet` to reuse across calls.
        n: BLEU-n with uniform weights (default 4).
        weights: explicit weights instead of uniform ones (n may then be None).
        smoothing: `none`/`method0` (nltk's default) or `method1`..`method7` (default method1, as Texygen).
        processes: worker processes for the statistics.
        tok: how tokens were produced, recorded in the signature.
    """
    weights = normalize_weights(n if weights is None else None, weights)
    name = normalize_smoothing(smoothing)
    if len(hypotheses) == 0:
        raise UserError("no hypotheses to score")
    need = needed_order(len(weights), name)
    refset = references if isinstance(references, ReferenceSet) else ReferenceSet(references, need)
    check_order(need, refset.max_n)
    stats = refset.stats(hypotheses, processes=processes)
    per = sentence_scores(stats, weights=weights, smoothing=name)
    sig = bleu_signature(weights, name, tok, refset.n_refs, len(hypotheses))
    return Score(float(per.mean()), sig, per_sample=per, stats=stats)


def self_bleu_sample_index(n_total: int, n_samples: int | None = None, seed: int = 0) -> np.ndarray:
    """Which samples a Self-BLEU over `n_samples` of `n_total` uses: all, or a seeded random subset (sorted).

    Args:
        n_total: number of available samples.
        n_samples: how many to use (None: all).
        seed: seed of the subset choice.
    """
    if n_samples is None or n_samples >= n_total:
        return np.arange(n_total)
    if n_samples < 2:
        raise UserError(f"Self-BLEU needs at least 2 samples, got n_samples={n_samples}")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=int(n_samples), replace=False))


def self_bleu(
    samples: Sequence[Sequence[str]],
    n: int | None = 4,
    *,
    weights: Sequence[float] | None = None,
    smoothing: str | None = DEFAULT_SMOOTHING,
    n_samples: int | None = None,
    seed: int = 0,
    tok: str = "word",
) -> Score:
    """Self-BLEU, true leave-one-out: each used sample scored against all OTHER used samples; mean.

    With `n_samples` smaller than len(samples), a seeded random subset of that size is both the hypotheses and
    the reference pool (as Texygen's fast Self-BLEU, but random instead of the first ones).

    Args:
        samples: tokenized generated samples.
        n: Self-BLEU-n with uniform weights (default 4).
        weights: explicit weights instead of uniform ones.
        smoothing: as in `bleu` (default method1).
        n_samples: how many samples to use (default: all).
        seed: seed of the subset choice.
        tok: how tokens were produced, recorded in the signature.
    """
    weights = normalize_weights(n if weights is None else None, weights)
    name = normalize_smoothing(smoothing)
    index = self_bleu_sample_index(len(samples), n_samples, seed)
    chosen = [samples[int(i)] for i in index]
    stats = self_bleu_stats(chosen, needed_order(len(weights), name))
    per = sentence_scores(stats, weights=weights, smoothing=name)
    sig = self_bleu_signature(weights, name, tok, len(chosen), len(samples), seed)
    return Score(float(per.mean()), sig, per_sample=per, stats=stats, sample_index=index)
