"""Ctrl-C and `kill`: SIGINT/SIGTERM save a checkpoint at the next step boundary; a re-run continues exactly."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqgan.core.checkpoint import load_checkpoint, save_checkpoint
from seqgan.core.interrupt import pause_point, resumed_step_state
from seqgan.core.loop import Phase, TrainingInterrupted, train_adversarial
from seqgan.core.runtime import seed_everything
from tests.conftest import REPO_ROOT, SUBPROCESS_ENV_OVERRIDES, TINY
from tests.test_core import ToyPair, _phases

CALLS = 3 + 5 * 3  # step calls in test_core's two toy phases (3 epochs x 1 call, 5 epochs x 3 calls)


class SignallingPair(ToyPair):
    """ToyPair that sends itself `signals` during its `at`-th step call (as a Ctrl-C would arrive)."""

    def __init__(self, at: int, signals: tuple[int, ...] = (signal.SIGINT,)) -> None:
        super().__init__()
        self.at, self.signals = at, signals

    def _tick(self) -> None:
        super()._tick()
        if self.calls == self.at:
            for signum in self.signals:
                os.kill(os.getpid(), signum)


def _run(pair: ToyPair, run_dir: Path, resume: bool = False) -> None:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt") if resume else None
    train_adversarial(pair, _phases(pair), run_dir, seed_everything(11),
                      evaluate=lambda phase, epoch: {"val": float(pair.w.sum())}, eval_every=2,
                      checkpoint_every_s=3600.0, resume_state=state)


@pytest.fixture(scope="module")
def toy_reference(tmp_path_factory) -> tuple[bytes, torch.Tensor]:
    run_dir = tmp_path_factory.mktemp("toy")
    pair = ToyPair()
    _run(pair, run_dir)
    return (run_dir / "metrics.jsonl").read_bytes(), pair.w


@pytest.mark.parametrize("at", range(1, CALLS + 1))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_step_saves_and_resumes_exactly(tmp_path, toy_reference, at, signum):
    """Mid-epoch too: phase b has three step calls per epoch, and the checkpoint remembers how many ran."""
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with pytest.raises(TrainingInterrupted) as caught:
        _run(SignallingPair(at, (signum,)), tmp_path)
    assert caught.value.signum == signum and caught.value.exit_code == 128 + signum  # 130 SIGINT, 143 SIGTERM
    assert "checkpoint saved" in str(caught.value) and signal.Signals(signum).name in str(caught.value)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # put back
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    done = state["position"]["completed"]
    assert done.get("a", 0) * 1 + done.get("b", 0) * 3 + state["position"]["step"] == at  # saved right after it
    resumed = ToyPair()
    _run(resumed, tmp_path, resume=True)
    assert resumed.calls == CALLS - at  # exactly the steps that had not run
    reference, weights = toy_reference
    assert (tmp_path / "metrics.jsonl").read_bytes() == reference
    assert torch.equal(resumed.w, weights)


@pytest.mark.parametrize("at,where", [(2, "at the end of a epoch 2/3"), (7, "33% through b epoch 2/5"),
                                      (8, "67% through b epoch 2/5"), (9, "at the end of b epoch 2/5")])
def test_a_stop_inside_an_epoch_says_how_far_through_it_is(tmp_path, at, where):
    """Not "after step 2/3": a step is the loop's unit; how far through the epoch the stop came is the user's.
    Phase a has one step call per epoch, b three (calls 7, 8, 9 are b's epoch 2)."""
    with pytest.raises(TrainingInterrupted) as caught:
        _run(SignallingPair(at), tmp_path)
    assert str(caught.value).startswith(f"stopped by SIGINT {where}; checkpoint saved"), str(caught.value)


def test_handlers_are_restored_after_a_finished_run(tmp_path):
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    _run(ToyPair(), tmp_path)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_second_signal_stops_at_once_without_saving(tmp_path):
    with pytest.raises(TrainingInterrupted, match="second SIGINT without saving") as caught:
        _run(SignallingPair(2, (signal.SIGINT, signal.SIGINT)), tmp_path)
    assert caught.value.exit_code == 130
    assert not (tmp_path / "checkpoints" / "last.pt").exists()  # no periodic save yet, and none was made


def test_an_ignored_sigint_stays_ignored(tmp_path, toy_reference):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a background job of a script inherits
    try:
        pair = SignallingPair(4)
        _run(pair, tmp_path)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert pair.calls == CALLS and (tmp_path / "metrics.jsonl").read_bytes() == toy_reference[0]


def test_a_phase_interrupted_before_any_step_resumes(tmp_path, toy_reference):
    """A signal during the first evaluation: saved before the first epoch, with the evaluation done."""
    pair = ToyPair()
    calls = []

    def evaluate(phase: str, epoch: int) -> dict:
        if not calls:
            os.kill(os.getpid(), signal.SIGINT)
        calls.append(phase)
        return {"val": float(pair.w.sum())}

    with pytest.raises(TrainingInterrupted, match="after the first evaluation"):
        train_adversarial(pair, _phases(pair), tmp_path, seed_everything(11), evaluate=evaluate, eval_every=2,
                          checkpoint_every_s=3600.0)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["position"]["evaluated_init"]
    resumed = ToyPair()
    _run(resumed, tmp_path, resume=True)
    assert (tmp_path / "metrics.jsonl").read_bytes() == toy_reference[0]


# ---------------------------------------------------------------- the command, in a subprocess


def _start(argv: list) -> subprocess.Popen:
    env = {**os.environ, **SUBPROCESS_ENV_OVERRIDES}
    code = "import cli, sys; sys.exit(cli.main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, argv)], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _signal_after(proc: subprocess.Popen, ready: str | tuple[str, ...], delay: float, signum: int) -> str:
    """Read stderr (a pipe: no terminal) until a line starts with `ready`, wait `delay` s, send `signum`;
    returns everything the process wrote to stderr."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith(ready):
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signum)
            break
    rest = proc.communicate(timeout=300)[1]
    return "".join(lines) + rest


def test_sigterm_through_a_pipe_saves_prints_progress_and_resumes(tiny_run, tmp_path, run_cli):
    """`seqgan train 2>log`: progress lines without a terminal; SIGTERM -> exit 143 after a checkpoint; the
    re-run says where it resumes and ends with the metrics of an uninterrupted run (the tiny_run fixture)."""
    run_dir = tmp_path / "run"
    argv = ["train", *TINY, "--seed", "1", "--set", "schedule.checkpoint_every_s=3600", "--run-dir", run_dir]
    proc = _start(argv)
    err = _signal_after(proc, "[init]", 0.0, signal.SIGTERM)
    assert proc.returncode == 143, err
    lines = err.splitlines()
    assert lines[0].startswith("starting oracle-tiny seed 1 on cpu"), err
    assert lines[1].startswith("[init] nll_oracle="), err
    assert lines[-1].startswith("seqgan train: stopped by SIGTERM") and "checkpoint saved" in lines[-1], err
    assert "Traceback" not in err
    saved = load_checkpoint(run_dir / "checkpoints" / "last.pt")["position"]
    resumed = run_cli(argv)
    assert resumed.code == 0, resumed.err
    assert "resuming oracle-tiny seed 1 on cpu" in resumed.err_lines[0]
    if any(saved["completed"].values()) or saved["step"]:
        assert resumed.err_lines[1].startswith("resuming from pretrain_g epoch"), resumed.err
    assert any(line.startswith("[adversarial] epoch 3/3  nll_oracle=") for line in resumed.err_lines), resumed.err
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (run_dir / name).read_bytes() == (tiny_run / name).read_bytes(), name


@pytest.mark.slow
def test_sigint_at_random_moments_resumes_to_the_same_metrics(tmp_path, run_cli):
    """Interrupt one run again and again at random moments (some before training starts, most inside it),
    re-running after each, until it finishes: it ends byte-identical to an uninterrupted run."""
    args = ["train", "--experiment", "oracle-tiny", "--seed", "3", "--set", "schedule.adv_epochs=30",
            "--set", "adversarial.num_rollouts=2", "--set", "eval.num_samples=64",
            "--set", "schedule.checkpoint_every_s=3600"]
    whole = run_cli([*args, "--run-dir", tmp_path / "whole"])
    assert whole.code == 0, whole.err
    run_dir, rng, codes = tmp_path / "broken", random.Random(2024), []
    while len(codes) < 12:
        proc = _start([*args, "--run-dir", run_dir])
        # "starting" / "resuming" is printed just before the training loop starts
        err = _signal_after(proc, ("starting", "resuming"), rng.uniform(0.0, 1.0), signal.SIGINT)
        codes.append(proc.returncode)
        # -SIGINT: the signal came after cli.main returned (Python then dies by the signal)
        assert proc.returncode in (0, 130, -signal.SIGINT), err
        if (run_dir / "metrics.json").exists():
            break
        if "checkpoint saved" in err:  # the message is true: the checkpoint is there and readable
            load_checkpoint(run_dir / "checkpoints" / "last.pt")
    if not (run_dir / "metrics.json").exists():
        assert run_cli([*args, "--run-dir", run_dir]).code == 0
    assert codes.count(130) >= 3, codes
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (run_dir / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


# ---------------------------------------------------------------- inside a long step (an MLE epoch)

BATCHES = 4  # batches in each BatchedPair.g_step call


class BatchedPair(ToyPair):
    """ToyPair whose g_step is an epoch of BATCHES batches that offers a pause point after each; sends itself
    SIGINT during batch number `at` (counted over the whole run)."""

    def __init__(self, at: int = 0) -> None:
        super().__init__()
        self.at, self.batches = at, 0

    def g_step(self, gen: torch.Generator) -> dict:
        resumed = resumed_step_state()
        first, total = (0, 0.0) if resumed is None else (resumed["next"], resumed["total"])
        for index in range(first, BATCHES):
            self.batches += 1
            if self.batches == self.at:
                os.kill(os.getpid(), signal.SIGINT)
            self.w += torch.rand(3, generator=gen) + 0.1 * torch.randn(3)  # every random stream, as ToyPair
            total += float(self.w.sum()) + random.random()
            if index + 1 < BATCHES:
                pause_point({"next": index + 1, "total": total}, (index + 1) / BATCHES)
        return {"g": total}


def _batched_phases(pair: BatchedPair) -> list[Phase]:
    return [Phase("a", 3, ((pair.g_step, 1),)), Phase("b", 2, ((pair.g_step, 1), (pair.d_step, 1)))]


def _run_batched(pair: BatchedPair, run_dir: Path, resume: bool = False) -> None:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt") if resume else None
    train_adversarial(pair, _batched_phases(pair), run_dir, seed_everything(11),
                      evaluate=lambda phase, epoch: {"val": float(pair.w.sum())}, eval_every=2,
                      checkpoint_every_s=3600.0, resume_state=state)


BATCHED_TOTAL = 3 * BATCHES + 2 * BATCHES


@pytest.fixture(scope="module")
def batched_reference(tmp_path_factory) -> tuple[bytes, torch.Tensor]:
    run_dir = tmp_path_factory.mktemp("batched")
    pair = BatchedPair()
    _run_batched(pair, run_dir)
    assert pair.batches == BATCHED_TOTAL
    return (run_dir / "metrics.jsonl").read_bytes(), pair.w


@pytest.mark.parametrize("at", range(1, BATCHED_TOTAL + 1))
def test_a_signal_inside_a_step_stops_after_the_batch_and_resumes_exactly(tmp_path, batched_reference, at):
    """A step with pause points stops after the batch the signal came in, not at the step's end."""
    with pytest.raises(TrainingInterrupted, match="checkpoint saved"):
        _run_batched(BatchedPair(at), tmp_path)
    position = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["position"]
    if at % BATCHES:  # not the step's last batch: saved inside the step
        assert position["inside"]["next"] == at % BATCHES, position
    else:
        assert position["inside"] == {}, position
    resumed = BatchedPair()
    _run_batched(resumed, tmp_path, resume=True)
    assert resumed.batches == BATCHED_TOTAL - at  # the resume redoes no batch and skips none
    assert (tmp_path / "metrics.jsonl").read_bytes() == batched_reference[0]
    assert torch.equal(resumed.w, batched_reference[1])


def test_the_signal_is_acknowledged_at_once(tmp_path, capfd):
    """Stopping can be a step away: the first signal says when the checkpoint will be saved."""
    with pytest.raises(TrainingInterrupted):
        _run_batched(BatchedPair(BATCHES + 2), tmp_path)  # epoch 2, batch 2: a step known to have pause points
    assert "SIGINT received: saving a checkpoint after this batch" in capfd.readouterr().err
    with pytest.raises(TrainingInterrupted):
        _run(SignallingPair(3 + 3 + 2), tmp_path / "plain")  # b epoch 2, step 2: timed in epoch 1, no pause points
    err = capfd.readouterr().err
    assert re.search(r"SIGINT received: saving a checkpoint at the end of this step \(about \d+ s\)", err), err


def test_old_checkpoints_without_a_position_inside_a_step_still_resume(tmp_path, toy_reference):
    """Checkpoints written before steps could pause have no "inside" in their position."""
    with pytest.raises(TrainingInterrupted):
        _run(SignallingPair(5), tmp_path)
    path = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    del state["position"]["inside"]
    save_checkpoint(path, state)
    _run(ToyPair(), tmp_path, resume=True)
    assert (tmp_path / "metrics.jsonl").read_bytes() == toy_reference[0]


@pytest.mark.parametrize("at", [2, 7])  # oracle-tiny: 4 batches per MLE epoch; epoch 1 batch 2, epoch 2 batch 3
def test_ctrl_c_inside_an_mle_epoch_stops_after_the_batch(tiny_run, tmp_path, run_cli, monkeypatch, at):
    """MLE pretraining is one step per epoch (minutes on a real corpus): Ctrl-C stops after the current batch,
    and the re-run continues the epoch from the next batch and ends as an uninterrupted run."""
    from seqgan.text import pretrain

    argv = ["train", *TINY, "--seed", "1", "--run-dir", tmp_path / "run"]
    batches = []
    real_step = pretrain.clipped_step

    def signalling_step(*args, **kwargs):
        batches.append(1)
        if len(batches) == at:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(pretrain, "clipped_step", signalling_step)
    stopped = run_cli(argv)
    assert stopped.code == 130, stopped.err
    assert len(batches) == at  # not a batch more
    epoch_done = f"{at % 4 * 25}% through pretrain_g epoch {(at - 1) // 4 + 1}/3"  # 4 batches per epoch
    assert epoch_done in stopped.err and "checkpoint saved" in stopped.err, stopped.err
    position = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["position"]
    assert position["completed"].get("pretrain_g", 0) == (at - 1) // 4 and position["inside"]["next"] == at % 4 * 64
    monkeypatch.setattr(pretrain, "clipped_step", real_step)
    resumed = run_cli(argv)
    assert resumed.code == 0, resumed.err
    epoch = (at - 1) // 4
    assert f"resuming from pretrain_g epoch {epoch}/3 (+part of epoch {epoch + 1})" in resumed.err_lines
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (tmp_path / "run" / name).read_bytes() == (tiny_run / name).read_bytes(), name


def test_ctrl_c_inside_a_scheduled_sampling_epoch_resumes_exactly(tmp_path, run_cli, monkeypatch):
    """The scheduled-sampling baseline's adversarial epochs are MLE epochs too, whose omega follows the epoch
    count: a pause inside one must not count that epoch twice."""
    from seqgan.text import pretrain

    args = ["train", *TINY, "--seed", "1", "--set", "adversarial.method=ss"]
    whole = run_cli([*args, "--run-dir", tmp_path / "whole"])
    assert whole.code == 0, whole.err
    batches = []
    real_step = pretrain.clipped_step

    def signalling_step(*args, **kwargs):
        batches.append(1)
        if len(batches) == 3 * 4 + 4 + 2:  # after pretraining's 3 epochs of 4 batches: adversarial epoch 2
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(pretrain, "clipped_step", signalling_step)
    stopped = run_cli([*args, "--run-dir", tmp_path / "broken"])
    assert stopped.code == 130 and "50% through adversarial epoch 2/3" in stopped.err, stopped.err
    monkeypatch.setattr(pretrain, "clipped_step", real_step)
    assert run_cli([*args, "--run-dir", tmp_path / "broken"]).code == 0
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (tmp_path / "broken" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
