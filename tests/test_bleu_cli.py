"""`seqgan bleu` end to end through cli.main, with only eval.bleu_cli registered."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

import cli
from eval import bleu as B

REFS = ["the cat sat on the mat", "a dog runs in the park", "the cat is on the mat", "two dogs play"]
HYPS = ["the cat sat on a mat", "a dog is in the park", "the the the", "dogs play", "the cat is on the mat"]


@pytest.fixture(autouse=True)
def only_bleu_command(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["eval.bleu_cli"])


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


def test_import_is_light():
    code = (
        "import sys, eval.bleu_cli; "
        "print(sorted(m for m in ('numpy', 'nltk', 'sacrebleu', 'torch') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    assert out.strip() == "[]"
