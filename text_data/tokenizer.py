"""Tokenizers built with the `tokenizers` library: char, word and BPE, saved as run_dir/tokenizer.json.

Every tokenizer has the same four special tokens with fixed ids, so models can rely on them:
<pad> = 0, <bos> = 1, <eos> = 2, <unk> = 3.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from seqgan.errors import UserError

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
KINDS = ("char", "word", "bpe")


def build_tokenizer(kind: str, lines: Iterable[str], vocab_size: int = 30_000, lowercase: bool = False,
                    min_frequency: int = 1):
    """Train a tokenizer on `lines` (the training split only).

    Args:
        kind: "char" (every character, spaces included, is a token), "word" (words and punctuation), or
            "bpe" (byte-level BPE: any Unicode text round-trips).
        lines: training text.
        vocab_size: upper bound on the vocabulary, specials included.
        lowercase: lower-case before tokenizing.
        min_frequency: drop tokens seen fewer times (word and char).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind not in KINDS:
        raise UserError(f"unknown tokenizer {kind!r}; use one of {', '.join(KINDS)}")
    if vocab_size <= len(SPECIALS):
        raise UserError(f"--vocab-size {vocab_size} leaves no room beyond the {len(SPECIALS)} special tokens "
                        f"{', '.join(SPECIALS)}; use a larger value")
    norms = [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    if lowercase:
        norms.append(normalizers.Lowercase())
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=min_frequency,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        if kind == "char":
            tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\S"), behavior="isolated")  # spaces stay tokens
            tok.decoder = decoders.Fuse()
        else:
            tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words and runs of punctuation
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                            min_frequency=min_frequency, show_progress=False)
    tok.normalizer = normalizers.Sequence(norms)
    tok.train_from_iterator(lines, trainer)
    for token, expected in zip(SPECIALS, range(len(SPECIALS)), strict=True):
        assert tok.token_to_id(token) == expected, "special tokens must keep their fixed ids"
    return tok


def save_tokenizer(tok, path: str | Path) -> None:
    """Write tokenizer.json atomically."""
    from seqgan.core.checkpoint import atomic_write_text

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


def decode(tok, ids: Iterable[int]) -> str:
    """Text of a generated id sequence: stops at <eos>, skips <pad>/<bos>."""
    out = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(int(i))
    return tok.decode(out, skip_special_tokens=False)
