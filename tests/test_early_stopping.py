"""Early stopping of the MLE phases on NLL-valid: stop, go back to the best epoch, resume exactly."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import pytest
import torch

from seqgan.core.checkpoint import load_checkpoint
from seqgan.core.log import MetricsLog
from seqgan.core.loop import Phase, snapshot_name, train_adversarial
from seqgan.core.runtime import seed_everything
from tests.test_cli_train import assert_one_line_error

# ---------------------------------------------------------------- the loop, on a scripted validation curve

# The "validation NLL" after n training epochs in total (n = the toy model's step count).
CURVE = [9.0, 8.0, 7.0, 7.5, 7.2, 6.0, 6.5, 6.4, 6.3, 6.2, 6.1, 6.05]


class CurvePair:
    """A model whose validation NLL is CURVE[epochs trained]; every step also draws from all random streams,
    so an inexact resume shows in the logged noise."""

    def __init__(self, die_at: int | None = None) -> None:
        self.w = torch.zeros(2)  # (steps taken, accumulated noise)
        self.calls, self.die_at = 0, die_at

    def g_step(self, gen: torch.Generator) -> dict:
        self.calls += 1
        if self.calls == self.die_at:
            raise KeyError("killed")
        self.w += torch.tensor([1.0, 0.0]) + torch.tensor([0.0, 1.0]) * (torch.rand(1, generator=gen).item()
                                                                         + random.random())
        return {"noise": float(self.w[1])}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(n, generator=gen)

    def state_dict(self) -> dict:
        return {"w": self.w.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.w = state["w"].clone()

    def evaluate(self, phase: str, epoch: int) -> dict:
        return {"nll_valid": CURVE[int(self.w[0])], "noise": float(self.w[1])}


def _curve_phases(pair: CurvePair) -> list[Phase]:
    watched = {"patience": 2, "monitor": "nll_valid", "eval_every": 1}
    return [Phase("a", 10, ((pair.g_step, 1),), **watched),  # best at epoch 2, worse twice: stops at epoch 4
            Phase("b", 2, ((pair.g_step, 1),), eval_every=5),  # no early stopping, evaluated at its end only
            Phase("c", 3, ((pair.g_step, 1),), **watched),  # best at epoch 1, runs out of epochs at 3
            Phase("d", 5, ((pair.g_step, 1),), **watched)]  # never beats its start: stops at 2, back to 0


def _run_curve(pair: CurvePair, run_dir: Path, resume: bool = False, checkpoint_every_s: float = 0.0):
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt") if resume else None
    return train_adversarial(pair, _curve_phases(pair), run_dir, seed_everything(5), evaluate=pair.evaluate,
                             eval_every=5, checkpoint_every_s=checkpoint_every_s, resume_state=state,
                             snapshot=lambda: {"w": pair.w.clone()},
                             restore=lambda s: setattr(pair, "w", s["w"].clone()))


def test_scripted_curve_stops_restores_and_later_phases_run(tmp_path):
    pair = CurvePair()
    pos = _run_curve(pair, tmp_path)
    records = MetricsLog(tmp_path / "metrics.jsonl").read()
    events = [r for r in records if r["event"] not in ("train", "eval")]
    # worked out by hand from CURVE: a: 8, 7, 7.5, 7.2 -> stop at 4, best 2 (7.0); b: steps 3, 4 (7.2 at its
    # end); c starts at 7.2: 6.0, 6.5, 6.4 -> ends at 3 past its best 1; d starts at 6.0: 6.5, 6.4 -> stop at 2,
    # best = its start
    assert events == [
        {"phase": "a", "event": "early_stop", "epoch": 4, "best_epoch": 2, "nll_valid": 7.0},
        {"phase": "c", "event": "early_stop", "epoch": 3, "best_epoch": 1, "nll_valid": 6.0},  # at its end
        {"phase": "d", "event": "early_stop", "epoch": 2, "best_epoch": 0, "nll_valid": 6.0},
    ]
    evals = [(r["phase"], r["epoch"], r["nll_valid"]) for r in records if r["event"] == "eval"]
    assert evals == [("init", 0, 9.0), ("a", 1, 8.0), ("a", 2, 7.0), ("a", 3, 7.5), ("a", 4, 7.2),
                     ("b", 2, 7.2), ("c", 1, 6.0), ("c", 2, 6.5), ("c", 3, 6.4), ("d", 1, 6.5), ("d", 2, 6.4)]
    assert pos.completed == {"a": 4, "b": 2, "c": 3, "d": 2}
    assert pos.watch["a"]["stopped"] and pos.watch["d"]["stopped"] and not pos.watch["c"]["stopped"]
    ckpts = tmp_path / "checkpoints"
    # the model handed on is the best snapshot, noise and all: exactly the weights evaluated at that epoch
    for phase, best in (("a", 2), ("c", 1), ("d", 0)):
        assert torch.equal(load_checkpoint(ckpts / f"{phase}.pt")["pair"]["w"],
                           load_checkpoint(ckpts / snapshot_name(phase, best))["w"]), phase
    assert torch.equal(pair.w, load_checkpoint(ckpts / snapshot_name("d", 0))["w"])
    assert torch.equal(pair.w, load_checkpoint(ckpts / snapshot_name("c", 1))["w"])  # c's best = d's start
    evaluated = {(r["phase"], r["epoch"]): r["noise"] for r in records if r["event"] == "eval"}
    assert float(load_checkpoint(ckpts / "a.pt")["pair"]["w"][1]) == evaluated[("a", 2)]
    assert int(load_checkpoint(ckpts / "a.pt")["pair"]["w"][0]) == 2  # b starts from a's best epoch
    assert 2 + 2 == int(load_checkpoint(ckpts / "b.pt")["pair"]["w"][0])


def test_no_patience_means_no_early_stopping(tmp_path):
    pair = CurvePair()
    phases = [Phase("a", 6, ((pair.g_step, 1),))]
    train_adversarial(pair, phases, tmp_path, seed_everything(5), evaluate=pair.evaluate, eval_every=3,
                      checkpoint_every_s=0.0)
    records = MetricsLog(tmp_path / "metrics.jsonl").read()
    assert [r["event"] for r in records].count("train") == 6 and int(pair.w[0]) == 6
    assert [r["epoch"] for r in records if r["event"] == "eval"] == [0, 3, 6]
    assert not (tmp_path / "checkpoints" / snapshot_name("a", 0)).exists()


def test_early_stopping_needs_snapshot_and_restore(tmp_path):
    pair = CurvePair()
    with pytest.raises(ValueError, match="early stopping"):
        train_adversarial(pair, _curve_phases(pair), tmp_path, seed_everything(5), evaluate=pair.evaluate)


@pytest.mark.parametrize("die_at", range(1, 12))
@pytest.mark.parametrize("checkpoint_every_s", [0.0, 3600.0])
def test_killed_anywhere_resumes_to_the_same_run(tmp_path, die_at, checkpoint_every_s):
    """Best-so-far, the patience counter and the stopped flags live in the checkpointed position."""
    whole = tmp_path / "whole"
    reference = CurvePair()
    _run_curve(reference, whole, checkpoint_every_s=checkpoint_every_s)
    broken = tmp_path / "broken"
    with pytest.raises(KeyError):
        _run_curve(CurvePair(die_at=die_at), broken, checkpoint_every_s=checkpoint_every_s)
    resumed = CurvePair()
    _run_curve(resumed, broken, resume=(broken / "checkpoints" / "last.pt").exists(),
               checkpoint_every_s=checkpoint_every_s)
    assert (broken / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()
    assert torch.equal(resumed.w, reference.w)


# ---------------------------------------------------------------- a tiny text run


@pytest.fixture
def overfit_corpus(tmp_path) -> Path:
    """120 lines of random words: nothing to learn beyond word frequencies, so a large G with a high learning
    rate memorises the 96 training lines and its validation NLL rises after two or three epochs."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    path = tmp_path / "words.txt"
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(4, 8))) + "\n"
                            for _ in range(120)))
    return path


