"""schedule.keep_snapshots: only the newest evaluation snapshots, the best one and early stopping's restore points
stay on disk, and keeping fewer never changes what a run trains or what `--checkpoint best` picks."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

from seqgan.core.snapshots import prune_snapshots, snapshot_name
from tests.test_early_stopping import OVERFIT, overfit_corpus  # noqa: F401 (a fixture)


def _touch(ckpt: Path, pairs: list[tuple[str, int]]) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    for phase, epoch in pairs:
        (ckpt / snapshot_name(phase, epoch)).write_bytes(b"x")


def _left(ckpt: Path) -> set[tuple[str, int]]:
    out = set()
    for path in ckpt.glob("eval-*.pt"):
        phase, _, epoch = path.stem.removeprefix("eval-").rpartition("-")
        out.add((phase, int(epoch)))
    return out


def test_prune_keeps_the_newest_the_best_and_the_restore_points(tmp_path):
    ckpt = tmp_path / "checkpoints"
    records = [{"phase": "pretrain_g", "epoch": e, "nll_valid": v} for e, v in ((1, 5.0), (2, 4.0), (3, 4.5))]
    records += [{"phase": "adversarial", "epoch": e, "nll_valid": v} for e, v in ((5, 4.2), (10, math.nan),
                                                                                (15, 4.4), (20, 4.3))]
    on_disk = [(r["phase"], r["epoch"]) for r in records] + [("adversarial", 0)]
    _touch(ckpt, on_disk)
    (ckpt / "last.pt").write_bytes(b"x")
    watch = {"adversarial": {"best_epoch": 0}, "pretrain_g": {"best_epoch": None}}
    gone = prune_snapshots(ckpt, records, 2, lambda recs: "nll_valid", watch)
    # newest two (adversarial 15, 20), the best by nll_valid (pretrain_g 2; NaN never wins), the restore point
    assert _left(ckpt) == {("adversarial", 15), ("adversarial", 20), ("pretrain_g", 2), ("adversarial", 0)}
    assert {p.name for p in gone} == {snapshot_name(*pair) for pair in set(on_disk) - _left(ckpt)}
    assert (ckpt / "last.pt").exists()  # only snapshots are ever pruned
    # keep=0 deletes nothing
    _touch(ckpt, on_disk)
    assert prune_snapshots(ckpt, records, 0, lambda recs: "nll_valid", watch) == []
    assert _left(ckpt) == set(on_disk)


def _train(run_cli, corpus, run_dir, *extra):
    return run_cli(["train", "--corpus", corpus, *OVERFIT, "--set", "schedule.checkpoint_every_s=0", *extra,
                    "--run-dir", run_dir])


def test_keeping_fewer_snapshots_trains_the_same_run(tmp_path, overfit_corpus, run_cli):  # noqa: F811
    full, pruned = tmp_path / "full", tmp_path / "pruned"
    assert _train(run_cli, overfit_corpus, full).code == 0
    result = _train(run_cli, overfit_corpus, pruned, "--set", "schedule.keep_snapshots=1")
    assert result.code == 0, result.err
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (pruned / name).read_bytes() == (full / name).read_bytes(), name
    records = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["event"] == "eval" and r["phase"] != "init"]
    best = min(evals, key=lambda r: r["nll_valid"])
    stops = {r["phase"]: r["best_epoch"] for r in records if r["event"] == "early_stop"}
    expected = {(evals[-1]["phase"], evals[-1]["epoch"]), (best["phase"], best["epoch"]), *stops.items()}
    assert _left(pruned / "checkpoints") == expected
    assert len(_left(full / "checkpoints")) > len(expected) + 5
    # `--checkpoint best` picks the same snapshot, and an evaluated epoch that was pruned is one clear line
    samples = [run_cli(["sample", "--run-dir", run, "--checkpoint", "best", "-n", "5"]) for run in (full, pruned)]
    assert samples[0].code == samples[1].code == 0 and samples[0].out == samples[1].out
    gone = next(r for r in evals if (r["phase"], r["epoch"]) not in expected)
    missing = run_cli(["sample", "--run-dir", pruned, "--checkpoint", f"{gone['phase']}:{gone['epoch']}"])
    assert missing.code == 2 and "no snapshot" in missing.err and len(missing.err_lines) == 1


def test_a_pruning_run_resumes_exactly_after_ctrl_c(tmp_path, overfit_corpus, run_cli, monkeypatch):  # noqa: F811
    """SIGINT in the epoch that ends pretraining's early stopping (its restore point must still exist)."""
    from seqgan.text.adversarial import SeqGANPair

    keep = ("--set", "schedule.keep_snapshots=1")
    assert _train(run_cli, overfit_corpus, tmp_path / "whole", *keep).code == 0
    original, calls = SeqGANPair.mle_epoch, []

    def interrupted(self, gen):
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, gen)

    monkeypatch.setattr(SeqGANPair, "mle_epoch", interrupted)
    assert _train(run_cli, overfit_corpus, tmp_path / "broken", *keep).code == 130
    monkeypatch.setattr(SeqGANPair, "mle_epoch", original)
    resumed = _train(run_cli, overfit_corpus, tmp_path / "broken", *keep)
    assert resumed.code == 0, resumed.err
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (tmp_path / "broken" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert _left(tmp_path / "broken" / "checkpoints") == _left(tmp_path / "whole" / "checkpoints")


def test_keep_snapshots_must_not_be_negative(tmp_path, overfit_corpus, run_cli):  # noqa: F811
    result = _train(run_cli, overfit_corpus, tmp_path / "run", "--set", "schedule.keep_snapshots=-1")
    assert result.code == 2 and "keep_snapshots" in result.err and len(result.err_lines) == 1
    assert not (tmp_path / "run").exists()
