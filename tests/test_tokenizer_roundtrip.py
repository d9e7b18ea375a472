"""Tokenizers give the line back (decode(encode(line)) == line), old tokenizer.json files still decode as they
did, <unk> reads like a word, and BLEU (which reads a run's tokens through eval.bleu.token_strings) still sees
words and punctuation without the spacing marker."""

from __future__ import annotations

import re

import pytest

from text_data.dataset import model_texts
from text_data.tokenizer import (
    EOS,
    SPECIALS,
    UNK,
    build_tokenizer,
    decode,
    load_tokenizer,
    save_tokenizer,
    unk_spacing,
)

ASCII = ["load (the screen).", "Hello, world! It's 3:45 p.m. -- isn't it?", "x=1; y=[2, 3]; print(x/y)"]
CHINESE = ["秦川雄帝宅，函谷壮皇居。", "绮殿千寻起，离宫百雉余。", "中文 mixed with English，还有 “引号”！"]
PUNCT = ["«Ça va?» — «Oui…»", "emoji 🙂!! (ok)...", "tab\tseparated\tcolumns", "¿Qué? ¡Sí!"]
SPACES = ["  two leading", "two trailing  ", "internal   three", "   ", " a  b   c    d ", "\u3000ideographic space"]
LINES = ASCII + CHINESE + PUNCT + SPACES