OVERFIT = ["--experiment", "text-small", "--max-len", "9", "--set", "discriminator.filter_sizes=2,3",
           "--set", "discriminator.num_filters=8,8", "--set", "discriminator.emb_dim=8",
           "--set", "generator.emb_dim=32", "--set", "generator.hidden_dim=64", "--set", "generator.lr=0.03",
           "--set", "generator.batch_size=16", "--set", "schedule.pretrain_g_epochs=15",
           "--set", "schedule.pretrain_d_rounds=1", "--set", "schedule.adv_epochs=8",
           "--set", "schedule.num_negatives=32", "--set", "adversarial.num_rollouts=2", "--method", "mle"]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _generator(path: Path, key: str) -> dict:
    state = load_checkpoint(path)
    return state["pair"]["generator"] if key == "pair" else state["generator"]


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_text_run_stops_at_the_best_nll_valid_and_hands_it_on(tmp_path, overfit_corpus, run_cli):
    run = tmp_path / "run"
    result = run_cli(["train", "--corpus", overfit_corpus, *OVERFIT, "--run-dir", run])
    assert result.code == 0, result.err
    records, patience = _records(run), 3  # text-small's schedule.early_stop_patience
    ckpts = run / "checkpoints"
    for phase, start in (("pretrain_g", "init"), ("adversarial", "pretrain_d")):
        evals = [r for r in records if r["phase"] == phase and r["event"] == "eval"]
        stop = [r for r in records if r["phase"] == phase and r["event"] == "early_stop"]
        assert len(stop) == 1, (phase, records)
        stop = stop[0]
        # every epoch is evaluated; the best is the lowest NLL-valid among the phase's start and its epochs,
        # and the phase ends `patience` evaluations after it, well before its epoch budget
        assert [r["epoch"] for r in evals] == list(range(1, stop["epoch"] + 1))
        start_value = [r for r in records if r["phase"] == start and r["event"] == "eval"][-1]["nll_valid"]
        points = [(start_value, 0)] + [(r["nll_valid"], r["epoch"]) for r in evals]
        best_value, best_epoch = min(points, key=lambda p: (p[0], p[1]))
        assert (stop["best_epoch"], stop["nll_valid"]) == (best_epoch, best_value)
        assert stop["epoch"] == best_epoch + patience < 15
        # the phase's end checkpoint holds exactly the best evaluated snapshot of G
        assert _same_weights(_generator(ckpts / f"{phase}.pt", "pair"),
                             _generator(ckpts / snapshot_name(phase, best_epoch), "snapshot"))
    pretrain = [r for r in records if r["event"] == "early_stop"][0]
    assert pretrain["best_epoch"] >= 1  # pretraining did improve on the random G
    # D pretraining and the MLE baseline start from the restored G: its NLL-valid is the best one again
    after = [r for r in records if r["phase"] == "pretrain_d" and r["event"] == "eval"][-1]
    assert after["nll_valid"] == pretrain["nll_valid"]
    final = json.loads((run / "metrics.json").read_text())
    adversarial = [r for r in records if r["event"] == "early_stop"][1]
    assert final["nll_valid"] == pytest.approx(adversarial["nll_valid"], abs=1e-9)
    assert "back to epoch" in result.err and "stopped early at epoch" in result.err


