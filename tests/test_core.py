"""seqgan.core: checkpoints, the one training loop (resume), runtime (seeds, RNG state, devices), the metrics log."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqgan.base.errors import UserError
from seqgan.core import checkpoint as ckpt
from seqgan.core.checkpoint import (
    CheckpointError,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
)
from seqgan.core.log import MetricsLog
from seqgan.core.loop import Phase, train_adversarial
from seqgan.core.protocol import GANPair
from seqgan.core.runtime import capture_rng, keep_freed_memory, pick_device, restore_rng, seed_everything
from tests.conftest import REPO_ROOT, SUBPROCESS_ENV_OVERRIDES

# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    state = {"w": torch.arange(5.0), "nested": {"x": [1, 2]}, "rng": torch.get_rng_state()}
    save_checkpoint(tmp_path / "a.pt", state)
    back = load_checkpoint(tmp_path / "a.pt")
    assert torch.equal(back["w"], state["w"]) and back["nested"] == {"x": [1, 2]}
    assert back["format_version"] == ckpt.FORMAT_VERSION
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]  # no temporary left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_raises_checkpoint_error(tmp_path, damage):
    path = tmp_path / "a.pt"
    save_checkpoint(path, {"w": torch.randn(100)})
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_foreign_and_missing_checkpoints(tmp_path):
    torch.save({"w": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a seqgan checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"step": 1})
    before = path.read_bytes()

    def dying_save(obj, f):  # writes half a file, then the process "dies"
        Path(f).write_bytes(b"PK\x03\x04 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1


def test_atomic_writes(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "héllo\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic_write_json(tmp_path / "a.txt", {"x": [1, 2], "é": 1.5})
    assert json.loads((tmp_path / "a.txt").read_text(encoding="utf-8")) == {"x": [1, 2], "é": 1.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


# ---------------------------------------------------------------- metrics log


def test_metrics_log(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    assert log.read() == [] and log.offset() == 0
    log.write({"a": 1, "b": float("nan"), "c": float("inf"), "d": 0.25})
    offset = log.offset()
    log.write({"a": 2})
    log.write_timing({"t": 0.1})
    assert log.read() == [{"a": 1, "b": "nan", "c": "inf", "d": 0.25}, {"a": 2}]
    log.truncate(offset)
    assert log.read() == [{"a": 1, "b": "nan", "c": "inf", "d": 0.25}]
    assert (tmp_path / "timing.jsonl").read_text() == '{"t": 0.1}\n'
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        json.loads(line)  # strict JSON: no NaN literals
        assert "NaN" not in line


# ---------------------------------------------------------------- runtime


def test_seed_everything_is_reproducible():
    gen = seed_everything(7)
    a = (random.random(), torch.rand(3), torch.rand(3, generator=gen))
    gen = seed_everything(7)
    b = (random.random(), torch.rand(3), torch.rand(3, generator=gen))
    assert a[0] == b[0] and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    assert not torch.equal(a[2], torch.rand(3, generator=seed_everything(8)))


def test_capture_and_restore_rng_continue_every_stream():
    gen = seed_everything(3)
    torch.rand(2, generator=gen)
    state = capture_rng(gen)
    first = (random.random(), torch.rand(4), torch.rand(4, generator=gen))
    other = seed_everything(99)  # scramble everything
    random.random()
    restore_rng(state, other)
    second = (random.random(), torch.rand(4), torch.rand(4, generator=other))
    assert first[0] == second[0] and torch.equal(first[1], second[1]) and torch.equal(first[2], second[2])


def test_pick_device():
    if torch.cuda.is_available():
        pytest.skip("this check is for the CPU-only machines")
    assert pick_device("auto") == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(UserError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(UserError):
        pick_device("cuda:1")


def test_pick_device_rejects_unknown_names():
    with pytest.raises(UserError):
        pick_device("gpu")


def test_keep_freed_memory_is_harmless():
    keep_freed_memory()
    keep_freed_memory()
    assert torch.ones(1000, 500).sum().item() == 500_000


def test_no_source_file_calls_cuda_directly():
    needle = ".cuda" + "()"  # built here so this file does not match itself
    skip = {".git", "runs", "results", ".venv", "venv", "node_modules", "build"}
    offenders = []
    for path in REPO_ROOT.rglob("*.py"):
        if skip & set(path.relative_to(REPO_ROOT).parts):
            continue
        if needle in path.read_text(encoding="utf-8", errors="replace"):
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == [], f"use .to(device) instead of {needle} in {offenders}"


def test_import_seqgan_core_pulls_only_torch_and_stdlib():
    heavy = ["datasets", "transformers", "nltk", "matplotlib", "tokenizers", "sacrebleu", "tqdm", "numpy",
             "scipy", "flask", "pandas"]
    code = f"""
import json, sys
import torch
after_torch = set(sys.modules)
import seqgan.core, seqgan.core.loop, seqgan.core.log
new = sorted({{m.split('.')[0] for m in set(sys.modules) - after_torch}} - set(sys.stdlib_module_names))
heavy = {heavy!r}
print(json.dumps({{"new": new, "heavy_by_torch": [h for h in heavy if h in after_torch],
                  "heavy_now": [h for h in heavy if h in sys.modules]}}))
