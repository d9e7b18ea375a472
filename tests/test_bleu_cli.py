"""`seqgan bleu` end to end through cli.main, with only seqgan.text.bleu_cli registered."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

import cli
from eval import bleu as B
from seqgan.text.tokenization import RunTokenization, run_tokenization

REFS = ["the cat sat on the mat", "a dog runs in the park", "the cat is on the mat", "two dogs play"]
HYPS = ["the cat sat on a mat", "a dog is in the park", "the the the", "dogs play", "the cat is on the mat"]


@pytest.fixture(autouse=True)
def only_bleu_command(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["seqgan.text.bleu_cli"])


@pytest.fixture
def files(tmp_path):
    refs, hyps = tmp_path / "refs.txt", tmp_path / "hyps.txt"
    refs.write_text("\n".join(REFS) + "\n", encoding="utf-8")
    hyps.write_text("\n".join(HYPS) + "\n", encoding="utf-8")
    return str(refs), str(hyps)


def _nltk_mean(refs, hyps, n):
    refs, hyps = [r.split() for r in refs], [h.split() for h in hyps]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(
            np.mean(
                [
                    sentence_bleu(refs, h, (1 / n,) * n, smoothing_function=SmoothingFunction().method1)
                    for h in hyps
                ]
            )
        )


def _run_json(capsys, argv):
    assert cli.main(argv + ["--json"]) == 0
    out = capsys.readouterr().out
    return {(r["metric"], r["n"]): r for r in json.loads(out)["results"]}


def test_table_output(capsys, files):
    refs, hyps = files
    assert cli.main(["bleu", "--refs", refs, "--hyps", hyps, "-n", "2,4"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    assert lines[0].split() == ["metric", "n", "score", "signature"]
    assert len(lines) == 3
    for line, n in zip(lines[1:], (2, 4), strict=True):
        metric, order, score, signature = line.split()
        assert (metric, int(order)) == ("bleu", n)
        assert float(score) == pytest.approx(_nltk_mean(REFS, HYPS, n), abs=5e-7)
        assert (
            signature.startswith(f"bleu-n:{n}|") and "|smooth:method1|tok:word|nrefs:4|nhyps:5|" in signature
        )


def test_json_with_self_bleu_and_sacrebleu(capsys, files):
    import sacrebleu

    refs, hyps = files
    parallel_refs = REFS + ["the cat is on the mat"]
    with open(refs, "a", encoding="utf-8") as fh:
        fh.write(parallel_refs[-1] + "\n")
    rows = _run_json(
        capsys, ["bleu", "--refs", refs, "--hyps", hyps, "-n", "3,2", "--self-bleu", "--sacrebleu"]
    )
    assert set(rows) == {
        ("bleu", 2),
        ("bleu", 3),
        ("self-bleu", 2),
        ("self-bleu", 3),
        ("sacrebleu", 2),
        ("sacrebleu", 3),
        ("chrf", None),
    }
    assert rows[("bleu", 3)]["score"] == pytest.approx(_nltk_mean(parallel_refs, HYPS, 3), abs=1e-9)
    hyp_tokens = [h.split() for h in HYPS]
    assert rows[("self-bleu", 2)]["score"] == pytest.approx(B.self_bleu(hyp_tokens, 2).score, abs=1e-12)
    brute = _nltk_mean(HYPS[1:], HYPS[:1], 2)  # first sample against the others only
    assert B.self_bleu(hyp_tokens, 2).per_sample[0] == pytest.approx(brute, abs=1e-9)
    expected = sacrebleu.metrics.BLEU(max_ngram_order=2).corpus_score(HYPS, [parallel_refs]).score
    assert rows[("sacrebleu", 2)]["score"] == expected
    assert rows[("chrf", None)]["score"] == sacrebleu.corpus_chrf(HYPS, [parallel_refs]).score


def test_self_bleu_only_with_subset_and_stdin(capsys, monkeypatch, tmp_path):
    lines = [f"w{i % 7} w{i % 5} w{i % 3} x" for i in range(30)]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(lines).encode("utf-8"))))
    rows = _run_json(
        capsys, ["bleu", "--hyps", "-", "-n", "2", "--self-bleu", "--self-bleu-samples", "8", "--seed", "3"]
    )
    expected = B.self_bleu([line.split() for line in lines], 2, n_samples=8, seed=3)
    assert rows[("self-bleu", 2)]["score"] == pytest.approx(expected.score, abs=1e-12)
    assert "samples:8|of:30|seed:3" in rows[("self-bleu", 2)]["signature"]


def test_char_tokenization_lowercase_and_unicode(capsys, tmp_path):
    refs, hyps = tmp_path / "r.txt", tmp_path / "h.txt"
    refs.write_text("Größe Straße\nnaïve café\n", encoding="utf-8")
    hyps.write_text("\ufeffgrösse strasse\nNAÏVE CAFÉ\n", encoding="utf-8")  # a byte-order mark is dropped
    rows = _run_json(
        capsys,
        [
            "bleu",
            "--refs",
            str(refs),
            "--hyps",
            str(hyps),
            "-n",
            "2",
            "--tokenize",
            "char",
            "--lowercase",
            "--smoothing",
            "none",
        ],
    )
    r = [list("größestraße"), list("naïvecafé")]
    h = [list("grössestrasse"), list("naïvecafé")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.mean([sentence_bleu(r, x, (0.5, 0.5)) for x in h])
    assert rows[("bleu", 2)]["score"] == pytest.approx(expected, abs=1e-12)
    assert "tok:char+lowercase" in rows[("bleu", 2)]["signature"]


def test_lines_split_only_at_newlines(capsys, tmp_path):
    refs, hyps = tmp_path / "r.txt", tmp_path / "h.txt"
    refs.write_bytes("a b\u2028c d\r\ne f\n".encode("utf-8"))  # U+2028 is not a line break here
    hyps.write_text("a b\u2028c d", encoding="utf-8")
    rows = _run_json(capsys, ["bleu", "--refs", str(refs), "--hyps", str(hyps), "-n", "1"])
    assert "nrefs:2|nhyps:1|" in rows[("bleu", 1)]["signature"]
    assert rows[("bleu", 1)]["score"] == 1.0


def _expect_user_error(capsys, argv, *fragments):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err_lines = captured.err.splitlines()
    assert len(err_lines) == 1, captured.err
    assert err_lines[0].startswith("seqgan bleu: error: ")
    for fragment in fragments:
        assert fragment in err_lines[0]
    return err_lines[0]


def test_missing_and_empty_files(capsys, files, tmp_path):
    refs, hyps = files
    _expect_user_error(
        capsys, ["bleu", "--refs", str(tmp_path / "nope.txt"), "--hyps", hyps], "not found", "nope.txt"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n", encoding="utf-8")
    _expect_user_error(capsys, ["bleu", "--refs", refs, "--hyps", str(empty)], "empty", "empty.txt")
    _expect_user_error(capsys, ["bleu", "--hyps", hyps], "--refs")
    _expect_user_error(capsys, ["bleu", "--refs", refs], "--hyps")
    _expect_user_error(capsys, ["bleu", "--refs", "-", "--hyps", "-"], "stdin")


@pytest.mark.parametrize("orders", ["0", "10", "2,x", "", "-1"])
def test_bad_orders(capsys, files, orders):
    refs, hyps = files
    _expect_user_error(capsys, ["bleu", "--refs", refs, "--hyps", hyps, "-n", orders], "-n", "1..9")


def test_bad_options(capsys, files):
    refs, hyps = files
    base = ["bleu", "--refs", refs, "--hyps", hyps]
    _expect_user_error(capsys, base + ["--smoothing", "method8"], "unknown smoothing", "method1")
    _expect_user_error(capsys, base + ["--tokenize", "bpe"], "--tokenize", "word")
    _expect_user_error(capsys, base + ["--processes", "0"], "--processes")
    _expect_user_error(capsys, base + ["--self-bleu-samples", "5"], "--self-bleu")
    _expect_user_error(capsys, base + ["-n", "2", "--smoothing", "method6"], "method6")
    short = refs + ".short"
    with open(short, "w", encoding="utf-8") as fh:
        fh.write("one line\n")
    _expect_user_error(
        capsys, ["bleu", "--refs", short, "--hyps", hyps, "--sacrebleu"], "one reference line per"
    )


def test_not_utf8_names_file_and_byte_offset(capsys, files, tmp_path):
    refs, _ = files
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("ok line\ncaf\u00e9 au lait\n".encode("latin-1"))
    _expect_user_error(
        capsys,
        ["bleu", "--refs", refs, "--hyps", str(bad)],
        "mismatched encodings",
        "latin1.txt",
        "byte offset 11",
        "line 2",
        "iconv",
    )


def test_cli_start_and_the_bleu_command_import_no_torch(tmp_path):
    """`seqgan bleu` runs in a fraction of a second: the parser and the command, with a run's tokenizer too,
    load neither torch nor the other heavy libraries."""
    from seqgan.text.config import apply_overrides
    from seqgan.text.presets import get_preset
    from text_data.tokenizer import build_tokenizer, save_tokenizer

    run = tmp_path / "run"
    run.mkdir()
    # a set max length (data.seq_len=0 is sized from the training split by seqgan.text.task, which loads torch)
    config = apply_overrides(get_preset("text-small"), ["data.corpus=corpus.txt", "data.seq_len=32"])
    (run / "config.json").write_text(json.dumps({"config": config.to_dict()}), encoding="utf-8")
    save_tokenizer(build_tokenizer("word", REFS, vocab_size=100), run / "tokenizer.json")
    (tmp_path / "refs.txt").write_text("\n".join(REFS) + "\n", encoding="utf-8")
    (tmp_path / "hyps.txt").write_text("\n".join(HYPS) + "\n", encoding="utf-8")
    heavy = "('torch', 'nltk', 'sacrebleu', 'datasets', 'transformers', 'matplotlib', 'scipy')"
    code = (
        "import sys, cli\n"
        "cli.build_parser()\n"
        f"print(sorted(m for m in {heavy} + ('numpy', 'tokenizers') if m in sys.modules))\n"
        "for extra in ([], ['--tokenizer-from', sys.argv[1]]):\n"
        "    assert cli.main(['bleu', '--refs', 'refs.txt', '--hyps', 'hyps.txt', *extra]) == 0\n"
        f"print(sorted(m for m in {heavy} if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, cwd=tmp_path,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "[]" and lines[-1] == "[]"
    assert "|tok:run-word|" in proc.stdout and "|tok:word|" in proc.stdout


def test_import_is_light():
    code = (
        "import sys, seqgan.text.bleu_cli; "
        "print(sorted(m for m in ('numpy', 'nltk', 'sacrebleu', 'torch') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    assert out.strip() == "[]"


# -- one tokenization for both files ------------------------------------------------------------------------

RAW = [f"the {a} sat on the {b}." for a in ("cat", "dog", "bird") for b in ("mat", "rug", "sofa", "bed")]
TOKENIZED = [line[:-1] + " ." for line in RAW]  # the same sentences with the period split off


def _nltk_mean_tokens(refs, hyps, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smooth = SmoothingFunction().method1
        return float(np.mean([sentence_bleu(refs, h, (1 / n,) * n, smoothing_function=smooth) for h in hyps]))


def test_warns_in_one_line_when_the_files_are_tokenized_differently(capsys, tmp_path):
    raw, tokenized = tmp_path / "raw.txt", tmp_path / "tok.txt"
    raw.write_text("\n".join(RAW) + "\n", encoding="utf-8")
    tokenized.write_text("\n".join(TOKENIZED[:11]) + "\n", encoding="utf-8")
    assert cli.main(["bleu", "--refs", str(raw), "--hyps", str(tokenized), "-n", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("seqgan bleu: warning: --refs and --hyps look tokenized differently (0% vs "
                                   "100% of word-final punctuation split off by a space)")
    assert "--tokenizer-from RUN_DIR" in captured.err
    # the score is still the whitespace split of both files (the warning changes nothing)
    score = json.loads(captured.out)["results"][0]["score"]
    assert score == pytest.approx(_nltk_mean(RAW, TOKENIZED[:11], 2), abs=1e-9)
    # the same tokenization on both sides: no warning (and no warning for too few marks to judge)
    for refs, hyps in ((tokenized, tokenized), (raw, raw)):
        assert cli.main(["bleu", "--refs", str(refs), "--hyps", str(hyps), "-n", "2"]) == 0
        assert capsys.readouterr().err == ""
    short = tmp_path / "short.txt"
    short.write_text("\n".join(TOKENIZED[:3]) + "\n", encoding="utf-8")
    assert cli.main(["bleu", "--refs", str(raw), "--hyps", str(short), "-n", "2"]) == 0
    assert capsys.readouterr().err == ""


def test_nltk_tokenization_works_offline_and_splits_punctuation(capsys, monkeypatch, tmp_path):
    import nltk

    def no_download(*args, **kwargs):
        raise AssertionError("nltk tried to download data")

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "no-nltk-data")])
    monkeypatch.setattr(nltk, "download", no_download)
    with pytest.raises(LookupError):  # sentence splitting (punkt) is unavailable here...
        nltk.word_tokenize("A cat. A dog.")
    raw, tokenized = tmp_path / "raw.txt", tmp_path / "tok.txt"
    raw.write_text("\n".join(RAW) + "\n", encoding="utf-8")
    tokenized.write_text("\n".join(TOKENIZED[:5]) + "\n", encoding="utf-8")
    rows = _run_json(capsys, ["bleu", "--refs", str(raw), "--hyps", str(tokenized), "-n", "3", "--tokenize", "nltk"])
    # ... and not needed: nltk's own word_tokenize without it, on each line, is the reference
    refs = [nltk.word_tokenize(line, preserve_line=True) for line in RAW]
    hyps = [nltk.word_tokenize(line, preserve_line=True) for line in TOKENIZED[:5]]
    assert refs[0] == ["the", "cat", "sat", "on", "the", "mat", "."]
    assert rows[("bleu", 3)]["score"] == pytest.approx(_nltk_mean_tokens(refs, hyps, 3), abs=1e-9)
    assert rows[("bleu", 3)]["score"] == pytest.approx(1.0)  # the hypotheses are reference sentences
    assert "|tok:nltk|" in rows[("bleu", 3)]["signature"]


def test_run_tokenization_splits_like_the_run_and_cuts_references_like_its_data():
    from text_data.tokenizer import build_tokenizer, decode

    tok = build_tokenizer("word", ["the cat sat.", "a dog ran ."], vocab_size=100)
    run_tok = RunTokenization(tok, "word", max_len=4)
    # raw and pre-tokenized text give the same tokens; a word outside the vocabulary is <unk>, as G sees it;
    # spacing is no token, even spacing the vocabulary lacks (here: two spaces, and around a literal <unk>)
    assert run_tok.tokens(["the cat sat.", "the cat sat .", "zebra ran", "", "the  cat <unk> ran"]) == [
        ["the", "cat", "sat", "."], ["the", "cat", "sat", "."], ["<unk>", "ran"], [], ["the", "cat", "<unk>", "ran"]]
    # so the text of ids with an <unk> in them (as a sample's) gives back their tokens
    ids = tok.encode("the cat zebra ran.", add_special_tokens=False).ids
    assert decode(tok, ids) == "the cat <unk> ran."
    assert run_tok.tokens([decode(tok, ids)]) == [["the", "cat", "<unk>", "ran", "."]]
    # references: at most max_len - 1 tokens (the <eos> takes the last place); empty lines are left out
    assert run_tok.references(["the cat sat.", "", "a dog"]) == [["the", "cat", "sat"], ["a", "dog"]]
    dropping = RunTokenization(tok, "word", max_len=4, too_long="drop")
    assert dropping.references(["the cat sat.", "a dog"]) == [["a", "dog"]]
    assert run_tok.label == "run-word"


@pytest.fixture(params=["10", "0"])
def text_run(request, tmp_path, monkeypatch):
    """A tiny trained word-level text run whose corpus attaches its periods to the words (raw text), with a
    max length of 10 tokens or one sized from the corpus (--max-len 0)."""
    import random

    from tests.conftest import run_cli_quiet
    from tests.test_text_data import TINY_TEXT

    rng = random.Random(0)
    words = "the a cat dog sat on mat ran red blue big house tree near far".split()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + ".\n"
                              for _ in range(200)), encoding="utf-8")
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["seqgan.text.commands", "seqgan.text.bleu_cli"])
    run = tmp_path / "run"
    argv = ["train", "--corpus", corpus, "--experiment", "text-small", "--max-len", request.param, "--run-dir", run,
            *TINY_TEXT, "--set", "schedule.adv_epochs=0", "--set", "schedule.pretrain_g_epochs=1"]
    result = run_cli_quiet(argv)
    assert result.code == 0, result.err
    return run


def test_tokenizer_from_a_run_equals_compare(capsys, text_run, tmp_path):
    from seqgan.text.report import compare

    report = compare([str(text_run)], tmp_path / "report", n=40, seed=3, temperatures=(), reference=None,
                     curve_samples=2, plots=False)
    expected = report["systems"]["seqgan"]
    samples = tmp_path / "samples.txt"  # the same samples: `seqgan sample` and compare draw with the same seed
    assert cli.main(["sample", "--run-dir", str(text_run), "-n", "40", "--seed", "3", "--out", str(samples)]) == 0
    test_split = str(text_run / "data" / "test.txt")
    capsys.readouterr()
    rows = _run_json(capsys, ["bleu", "--refs", test_split, "--hyps", str(samples), "--tokenizer-from",
                              str(text_run), "-n", "2,3,4,5", "--self-bleu"])
    for k in (2, 3, 4, 5):
        assert rows[("bleu", k)]["score"] == pytest.approx(expected[f"bleu{k}"], abs=1e-9)
        assert rows[("bleu", k)]["signature"] == expected[f"bleu{k}_signature"]
    assert "|tok:run-word|" in expected["bleu4_signature"]
    lines = [line for line in (text_run / "data" / "test.txt").read_text().splitlines() if line]
    assert f"nrefs:{len(lines)}|" in rows[("bleu", 2)]["signature"]
    # the independent check: nltk over the run tokenizer's tokens of both files
    run_tok = run_tokenization(str(text_run))
    refs = run_tok.references(lines)
    hyps = run_tok.tokens(samples.read_text(encoding="utf-8").split("\n")[:-1])
    assert all("." not in w[:-1] for r in refs for w in r)  # the periods are tokens of their own
    if json.loads((text_run / "config.json").read_text())["config"]["data"]["seq_len"] == 10:
        # some test lines are longer than the run's 9 tokens: they are cut as the run cut them, not read whole
        assert max(len(line.split()) for line in lines) > 9 and max(len(r) for r in refs) == 9
    assert rows[("bleu", 3)]["score"] == pytest.approx(_nltk_mean_tokens(refs, hyps, 3), abs=1e-9)


def test_tokenizer_from_bad_input(capsys, files, tmp_path):
    refs, hyps = files
    (tmp_path / "oracle").mkdir()
    (tmp_path / "oracle" / "config.json").write_text(json.dumps({"config": {}}), encoding="utf-8")
    base = ["bleu", "--refs", refs, "--hyps", hyps, "--tokenizer-from"]
    _expect_user_error(capsys, base + [str(tmp_path / "nope")], "not a run directory")
    _expect_user_error(capsys, base + [str(tmp_path / "oracle")], "oracle run", "without --tokenizer-from")
    _expect_user_error(capsys, base + [str(tmp_path / "oracle"), "--tokenize", "char"], "--tokenize")
    _expect_user_error(capsys, base + [str(tmp_path / "oracle"), "--lowercase"], "--lowercase")
