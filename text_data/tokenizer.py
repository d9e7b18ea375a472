"""Tokenizers built with the `tokenizers` library: char, word and BPE, saved as run_dir/tokenizer.json.

Every tokenizer built here has the same four special tokens with fixed ids, so models can rely on them:
<pad> = 0, <bos> = 1, <eos> = 2, <unk> = 3. A run whose generator is a pretrained language model uses that
model's tokenizer instead, with the model's own special ids, saved beside it (`SpecialIds`, `load_run_tokenizer`).

Tokens keep the text's spacing, so decoding gives the line back: `decode(encode(line)) == line` for any line
without <unk> (lower-cased with `lowercase`); with `unk_spacing(line, encoding)` passed along, a line with
unknown words comes back with each of them replaced by "<unk>", spacing kept. Char tokens are single
characters, spaces included; BPE is byte-level; word tokens carry the space before them as "▁"
(SentencePiece's Metaspace scheme; a literal "▁" in the text comes back as a space). Tokenizers saved by
older versions (whitespace collapsed, NFC, word tokens decoded with a space between every two) still load
and decode as they always did.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from seqgan.base.errors import UserError
from seqgan.base.files import atomic_write_text

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
KINDS = ("char", "word", "bpe")
TOKENIZER_FILE = "tokenizer.json"  # the name a run directory keeps its tokenizer under (only text runs have one)
# beside tokenizer.json in a run whose tokenizer is a pretrained model's: that tokenizer's special ids (a run
# without it has the fixed ids above)
SPECIAL_IDS_FILE = "special_ids.json"
SPACE = "\u2581"  # "▁": the space a word token starts with
# After Metaspace has turned spaces into "▁" and split before each, cut words from runs of punctuation (the
# rule of the old Whitespace pre-tokenizer, \w+|[^\w\s]+); a piece keeps the "▁" in front of it, and any other
# whitespace character (tab, ideographic space) is a token of its own.
WORD_PATTERN = f"{SPACE}?(?:\\w+|[^\\w\\s{SPACE}]+)|{SPACE}|\\s"
CHAR_PATTERN = r"[\s\S]"  # every character on its own, spaces included
# an unknown word token loses the "▁" it carried; decoding ids alone (a sample) puts a space back unless it
# follows one of these. Decoding an encoded line passes `unk_spacing` instead, which knows.
NO_SPACE_AFTER = "([{“‘«„¿¡/-"


@dataclass(frozen=True)
class SpecialIds:
    """The special ids a text run's data, generator and decoding use.

    Attributes:
        start: fed to G first (never generated, skipped when decoding).
        eos: ends every line (decoding stops at it).
        pad: fills a line after its <eos> (skipped when decoding; may equal eos).
        unk: the unknown token, or None when the tokenizer has none (byte-level BPE covers every text).
    """

    start: int = BOS
    eos: int = EOS
    pad: int = PAD
    unk: int | None = UNK


WORD_IDS = SpecialIds()  # every tokenizer `build_tokenizer` makes


def save_special_ids(ids: SpecialIds, path: str | Path) -> None:
    """Write a run's special ids (SPECIAL_IDS_FILE) atomically."""
    atomic_write_text(path, json.dumps(asdict(ids), indent=2) + "\n")


