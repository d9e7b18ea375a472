"""seqgan.core.lifecycle with a third, toy kind of run: what a kind declares is all it needs to train, resume,
refuse, resolve `--checkpoint` and load; the rules that differ between kinds are data."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from seqgan.base.errors import UserError
from seqgan.core.config import RunConfig, check
from seqgan.core.lifecycle import GeneratorOnly, RunDir, RunKind
from seqgan.core.loop import Phase

TOY_SEED = 5


@dataclass(frozen=True)
class ToySchedule:
    warmup: int = 2
    epochs: int = 3
    eval_every: int = 1
    checkpoint_every_s: float = 0.0

    def __post_init__(self) -> None:
        check(self.epochs >= 0, "schedule.epochs must be >= 0")


@dataclass(frozen=True)
class ToyModel:
    width: int = 3


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    KEYS_COMMAND = "toy --keys"
    name: str = "toy"
    seed: int = TOY_SEED
    model: ToyModel = field(default_factory=ToyModel)
    schedule: ToySchedule = field(default_factory=ToySchedule)


class ToyPair:
    """G is one linear layer; its steps move it by the run generator's draws, D is a counter."""

    def __init__(self, width: int) -> None:
        self.generator = torch.nn.Linear(width, 1)
        self.d_steps = 0

    def g_step(self, gen: torch.Generator) -> dict:
        with torch.no_grad():
            self.generator.weight += torch.rand(self.generator.weight.shape, generator=gen) - 0.6
        return {"w": float(self.generator.weight.detach().sum())}

    def d_step(self, gen: torch.Generator) -> dict:
        self.d_steps += 1
        return {"d": self.d_steps}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(n, generator=gen)

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(), "d_steps": self.d_steps}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.d_steps = state["d_steps"]


@dataclass
class ToyRun:
    config: ToyConfig
    pair: ToyPair | GeneratorOnly
    device: torch.device = torch.device("cpu")

    def architecture(self) -> dict:
        nets = {"generator": list(self.pair.generator.weight.shape)}
        if not isinstance(self.pair, GeneratorOnly):
            nets["discriminator"] = "counter"
        return nets

    def evaluate(self, phase: str = "", epoch: int = 0) -> dict:
        return {"loss": abs(float(self.pair.generator.weight.detach().sum()))}


def build(config: ToyConfig) -> ToyRun:
    torch.manual_seed(config.seed)
    return ToyRun(config, ToyPair(config.model.width))


def _finish(run: ToyRun, run_dir: Path) -> dict:
    final = run.evaluate()
    (run_dir / "final.json").write_text(json.dumps(final))
    return final


# only what differs from the defaults: the kind's command, config, resumable keys, phases, final files, best metric
TOY = RunKind(command="toy train", title="a toy run", config_class=ToyConfig, resumable=("schedule.epochs:",),
              phase_names=("warmup", "adversarial"),
              build_phases=lambda run: [Phase("warmup", run.config.schedule.warmup, ((run.pair.g_step, 1),)),
                                        Phase("adversarial", run.config.schedule.epochs,
                                              ((run.pair.g_step, 1), (run.pair.d_step, 1)))],
              finish=_finish, best_key=lambda records: "loss")


def _train(run_dir: Path, kind: RunKind = TOY, **schedule) -> dict:
    config = ToyConfig(schedule=ToySchedule(**schedule))
    return RunDir(run_dir, kind).train(config, lambda: build(config), argv=["toy"])


