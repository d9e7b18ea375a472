"""What `train` does when the user leaves things out or mixes things up: the preset it picks without
--experiment, the refusal that names what differs in an existing run, and argparse errors under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SUBPROCESS_ENV_OVERRIDES

SHORT = ["--set", "schedule.pretrain_g_epochs=1", "--set", "schedule.pretrain_d_rounds=0",
         "--set", "schedule.adv_epochs=0"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "my.txt"
    path.write_text("the cat sat on the mat .\nthe dog ran far away .\na bird flew over the house .\n" * 40)
    return path


def _name(run_dir) -> str:
    return json.loads((run_dir / "config.json").read_text())["config"]["name"]


def test_a_corpus_without_experiment_trains_text_small_and_an_existing_run_keeps_its_preset(tmp_path, corpus,
                                                                                            run_cli):
    run = tmp_path / "mine"
    result = run_cli(["train", "--corpus", corpus, *SHORT, "--run-dir", run])
    assert result.code == 0, result.err
    assert _name(run) == "text-small" and "starting text-small" in result.err
    # a run made with another preset: re-running without --experiment resumes it as it was made
    gpt = tmp_path / "gpt"
    tiny_gpt = ["--set", "generator.layers=1", "--set", "generator.heads=2", "--set", "generator.width=16"]
    made = run_cli(["train", "--corpus", corpus, "--experiment", "text-small-gpt2", *SHORT, *tiny_gpt,
                    "--run-dir", gpt])
    assert made.code == 0, made.err
    again = run_cli(["train", "--corpus", corpus, *SHORT, *tiny_gpt, "--run-dir", gpt])
    assert again.code == 0, again.err
    assert _name(gpt) == "text-small-gpt2" and "different configuration" not in again.err


def test_no_corpus_and_no_experiment_is_the_oracle(tmp_path, run_cli):
    run = tmp_path / "oracle"
    result = run_cli(["train", "--experiment", "oracle-tiny", "--set", "schedule.adv_epochs=0", "--run-dir", run])
    assert result.code == 0
    from seqgan.text.commands import default_experiment

    class Args:
        run_dir, corpus = str(tmp_path / "new"), None

    assert default_experiment(Args()) == "oracle"
    Args.corpus = "poems"
    assert default_experiment(Args()) == "poems"
    Args.run_dir = str(run)
    assert default_experiment(Args()) == "oracle-tiny"


def test_another_preset_on_an_existing_run_names_the_preset_first_and_counts_the_rest(tmp_path, corpus, run_cli):
    run = tmp_path / "mine"
    assert run_cli(["train", "--corpus", corpus, *SHORT, "--run-dir", run]).code == 0
    before = sorted(p.name for p in run.rglob("*"))
    result = run_cli(["train", "--corpus", corpus, "--experiment", "text-small-gpt2", *SHORT, "--run-dir", run])
    assert result.code == 2 and len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert "(name: text-small -> text-small-gpt2; generator.kind: lstm -> gpt2;" in line
    assert "more); re-run with the same settings" in line
    assert sorted(p.name for p in run.rglob("*")) == before


def test_an_option_typo_under_torchrun_is_printed_by_rank_0_only():
    def run(rank: int) -> subprocess.CompletedProcess:
        env = {**SUBPROCESS_ENV_OVERRIDES, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
        return subprocess.run([sys.executable, "-c", "import cli, sys; sys.exit(cli.main(sys.argv[1:]))", "train",
                               "--experment", "x", "--run-dir", "r"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, **env})

    rank0, rank1 = run(0), run(1)
    assert rank0.returncode == rank1.returncode == 2
    assert "unrecognized arguments: --experment" in rank0.stderr and rank1.stderr == ""
