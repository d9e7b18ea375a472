"""`load_generator`, the light loading path of `seqgan sample` and `seqgan evaluate`: the same G as `load_run`,
hence the same samples and the same scores for a seed, without D, its optimizers or (for sampling) the data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from seqgan.text.api import sample_run
from seqgan.text.run import GeneratorOnly, load_generator, load_run
from tests.conftest import REPO_ROOT, SUBPROCESS_ENV_OVERRIDES, run_cli_quiet
from tests.test_text_data import TINY_TEXT


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory):
    """Two tiny word-level text runs: a fixed max length, and one sized from the corpus (data.seq_len=0)."""
    import random

    root = tmp_path_factory.mktemp("light")
    rng = random.Random(1)
    words = "the a cat dog sat on mat ran red blue big house tree near far".split()
    corpus = root / "corpus.txt"
    corpus.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(2, 14))) + ".\n"
                              for _ in range(160)), encoding="utf-8")
    runs = {}
    for max_len in ("8", "0"):
        run = root / f"run{max_len}"
        result = run_cli_quiet(["train", "--corpus", corpus, "--experiment", "text-small", "--max-len", max_len,
                                "--run-dir", run, *TINY_TEXT, "--set", "schedule.adv_epochs=1"])
        assert result.code == 0, result.err
        runs[max_len] = run
    return runs


def _same_samples(run_dir, checkpoint="last", **kwargs):
    full, light = load_run(run_dir, checkpoint=checkpoint), load_generator(run_dir, checkpoint=checkpoint)
    assert isinstance(light.pair, GeneratorOnly) and not hasattr(light.pair, "discriminator")
    assert light.task.seq_len == full.task.seq_len and light.task.vocab_size == full.task.vocab_size
    for seed in (0, 5):
        expected = sample_run(full, 12, seed, **kwargs)
        assert sample_run(light, 12, seed, **kwargs) == expected
    return expected


@pytest.mark.parametrize("max_len", ["8", "0"])
def test_text_samples_equal_the_full_load(text_runs, max_len):
    run = text_runs[max_len]
    records = _same_samples(run)
    assert any(r["text"] for r in records)
    _same_samples(run, "pretrain_g")  # a phase-end checkpoint: G out of the pair's state
    _same_samples(run, "pretrain_g:2")  # a generator-only snapshot
    _same_samples(run, temperature=0.7, top_k=5, prefix="the cat")


@pytest.mark.parametrize("max_len", ["8", "0"])
def test_sampling_reads_no_split(text_runs, max_len, monkeypatch):
    import seqgan.text.task
    import text_data.corpus

    def no_read(path):
        raise AssertionError(f"sampling read {path}")

    monkeypatch.setattr(seqgan.text.task, "read_text_file", no_read)
    monkeypatch.setattr(text_data.corpus, "read_text_file", no_read)
    run = load_generator(text_runs[max_len])  # with data.seq_len=0, the length comes from the checkpoint's G
    assert not run.task.splits.train and len(sample_run(run, 3, 0)) == 3


def test_oracle_samples_equal_the_full_load(tiny_run):
    records = _same_samples(tiny_run, top_p=0.9, prefix="3 14")
    assert all(len(r["text"].split()) == 10 for r in records)  # oracle-tiny: length 10, written as ids


def test_evaluate_scores_equal_the_full_load(text_runs, tiny_run):
    for run_dir in (text_runs["0"], tiny_run):
        full, light = load_run(run_dir), load_generator(run_dir, with_data=True)
        assert isinstance(light.pair, GeneratorOnly)
        expected = full.task.final(full.pair.generator, full.config, 0.9)
        assert light.task.final(light.pair.generator, light.config, 0.9) == expected


def test_a_checkpoint_of_another_architecture_is_refused(text_runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(text_runs["8"], run)
    config = json.loads((run / "config.json").read_text())
    config["config"]["generator"]["hidden_dim"] = 12
    (run / "config.json").write_text(json.dumps(config))
    result = run_cli_quiet(["sample", "--run-dir", run, "-n", "2"])
    assert result.code == 2 and "architecture differs" in result.err


def test_sample_command_builds_no_optimizer_and_reads_no_split(text_runs, tmp_path):
    """The command's speed rests on these: torch imports its compiler for the first optimizer (~1 s)."""
    run = text_runs["0"]  # a length sized from the corpus: text-small's default
    code = ("import sys, cli, text_data.corpus as c\n"
            "read = []\n"
            "orig = c.read_text_file\n"
            "c.read_text_file = lambda path: read.append(str(path)) or orig(path)\n"
            "assert cli.main(['sample', '--run-dir', sys.argv[1], '-n', '3', '--out', sys.argv[2]]) == 0\n"
            "print(int('torch._dynamo' in sys.modules), len(read))\n")
    out = tmp_path / "samples.txt"
    env = {**os.environ, **SUBPROCESS_ENV_OVERRIDES}
    proc = subprocess.run([sys.executable, "-c", code, str(run), str(out)], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "0"]
    expected = [r["text"] for r in sample_run(load_run(run), 3, 0)]
    assert out.read_text(encoding="utf-8").split("\n")[:-1] == expected