def _files(run_dir: Path) -> dict:
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_third_kind_trains_resumes_and_extends(tmp_path):
    run_dir = tmp_path / "run"
    final = _train(run_dir)
    stored = json.loads((run_dir / "config.json").read_text())
    assert list(stored) == ["config", "argv", "version"]  # no branching: no init_from
    assert json.loads((run_dir / "final.json").read_text()) == final
    assert {p.name for p in (run_dir / "checkpoints").glob("*.pt")} >= {"last.pt", "warmup.pt", "adversarial.pt"}
    before = _files(run_dir)
    assert _train(run_dir) == final  # nothing left to train: the same final metrics
    assert _files(run_dir)["metrics.jsonl"] == before["metrics.jsonl"]
    _train(run_dir, epochs=5)  # extending the last phase is a resumable change
    epochs = [json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()
              if json.loads(x)["event"] == "train" and json.loads(x)["phase"] == "adversarial"]
    assert epochs == [1, 2, 3, 4, 5]


def test_changes_outside_the_resumable_keys_are_refused_before_writing(tmp_path):
    run_dir = tmp_path / "run"
    _train(run_dir)
    before = _files(run_dir)
    with pytest.raises(UserError, match="schedule.eval_every: 1 -> 2"):
        _train(run_dir, eval_every=2)
    with pytest.raises(UserError, match="warmup"):  # warmup was followed by the adversarial phase
        RunDir(run_dir, dataclasses.replace(TOY, resumable=("schedule.",))).train(
            ToyConfig(schedule=ToySchedule(warmup=4)), lambda: build(ToyConfig(schedule=ToySchedule(warmup=4))))
    assert _files(run_dir) == before


@pytest.mark.parametrize("fallback", [True, False])
def test_an_unreadable_last_checkpoint_follows_the_kinds_rule(tmp_path, fallback):
    kind = dataclasses.replace(TOY, resume_from_phase_ends=fallback)
    run_dir = tmp_path / "run"
    _train(run_dir, kind)
    last = run_dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    if fallback:  # continues from the newest readable phase end, and repairs last.pt
        _train(run_dir, kind)
        assert last.read_bytes() == (run_dir / "checkpoints" / "adversarial.pt").read_bytes()
    else:
        before = _files(run_dir)
        with pytest.raises(UserError, match="corrupt.*delete"):
            _train(run_dir, kind)
        assert _files(run_dir) == before


def test_checkpoint_names_follow_the_kinds_phases(tmp_path):
    run_dir = tmp_path / "run"
    _train(run_dir)
    runs = RunDir(run_dir, TOY)
    assert runs.resolve("warmup").path.name == "warmup.pt"
    assert runs.resolve("2").path.name == "eval-adversarial-2.pt"  # a bare epoch: the epoch phase
    assert runs.resolve("warmup:1").description == "warmup:1"
    best = runs.resolve("best")
    assert best.generator_only and best.description.startswith("best loss=")
    with pytest.raises(UserError, match="no snapshot for adversarial:9"):
        runs.resolve("9")
    with pytest.raises(UserError, match="use last, best, a phase name"):
        runs.resolve("x:1")
    one_phase = RunDir(run_dir, dataclasses.replace(TOY, phase_names=("adversarial",), named_phase_ends=False))
    with pytest.raises(UserError, match="no snapshot at epoch 9"):  # one phase: epochs are just epochs
        one_phase.resolve("9")
    with pytest.raises(UserError, match="use last, best, an evaluated EPOCH"):
        one_phase.resolve("adversarial")


def test_loading_for_sampling_compares_g_only(tmp_path):
    run_dir = tmp_path / "run"
    _train(run_dir)
    full = RunDir(run_dir, TOY).load("last", lambda config, record, state: build(config))
    light = RunDir(run_dir, TOY).load("last", lambda config, record, state: ToyRun(config, GeneratorOnly(
        torch.nn.Linear(config.model.width, 1))))
    assert torch.equal(full.pair.generator.weight, light.pair.generator.weight)
    snapshot = RunDir(run_dir, TOY).load("warmup:1", lambda config, record, state: build(config))
    assert not torch.equal(snapshot.pair.generator.weight, full.pair.generator.weight)
    with pytest.raises(UserError, match="architecture differs"):
        RunDir(run_dir, TOY).load("last", lambda config, record, state: build(
            dataclasses.replace(config, model=ToyModel(width=4))))
