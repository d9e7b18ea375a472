"""Progress on stderr: plain lines when stderr is not a terminal (one per evaluation, one at least every
`progress_every_s`), a tqdm bar on a terminal; start and resume lines for text and image runs."""

from __future__ import annotations

import io
import json
import re
import sys

from seqgan.core import log as core_log
from seqgan.core.log import MetricsLog
from seqgan.core.loop import train_adversarial
from seqgan.core.runtime import seed_everything
from tests.conftest import TINY
from tests.test_core import ToyPair, _phases

EVAL_LINE = re.compile(r"^\[(a|b)\] epoch (\d+)/(3|5)  val=-?\d+\.\d{4}  "
                       r"\(elapsed \d+:\d\d:\d\d, (a|b) ETA (\d+:\d\d:\d\d|\?)\)$")
# numbers from an earlier evaluation than the line's epoch say where they come from: "(from a epoch 2)"
TICK_LINE = re.compile(r"^\[(a|b)\] epoch (\d+)/(3|5)(, \d+% done)?  val=-?\d+\.\d{4}( \(from [^)]+\))?  "
                       r"\(elapsed \d+:\d\d:\d\d, (a|b) ETA (\d+:\d\d:\d\d|\?)\)$")


def _toy(tmp_path, every_s: float) -> list[dict]:
    pair = ToyPair()
    train_adversarial(pair, _phases(pair), tmp_path, seed_everything(11),
                      evaluate=lambda phase, epoch: {"val": float(pair.w.sum())}, eval_every=2,
                      checkpoint_every_s=3600.0, progress_every_s=every_s)
    return MetricsLog(tmp_path / "metrics.jsonl").read()


def test_one_line_per_evaluation_without_a_terminal(tmp_path, capsys):
    records = _toy(tmp_path, every_s=3600.0)
    lines = capsys.readouterr().err.splitlines()
    evals = [r for r in records if r["event"] == "eval"]
    assert lines[0] == f"[init] val={evals[0]['val']:.4f}"
    assert len(lines) == len(evals)  # nothing between evaluations when they come faster than every_s
    for line, record in zip(lines[1:], evals[1:], strict=True):
        match = EVAL_LINE.match(line)
        assert match, line
        assert (match[1], int(match[2])) == (record["phase"], record["epoch"])
        assert f"val={record['val']:.4f}" in line


def test_a_line_at_every_step_boundary_when_the_interval_has_passed(tmp_path, capsys):
    _toy(tmp_path, every_s=0.0)
    lines = capsys.readouterr().err.splitlines()[1:]
    assert all(TICK_LINE.match(line) for line in lines), lines
    # phase b: 3 step calls per epoch, so the first two of each epoch are a third and two thirds done
    assert "[b] epoch 1/5, 33% done" in "\n".join(lines) and "[b] epoch 1/5, 67% done" in "\n".join(lines)
    assert len(lines) >= 3 + 5 * 3


