"""`seqgan sample` / `evaluate`: the checkpoint line and the better-best note, the validation NLL's label,
the <unk> warning for prompt words, and JSONL ids without trailing padding."""

from __future__ import annotations

import json

import pytest
import torch

from seqgan.text.run import load_run
from tests.conftest import run_cli_quiet
from tests.test_text_data import TINY_TEXT

WORDS = "the a cat dog sat on mat ran red blue big house tree near far".split()


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A finished tiny text run (word tokenizer) on a corpus of WORDS. Read-only."""
    import random

    root = tmp_path_factory.mktemp("text")
    rng = random.Random(0)
    corpus = root / "my.txt"
    corpus.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + " .\n"
                              for _ in range(200)))
    run = root / "run"
    result = run_cli_quiet(["train", "--corpus", corpus, "--experiment", "text-small", "--seed", "1", "--run-dir",
                            run, *TINY_TEXT])
    assert result.code == 0, result.err
    return run


def _evals(run_dir):
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [r for r in records if r["event"] == "eval" and r["phase"] != "init"]


def _rewrite_eval(run_dir, phase, epoch, **values):
    """Change the logged NLL of one evaluation (the note reads metrics.jsonl, so this sets up its cases)."""
    path = run_dir / "metrics.jsonl"
    records = [json.loads(x) for x in path.read_text().splitlines() if x]
    for r in records:
        if r["event"] == "eval" and (r["phase"], r["epoch"]) == (phase, epoch):
            r.update(values)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


# ---------------------------------------------------------------- which checkpoint


def test_sample_and_evaluate_name_their_checkpoint(tiny_run, run_cli, copy_run):
    last = _evals(tiny_run)[-1]
    assert (last["phase"], last["epoch"]) == ("adversarial", 3)  # TINY: 3 adversarial epochs
    result = run_cli(["sample", "--run-dir", tiny_run, "-n", "2"])
    assert result.code == 0 and result.err_lines[0] == "using checkpoint last (adversarial:3)"
    result = run_cli(["sample", "--run-dir", tiny_run, "-n", "2", "--checkpoint", "pretrain_g:3"])
    assert result.err_lines[0] == "using checkpoint pretrain_g:3"
    result = run_cli(["sample", "--run-dir", tiny_run, "-n", "2", "--checkpoint", "pretrain_d"])
    assert result.err_lines[0] == "using checkpoint pretrain_d (pretrain_d:2)"  # oracle-tiny: 2 D rounds
    result = run_cli(["evaluate", "--run-dir", copy_run, "--json"])
    assert result.err_lines[0] == "using checkpoint last (adversarial:3)"
    assert json.loads(result.out)["checkpoint_used"] == "last (adversarial:3)"


def test_note_when_last_is_worse_than_best(copy_run, run_cli):
    # make pretrain_g:3 clearly the best evaluation and the last one clearly worse (the oracle ranks by NLL-test)
    _rewrite_eval(copy_run, "pretrain_g", 3, nll_test=1.25)
    _rewrite_eval(copy_run, "adversarial", 3, nll_test=9.5)
    result = run_cli(["sample", "--run-dir", copy_run, "-n", "2"])
    assert result.code == 0 and result.err_lines == [
        "using checkpoint last (adversarial:3)",
        "note: last has nll_test 9.5000; best is pretrain_g:3 with 1.2500 (--checkpoint best)"]
    best = run_cli(["sample", "--run-dir", copy_run, "-n", "2", "--checkpoint", "best"])
    # the best: no note (the line says that best is from before the SeqGAN phase)
    assert best.err_lines == ["using checkpoint best (pretrain_g:3): best is the pretrained generator, before "
                              "adversarial training"]
    # last at the best: no note either
    _rewrite_eval(copy_run, "adversarial", 3, nll_test=1.0)
    assert run_cli(["sample", "--run-dir", copy_run, "-n", "2"]).err_lines == ["using checkpoint last (adversarial:3)"]


def test_early_stopped_phase_names_the_epoch_g_comes_from(copy_run, run_cli):
    # an early stop of the last phase put G back to its best epoch: the line says so, the note compares that epoch
    with open(copy_run / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"phase": "adversarial", "event": "early_stop", "epoch": 3, "best_epoch": 2,
                             "nll_valid": 1.0}) + "\n")
    _rewrite_eval(copy_run, "adversarial", 2, nll_test=1.0)
    _rewrite_eval(copy_run, "adversarial", 3, nll_test=9.0)
    result = run_cli(["sample", "--run-dir", copy_run, "-n", "2"])
    assert result.err_lines == ["using checkpoint last (adversarial: early-stopped at epoch 3, G from epoch 2)"]


def _config_method(run_dir, method):
    path = run_dir / "config.json"
    data = json.loads(path.read_text())
    data["config"]["adversarial"]["method"] = method
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("method,best_phase,said", [("seqgan", "pretrain_g", True), ("ss", "pretrain_d", True),
                                                     ("pg-bleu", "pretrain_g", True), ("mle", "pretrain_g", False),
                                                     ("seqgan", "adversarial", False)])
def test_best_from_pretraining_is_named_the_pretrained_generator(copy_run, run_cli, method, best_phase, said):
    """`--checkpoint best` keeps meaning the lowest held-out NLL; when that is the pretrained G of a run whose last
    phase trains adversarially, the checkpoint line says so (for MLE the phase before is just fewer epochs)."""
    _config_method(copy_run, method)  # the method does not change the nets, so the checkpoints still load
    epoch = {"pretrain_g": 3, "pretrain_d": 2, "adversarial": 2}[best_phase]
    _rewrite_eval(copy_run, best_phase, epoch, nll_test=0.5)
    result = run_cli(["sample", "--run-dir", copy_run, "-n", "2", "--checkpoint", "best"])
    assert result.code == 0, result.err
    line = result.err_lines[0]
    assert line.startswith(f"using checkpoint best ({best_phase}:{epoch})")
    assert ("best is the pretrained generator, before adversarial training" in line) == said, line
    last = run_cli(["sample", "--run-dir", copy_run, "-n", "2"])  # only `best` is described so
    assert "pretrained generator" not in last.err


def test_many_samples_report_progress_and_stay_the_same(tiny_run, run_cli, tmp_path):
    from seqgan.text.api import PROGRESS_STEPS, sample_run
    from seqgan.text.commands import PROGRESS_SAMPLES

    n = PROGRESS_SAMPLES
    out = tmp_path / "many.txt"
    result = run_cli(["sample", "--run-dir", tiny_run, "-n", n, "--seed", "4", "--out", out])
    assert result.code == 0, result.err
    lines = [x for x in result.err_lines if x.startswith("sampled ")]
    assert len(lines) == PROGRESS_STEPS  # stderr is not a terminal here: one line per tenth
    assert lines[0] == f"sampled {n // PROGRESS_STEPS:,} of {n:,} (10%)"
    assert lines[-1] == f"sampled {n:,} of {n:,} (100%)"
    expected = [r["text"] for r in sample_run(load_run(tiny_run), n, 4)]  # one batch, no progress
    assert out.read_text().splitlines() == expected
    few = run_cli(["sample", "--run-dir", tiny_run, "-n", n - 1, "--seed", "4"])
    assert not [x for x in few.err_lines if x.startswith("sampled ")]


def test_sampling_in_progress_chunks_gives_the_one_batch_records(tiny_run):
    from seqgan.text.api import sample_run

    run = load_run(tiny_run)
    done = []
    chunked = sample_run(run, 1003, 9, temperature=0.9, top_k=50, prefix="3", progress=done.append)
    assert chunked == sample_run(run, 1003, 9, temperature=0.9, top_k=50, prefix="3")
    assert done[-1] == 1003 and done == sorted(done) and len(done) > 1


# ---------------------------------------------------------------- text runs


def test_evaluate_labels_the_validation_nll_as_valid(text_run, run_cli, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(text_run, run)
    result = run_cli(["evaluate", "--run-dir", run])
    assert result.code == 0, result.err
    lines = {line.split()[0]: line for line in result.out.splitlines()}
    assert lines["NLL-valid"].split()[2].startswith("nll-valid|valid:my.txt/valid|")
    assert lines["NLL-test"].split()[2].startswith("nll-test|test:my.txt/test|")
    assert "nll-test" not in lines["NLL-valid"]


def test_prefix_words_outside_the_vocabulary_are_named_once(text_run, run_cli):
    result = run_cli(["sample", "--run-dir", text_run, "-n", "2", "--prefix", "the zebra cat Dog zebra"])
    assert result.code == 0, result.err
    warnings = [line for line in result.err_lines if line.startswith("warning:")]
    # the tokenizer is case-sensitive (no lower-casing): "Dog" is as unknown as "zebra"
    assert warnings == ["warning: --prefix words outside the vocabulary become <unk>: zebra Dog"]
    assert all(line.startswith("the <unk> cat <unk> <unk>") for line in result.out.splitlines())
    known = run_cli(["sample", "--run-dir", text_run, "-n", "2", "--prefix", "the cat"])
    assert known.code == 0 and not any(line.startswith("warning:") for line in known.err_lines)


def test_jsonl_ids_end_at_eos_and_logprob_scores_exactly_them(text_run, run_cli):
    result = run_cli(["sample", "--run-dir", text_run, "-n", "40", "--format", "jsonl", "--seed", "2"])
    assert result.code == 0, result.err
    records = [json.loads(x) for x in result.out.splitlines()]
    run = load_run(text_run)
    eos, pad, T = run.task.eos_token, run.task.pad_token, run.task.seq_len
    g = run.pair.generator.eval()
    saw_eos = saw_full = False
    for r in records:
        ids = r["ids"]
        if eos in ids:
            assert ids.index(eos) == len(ids) - 1  # up to and including the first <eos>, nothing after
            saw_eos = True
        else:
            assert len(ids) == T  # reached the length limit: every position kept
            saw_full = True
        assert ids[-1] != pad or len(ids) == T
        # the log-probability is of exactly these tokens: teacher-forced log-softmax, summed by hand
        x = torch.tensor([ids])
        with torch.no_grad():
            logp = torch.log_softmax(g(g.shift_right(x)), -1)[0]  # (len, V)
        assert r["logprob"] == pytest.approx(logp[torch.arange(len(ids)), x[0]].sum().item(), abs=1e-4)
    assert saw_eos
    assert saw_full or all(eos in r["ids"] for r in records)


def test_sample_out_says_what_it_wrote(tiny_run, run_cli, tmp_path):
    """With --out, stdout is empty: a line on stderr confirms the file, as with the commands that write reports."""
    out = tmp_path / "few.txt"
    result = run_cli(["sample", "--run-dir", tiny_run, "-n", "3", "--out", out])
    assert result.code == 0 and result.out == "", result.err
    assert result.err_lines[-1] == f"wrote 3 samples to {out}", result.err
    assert len(out.read_text().splitlines()) == 3
    to_stdout = run_cli(["sample", "--run-dir", tiny_run, "-n", "3"])
    assert not any(line.startswith("wrote ") for line in to_stdout.err_lines), to_stdout.err