def load_special_ids(path: str | Path, vocab_size: int) -> SpecialIds:
    """Read a run's special ids; a one-line UserError when the file is unreadable or an id is out of range.

    Args:
        path: a SPECIAL_IDS_FILE.
        vocab_size: the tokenizer's number of ids.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        ids = SpecialIds(int(data["start"]), int(data["eos"]), int(data["pad"]),
                         None if data.get("unk") is None else int(data["unk"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is unreadable ({err}); it must be the special ids a run was trained with") from None
    if any(not 0 <= i < vocab_size for i in asdict(ids).values() if i is not None):
        raise UserError(f"{path} names ids outside the tokenizer's {vocab_size}; it belongs to another tokenizer")
    return ids


def load_run_tokenizer(run_dir: str | Path):
    """A text run's tokenizer and its special ids: the fixed ones of `build_tokenizer`'s tokenizers, or those
    saved beside a pretrained model's tokenizer (SPECIAL_IDS_FILE).

    A pretrained model's tokenizer encodes the text of its special tokens (e.g. "<|endoftext|>" in a corpus
    line) as ordinary text, so a line never ends or restarts inside.

    Args:
        run_dir: a text run's directory.
    """
    run_dir = Path(run_dir)
    ids_path = run_dir / SPECIAL_IDS_FILE
    if not ids_path.is_file():
        return load_tokenizer(run_dir / TOKENIZER_FILE), WORD_IDS
    tok = load_tokenizer(run_dir / TOKENIZER_FILE, own=False)
    tok.encode_special_tokens = True
    return tok, load_special_ids(ids_path, tok.get_vocab_size())


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


def load_tokenizer(path: str | Path, own: bool = True):
    """Read a tokenizer.json written by `save_tokenizer`.

    Args:
        path: the file.
        own: it was made by `build_tokenizer` (its special tokens are checked); False for a pretrained model's.
    """
    from tokenizers import Tokenizer

    path = Path(path)
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # the Rust side raises plain Exception for bad files
        raise UserError(f"cannot load tokenizer {path} ({err}); it must be a tokenizer.json from a run") from err
    if own and [tok.id_to_token(i) for i in range(len(SPECIALS))] != SPECIALS:
        raise UserError(f"{path} was not made by seqgan (special tokens {SPECIALS} missing)")
    return tok


def _spaced_words(tok) -> bool:
    """True for a word tokenizer whose tokens carry their spaces (the Metaspace decoder)."""
    from tokenizers import decoders

    return isinstance(tok.decoder, decoders.Metaspace)


def unk_spacing(line: str, encoding, unk: int | None = UNK) -> list[bool]:
    """For each <unk> of `encoding` (of `line`), in order: whether the word it replaced had a space before it.

    The word tokenizer's unknown piece loses its leading "▁" (space), but its offsets still point into the
    line, starting at that space when there was one ("a.Zebra" and "a. Zebra" differ only there).

    Args:
        line: the text that was encoded.
        encoding: `tok.encode(line, add_special_tokens=False)` (or one of `encode_batch`).
        unk: the tokenizer's unknown id (None: it has none).
    """
    return [line[start:start + 1] in (" ", SPACE) for i, (start, _end) in zip(encoding.ids, encoding.offsets)
            if i == unk]


def decode(tok, ids: Iterable[int], unk_spaced: Sequence[bool] | None = None, specials: SpecialIds = WORD_IDS) -> str:
    """Text of a generated id sequence: stops at <eos>, skips <pad>/<bos>; <unk> shows as "<unk>".

    Real lines and samples both go through here, so they look alike: an unknown word shows as <unk> in both.

    Args:
        tok: a tokenizer from `build_tokenizer` or `load_tokenizer`.
        ids: token ids.
        unk_spaced: for each <unk> in `ids`, in order, whether a space comes before it (`unk_spacing` of the
            line the ids were encoded from); None for ids alone (a sample), where the spacing is guessed.
        specials: the run's special ids (another tokenizer's than `build_tokenizer`'s: a pretrained model's).
    """
    out = []
    skipped = (specials.pad, specials.start)
    for i in ids:
        if i == specials.eos:
            break
        if i not in skipped:
            out.append(int(i))
    # the spacing of <unk> below is that of `build_tokenizer`'s word tokens; another tokenizer decodes as it does
    if specials != WORD_IDS or UNK not in out or not _spaced_words(tok):
        return tok.decode(out, skip_special_tokens=False)
    # The word replaced by <unk> took its leading "▁" with it. Without `unk_spaced`, put it back where a word
    # after a space is likely: anywhere but at the start, after a tab-like space, or after an opening bracket
    # or quote. (A lone "▁" token is the first of several spaces, so the word after it had a "▁" of its own.)
    tokens = [tok.id_to_token(i) or "" for i in out]  # "": an id past the vocabulary (a padded embedding's)
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
