"""A score together with the signature that says exactly how it was computed, and the signature strings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from eval.bleu.scoring import normalize_smoothing
from eval.bleu.stats import SentenceStats
from seqgan.base.version import VERSION


@dataclass(frozen=True)
class Score:
    """A score and the signature that says exactly how it was computed.

    Args:
        score: the value (nltk scale 0..1 for BLEU/Self-BLEU; sacrebleu scale 0..100 for sacrebleu/chrF).
        signature: how it was computed (for sacrebleu/chrF: sacrebleu's own signature string, verbatim).
        per_sample: per-hypothesis scores (paper BLEU / Self-BLEU), for significance tests.
        stats: per-hypothesis sufficient statistics (paper BLEU / Self-BLEU).
        sample_index: Self-BLEU: indices of the samples that were scored.
    """

    score: float
    signature: str
    per_sample: np.ndarray | None = field(default=None, repr=False, compare=False)
    stats: SentenceStats | None = field(default=None, repr=False, compare=False)
    sample_index: np.ndarray | None = field(default=None, repr=False, compare=False)


def _fmt_weights(weights: tuple[float, ...]) -> str:
    return ",".join(f"{w:g}" for w in weights)


def bleu_signature(
    weights: Sequence[float], smoothing: str | None, tok: str, n_refs: int, n_hyps: int
) -> str:
    """Signature string of a paper-style BLEU score.

    Args:
        weights: the weights used.
        smoothing: smoothing method name.
        tok: how tokens were produced (label only).
        n_refs: number of references.
        n_hyps: number of hypotheses.
    """
    weights = tuple(weights)
    return (
        f"bleu-n:{len(weights)}|weights:{_fmt_weights(weights)}|smooth:{normalize_smoothing(smoothing)}"
        f"|tok:{tok}|nrefs:{n_refs}|nhyps:{n_hyps}|ours:{VERSION}|nltk-compatible"
    )


def self_bleu_signature(
    weights: Sequence[float], smoothing: str | None, tok: str, n_used: int, n_total: int, seed: int
) -> str:
    """Signature string of a Self-BLEU score.

    Args:
        weights: the weights used.
        smoothing: smoothing method name.
        tok: how tokens were produced (label only).
        n_used: samples scored (each against the other n_used - 1).
        n_total: samples available.
        seed: seed of the subset choice (recorded only when a subset was drawn).
    """
    weights = tuple(weights)
    subset = f"samples:{n_used}|of:{n_total}" + (f"|seed:{seed}" if n_used < n_total else "")
    return (
        f"self-bleu-n:{len(weights)}|weights:{_fmt_weights(weights)}|smooth:{normalize_smoothing(smoothing)}"
        f"|tok:{tok}|{subset}|leave-one-out|ours:{VERSION}|nltk-compatible"
    )