@pytest.mark.parametrize("interrupt_at", [2, 5, 7])
def test_text_run_interrupted_mid_way_resumes_to_the_same_metrics(tmp_path, overfit_corpus, run_cli, monkeypatch,
                                                                  interrupt_at):
    """SIGINT during the n-th MLE epoch (2: before the stop; 5: the epoch that triggers it; 7: in the MLE
    baseline's phase): the saved checkpoint carries the best so far and the patience count."""
    from seqgan.text.adversarial import SeqGANPair

    args = ["train", "--corpus", overfit_corpus, *OVERFIT, "--set", "schedule.checkpoint_every_s=3600"]
    whole = run_cli([*args, "--run-dir", tmp_path / "whole"])
    assert whole.code == 0, whole.err
    original, calls = SeqGANPair.mle_epoch, []

    def interrupted(self, gen):
        calls.append(1)
        if len(calls) == interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the epoch
        return original(self, gen)

    monkeypatch.setattr(SeqGANPair, "mle_epoch", interrupted)
    broken = run_cli([*args, "--run-dir", tmp_path / "broken"])
    assert broken.code == 130, broken.err
    assert broken.err_lines[-1].startswith("seqgan train: stopped by SIGINT") and "re-run" in broken.err
    assert not (tmp_path / "broken" / "metrics.json").exists()
    monkeypatch.setattr(SeqGANPair, "mle_epoch", original)
    resumed = run_cli([*args, "--run-dir", tmp_path / "broken"])
    assert resumed.code == 0, resumed.err
    assert "resuming from " in resumed.err
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (tmp_path / "broken" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("setting,needle", [("schedule.early_stop_patience=-1", "early_stop_patience"),
                                            ("schedule.checkpoint_every_s=-1", "checkpoint_every_s"),
                                            ("schedule.checkpoint_every_s=nan", "checkpoint_every_s")])
def test_bad_schedule_values(tmp_path, run_cli, setting, needle):
    result = run_cli(["train", "--experiment", "oracle-tiny", "--set", setting, "--run-dir", tmp_path / "r"])
    assert_one_line_error(result, "train", needle)
    assert not (tmp_path / "r").exists()


def test_the_oracle_has_no_validation_split_to_stop_on(tmp_path, run_cli):
    result = run_cli(["train", "--experiment", "oracle-tiny", "--set", "schedule.early_stop_patience=2",
                      "--run-dir", tmp_path / "r"])
    assert_one_line_error(result, "train", "early_stop_patience", "oracle")
    assert not (tmp_path / "r").exists()


def test_presets_early_stopping_defaults():
    from seqgan.text.config import ScheduleConfig
    from seqgan.text.presets import PRESETS

    assert ScheduleConfig().early_stop_patience == 0
    for name, (_, config) in PRESETS.items():
        is_text = name.removesuffix("-gpu").removesuffix("-gpt2") in ("text-small", "poems", "obama", "coco")
        assert (config.schedule.early_stop_patience > 0) == is_text, name