def test_heartbeats_follow_the_clock(tmp_path, capsys, monkeypatch):
    """With a clock that moves 12 s per reading, a 30 s interval gives a line every few steps, not every step."""
    clock = iter(range(0, 10**6, 12))
    monkeypatch.setattr(core_log.time, "monotonic", lambda: float(next(clock)))
    _toy(tmp_path, every_s=30.0)
    ticks = [line for line in capsys.readouterr().err.splitlines() if "% done" in line]
    assert 1 <= len(ticks) < 10  # 10 mid-epoch step boundaries in phase b; only some are 30 "s" apart


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal(tmp_path, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _toy(tmp_path, every_s=0.0)
    text = terminal.getvalue()
    assert "% done" not in text  # no plain heartbeat lines: the bar shows progress
    assert re.search(r"b:\s+\d+%\|", text), text[-500:]  # tqdm's bar for phase b
    assert re.search(r"(^|\r)\[b\] epoch 5/5  val=", text, re.M)  # evaluations still get their line


def test_train_reports_start_init_and_every_evaluation(tiny_run, tmp_path, run_cli):
    """The text/oracle command: "starting ..." first, then a line for each evaluation in metrics.jsonl."""
    result = run_cli(["train", *TINY, "--seed", "1", "--run-dir", tmp_path / "run"])
    assert result.code == 0, result.err
    lines = result.err_lines
    assert lines[0] == "starting oracle-tiny seed 1 on cpu"
    evals = [json.loads(x) for x in (tiny_run / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
    shown = [line for line in lines if line.startswith("[")]
    assert len(shown) == len(evals)
    for line, record in zip(shown[1:], evals[1:], strict=True):
        assert line.startswith(f"[{record['phase']}] epoch {record['epoch']}/")
        assert f"nll_oracle={record['nll_oracle']:.4f} nll_test={record['nll_test']:.4f}" in line
    again = run_cli(["train", *TINY, "--seed", "1", "--run-dir", tmp_path / "run"])
    assert again.err_lines == ["resuming oracle-tiny seed 1 on cpu",
                               "resuming from the end of training (nothing left to train)"]


def test_image_train_reports_progress_too(tiny_mnist, tmp_path, run_cli):
    from tests.test_image_train import TINY as TINY_IMAGE

    args = ["image-train", *TINY_IMAGE, "--loss", "ns", "--data-dir", tiny_mnist, "--run-dir", tmp_path / "run"]
    result = run_cli([*args, "--set", "schedule.epochs=2"])
    assert result.code == 0, result.err
    assert result.err_lines[0].startswith("starting ")
    assert any(line.startswith("[adversarial] epoch 2/2") for line in result.err_lines), result.err
    longer = run_cli([*args, "--set", "schedule.epochs=4"])
    assert longer.code == 0, longer.err
    assert longer.err_lines[1] == "resuming from adversarial epoch 2/4", longer.err


def test_each_epoch_line_comes_once_with_its_own_evaluation(tmp_path, capsys):
    """The step that ends an epoch printed a heartbeat with the previous evaluation under the new epoch's label,
    and the evaluation then printed the same label again: each "[phase] epoch k/N" line now comes once, after
    the epoch's evaluation, with its numbers."""
    records = _toy(tmp_path, every_s=0.0)
    lines = [line for line in capsys.readouterr().err.splitlines()[1:] if "% done" not in line]
    labels = [line.split("  ")[0] for line in lines]
    assert len(labels) == len(set(labels)) == 3 + 5, lines  # one line per epoch of phases a and b
    for record in (r for r in records if r["event"] == "eval" and r["phase"] != "init"):
        total = 3 if record["phase"] == "a" else 5
        line = lines[labels.index(f"[{record['phase']}] epoch {record['epoch']}/{total}")]
        assert f"val={record['val']:.4f}" in line, line


def test_a_phase_that_has_not_begun_is_started_not_resumed(tmp_path, capsys):
    """Continuing from the end of a phase (or a branch from another run's pretraining) starts the next phase;
    "resuming from b epoch 0/5" said it had been interrupted."""
    from seqgan.core.checkpoint import load_checkpoint

    _toy(tmp_path, every_s=3600.0)
    pair = ToyPair()
    capsys.readouterr()
    train_adversarial(pair, _phases(pair), tmp_path, seed_everything(11),
                      evaluate=lambda phase, epoch: {"val": float(pair.w.sum())}, eval_every=2,
                      checkpoint_every_s=3600.0, progress_every_s=3600.0,
                      resume_state=load_checkpoint(tmp_path / "checkpoints" / "a.pt"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "starting b training (5 epochs)", lines
    assert not any(line.startswith("resuming") for line in lines), lines


def test_resume_message_names_work_already_done():
    from seqgan.core.loop import Phase, resume_message

    phases = [Phase("a", 3, ()), Phase("b", 5, ())]
    assert resume_message(phases, {"completed": {"a": 3}}) == "starting b training (5 epochs)"
    assert resume_message(phases, {"completed": {}}) == "starting a training (3 epochs)"
    assert resume_message(phases, {"completed": {"a": 3, "b": 2}}) == "resuming from b epoch 2/5"
    assert resume_message(phases, {"completed": {"a": 3}, "step": 2}) == \
        "resuming from b epoch 0/5 (+2 steps of epoch 1)"
    assert resume_message(phases, {"completed": {"a": 1}, "inside": {"next": 64}}) == \
        "resuming from a epoch 1/3 (+part of a step of epoch 2)"
    mle = [Phase("pretrain_g", 3, ((lambda gen: {}, 1),))]  # one step per epoch: the step is the epoch
    assert resume_message(mle, {"completed": {"pretrain_g": 1}, "inside": {"next": 64}}) == \
        "resuming from pretrain_g epoch 1/3 (+part of epoch 2)"
    assert resume_message(phases, {"completed": {"a": 3, "b": 5}}) == \
        "resuming from the end of training (nothing left to train)"


def test_a_branch_from_a_pretrained_run_starts_its_adversarial_training(tiny_run, tmp_path, run_cli):
    result = run_cli(["train", *TINY, "--seed", "1", "--init-from", tiny_run, "--run-dir", tmp_path / "branch"])
    assert result.code == 0, result.err
    assert "starting adversarial training (3 epochs)" in result.err_lines, result.err
    assert not any(line.startswith("resuming") for line in result.err_lines), result.err