"""
    env = {**os.environ, **SUBPROCESS_ENV_OVERRIDES}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["new"] == ["seqgan"], result  # nothing but our own package on top of torch + stdlib
    # heavy libraries present only if `import torch` itself brought them (torch.hub imports tqdm)
    assert set(result["heavy_now"]) == set(result["heavy_by_torch"]), result


# ---------------------------------------------------------------- the loop


class Boom(Exception):
    """Stands in for a kill in the middle of an epoch."""


class ToyPair:
    """A GANPair whose steps use all three random streams (run generator, torch global, Python)."""

    def __init__(self, die_at: int | None = None) -> None:
        self.w = torch.zeros(3)
        self.calls = 0
        self.die_at = die_at

    def _tick(self) -> None:
        self.calls += 1
        if self.die_at is not None and self.calls == self.die_at:
            raise Boom

    def g_step(self, gen: torch.Generator) -> dict:
        self._tick()
        self.w += torch.rand(3, generator=gen) + 0.1 * torch.randn(3)
        return {"g": float(self.w.sum()), "py": random.random()}

    def d_step(self, gen: torch.Generator) -> dict:
        self._tick()
        self.w *= 0.9
        return {"d": float(torch.randint(0, 1000, (1,), generator=gen).item() + self.w[0])}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(n, generator=gen)

    def state_dict(self) -> dict:
        return {"w": self.w.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.w = state["w"].clone()


def _phases(pair: ToyPair) -> list[Phase]:
    return [Phase("a", 3, ((pair.g_step, 1),)), Phase("b", 5, ((pair.g_step, 1), (pair.d_step, 2)))]


def _run(pair: ToyPair, run_dir: Path, resume: bool = False, checkpoint_every_s: float = 0.0):
    gen = seed_everything(11)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt") if resume else None
    return train_adversarial(pair, _phases(pair), run_dir, gen,
                             evaluate=lambda phase, epoch: {"val": float(pair.w.sum())}, eval_every=2,
                             checkpoint_every_s=checkpoint_every_s, resume_state=state,
                             checkpoint_extra={"architecture": {"toy": 1}})


def test_toy_pair_is_a_gan_pair():
    assert isinstance(ToyPair(), GANPair)


def test_loop_schedule_log_and_checkpoints(tmp_path):
    pair = ToyPair()
    pos = _run(pair, tmp_path)
    assert pos.completed == {"a": 3, "b": 5}
    assert pair.calls == 3 + 5 * 3
    records = MetricsLog(tmp_path / "metrics.jsonl").read()
    events = [(r["phase"], r["epoch"], r["event"]) for r in records]
    assert events == [
        ("init", 0, "eval"),
        ("a", 1, "train"), ("a", 2, "train"), ("a", 2, "eval"), ("a", 3, "train"), ("a", 3, "eval"),
        ("b", 1, "train"), ("b", 2, "train"), ("b", 2, "eval"), ("b", 3, "train"), ("b", 4, "train"),
        ("b", 4, "eval"), ("b", 5, "train"), ("b", 5, "eval"),
    ]
    assert set(records[-2]) == {"phase", "epoch", "event", "g", "py", "d"}  # metrics of every step merged
    assert all("_s" not in key for r in records for key in r)  # no wall-clock times in metrics.jsonl
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["a.pt", "b.pt", "last.pt"]
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["position"]["completed"] == {"a": 3, "b": 5} and last["architecture"] == {"toy": 1}
    assert last["metrics_offset"] == (tmp_path / "metrics.jsonl").stat().st_size
    a = load_checkpoint(tmp_path / "checkpoints" / "a.pt")
    assert a["position"]["completed"] == {"a": 3}


@pytest.mark.parametrize("die_at", [2, 4, 5, 9, 17])
@pytest.mark.parametrize("checkpoint_every_s", [0.0, 3600.0])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, die_at, checkpoint_every_s):
    """Kill the loop inside a step, resume from last.pt with fresh objects: metrics.jsonl is byte-identical.
    With checkpoints only at phase ends, the lines written after the checkpoint must be cut off on resume."""
    whole = tmp_path / "whole"
    _run(ToyPair(), whole, checkpoint_every_s=checkpoint_every_s)
    broken = tmp_path / "broken"
    dying = ToyPair(die_at=die_at)
    with pytest.raises(Boom):
        _run(dying, broken, checkpoint_every_s=checkpoint_every_s)
    resumed = ToyPair()
    if (broken / "checkpoints" / "last.pt").exists():
        _run(resumed, broken, resume=True, checkpoint_every_s=checkpoint_every_s)
    else:  # killed before the first checkpoint: a re-run starts over
        _run(resumed, broken, checkpoint_every_s=checkpoint_every_s)
    assert (broken / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()
    assert torch.equal(resumed.w, load_checkpoint(whole / "checkpoints" / "last.pt")["pair"]["w"])


def test_resuming_a_finished_loop_is_a_no_op(tmp_path):
    _run(ToyPair(), tmp_path)
    before = (tmp_path / "metrics.jsonl").read_bytes()
    last = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    pair = ToyPair()
    _run(pair, tmp_path, resume=True)
    assert pair.calls == 0
    assert (tmp_path / "metrics.jsonl").read_bytes() == before
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == last


def test_fresh_start_clears_an_old_log(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"stale": 1}\n')
    _run(ToyPair(), tmp_path)
    assert all("stale" not in r for r in MetricsLog(tmp_path / "metrics.jsonl").read())
