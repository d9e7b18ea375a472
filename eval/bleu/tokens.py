"""How BLEU's lines become tokens: char, whitespace or nltk word splits, a spacing-mismatch warning, and what each
id of a `tokenizers.Tokenizer` stands for as a BLEU token."""

from __future__ import annotations

import re
from collections.abc import Sequence

from seqgan.base.errors import UserError

TOKENIZE_MODES = ("char", "word", "nltk", "none")


def _nltk_word_tokenizer():
    """nltk's word tokenizer without its sentence splitter: needs no downloaded data (punkt is not used)."""
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer().tokenize


def nltk_punkt_available() -> bool:
    """Return True when nltk.word_tokenize with sentence splitting works offline (its punkt data is installed).

    `--tokenize nltk` does not need it (see `tokenize`); this only tells whether the full word_tokenize could run.
    """
    import nltk

    try:
        nltk.word_tokenize("a b.")
    except LookupError:
        return False
    return True


def tokenize(line: str, mode: str = "word", lowercase: bool = False) -> list[str]:
    """Split one line of text into tokens.

    Args:
        line: the text (no trailing newline needed).
        mode: `char` (characters, whitespace dropped), `word` (whitespace split, for pre-tokenized
            SeqGAN/Texygen-style text), `nltk` (nltk's Treebank-style word tokenizer on the whole line, i.e.
            nltk.word_tokenize(line, preserve_line=True): punctuation split off, no sentence splitting, so no
            punkt data is needed) or `none` (whitespace split).
        lowercase: lower-case the line first.
    """
    return tokenize_lines([line], mode, lowercase)[0]


def tokenize_lines(lines: Sequence[str], mode: str = "word", lowercase: bool = False) -> list[list[str]]:
    """Tokenize many lines with `tokenize` (imports nltk once).

    Args:
        lines: the texts.
        mode: see `tokenize`.
        lowercase: lower-case each line first.
    """
    if mode not in TOKENIZE_MODES:
        raise UserError(f"unknown tokenization {mode!r}; use one of {', '.join(TOKENIZE_MODES)}")
    if lowercase:
        lines = [line.lower() for line in lines]
    if mode == "char":
        return [[c for c in line if not c.isspace()] for line in lines]
    if mode == "nltk":
        word_tokenize = _nltk_word_tokenizer()
        return [word_tokenize(line) for line in lines]
    return [line.split() for line in lines]


# Sentence punctuation that raw text attaches to the word before it and tokenized text splits off with a space,
# when it ends a word (followed by a space or the line's end: not "3.5" or "U.S.A").
_ATTACHED = re.compile(r"\w[.,!?;:](?=\s|$)")
_DETACHED = re.compile(r"\w\s+[.,!?;:](?=\s|$)")
SPACING_MIN_MARKS = 10  # fewer marks on a side say nothing about its tokenization
SPACING_MAX_GAP = 0.5


def detached_punctuation(lines: Sequence[str]) -> tuple[int, int]:
    """How many word-final `. , ! ? ; :` are split off the word before them by a space, of how many.

    Args:
        lines: the texts.
    """
    detached = sum(len(_DETACHED.findall(line)) for line in lines)
    attached = sum(len(_ATTACHED.findall(line)) for line in lines)
    return detached, detached + attached


def spacing_mismatch(refs: Sequence[str], hyps: Sequence[str]) -> str | None:
    """A one-line warning when references and hypotheses look tokenized differently, else None.

    E.g. raw references (`expression.`) against tokenized samples (`expression .`): a whitespace split then
    makes `expression.` and `expression` + `.` different tokens, and BLEU comes out far too low.

    Args:
        refs: reference lines, as read.
        hyps: hypothesis lines, as read.
    """
    (rd, rn), (hd, hn) = detached_punctuation(refs), detached_punctuation(hyps)
    if min(rn, hn) < SPACING_MIN_MARKS or abs(rd / rn - hd / hn) < SPACING_MAX_GAP:
        return None
    return (f"--refs and --hyps look tokenized differently ({rd / rn:.0%} vs {hd / hn:.0%} of word-final "
            "punctuation split off by a space), which a whitespace split scores too low; use --tokenizer-from "
            "RUN_DIR (a run's own tokenizer on both sides) or --tokenize nltk")


def token_strings(tokenizer) -> list[str]:
    """What each id of a run's tokenizer stands for in BLEU: the token decoded on its own, spacing stripped.

    So a word-level token with a spacing marker (`▁expression`) and one without (`expression`) are the same
    word, a byte-level BPE piece is its text, and a token that is only spacing is "" (left out of token lists).
    A piece that is not text on its own (part of a multi-byte character) keeps its raw token string, so
    different pieces never collapse into one U+FFFD.

    Args:
        tokenizer: a `tokenizers.Tokenizer` (a run's tokenizer.json).
    """
    size = tokenizer.get_vocab_size()
    texts = tokenizer.decode_batch([[i] for i in range(size)], skip_special_tokens=False)
    return [tokenizer.id_to_token(i) if "\ufffd" in t else t.strip() for i, t in enumerate(texts)]
