"""`seqgan study` on a text corpus: one seed gives the tables (p-values n/a), everything is checked before
training, `study --help` names itself, and the verdict sentences follow the numbers they are given."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats

from seqgan.text.report import beyond_curve, compare_verdict, seed_welch_p, study_verdict
from tests.test_text_data import TINY_TEXT, corpus_file  # noqa: F401

FAST = ["--bleu-samples", "20", "--temperatures", "0.8,1,1.25"]


# ---------------------------------------------------------------- seed-level test


@pytest.mark.filterwarnings("ignore:Precision loss")  # scipy, on two identical values
def test_seed_welch_p_is_scipy_welch_and_na_below_two_seeds():
    a, b = [0.31, 0.29, 0.35], [0.25, 0.27, 0.22]
    assert seed_welch_p(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert seed_welch_p([0.3], [0.2]) is None  # one seed: no seed-level test
    assert seed_welch_p([1.0, 1.0], [1.0, 1.0]) is None  # identical seeds, no variance: scipy gives NaN too
    assert np.isnan(stats.ttest_ind([1.0, 1.0], [1.0, 1.0], equal_var=False).pvalue)


# ---------------------------------------------------------------- verdict sentences on hand-made summaries


def _text_summary(seeds, seq, mle, tests, beyond=None, names=None):
    """A summary shaped like summary.json: SeqGAN's and MLE's means (BLEU-4, Self-BLEU-4, NLL-valid) and p."""
    bleu_tests = {"bleu4_welch_p_over_seeds": tests[0], "self_bleu4_welch_p_over_seeds": tests[1],
                  "bleu4_mann_whitney_p_pooled_samples": 0.001}
    summary = {
        "seeds": seeds, "metric": "nll_valid", "baseline": "mle",
        "names": names or {"mle": "MLE (early-stopped)", "seqgan": "SeqGAN"},
        "table": {"random": {"nll_valid": [6.0, 0.0], "nll_test": [6.0, 0.0]},
                  "mle": {"nll_valid": [mle[2], 0.1], "nll_test": [mle[2], 0.1]},
                  "seqgan": {"nll_valid": [seq[2], 0.1], "nll_test": [seq[2], 0.1]}},
        "tests": {"seqgan": {"nll_valid_welch_p_over_seeds": tests[2], "nll_test_welch_p_over_seeds": tests[2]}},
        "bleu": {"table": {"mle": {"bleu4": [mle[0], 0.01], "self_bleu4": [mle[1], 0.01]},
                           "seqgan": {"bleu4": [seq[0], 0.01], "self_bleu4": [seq[1], 0.01]},
                           "real": {"bleu4": [0.5, 0.0], "self_bleu4": [0.4, 0.0]}},
                 "tests": {"seqgan": bleu_tests}, "baseline": "mle",
                 "frontier": ({"reference": "mle", "temperatures": [0.7, 1.0, 1.3], "beyond": {"seqgan": beyond}}
                              if beyond is not None else None)},
    }
    return summary


def test_verdict_better_worse_and_not_significant_follow_the_numbers():
    # SeqGAN: higher BLEU-4 (p 0.01: better quality), higher Self-BLEU-4 (p 0.02: worse diversity),
    # higher NLL-valid (p 0.40: no significant difference)
    summary = _text_summary([1, 2, 3], (0.30, 0.50, 4.9), (0.25, 0.40, 4.8), (0.01, 0.02, 0.40),
                            beyond={1: False, 2: False, 3: False})
    quality, diversity, nll, frontier, read = study_verdict(summary)
    assert quality == ("SeqGAN is better than MLE on quality (BLEU-4 0.300 vs 0.250, higher is better; "
                       "seed-level Welch p = 0.01).")
    assert diversity.startswith("SeqGAN is worse than MLE on diversity (Self-BLEU-4 0.500 vs 0.400, lower is better")
    assert nll.startswith("SeqGAN and MLE do not differ significantly on held-out likelihood (NLL-valid 4.900 vs "
                          "4.800") and "p = 0.4" in nll
    assert frontier.startswith("SeqGAN does not lie beyond MLE's temperature curve (BLEU-4 against Self-BLEU-4, "
                               "temperatures 0.7 to 1.3) on any seed")
    assert read.startswith("Which p-value to read: the seed-level Welch test") and "overstates" in read
    # the other way round: every direction and the frontier flip with the numbers
    flipped = _text_summary([1, 2, 3], (0.20, 0.30, 4.5), (0.25, 0.40, 4.8), (0.03, 0.001, 0.049),
                            beyond={1: True, 2: True, 3: True})
    quality, diversity, nll, frontier, _ = study_verdict(flipped)
    assert quality.startswith("SeqGAN is worse than MLE on quality") and "p = 0.03)" in quality
    assert diversity.startswith("SeqGAN is better than MLE on diversity")
    assert nll.startswith("SeqGAN is better than MLE on held-out likelihood") and "p = 0.049" in nll
    assert frontier.startswith("SeqGAN lies beyond MLE's temperature curve") and "on every seed" in frontier
    mixed = study_verdict(_text_summary([1, 2, 3], (0.3, 0.5, 4.9), (0.25, 0.4, 4.8), (0.5, 0.5, 0.5),
                                        beyond={1: True, 2: False, 3: True}))
    assert "on 2 of 3 seeds only" in mixed[3]


def test_verdict_with_one_seed_says_no_seed_level_test():
    summary = _text_summary([1], (0.30, 0.35, 4.9), (0.25, 0.40, 4.8), (None, None, None), beyond={1: True})
    sentences = study_verdict(summary)
    assert all("p = " not in s for s in sentences)  # no p-value is quoted as evidence
    assert sentences[0].startswith("On its one seed, SeqGAN scores better than MLE on quality")
    assert sentences[1].startswith("On its one seed, SeqGAN scores better than MLE on diversity")
    assert sentences[2].startswith("On its one seed, SeqGAN scores worse than MLE on held-out likelihood")
    assert "no evidence" in sentences[3]
    assert sentences[-1].startswith("Which p-value to read: none") and "Mann-Whitney" in sentences[-1]
    assert "--seeds 1,2,3" in sentences[-1]


def test_verdict_on_the_oracle_and_without_mle():
    summary = {"seeds": [1, 2], "metric": "nll_oracle", "table": {
        "random": {"nll_oracle": [10.3, 0.0], "nll_test": [10.3, 0.0]},
        "mle": {"nll_oracle": [9.04, 0.01], "nll_test": [7.0, 0.01]},
        "seqgan": {"nll_oracle": [8.74, 0.02], "nll_test": [7.2, 0.02]}},
        "tests": {"seqgan": {"nll_oracle_welch_p_over_seeds": 0.004, "nll_test_welch_p_over_seeds": 0.2}}}
    oracle, coverage, frontier, read = study_verdict(summary)
    assert oracle.startswith("SeqGAN is better than MLE on quality as the oracle judges it (NLL-oracle 8.740 vs "
                             "9.040")
    assert coverage.startswith("SeqGAN and MLE do not differ significantly on coverage")
    assert frontier == "Whether SeqGAN lies beyond MLE's temperature curve was not computed (no temperature sweep)."
    assert "Mann-Whitney" not in read
    swept = {**summary, "frontier": {"temperatures": [0.8, 1.0, 1.2], "beyond": {"seqgan": {1: True, 2: False}}}}
    assert study_verdict(swept)[2].startswith("SeqGAN lies beyond MLE's temperature curve (NLL-oracle against "
                                              "NLL-test, temperatures 0.8 to 1.2) on 1 of 2 seeds only")
    no_mle = {**summary, "table": {k: v for k, v in summary["table"].items() if k != "mle"}}
    assert study_verdict(no_mle) == ["No MLE row: the study has nothing to compare the methods against."]


def test_compare_verdict_names_axes_frontier_and_what_per_sample_p_means():
    report = {"kind": "text", "baseline": "mle", "reference": "mle", "metric_for_tests": "bleu4",
              "systems": {"mle": {"bleu4": 0.25, "self_bleu4": 0.40, "nll_test": 4.8,
                                  "beyond_reference_curve": "reference"},
                          "seqgan": {"bleu4": 0.27, "self_bleu4": 0.45, "nll_test": 4.9,
                                     "beyond_reference_curve": False}},
              "significance": {"seqgan": {"mann_whitney_p": 0.003, "welch_p": 0.01, "difference": 0.02}},
              "temperature_curve": [{"temperature": 0.8}, {"temperature": 1.0}, {"temperature": 1.2}]}
    quality, diversity, nll, frontier, read = compare_verdict(report)
    assert quality == ("seqgan is better than mle on quality (BLEU-4 0.270 vs 0.250, higher is better; "
                       "per-sample Mann-Whitney p = 0.003).")
    assert diversity.startswith("seqgan scores worse than mle on diversity") and "not tested" in diversity
    assert nll.startswith("seqgan scores worse than mle on held-out likelihood")
    assert frontier.startswith("seqgan does not lie beyond mle's temperature curve (BLEU-4 against Self-BLEU-4, "
                               "temperatures 0.8 to 1.2):")
    assert "not whether their methods do" in read and "seqgan study" in read


# ---------------------------------------------------------------- the study command


def test_study_with_one_seed_writes_the_tables_with_na(corpus_file, run_cli, tmp_path):  # noqa: F811
    out = tmp_path / "study"
    result = run_cli(["study", "--corpus", corpus_file, "--seeds", "1", "--out", out, *FAST, *TINY_TEXT])
    assert result.code == 0, result.err
    summary = json.loads((out / "summary.json").read_text())
    table = (out / "table.md").read_text()
    assert table in result.out
    tests = summary["bleu"]["tests"]["seqgan"]
    assert tests["bleu4_welch_p_over_seeds"] is None and tests["self_bleu4_welch_p_over_seeds"] is None
    assert 0.0 <= tests["bleu4_mann_whitney_p_pooled_samples"] <= 1.0  # per-sample: computable with one seed
    assert summary["tests"]["seqgan"] == {"nll_valid_welch_p_over_seeds": None, "nll_test_welch_p_over_seeds": None}
    assert "| n/a / " in table and "(1 seed)" in table and " ± " not in table
    # the frontier: MLE's curve at T=1 is MLE's own point, and the flag is beyond_curve of that curve
    frontier = summary["bleu"]["frontier"]
    curve = frontier["curves"]["1"]
    assert [c["temperature"] for c in curve] == [0.8, 1.0, 1.25]
    mle_point = summary["bleu"]["per_seed"]["1"]["mle"]
    assert (curve[1]["bleu4"], curve[1]["self_bleu4"]) == (mle_point["bleu4"], mle_point["self_bleu4"])
    seq_point = summary["bleu"]["per_seed"]["1"]["seqgan"]
    assert frontier["beyond"]["seqgan"]["1"] == beyond_curve(seq_point, curve, True)
    # the verdict, in summary.json and in table.md, and the MLE row named after the config
    assert summary["verdict"] == study_verdict(summary)
    assert "## Verdict" in table and summary["verdict"][-1] in table
    assert "one seed" in summary["verdict"][0] and "Which p-value to read: none" in summary["verdict"][-1]
    early = summary["config"]["schedule"].get("early_stop_patience", 0)
    assert summary["names"]["mle"] == ("MLE (early-stopped)" if early else "MLE (continued)")
    assert f"| {summary['names']['mle']} |" in table
    # BLEU scoring is minutes on a real corpus: a line per run scored, with the time so far
    scored = [line for line in result.err_lines if line.startswith("[study] scoring seed 1 ")]
    methods = summary["per_seed"]["1"].keys() - {"random"}
    assert len(scored) == len(methods), result.err
    assert all(re.search(r"\(elapsed \d+\.\d s\)$", line) for line in scored), result.err
    # re-running resumes (nothing to train) and gives the same tables
    again = run_cli(["study", "--corpus", corpus_file, "--seeds", "1", "--out", out, *FAST, *TINY_TEXT])
    assert again.code == 0 and (out / "table.md").read_text() == table
    # ... saying so in one line per run, without each run's resume lines and data notes
    runs = ["pretrain", *methods]
    assert {f"seed 1 {run}: already trained" for run in runs} <= set(again.err_lines), again.err
    assert not any(line.startswith(("resuming", "note:")) for line in again.err_lines), again.err


def test_a_study_rerun_that_shortens_finished_runs_is_refused(corpus_file, run_cli, tmp_path):  # noqa: F811
    """--set schedule.adv_epochs=1 on a study whose runs trained 2 adversarial epochs was accepted and rewrote
    their config.json to say 1; a longer schedule resumes and says what changed."""
    out = tmp_path / "study"
    argv = ["study", "--corpus", corpus_file, "--seeds", "1", "--methods", "mle", "--out", out,
            "--bleu-samples", "0", *TINY_TEXT]
    assert run_cli(argv).code == 0
    config = (out / "seed1" / "mle" / "config.json").read_bytes()
    shorter = run_cli([*argv, "--set", "schedule.adv_epochs=1"])
    assert shorter.code == 2 and len(shorter.err_lines) == 1, shorter.err
    assert "already trained 2 epochs of adversarial" in shorter.err and "schedule.adv_epochs 2 -> 1" in shorter.err
    assert (out / "seed1" / "mle" / "config.json").read_bytes() == config
    longer = run_cli([*argv, "--set", "schedule.adv_epochs=3"])
    assert longer.code == 0, longer.err
    assert "note: schedule.adv_epochs 2 -> 3 (resumable change)" in longer.err_lines, longer.err


def _tiny_corpus(path, lines):
    path.write_text("".join(f"the cat sat on mat number {i} .\n" for i in range(lines)))
    return path


@pytest.mark.parametrize("extra, needle", [
    (["--seeds", ","], "--seeds is empty"),
    (["--seeds", "1,2,1"], "--seeds repeats 1"),
    (["--seeds", "1,x"], "--seeds must be comma-separated integers"),
    (["--methods", "mle,gan"], "unknown method(s) gan"),
    (["--methods", "mle,mle"], "lists a method twice"),
    (["--bleu-samples", "1"], "--bleu-samples must be 0"),
    (["--bleu-samples", "-5"], "--bleu-samples must be 0"),
    (["--temperatures", "0,1"], "--temperatures must all be > 0"),
    (["--temperatures", "1,hot"], "--temperatures must be comma-separated"),
    (["--set", "schedule.nope=1"], "schedule.nope"),
])
def test_study_refuses_bad_arguments_before_training(corpus_file, run_cli, tmp_path, extra, needle):  # noqa: F811
    out = tmp_path / "study"
    result = run_cli(["study", "--corpus", corpus_file, "--seeds", "1", "--out", out, *TINY_TEXT, *extra])
    assert result.code == 2 and len(result.err_lines) == 1 and needle in result.err, result.err
    assert result.err.startswith("seqgan study: error: ") and not out.exists()


@pytest.mark.parametrize("case, needle", [
    ("missing", "does not exist"),
    ("binary", "is not a text file"),
    ("no_valid", "validation split"),
    ("one_test_line", "test split"),
    ("out_is_file", "is a file"),
    ("out_is_other_folder", "not a study"),
])
def test_study_refuses_bad_files_and_folders_before_training(run_cli, tmp_path, case, needle):
    corpus, out = tmp_path / "my.txt", tmp_path / "study"
    _tiny_corpus(corpus, 100)
    if case == "missing":
        corpus = tmp_path / "nope.txt"
    elif case == "binary":
        corpus.write_bytes(bytes(range(1, 256)) * 20)
    elif case == "no_valid":  # 4 lines: 0.8/0.1/0.1 rounds the validation split to nothing
        _tiny_corpus(corpus, 4)
    elif case == "one_test_line":  # 10 lines: one test line, and BLEU's real-text row needs two
        _tiny_corpus(corpus, 10)
    elif case == "out_is_file":
        out.write_text("mine")
    elif case == "out_is_other_folder":
        out.mkdir()
        (out / "thesis.tex").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = run_cli(["study", "--corpus", corpus, "--seeds", "1", "--out", out, *TINY_TEXT])
    assert result.code == 2 and len(result.err_lines) == 1 and needle in result.err, result.err
    assert "iconv" not in result.err  # binary files get no conversion advice
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing trained, nothing written


def test_study_help_names_the_command_typed(run_cli):
    for command in ("study", "oracle-study"):
        result = run_cli([command, "--help"])
        assert result.code == 0 and result.out.startswith(f"usage: seqgan {command} ")
