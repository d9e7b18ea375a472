"""Tokenizers built with the `tokenizers` library: char, word and BPE, saved as run_dir/tokenizer.json.

Every tokenizer has the same four special tokens with fixed ids, so models can rely on them:
<pad> = 0, <bos> = 1, <eos> = 2, <unk> = 3.

Tokens keep the text's spacing, so decoding gives the line back: `decode(encode(line)) == line` for any line
without <unk> (lower-cased with `lowercase`); with `unk_spacing(line, encoding)` passed along, a line with
unknown words comes back with each of them replaced by "<unk>", spacing kept. Char tokens are single
characters, spaces included; BPE is byte-level; word tokens carry the space before them as "▁"
(SentencePiece's Metaspace scheme; a literal "▁" in the text comes back as a space). Tokenizers saved by
older versions (whitespace collapsed, NFC, word tokens decoded with a space between every two) still load
and decode as they always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from seqgan.base.errors import UserError
from seqgan.base.files import atomic_write_text

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
KINDS = ("char", "word", "bpe")
TOKENIZER_FILE = "tokenizer.json"  # the name a run directory keeps its tokenizer under (only text runs have one)
SPACE = "\u2581"  # "▁": the space a word token starts with
# After Metaspace has turned spaces into "▁" and split before each, cut words from runs of punctuation (the
# rule of the old Whitespace pre-tokenizer, \w+|[^\w\s]+); a piece keeps the "▁" in front of it, and any other
# whitespace character (tab, ideographic space) is a token of its own.
WORD_PATTERN = f"{SPACE}?(?:\\w+|[^\\w\\s{SPACE}]+)|{SPACE}|\\s"
CHAR_PATTERN = r"[\s\S]"  # every character on its own, spaces included
# an unknown word token loses the "▁" it carried; decoding ids alone (a sample) puts a space back unless it
# follows one of these. Decoding an encoded line passes `unk_spacing` instead, which knows.
NO_SPACE_AFTER = "([{“‘«„¿¡/-"


def build_tokenizer(kind: str, lines: Iterable[str], vocab_size: int = 30_000, lowercase: bool = False,
                    min_frequency: int = 1):
    """Train a tokenizer on `lines` (the training split only).

    Args:
        kind: "char" (every character, spaces included, is a token), "word" (words and runs of punctuation,
            each with the space before it), or "bpe" (byte-level BPE: any Unicode text round-trips).
        lines: training text.
        vocab_size: upper bound on the vocabulary, specials included.
        lowercase: lower-case before tokenizing (the only normalization: text is not NFC-normalized or
            re-spaced, so that decoding gives back exactly the line).
        min_frequency: drop tokens seen fewer times (word and char).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind not in KINDS:
        raise UserError(f"unknown tokenizer {kind!r}; use one of {', '.join(KINDS)}")
    if vocab_size <= len(SPECIALS):
        raise UserError(f"--vocab-size {vocab_size} leaves no room beyond the {len(SPECIALS)} special tokens "
                        f"{', '.join(SPECIALS)}; use a larger value")
    norms = [normalizers.Lowercase()] if lowercase else []
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=min_frequency,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        if kind == "char":
            tok.pre_tokenizer = pre_tokenizers.Split(Regex(CHAR_PATTERN), behavior="isolated")
            tok.decoder = decoders.Fuse()
        else:
            # a "▁" in front of the line, as if a space preceded it, so that a line's first word is the same
            # token as that word inside a line; the decoder drops it again (prepend_scheme="always")
            norms.insert(0, normalizers.Prepend(SPACE))
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="never", split=True),
                pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")])
            tok.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="always", split=True)
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                            min_frequency=min_frequency, show_progress=False)
    if norms:
        tok.normalizer = normalizers.Sequence(norms)
    tok.train_from_iterator(lines, trainer)
    for token, expected in zip(SPECIALS, range(len(SPECIALS)), strict=True):
        assert tok.token_to_id(token) == expected, "special tokens must keep their fixed ids"
    return tok


def save_tokenizer(tok, path: str | Path) -> None:
    """Write tokenizer.json atomically."""
    atomic_write_text(path, tok.to_str(pretty=True))


def load_tokenizer(path: str | Path):
    """Read a tokenizer.json written by `save_tokenizer`."""
    from tokenizers import Tokenizer

    path = Path(path)
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # the Rust side raises plain Exception for bad files
        raise UserError(f"cannot load tokenizer {path} ({err}); it must be a tokenizer.json from a run") from err
    if [tok.id_to_token(i) for i in range(len(SPECIALS))] != SPECIALS:
        raise UserError(f"{path} was not made by seqgan (special tokens {SPECIALS} missing)")
    return tok


def _spaced_words(tok) -> bool:
    """True for a word tokenizer whose tokens carry their spaces (the Metaspace decoder)."""
    from tokenizers import decoders

    return isinstance(tok.decoder, decoders.Metaspace)


def unk_spacing(line: str, encoding) -> list[bool]:
    """For each <unk> of `encoding` (of `line`), in order: whether the word it replaced had a space before it.

    The word tokenizer's unknown piece loses its leading "▁" (space), but its offsets still point into the
    line, starting at that space when there was one ("a.Zebra" and "a. Zebra" differ only there).

    Args:
        line: the text that was encoded.
        encoding: `tok.encode(line, add_special_tokens=False)` (or one of `encode_batch`).
    """
    return [line[start:start + 1] in (" ", SPACE) for i, (start, _end) in zip(encoding.ids, encoding.offsets)
            if i == UNK]


def decode(tok, ids: Iterable[int], unk_spaced: Sequence[bool] | None = None) -> str:
    """Text of a generated id sequence: stops at <eos>, skips <pad>/<bos>; <unk> shows as "<unk>".

    Real lines and samples both go through here, so they look alike: an unknown word shows as <unk> in both.

    Args:
        tok: a tokenizer from `build_tokenizer` or `load_tokenizer`.
        ids: token ids.
        unk_spaced: for each <unk> in `ids`, in order, whether a space comes before it (`unk_spacing` of the
            line the ids were encoded from); None for ids alone (a sample), where the spacing is guessed.
    """
    out = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(int(i))
    if UNK not in out or not _spaced_words(tok):
        return tok.decode(out, skip_special_tokens=False)
    # The word replaced by <unk> took its leading "▁" with it. Without `unk_spaced`, put it back where a word
    # after a space is likely: anywhere but at the start, after a tab-like space, or after an opening bracket
    # or quote. (A lone "▁" token is the first of several spaces, so the word after it had a "▁" of its own.)
    tokens = [tok.id_to_token(i) for i in out]
    spaced = iter(unk_spaced) if unk_spaced is not None else None
    for k in range(len(tokens)):
        if out[k] != UNK:
            continue
        if spaced is not None:
            space = next(spaced, False)
        else:
            before = tokens[k - 1][-1:] if k else ""
            space = k > 0 and not (before.isspace() or before in NO_SPACE_AFTER)
        if space:
            tokens[k] = SPACE + tokens[k]
    return tok.decoder.decode(tokens)
