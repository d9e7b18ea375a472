"""seqgan/text/report.py and `seqgan compare` / `seqgan study --corpus`: frontier verdicts, tempering, BLEU columns
against an independent computation, significance, report files, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from scipy import stats

from eval.significance import mann_whitney_u
from seqgan.text.frontier import FRONTIER_RULE, OUTSIDE_SWEEP, beyond_cell, beyond_curve
from seqgan.text.run import load_run
from seqgan.text.scoring import tempered, tokens_of
from seqgan.text.verdict import compare_verdict, report_markdown
from tests.conftest import TINY, tiny_generator
from tests.test_text_data import TINY_TEXT, corpus_file  # noqa: F401


def _curve(points, keys=("nll_test", "nll_oracle")):
    return [{keys[0]: x, keys[1]: y} for x, y in points]


def test_beyond_curve_on_the_oracle_plane_uses_the_pareto_front():
    # a U-shaped sweep: NLL-test rises on both sides of the best temperature
    curve = _curve([(4.75, 4.5), (4.5, 5.0), (4.45, 5.4), (4.5, 5.7)])
    assert beyond_curve({"nll_test": 4.6, "nll_oracle": 4.6}, curve, False)  # under the 4.5-4.75 segment
    assert not beyond_curve({"nll_test": 4.6, "nll_oracle": 4.9}, curve, False)
    # more diverse than any temperature: the sweep cannot tell (rule 1 called it beyond)
    assert beyond_curve({"nll_test": 4.40, "nll_oracle": 6.0}, curve, False) == OUTSIDE_SWEEP
    assert beyond_curve({"nll_test": 5.0, "nll_oracle": 4.6}, curve, False) is False  # dominated by (4.75, 4.5)
    # less diverse than any temperature and not dominated: rule 1 extrapolated the last front point
    assert beyond_curve({"nll_test": 5.0, "nll_oracle": 4.4}, curve, False) == OUTSIDE_SWEEP


def test_beyond_curve_on_the_text_plane_wants_high_bleu_and_low_self_bleu():
    curve = _curve([(0.2, 0.3), (0.5, 0.6), (0.8, 0.8)], ("self_bleu4", "bleu4"))
    assert beyond_curve({"self_bleu4": 0.35, "bleu4": 0.5}, curve, True) is True  # curve gives 0.45 there
    assert beyond_curve({"self_bleu4": 0.35, "bleu4": 0.4}, curve, True) is False
    assert beyond_curve({"self_bleu4": 0.9, "bleu4": 0.75}, curve, True) is False  # (0.8, 0.8) is as good


TEXT_CURVE = [{"temperature": t, "self_bleu4": x, "bleu4": y}
              for t, x, y in [(1.5, 0.2, 0.3), (1.0, 0.5, 0.6), (0.7, 0.8, 0.8)]]


def test_a_collapsed_point_outside_the_sweep_is_neither_beyond_nor_not():
    # PG-BLEU collapsed: higher BLEU than any temperature, but Self-BLEU above the coldest one's (0.8)
    collapsed = {"self_bleu4": 0.97, "bleu4": 0.9}
    assert beyond_curve(collapsed, TEXT_CURVE, True) == OUTSIDE_SWEEP
    # the same outside the other end: more diverse than the hottest temperature
    assert beyond_curve({"self_bleu4": 0.1, "bleu4": 0.05}, TEXT_CURVE, True) == OUTSIDE_SWEEP
    # at an end of the range it is judged: (0.8, 0.85) beats the coldest point's 0.8
    assert beyond_curve({"self_bleu4": 0.8, "bleu4": 0.85}, TEXT_CURVE, True) is True


def test_inside_the_sweep_the_curve_is_interpolated_between_neighbouring_temperatures():
    # between (0.5, 0.6) and (0.8, 0.8) the line is 0.6 + (x - 0.5) * 2/3: 0.7 at Self-BLEU 0.65
    assert beyond_curve({"self_bleu4": 0.65, "bleu4": 0.71}, TEXT_CURVE, True) is True
    assert beyond_curve({"self_bleu4": 0.65, "bleu4": 0.69}, TEXT_CURVE, True) is False
    # above both neighbours' BLEU but not above the line between them: an extra check that this is no
    # "better than one neighbour" rule
    assert beyond_curve({"self_bleu4": 0.35, "bleu4": 0.44}, TEXT_CURVE, True) is False  # line gives 0.45


def test_outside_the_sweep_in_tables_and_sentences():
    assert beyond_cell({1: True, 2: False, 3: OUTSIDE_SWEEP}) == "1 of 3 (1 outside the sweep)"
    assert beyond_cell({1: True, 2: True}) == "2 of 2"
    point = {"self_bleu4": 0.97, "bleu4": 0.9, "mean_length": 9.0, "distinct_tokens": 3, "nll_test": 5.0,
             **{f"bleu{k}": 0.9 for k in (2, 3, 5)}, "beyond_reference_curve": OUTSIDE_SWEEP}
    report = {"kind": "text", "task": "t", "n": 10, "seed": 0, "checkpoint": "last", "baseline": "mle",
              "reference": "mle", "frontier_rule": FRONTIER_RULE, "metric_for_tests": "bleu4",
              "systems": {"mle": {**point, "self_bleu4": 0.5, "bleu4": 0.6, "beyond_reference_curve": "reference",
                                  "bleu4_signature": "sig"},
                          "pg-bleu": point},
              "significance": {"pg-bleu": {"mann_whitney_p": 0.01, "welch_p": 0.02, "difference": 0.3}},
              "temperature_curve": TEXT_CURVE, "real_text": None}
    sentence = compare_verdict(report)[3]
    assert sentence.startswith("Whether pg-bleu lies beyond mle's temperature curve (BLEU-4 against Self-BLEU-4, "
                               "temperatures 0.7 to 1.5) is not known")
    assert "its Self-BLEU-4 lies outside the range" in sentence
    markdown = report_markdown(report)
    assert "| pg-bleu |" in markdown and "| outside the sweep |" in markdown and FRONTIER_RULE in markdown


def test_tempered_generator_scores_softmax_of_logits_over_t():
    g = tiny_generator()
    ids = g.sample(6, torch.Generator().manual_seed(0))
    hot = tempered(g, 1.7)
    logits = g(g.shift_right(ids)) / 1.7  # (B, T, V)
    expected = -torch.log_softmax(logits, -1).gather(2, ids.unsqueeze(2)).squeeze(2).sum(1)
    assert torch.allclose(hot.score(ids), expected, atol=1e-4)
    assert tempered(g, 1.0) is g and torch.equal(g.out.weight, tiny_generator().out.weight)  # g untouched


@pytest.fixture(scope="module")
def oracle_runs(tmp_path_factory):
    from tests.conftest import run_cli_quiet

    root = tmp_path_factory.mktemp("cmp")
    for method in ("mle", "constant"):
        assert run_cli_quiet(["train", *TINY, "--method", method, "--seed", "2", "--run-dir",
                              root / method]).code == 0
    return root


def test_compare_on_the_oracle_writes_report_with_sweep_and_tests(oracle_runs, run_cli, tmp_path):
    out = tmp_path / "report"
    # the sweep reaches constant's NLL-test, so the frontier verdict is a yes or no (with 0.8 as the coldest
    # temperature, constant's NLL-test lies outside the sweep)
    result = run_cli(["compare", oracle_runs / "mle", oracle_runs / "constant", "--out", out, "-n", "300",
                      "--temperatures", "0.5,1.0,1.25"])
    assert result.code == 0, result.err
    report = json.loads((out / "report.json").read_text())
    assert set(report["systems"]) == {"mle", "constant"} and report["kind"] == "oracle"
    mle = report["systems"]["mle"]
    assert report["temperature_curve"][1]["nll_oracle"] == mle["nll_oracle"]  # T=1 is the system itself
    colder = report["temperature_curve"][0]
    assert colder["nll_oracle"] < mle["nll_oracle"]  # sharper samples look better to the oracle
    assert colder["nll_test"] > mle["nll_test"]  # ... and cover held-out data worse
    assert mle["beyond_reference_curve"] == "reference"
    assert report["frontier_rule"] == FRONTIER_RULE  # which rule gave the beyond_reference_curve verdicts
    assert isinstance(report["systems"]["constant"]["beyond_reference_curve"], bool)
    sig = report["significance"]["constant"]
    assert 0.0 <= sig["mann_whitney_p"] <= 1.0 and 0.0 <= sig["welch_p"] <= 1.0
    assert sig["difference"] == pytest.approx(report["systems"]["constant"]["nll_oracle"] - mle["nll_oracle"],
                                              abs=1e-6)
    for name in ("report.md", "frontier.png", "training.png", "distribution.png"):
        assert (out / name).stat().st_size > 0
    markdown = (out / "report.md").read_text()
    assert "| constant |" in markdown
    # the verdict: sentences from the numbers, in report.json and report.md
    verdict = report["verdict"]
    worse = report["systems"]["constant"]["nll_oracle"] > mle["nll_oracle"]
    assert verdict[0].startswith("constant ") and "on quality as the oracle judges it" in verdict[0]
    assert ("worse" if worse else "better") in verdict[0] or "do not differ significantly" in verdict[0]
    assert "per-sample Mann-Whitney p = " in verdict[0]
    beyond = report["systems"]["constant"]["beyond_reference_curve"]
    assert verdict[2].startswith("constant lies beyond" if beyond else "constant does not lie beyond")
    assert "## Verdict" in markdown and all(sentence in markdown for sentence in verdict)


def test_compare_text_bleu_equals_nltk_and_the_significance_module(corpus_file, run_cli, tmp_path):  # noqa: F811
    runs = []
    for method in ("mle", "seqgan"):
        run = tmp_path / method
        assert run_cli(["train", "--corpus", corpus_file, "--experiment", "text-small", *TINY_TEXT, "--method",
                        method, "--seed", "1", "--run-dir", run]).code == 0
        runs.append(run)
    out = tmp_path / "report"
    result = run_cli(["compare", *runs, "--out", out, "-n", "40", "--temperatures", "0.7,1.0,1.4",
                      "--curve-samples", "10", "--no-plots"])
    assert result.code == 0, result.err
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "text" and report["real_text"]["n"] > 0
    # the BLEU-3 column equals nltk's sentence_bleu of the same samples against the test split, averaged
    run = load_run(runs[1])
    ids = run.pair.generator.eval().sample(40, torch.Generator().manual_seed(0))
    hyps, refs = tokens_of(run, ids), tokens_of(run, run.task.test.ids)
    smooth = SmoothingFunction().method1
    expected = np.mean([sentence_bleu(refs, h, weights=(1 / 3,) * 3, smoothing_function=smooth) for h in hyps])
    assert report["systems"]["seqgan"]["bleu3"] == pytest.approx(expected, abs=1e-9)
    assert "bleu4" in report["training_curves"]["seqgan"][-1]
    assert 0.0 <= report["significance"]["seqgan"]["mann_whitney_p"] <= 1.0


def test_study_on_a_corpus_file_writes_the_bleu_table_with_p_values(corpus_file, run_cli, tmp_path):  # noqa: F811
    out = tmp_path / "study"
    result = run_cli(["study", "--corpus", corpus_file, "--seeds", "1,2", "--out", out, "--bleu-samples", "30",
                      *TINY_TEXT])
    assert result.code == 0, result.err
    summary = json.loads((out / "summary.json").read_text())
    bleu = summary["bleu"]
    assert set(bleu["table"]) == {"mle", "seqgan", "real"}
    per_seed = [bleu["per_seed"][str(s)]["seqgan"]["bleu4"] for s in (1, 2)]
    assert bleu["table"]["seqgan"]["bleu4"][0] == pytest.approx(np.mean(per_seed))
    tests = bleu["tests"]["seqgan"]
    mle_seeds = [bleu["per_seed"][str(s)]["mle"]["bleu4"] for s in (1, 2)]
    # the seed-level test is Welch's t over the two seeds' values (scipy as the reference)
    assert tests["bleu4_welch_p_over_seeds"] == pytest.approx(
        stats.ttest_ind(per_seed, mle_seeds, equal_var=False).pvalue, rel=1e-6)
    assert 0.0 <= tests["bleu4_mann_whitney_p_pooled_samples"] <= 1.0
    table = (out / "table.md").read_text()
    assert "Real text" in table and " ± " in table and "(mean ± std, 2 seeds)" in table
    # the verdict: in summary.json and table.md, reading the seed-level test
    assert summary["verdict"] and all(sentence in table for sentence in summary["verdict"])
    assert summary["verdict"][-1].startswith("Which p-value to read: the seed-level Welch test")
    assert set(bleu["frontier"]["beyond"]["seqgan"]) == {"1", "2"}
    assert mann_whitney_u([0.1, 0.2], [0.3, 0.4]).p_value <= 1.0  # the module the table uses


def test_compare_prints_progress_on_stderr_and_nothing_else(oracle_runs, run_cli, tmp_path):
    result = run_cli(["compare", oracle_runs / "mle", oracle_runs / "constant", "--out", tmp_path / "r", "-n", "50",
                      "--temperatures", "0.8,1.0,1.25", "--no-plots"])
    assert result.code == 0, result.err
    lines = result.err_lines
    assert all(line.startswith("[compare] ") and line.endswith(" s)") and "(elapsed " in line for line in lines)
    expected = ["sampling and scoring mle (1/2), 50 samples", "sampling and scoring constant (2/2), 50 samples",
                "temperature sweep of mle: 0.8 (1/3)", "temperature sweep of mle: 1.25 (3/3)",
                "training curve of mle (1/2)", "training curve of constant (2/2)"]
    assert [line.split("] ", 1)[1].rsplit(" (elapsed", 1)[0] for line in lines] == expected
    assert "[compare]" not in result.out and result.out.startswith("# Comparison on ")


@pytest.mark.parametrize("extra, message", [
    (["--names", "a,b,c"], "--names has 3 names for 2"),
    (["--temperatures", "0.5,x"], "--temperatures must be comma-separated numbers"),
    (["--temperatures", "0,1"], "--temperatures must all be > 0"),
    (["--reference", "nope"], "--reference 'nope' is not among"),
    (["-n", "1"], "-n must be at least 2"),
])
def test_compare_bad_input_exits_2_with_one_line(oracle_runs, run_cli, tmp_path, extra, message):
    result = run_cli(["compare", oracle_runs / "mle", oracle_runs / "constant", "--out", tmp_path / "r",
                      "--no-plots", *extra])
    assert result.code == 2 and len(result.err_lines) == 1 and message in result.err


def test_compare_refuses_a_folder_that_is_not_a_run(run_cli, tmp_path):
    result = run_cli(["compare", tmp_path, "--out", tmp_path / "r"])
    assert result.code == 2 and "not a run directory" in result.err and len(result.err_lines) == 1
