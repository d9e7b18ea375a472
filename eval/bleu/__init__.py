"""Paper-style (SeqGAN/Texygen) BLEU, Self-BLEU and sacrebleu wrappers, fast and equal to nltk.

Paper-style BLEU scores every hypothesis against the WHOLE reference set with
`nltk.translate.bleu_score.sentence_bleu(references, hyp, weights, smoothing_function=...)` and reports the
mean over hypotheses. Calling nltk per sample re-counts every reference n-gram for every hypothesis; here the
references are counted once into a `ReferenceSet` (max count per n-gram over all references, sorted reference
lengths), after which one hypothesis costs O(len(hyp) * n).

Per-sentence sufficient statistics (`SentenceStats`: clipped matches and n-gram totals per order, hypothesis
length, closest reference length) are kept so that significance tests can resample them; every score is
computed from them by `sentence_scores`, which reproduces nltk's `corpus_bleu` arithmetic.

Modules: `tokens` (lines to tokens), `stats` (sufficient statistics), `parallel` (statistics in worker
processes), `scoring` (nltk's arithmetic and smoothing), `signature` (`Score` and signature strings), `paper`
(`bleu`, `self_bleu`), `sacrebleu_wrappers` (sacrebleu BLEU and chrF). Everything public is importable from here.
"""

from eval.bleu.paper import bleu, self_bleu, self_bleu_sample_index
from eval.bleu.sacrebleu_wrappers import corpus_chrf, corpus_sacrebleu
from eval.bleu.scoring import (
    DEFAULT_SMOOTHING,
    SMOOTHING_METHODS,
    corpus_bleu_from_sums,
    needed_order,
    normalize_smoothing,
    normalize_weights,
    sentence_scores,
)
from eval.bleu.signature import Score, bleu_signature, self_bleu_signature
from eval.bleu.stats import ReferenceSet, SentenceStats, check_order, self_bleu_stats
from eval.bleu.tokens import (
    SPACING_MAX_GAP,
    SPACING_MIN_MARKS,
    TOKENIZE_MODES,
    detached_punctuation,
    nltk_punkt_available,
    spacing_mismatch,
    token_strings,
    tokenize,
    tokenize_lines,
)

__all__ = [
    "DEFAULT_SMOOTHING",
    "SMOOTHING_METHODS",
    "SPACING_MAX_GAP",
    "SPACING_MIN_MARKS",
    "TOKENIZE_MODES",
    "ReferenceSet",
    "Score",
    "SentenceStats",
    "bleu",
    "bleu_signature",
    "check_order",
    "corpus_bleu_from_sums",
    "corpus_chrf",
    "corpus_sacrebleu",
    "detached_punctuation",
    "needed_order",
    "nltk_punkt_available",
    "normalize_smoothing",
    "normalize_weights",
    "self_bleu",
    "self_bleu_sample_index",
    "self_bleu_signature",
    "self_bleu_stats",
    "sentence_scores",
    "spacing_mismatch",
    "token_strings",
    "tokenize",
    "tokenize_lines",
]
