"""sacrebleu's corpus BLEU and chrF (0..100) of detokenized lines, with sacrebleu's own signatures."""

from __future__ import annotations

from collections.abc import Sequence

from eval.bleu.signature import Score
from seqgan.base.errors import UserError


def _reference_streams(hyps: Sequence[str], refs: Sequence[Sequence[str]] | Sequence[str]) -> list[list[str]]:
    if len(hyps) == 0:
        raise UserError("no hypotheses to score")
    if len(refs) == 0:
        raise UserError("no references given")
    streams = [list(refs)] if all(isinstance(r, str) for r in refs) else [list(s) for s in refs]
    for i, stream in enumerate(streams):
        if len(stream) != len(hyps):
            raise UserError(
                f"sacrebleu needs one reference per hypothesis: reference stream {i} has "
                f"{len(stream)} lines, hypotheses have {len(hyps)}"
            )
    return streams


def corpus_sacrebleu(
    hyps: list[str],
    refs: list[list[str]] | list[str],
    *,
    max_ngram_order: int = 4,
    lowercase: bool = False,
    tokenize: str | None = None,
) -> Score:
    """Corpus BLEU by sacrebleu (0..100) with sacrebleu's own signature (which omits max_ngram_order).

    Args:
        hyps: detokenized hypothesis lines.
        refs: one reference stream (list of lines parallel to hyps) or a list of such streams.
        max_ngram_order: highest n-gram order.
        lowercase: case-insensitive.
        tokenize: sacrebleu tokenizer name (default: sacrebleu's, 13a).
    """
    from sacrebleu.metrics import BLEU

    metric = BLEU(lowercase=lowercase, tokenize=tokenize, max_ngram_order=max_ngram_order)
    result = metric.corpus_score(list(hyps), _reference_streams(hyps, refs))
    return Score(float(result.score), str(metric.get_signature()))


def corpus_chrf(hyps: list[str], refs: list[list[str]] | list[str], *, lowercase: bool = False) -> Score:
    """Corpus chrF by sacrebleu (0..100) with sacrebleu's own signature.

    Args:
        hyps: hypothesis lines.
        refs: one reference stream (list of lines parallel to hyps) or a list of such streams.
        lowercase: case-insensitive.
    """
    from sacrebleu.metrics import CHRF

    metric = CHRF(lowercase=lowercase)
    result = metric.corpus_score(list(hyps), _reference_streams(hyps, refs))
    return Score(float(result.score), str(metric.get_signature()))
