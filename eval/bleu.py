"""Paper-style (SeqGAN/Texygen) BLEU, Self-BLEU and sacrebleu wrappers, fast and equal to nltk.

Paper-style BLEU scores every hypothesis against the WHOLE reference set with
`nltk.translate.bleu_score.sentence_bleu(references, hyp, weights, smoothing_function=...)` and reports the
mean over hypotheses. Calling nltk per sample re-counts every reference n-gram for every hypothesis; here the
references are counted once into a `ReferenceSet` (max count per n-gram over all references, sorted reference
lengths), after which one hypothesis costs O(len(hyp) * n). All n-gram work is vectorised with numpy:
tokens get integer ids, an n-gram's id is the rank of (id of its (n-1)-gram prefix, id of its last token).

Per-sentence sufficient statistics (`SentenceStats`: clipped matches and n-gram totals per order, hypothesis
length, closest reference length) are kept so that significance tests can resample them; every score is
computed from them by `sentence_scores`, which reproduces nltk's `corpus_bleu` arithmetic (brevity penalty,
`max(1, count)` denominators, the early `0` when no unigram matches, smoothing methods 0-7 of
`SmoothingFunction()` with its default epsilon=0.1, alpha=5, k=5).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from seqgan.base.errors import UserError
from seqgan.base.version import VERSION

TOKENIZE_MODES = ("char", "word", "nltk", "none")
SMOOTHING_METHODS = (
    "none",
    "method0",
    "method1",
    "method2",
    "method3",
    "method4",
    "method5",
    "method6",
    "method7",
)
DEFAULT_SMOOTHING = "method1"  # what SeqGAN/Texygen use: SmoothingFunction().method1

# nltk SmoothingFunction() defaults.
_EPSILON = 0.1
_ALPHA = 5
_K = 5
# nltk's method5 always appends the modified precision of order 5 (hard-coded in nltk).
_METHOD5_ORDER = 5




# ---------------------------------------------------------------------------------------------------------
# Tokenization
# ---------------------------------------------------------------------------------------------------------


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


_SPACING_MARK = "\u2581"  # "▁", how word tokenizers (Metaspace, SentencePiece) write a space


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


@dataclass(frozen=True)
class RunTokenization:
    """A text run's own tokenizer as BLEU's tokenization: what `seqgan compare` scores with, and what
    `seqgan bleu --tokenizer-from RUN_DIR` uses on both files.

    A line's tokens are the run tokenizer's tokens of it, as `token_strings` gives them (so `expression.` and
    `expression .` give the same tokens when the tokenizer splits punctuation off, and <unk> stands for any word
    outside the vocabulary, as G sees it). Spacing is never a token: neither a spacing token of the vocabulary
    nor spacing the vocabulary lacks (an <unk> whose text is only spaces, e.g. around a literal "<unk>" in a
    sample's text). References are moreover cut as the run cut its data: to data.seq_len - 1 tokens
    (data.too_long=drop leaves longer lines out), and lines without a token are left out, so the reference set
    of the run's test split is the one G was evaluated on.

    Args:
        tokenizer: the run's `tokenizers.Tokenizer`.
        kind: its data.tokenizer (char, word, bpe), for the signature.
        max_len: data.seq_len (tokens per line, <eos> included).
        too_long: data.too_long (truncate or drop).
    """

    tokenizer: object
    kind: str
    max_len: int
    too_long: str = "truncate"

    @property
    def label(self) -> str:
        """The signature's tok: field."""
        return f"run-{self.kind}"

    @cached_property
    def strings(self) -> list[str]:
        """`token_strings` of the tokenizer, by id."""
        return token_strings(self.tokenizer)

    def _encode(self, lines: Sequence[str]) -> list[tuple[str, list[int], list[tuple[int, int]]]]:
        lines = list(lines)
        encodings = self.tokenizer.encode_batch(lines, add_special_tokens=False)
        return [(line, enc.ids, enc.offsets) for line, enc in zip(lines, encodings, strict=True)]

    def _strings_of(self, line: str, ids: list[int], offsets: list[tuple[int, int]]) -> list[str]:
        strings, unk = self.strings, self.tokenizer.token_to_id("<unk>")
        out = []
        for i, (start, end) in zip(ids, offsets, strict=True):
            if i == unk and not line[start:end].replace(_SPACING_MARK, " ").strip():
                continue  # spacing the vocabulary has no token for
            if strings[i]:
                out.append(strings[i])
        return out

    def tokens(self, lines: Sequence[str]) -> list[list[str]]:
        """Token lists of hypotheses (e.g. samples): every line, however long, an empty line an empty list.

        Args:
            lines: the texts.
        """
        return [self._strings_of(*encoded) for encoded in self._encode(lines)]

    def references(self, lines: Sequence[str]) -> list[list[str]]:
        """Token lists of references, cut or dropped at the run's length limit as its training data was.

        Args:
            lines: the texts.
        """
        keep = self.max_len - 1  # the <eos> takes the last position
        out = []
        for line, ids, offsets in self._encode(lines):
            if len(ids) > keep:
                if self.too_long == "drop":
                    continue
                ids, offsets = ids[:keep], offsets[:keep]
            if ids:
                out.append(self._strings_of(line, ids, offsets))
        return out


def run_tokenization(run_dir: str) -> RunTokenization:
    """The tokenization of a text run directory (its config.json and tokenizer.json), without loading torch.

    Args:
        run_dir: a run directory written by `seqgan train` on a text corpus.
    """
    import json
    from pathlib import Path

    from seqgan.text.config import ExperimentConfig
    from text_data.tokenizer import load_tokenizer

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"--tokenizer-from {run_dir} is not a run directory (no config.json)")
    try:
        config = ExperimentConfig.from_dict(json.loads(path.read_text(encoding="utf-8"))["config"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"--tokenizer-from {run_dir}: {path} is unreadable ({err})") from err
    if not config.data.corpus:
        raise UserError(f"--tokenizer-from {run_dir} is an oracle run: it has no tokenizer (its samples are token "
                        "ids); score them without --tokenizer-from")
    tok_path = Path(run_dir) / "tokenizer.json"
    if not tok_path.is_file():
        raise UserError(f"--tokenizer-from {run_dir} has no tokenizer.json; train the run first")
    tokenizer = load_tokenizer(tok_path)
    max_len = config.data.seq_len
    if not max_len:  # sized from the run's training split when it was made: size it the same way again
        from seqgan.text.task import resolve_seq_len
        from text_data.corpus import read_text_file

        train = Path(run_dir) / "data" / "train.txt"
        if not train.is_file():
            raise UserError(f"--tokenizer-from {run_dir} has no data/train.txt to size its max length from")
        max_len, _ = resolve_seq_len(config.data, tokenizer, [x for x in read_text_file(train) if x])
    return RunTokenization(tokenizer, config.data.tokenizer, max_len, config.data.too_long)


# ---------------------------------------------------------------------------------------------------------
# Sufficient statistics
# ---------------------------------------------------------------------------------------------------------


@dataclass
class SentenceStats:
    """Per-hypothesis BLEU sufficient statistics (one row per hypothesis).

    Args:
        matches: (N, max_n) int64, clipped n-gram matches of order 1..max_n.
        totals: (N, max_n) int64, number of hypothesis n-grams of each order (0 when shorter than n;
            nltk's precision denominator is max(1, total)).
        hyp_len: (N,) int64 hypothesis lengths.
        ref_len: (N,) int64 closest reference length (ties go to the shorter one, as in nltk).
    """

    matches: np.ndarray
    totals: np.ndarray
    hyp_len: np.ndarray
    ref_len: np.ndarray

    @property
    def max_n(self) -> int:
        """Highest n-gram order stored."""
        return int(self.matches.shape[1])

    def __len__(self) -> int:
        return int(self.hyp_len.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> SentenceStats:
        """Rows `index` (e.g. a bootstrap resample) as new statistics.

        Args:
            index: integer indices or boolean mask.
        """
        index = np.asarray(index)
        return SentenceStats(
            self.matches[index], self.totals[index], self.hyp_len[index], self.ref_len[index]
        )

    def matrix(self, n: int | None = None) -> np.ndarray:
        """Return an (N, 2n+2) float64 matrix [matches_1..n, max(1,totals)_1..n, hyp_len, ref_len].

        Summing its rows gives nltk's corpus-level statistics; see `corpus_bleu_from_sums`.

        Args:
            n: highest order to include (default: all stored orders).
        """
        n = self.max_n if n is None else n
        _check_order(n, self.max_n)
        return np.column_stack(
            [
                self.matches[:, :n],
                np.maximum(self.totals[:, :n], 1),
                self.hyp_len,
                self.ref_len,
            ]
        ).astype(np.float64)

    @staticmethod
    def concatenate(parts: Sequence[SentenceStats]) -> SentenceStats:
        """Stack statistics of consecutive hypothesis chunks.

        Args:
            parts: statistics with the same max_n.
        """
        return SentenceStats(
            np.concatenate([p.matches for p in parts]),
            np.concatenate([p.totals for p in parts]),
            np.concatenate([p.hyp_len for p in parts]),
            np.concatenate([p.ref_len for p in parts]),
        )


def _check_order(n: int, max_n: int) -> None:
    if n > max_n:
        raise UserError(
            f"n-gram order {n} needs statistics up to order {n}, but only {max_n} were computed; "
            f"build the ReferenceSet with max_n={n}"
        )


def _encode(sentences: Sequence[Sequence[str]], vocab: dict, grow: bool) -> tuple[np.ndarray, np.ndarray]:
    """Map tokens to integer ids (unknown: -1 unless grow) and return (flat ids, lengths)."""
    if any(isinstance(s, str) for s in sentences):
        raise UserError("sentences must be token lists, not strings; split them first (eval.bleu.tokenize)")
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    total = int(lengths.sum())
    if grow:
        ids = [vocab.setdefault(t, len(vocab)) for s in sentences for t in s]
        flat = np.fromiter(ids, dtype=np.int64, count=total)
    else:
        get = vocab.get
        flat = np.fromiter((get(t, -1) for s in sentences for t in s), dtype=np.int64, count=total)
    return flat, lengths


def _layout(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each flat token position: its sentence index and how many tokens remain in it (itself included)."""
    n_sent = lengths.shape[0]
    total = int(lengths.sum())
    sent = np.repeat(np.arange(n_sent, dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    remaining = np.repeat(lengths, lengths) - (np.arange(total, dtype=np.int64) - np.repeat(starts, lengths))
    return sent, remaining


def _sentence_ngram_counts(sent: np.ndarray, ngram: np.ndarray, n_ngrams: int):
    """Count each (sentence, n-gram id) pair over positions with ngram >= 0: (sentence, id, count) arrays."""
    pos = np.flatnonzero(ngram >= 0)
    pair = sent[pos] * np.int64(max(n_ngrams, 1)) + ngram[pos]
    uniq, counts = np.unique(pair, return_counts=True)
    return uniq // max(n_ngrams, 1), uniq % max(n_ngrams, 1), counts.astype(np.int64)


def _closest_lengths(
    hyp_len: np.ndarray, lower: np.ndarray, lower_ok: np.ndarray, upper: np.ndarray, upper_ok: np.ndarray
) -> np.ndarray:
    """Pick the closer of two candidate lengths, ties to the shorter (nltk's closest_ref_length)."""
    take_lower = lower_ok & (~upper_ok | ((hyp_len - lower) <= (upper - hyp_len)))
    return np.where(take_lower, lower, upper).astype(np.int64)


def _totals(hyp_len: np.ndarray, max_n: int) -> np.ndarray:
    orders = np.arange(1, max_n + 1, dtype=np.int64)
    return np.maximum(hyp_len[:, None] - orders[None, :] + 1, 0)


class ReferenceSet:
    """A fixed reference set, counted once: max count of every n-gram over all references, sorted lengths.

    Args:
        references: tokenized reference sentences; every one is a reference of every hypothesis.
        max_n: highest n-gram order to count (smoothing method5/method7 need 5).
    """

    def __init__(self, references: Sequence[Sequence[str]], max_n: int = 4) -> None:
        if max_n < 1:
            raise UserError(f"max_n must be >= 1, got {max_n}")
        if len(references) == 0:
            raise UserError("the reference set is empty; give at least one reference sentence")
        self.max_n = int(max_n)
        self.n_refs = len(references)
        self.vocab: dict = {}
        ids, lengths = _encode(references, self.vocab, grow=True)
        self.n_vocab = len(self.vocab)
        self.lengths = np.unique(lengths)  # sorted distinct reference lengths: closest length by bisection
        _check_key_range(int(ids.shape[0]), self.n_vocab)
        sent, remaining = _layout(lengths)
        self.keys: list[np.ndarray] = []  # per order: sorted n-gram keys; index in it = n-gram id
        self.max_counts: list[np.ndarray] = []  # per order: max count over references, aligned with keys
        prev = ids
        for n in range(1, self.max_n + 1):
            if n == 1:
                keys, ngram = np.arange(self.n_vocab, dtype=np.int64), ids
            else:
                pos = np.flatnonzero(remaining >= n)
                keys, inverse = np.unique(prev[pos] * self.n_vocab + ids[pos + n - 1], return_inverse=True)
                ngram = np.full(ids.shape[0], -1, dtype=np.int64)
                ngram[pos] = inverse.reshape(-1)
            _, gid, counts = _sentence_ngram_counts(sent, ngram, keys.shape[0])
            max_counts = np.zeros(keys.shape[0], dtype=np.int64)
            np.maximum.at(max_counts, gid, counts)
            self.keys.append(keys)
            self.max_counts.append(max_counts)
            prev = ngram

    def closest_ref_length(self, hyp_len: np.ndarray) -> np.ndarray:
        """Closest reference length for each hypothesis length (ties to the shorter reference).

        Args:
            hyp_len: hypothesis lengths.
        """
        hyp_len = np.asarray(hyp_len, dtype=np.int64)
        lens = self.lengths
        i = np.searchsorted(lens, hyp_len, side="left")
        upper_ok = i < lens.shape[0]
        lower_ok = i > 0
        upper = lens[np.minimum(i, lens.shape[0] - 1)]
        lower = lens[np.maximum(i - 1, 0)]
        return _closest_lengths(hyp_len, lower, lower_ok, upper, upper_ok)

    def stats(self, hypotheses: Sequence[Sequence[str]], processes: int = 1) -> SentenceStats:
        """Sufficient statistics of tokenized hypotheses against this reference set.

        Args:
            hypotheses: tokenized hypotheses.
            processes: worker processes (1: in this process); results do not depend on it.
        """
        if processes > 1 and len(hypotheses) > 1:
            return _parallel_stats(self, hypotheses, processes)
        return self._stats(hypotheses)

    def _stats(self, hypotheses: Sequence[Sequence[str]]) -> SentenceStats:
        ids, hyp_len = _encode(hypotheses, self.vocab, grow=False)
        n_hyp = hyp_len.shape[0]
        sent, remaining = _layout(hyp_len)
        matches = np.zeros((n_hyp, self.max_n), dtype=np.int64)
        prev = ids
        for n in range(1, self.max_n + 1):
            keys = self.keys[n - 1]
            if n == 1:
                ngram = ids
            else:
                pos = np.flatnonzero(remaining >= n)
                prefix, last = prev[pos], ids[pos + n - 1]
                key = prefix * self.n_vocab + last
                idx = np.searchsorted(keys, key)
                found = (prefix >= 0) & (last >= 0) & (idx < keys.shape[0])
                found[found] = keys[idx[found]] == key[found]
                ngram = np.full(ids.shape[0], -1, dtype=np.int64)
                ngram[pos[found]] = idx[found]
            sid, gid, counts = _sentence_ngram_counts(sent, ngram, keys.shape[0])
            clipped = np.minimum(counts, self.max_counts[n - 1][gid])
            matches[:, n - 1] = np.bincount(sid, weights=clipped, minlength=n_hyp).round().astype(np.int64)
            prev = ngram
        return SentenceStats(matches, _totals(hyp_len, self.max_n), hyp_len, self.closest_ref_length(hyp_len))


def _check_key_range(n_tokens: int, n_vocab: int) -> None:
    if n_tokens * max(n_vocab, 1) >= 2**62:
        raise UserError("corpus too large for 64-bit n-gram keys; split the reference set")


_WORKER_REFSET: ReferenceSet | None = None


def _init_worker(refset: ReferenceSet) -> None:
    global _WORKER_REFSET
    _WORKER_REFSET = refset


def _worker_stats(hypotheses: Sequence[Sequence[str]]) -> SentenceStats:
    assert _WORKER_REFSET is not None
    return _WORKER_REFSET._stats(hypotheses)


def _parallel_stats(
    refset: ReferenceSet, hypotheses: Sequence[Sequence[str]], processes: int
) -> SentenceStats:
    import multiprocessing

    processes = min(int(processes), len(hypotheses))
    bounds = np.linspace(0, len(hypotheses), processes + 1).round().astype(int)
    chunks = [list(hypotheses[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with multiprocessing.get_context().Pool(processes, initializer=_init_worker, initargs=(refset,)) as pool:
        parts = pool.map(_worker_stats, chunks)
    return SentenceStats.concatenate(parts)


def self_bleu_stats(samples: Sequence[Sequence[str]], max_n: int = 4) -> SentenceStats:
    """Leave-one-out statistics: sample i against all OTHER samples (by position; duplicates stay references).

    Keeps, per n-gram, the top count, which sample holds it and the second-highest count, so dropping
    sample i from the references is O(len(sample i)).

    Args:
        samples: tokenized samples (at least 2).
        max_n: highest n-gram order.
    """
    if len(samples) < 2:
        raise UserError(f"Self-BLEU needs at least 2 samples, got {len(samples)}")
    vocab: dict = {}
    ids, lengths = _encode(samples, vocab, grow=True)
    n_sent, n_vocab = lengths.shape[0], len(vocab)
    _check_key_range(int(ids.shape[0]), n_vocab)
    sent, remaining = _layout(lengths)
    matches = np.zeros((n_sent, max_n), dtype=np.int64)
    prev = ids
    for n in range(1, max_n + 1):
        if n == 1:
            n_ngrams, ngram = n_vocab, ids
        else:
            pos = np.flatnonzero(remaining >= n)
            keys, inverse = np.unique(prev[pos] * n_vocab + ids[pos + n - 1], return_inverse=True)
            n_ngrams = keys.shape[0]
            ngram = np.full(ids.shape[0], -1, dtype=np.int64)
            ngram[pos] = inverse.reshape(-1)
        sid, gid, counts = _sentence_ngram_counts(sent, ngram, n_ngrams)
        if counts.shape[0]:
            order = np.lexsort((-counts, gid))  # by n-gram, then count descending
            g, c, s = gid[order], counts[order], sid[order]
            first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            top1 = np.zeros(n_ngrams, dtype=np.int64)
            top1_sent = np.full(n_ngrams, -1, dtype=np.int64)
            top2 = np.zeros(n_ngrams, dtype=np.int64)
            top1[g[first]], top1_sent[g[first]] = c[first], s[first]
            second = first + 1
            has2 = second < g.shape[0]
            has2[has2] = g[second[has2]] == g[first[has2]]
            top2[g[first[has2]]] = c[second[has2]]
            others = np.where(top1_sent[gid] == sid, top2[gid], top1[gid])
            clipped = np.minimum(counts, others)
            matches[:, n - 1] = np.bincount(sid, weights=clipped, minlength=n_sent).round().astype(np.int64)
        prev = ngram
    # Closest length among the other samples: the multiset of lengths minus one copy of the sample's own.
    lens, lens_count = np.unique(lengths, return_counts=True)
    k = np.searchsorted(lens, lengths)
    lower_ok, upper_ok = k > 0, k + 1 < lens.shape[0]
    lower = lens[np.maximum(k - 1, 0)]
    upper = lens[np.minimum(k + 1, lens.shape[0] - 1)]
    ref_len = np.where(
        lens_count[k] >= 2, lengths, _closest_lengths(lengths, lower, lower_ok, upper, upper_ok)
    )
    return SentenceStats(matches, _totals(lengths, max_n), lengths, ref_len.astype(np.int64))


# ---------------------------------------------------------------------------------------------------------
# Scores from statistics
# ---------------------------------------------------------------------------------------------------------


def normalize_smoothing(smoothing: str | None) -> str:
    """Canonical smoothing name (`none` for None/method0); UserError naming the supported ones otherwise.

    Args:
        smoothing: `none`, `method0`..`method7` or None.
    """
    name = "none" if smoothing is None else str(smoothing).lower()
    if name == "method0":
        name = "none"
    if name not in SMOOTHING_METHODS:
        raise UserError(
            f"unknown smoothing {smoothing!r}; use one of {', '.join(SMOOTHING_METHODS)} "
            f"(nltk SmoothingFunction().methodN; none = method0)"
        )
    return name


def _normalize_weights(n: int | None, weights: Sequence[float] | None) -> tuple[float, ...]:
    if weights is None:
        if n is None or int(n) < 1:
            raise UserError(f"n-gram order must be >= 1, got {n}")
        return (1.0 / int(n),) * int(n)
    weights = tuple(float(w) for w in weights)
    if not weights or not all(math.isfinite(w) for w in weights):
        raise UserError(f"weights must be a non-empty list of finite numbers, got {weights}")
    if n is not None and int(n) != len(weights):
        raise UserError(f"n={n} but {len(weights)} weights were given; give one weight per order")
    return weights


def needed_order(n_weights: int, smoothing: str | None) -> int:
    """Highest n-gram order whose statistics are needed (method5/method7 also read order 5, as nltk).

    Args:
        n_weights: number of weights (BLEU-n: n).
        smoothing: smoothing method name.
    """
    name = normalize_smoothing(smoothing)
    return max(n_weights, _METHOD5_ORDER) if name in ("method5", "method7") else n_weights


def _score_rows(
    matches: np.ndarray,
    denominators: np.ndarray,
    raw_totals: np.ndarray,
    hyp_len: np.ndarray,
    ref_len: np.ndarray,
    weights: tuple[float, ...],
    smoothing: str,
    p5: np.ndarray | None,
) -> np.ndarray:
    """nltk corpus_bleu arithmetic, one row = one call (float64 instead of Fractions: equal to ~1e-15)."""
    n_rows, k = matches.shape
    num = matches.astype(np.float64)
    den = denominators.astype(np.float64)
    zero = matches == 0
    active = matches[:, 0] != 0  # nltk returns 0 before smoothing when no unigram matches
    p = num / den
    if smoothing == "none":
        p = np.where(zero, sys.float_info.min, p)
    elif smoothing == "method1":
        p = np.where(zero, (0 + _EPSILON) / den, p)
    elif smoothing == "method2":
        p[:, 1:] = (num[:, 1:] + 1) / (den[:, 1:] + 1)
    elif smoothing == "method3":
        incvnt = np.cumsum(zero, axis=1)
        p = np.where(zero, 1 / (2.0**incvnt * den), p)
    elif smoothing in ("method4", "method7"):
        p = _method4(p, zero, den, hyp_len)
    if smoothing in ("method5", "method7"):
        assert p5 is not None
        orig = p.copy()
        prev = orig[:, 0] + 1
        for i in range(k):
            nxt = orig[:, i + 1] if i + 1 < k else p5
            p[:, i] = (prev + orig[:, i] + nxt) / 3
            prev = p[:, i]
    if smoothing == "method6":
        if k < 3 and active.any():
            raise UserError(
                "smoothing method6 needs n >= 3 (nltk reads the trigram precision; it fails for "
                f"n={k}); use one of {', '.join(s for s in SMOOTHING_METHODS if s != 'method6')}"
            )
        bad = np.flatnonzero(active & zero[:, 2]) if k >= 3 else np.array([], dtype=np.int64)
        if bad.shape[0]:
            raise UserError(
                f"smoothing method6 is undefined for hypothesis #{int(bad[0])} (a unigram match but "
                "no trigram match: nltk raises AssertionError); use method1..method5 or method7"
            )
        for i in range(2, k):
            safe = np.where(p[:, i - 2] == 0, 1.0, p[:, i - 2])
            pi0 = np.where(p[:, i - 2] == 0, 0.0, p[:, i - 1] ** 2 / safe)
            p[:, i] = (num[:, i] + _ALPHA * pi0) / (raw_totals[:, i] + _ALPHA)
    w = np.asarray(weights, dtype=np.float64)
    positive = p > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(positive, w[None, :] * np.log(np.where(positive, p, 1.0)), 0.0)
    log_sum = terms.sum(axis=1)
    h = hyp_len.astype(np.float64)
    r = ref_len.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(hyp_len > ref_len, 1.0, np.where(hyp_len == 0, 0.0, np.exp(1 - r / np.maximum(h, 1))))
    scores = bp * np.exp(log_sum)
    return np.where(active, scores, 0.0)


def _method4(p: np.ndarray, zero: np.ndarray, den: np.ndarray, hyp_len: np.ndarray) -> np.ndarray:
    """nltk method4: zero precisions get 1/(2^k * K / ln(len)) / denominator, only when len > 1."""
    zero = zero & (hyp_len > 1)[:, None]
    incvnt = np.cumsum(zero, axis=1)
    # math.log (not np.log) on the few distinct lengths, to use the very same float as nltk.
    uniq, inverse = np.unique(np.maximum(hyp_len, 2), return_inverse=True)
    log_len = np.array([math.log(int(x)) for x in uniq], dtype=np.float64)[inverse.reshape(-1)]
    numerator = 1 / (2.0**incvnt * _K / log_len[:, None])
    return np.where(zero, numerator / den, p)


def sentence_scores(
    stats: SentenceStats,
    n: int | None = None,
    *,
    weights: Sequence[float] | None = None,
    smoothing: str | None = DEFAULT_SMOOTHING,
) -> np.ndarray:
    """Per-hypothesis BLEU from statistics, equal to nltk sentence_bleu(references, hyp, weights, smoothing).

    Args:
        stats: per-sentence statistics (`ReferenceSet.stats` or `self_bleu_stats`).
        n: BLEU-n with uniform weights 1/n (ignored when weights are given, except as a check).
        weights: explicit weights for orders 1..len(weights).
        smoothing: `none`/`method0` (nltk's default) or `method1`..`method7`.
    """
    weights = _normalize_weights(n, weights)
    name = normalize_smoothing(smoothing)
    k = len(weights)
    _check_order(needed_order(k, name), stats.max_n)
    p5 = None
    if name in ("method5", "method7"):
        o = _METHOD5_ORDER - 1
        p5 = stats.matches[:, o] / np.maximum(stats.totals[:, o], 1).astype(np.float64)
    return _score_rows(
        stats.matches[:, :k],
        np.maximum(stats.totals[:, :k], 1),
        stats.totals[:, :k],
        stats.hyp_len,
        stats.ref_len,
        weights,
        name,
        p5,
    )


def corpus_bleu_from_sums(
    sums: np.ndarray, weights: Sequence[float], smoothing: str | None = "none"
) -> np.ndarray:
    """nltk corpus_bleu (micro-averaged) from summed `SentenceStats.matrix` rows, e.g. bootstrap resamples.

    Args:
        sums: (2k+2,) or (R, 2k+2) sums of `stats.matrix(k)` rows; k = len(weights).
        weights: weights for orders 1..k.
        smoothing: `none` or `method1`..`method4` (nltk's method5-7 at corpus level read the last hypothesis).
    """
    weights = _normalize_weights(None, weights)
    name = normalize_smoothing(smoothing)
    if name not in ("none", "method1", "method2", "method3", "method4"):
        raise UserError(f"corpus-level BLEU supports smoothing none or method1..method4, not {name}")
    sums = np.asarray(sums, dtype=np.float64)
    one = sums.ndim == 1
    sums = np.atleast_2d(sums)
    k = len(weights)
    if sums.shape[1] != 2 * k + 2:
        raise UserError(f"expected {2 * k + 2} columns (stats.matrix({k})), got {sums.shape[1]}")
    matches = np.rint(sums[:, :k]).astype(np.int64)
    dens = np.rint(sums[:, k : 2 * k]).astype(np.int64)
    hyp_len = np.rint(sums[:, 2 * k]).astype(np.int64)
    ref_len = np.rint(sums[:, 2 * k + 1]).astype(np.int64)
    out = _score_rows(matches, dens, dens, hyp_len, ref_len, weights, name, None)
    return out[0] if one else out


# ---------------------------------------------------------------------------------------------------------
# Scores with signatures
# ---------------------------------------------------------------------------------------------------------


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
    weights = _normalize_weights(n if weights is None else None, weights)
    name = normalize_smoothing(smoothing)
    if len(hypotheses) == 0:
        raise UserError("no hypotheses to score")
    need = needed_order(len(weights), name)
    refset = references if isinstance(references, ReferenceSet) else ReferenceSet(references, need)
    _check_order(need, refset.max_n)
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
    weights = _normalize_weights(n if weights is None else None, weights)
    name = normalize_smoothing(smoothing)
    index = self_bleu_sample_index(len(samples), n_samples, seed)
    chosen = [samples[int(i)] for i in index]
    stats = self_bleu_stats(chosen, needed_order(len(weights), name))
    per = sentence_scores(stats, weights=weights, smoothing=name)
    sig = self_bleu_signature(weights, name, tok, len(chosen), len(samples), seed)
    return Score(float(per.mean()), sig, per_sample=per, stats=stats, sample_index=index)


# ---------------------------------------------------------------------------------------------------------
# sacrebleu
# ---------------------------------------------------------------------------------------------------------


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