def ids_of(tok, line: str) -> list[int]:
    return tok.encode(line, add_special_tokens=False).ids


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
@pytest.mark.parametrize("group", [ASCII, CHINESE, PUNCT, SPACES], ids=["ascii", "chinese", "punct", "spaces"])
def test_decode_of_encode_is_the_line(kind, group):
    tok = build_tokenizer(kind, LINES, vocab_size=2000)
    for line in group:
        ids = ids_of(tok, line)
        assert UNK not in ids and ids
        assert decode(tok, ids + [EOS, 9, 9]) == line


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_lowercase_round_trips_to_the_lower_cased_line(kind):
    tok = build_tokenizer(kind, LINES, vocab_size=2000, lowercase=True)
    for line in LINES:
        assert decode(tok, ids_of(tok, line)) == line.lower()


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_no_unicode_normalization(kind):
    """NFC and NFD spellings of a word stay distinct and each comes back as it was written."""
    nfc, nfd = "café naïve", "cafe\u0301 nai\u0308ve"
    tok = build_tokenizer(kind, [nfc, nfd], vocab_size=500)
    assert decode(tok, ids_of(tok, nfc)) == nfc and decode(tok, ids_of(tok, nfd)) == nfd


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_saved_tokenizer_decodes_the_same(kind, tmp_path):
    tok = build_tokenizer(kind, LINES, vocab_size=2000)
    save_tokenizer(tok, tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert [tok.id_to_token(i) for i in range(4)] == [again.id_to_token(i) for i in range(4)] == SPECIALS
    for line in LINES:
        assert ids_of(again, line) == ids_of(tok, line) and decode(again, ids_of(again, line)) == line


def test_a_word_is_one_token_at_the_start_and_inside_a_line():
    tok = build_tokenizer("word", ["cat sat", "the cat"], vocab_size=50)
    assert ids_of(tok, "cat")[0] == ids_of(tok, "the cat")[1]
    assert tok.encode("the cat", add_special_tokens=False).tokens == ["▁the", "▁cat"]


def test_unknown_word_shows_as_unk_with_the_space_of_a_word():
    tok = build_tokenizer("word", ["the cat sat on the mat .", "a  (dog)"], vocab_size=100)
    cases = {"the zebra sat .": "the <unk> sat .", "zebra sat": "<unk> sat", "the cat (zebra)": "the cat (<unk>)",
             "the  zebra": "the  <unk>"}
    for line, shown in cases.items():
        ids = ids_of(tok, line)
        assert UNK in ids and decode(tok, ids) == shown


UNSEEN = ("Callable", "zebra", "Zebra", "okapi")  # words no training line below holds
SPACING = ["collections.abc.Callable.", "from collections.abc import Callable", "the cat.Zebra", "the cat. Zebra",
           "zebra sat", " zebra", "the  zebra", "x\tzebra", "the cat (zebra)", "«zebra»", "Zebra.Zebra okapi",
           "the cat, okapi-zebra!", "a/zebra", "a / zebra", "the cat sat.  Zebra sat."]


def with_unk(line: str) -> str:
    """The line with every unseen word written "<unk>": what decoding its ids with `unk_spacing` must give."""
    return re.sub("|".join(UNSEEN), "<unk>", line)


def test_unk_takes_the_spacing_of_the_word_it_replaced():
    tok = build_tokenizer("word", ["from collections.abc import Mapping.", "the cat sat. x\ty", "a (dog) / sat",
                                   "«the» cat, dog-cat!", "a  b", "a/b", "sat.  a"], vocab_size=200)
    for line in SPACING:
        enc = tok.encode(line, add_special_tokens=False)
        assert UNK in enc.ids, line
        assert decode(tok, enc.ids, unk_spacing(line, enc)) == with_unk(line)
    # a sample's ids alone cannot tell "cat.Zebra" from "cat. Zebra": the guess puts a space after "."
    assert decode(tok, ids_of(tok, "the cat.Zebra")) == decode(tok, ids_of(tok, "the cat. Zebra")) == "the cat. <unk>"


def test_unk_spacing_survives_lowercasing_and_truncation():
    tok = build_tokenizer("word", ["from collections.abc import mapping. and"], vocab_size=100, lowercase=True)
    line = "From Collections.abc.Callable. and Zebra"
    assert model_texts(tok, [line], max_len=50) == ["from collections.abc.<unk>. and <unk>"]
    # cut after the first <unk>: the spacing of the <unk> that is left over is not shifted onto it
    assert model_texts(tok, ["zebra.Callable and more words"], max_len=2) == ["<unk>"]
    assert model_texts(tok, ["mapping.Callable and more words"], max_len=4) == ["mapping.<unk>"]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_char_and_bpe_lines_with_unknown_pieces_keep_their_spacing(kind):
    """Char <unk> is one character and spaces are tokens of their own; byte-level BPE has no <unk>."""
    tok = build_tokenizer(kind, ["the cat sat."], vocab_size=200)
    line = "the cat.Zebra sat"
    enc = tok.encode(line, add_special_tokens=False)
    want = re.sub(r"[^the cas.]", "<unk>", line) if kind == "char" else line
    assert decode(tok, enc.ids, unk_spacing(line, enc)) == want
    assert model_texts(tok, [line], max_len=50) == [want]


def old_recipe(kind: str, lines: list[str], vocab_size: int = 2000):
    """A tokenizer made exactly as earlier versions made them (tokenizer.json files of existing runs)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    norms = [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=1,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        if kind == "char":
            tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\S"), behavior="isolated")
            tok.decoder = decoders.Fuse()
        else:
            tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=1,
                                            show_progress=False)
    tok.normalizer = normalizers.Sequence(norms)
    tok.train_from_iterator(lines, trainer)
    return tok


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_old_tokenizer_json_still_loads_and_decodes_as_before(kind, tmp_path):
    old = old_recipe(kind, LINES)
    save_tokenizer(old, tmp_path / "tokenizer.json")
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    for line in ASCII + CHINESE + [" a  b   c    d "]:
        ids = ids_of(tok, line)
        assert ids == ids_of(old, line)
        collapsed = " ".join(line.split())  # the old normalizer: whitespace runs to one space, stripped
        pieces = [p for p, _ in old.pre_tokenizer.pre_tokenize_str(collapsed)]
        # word: tokens joined by single spaces (no decoder); char and bpe: the collapsed line
        want = " ".join(pieces) if kind == "word" else collapsed
        assert decode(tok, ids + [EOS, 5]) == want
    if kind == "word":  # old word runs: every token space-separated, <unk> included
        assert decode(tok, ids_of(tok, "the zebra(")) == "the <unk> ("


def bleu_words(tok, line: str) -> list[str]:
    """BLEU's tokens of a line under a run's tokenizer (what `seqgan compare` and `--tokenizer-from` score)."""
    from eval.bleu import token_strings

    strings = token_strings(tok)
    return [strings[i] for i in ids_of(tok, line) if strings[i]]


def test_bleu_sees_words_and_punctuation_without_spaces():
    tok = build_tokenizer("word", LINES, vocab_size=2000)
    for line in ASCII + CHINESE[:2]:
        # independent reference: Python's re with the old Whitespace pre-tokenizer's rule (same on this text)
        assert bleu_words(tok, decode(tok, ids_of(tok, line))) == re.findall(r"\w+|[^\w\s]+", line)
    char = build_tokenizer("char", LINES, vocab_size=2000)
    assert bleu_words(char, " a  b ") == ["a", "b"]


def test_bleu_tokens_of_new_and_old_word_runs_agree():
    """An old word run's decoded text (tokens joined by spaces) and a new one's (the line itself) give BLEU the
    same tokens, which for the old text are its whitespace split, as before."""
    new, old = build_tokenizer("word", LINES, vocab_size=2000), old_recipe("word", LINES)
    for line in ASCII + CHINESE + PUNCT:
        old_text = decode(old, ids_of(old, line))
        assert bleu_words(old, old_text) == old_text.split() == bleu_words(new, decode(new, ids_of(new, line)))
