"""Image pairs and runs: every variant's step changes its nets, runs resume like text runs, one-line errors."""

from __future__ import annotations

import copy
import json
import shutil
import signal
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgan.core.checkpoint import load_checkpoint
from seqgan.core.runtime import seed_everything
from seqgan.image.commands import LOSS_NAMES
from seqgan.image.config import ImageConfig, apply_image_overrides, image_config
from seqgan.image.run import build_image_run, make_phases, prepare_images
from seqgan.image.variants import VARIANTS
from tests.conftest import kill_cli_when, snapshot
from tests.image_helpers import class_images
from tests.test_cli_train import assert_one_line_error

# fp32 (the presets say auto): step tests must not depend on whether this CPU has bf16 units
SMALL_NETS = ["model.width=8", "model.latent_dim=16", "model.code_dim=8", "train.batch_size=16", "train.precision=fp32",
              "device=cpu"]
# a seconds-long CLI run on the tiny synthetic MNIST: 4 epochs of 3 iterations, checkpoints after every epoch
TINY = ["--dataset", "mnist", "--device", "cpu", *[a for kv in SMALL_NETS[:-1] for a in ("--set", kv)],
        "--set", "schedule.iters_per_epoch=3", "--set", "schedule.epochs=4", "--set", "schedule.eval_every=2",
        "--set", "schedule.checkpoint_every_s=0", "--set", "eval.fid=false"]
COMPARED = ["metrics.jsonl", "metrics.json", "samples.png"]


def small_config(loss: str, net: str = "dcgan", *extra: str) -> ImageConfig:
    return apply_image_overrides(image_config("mnist", loss, net=net), [*SMALL_NETS, *extra])


def fake_images(n: int = 64, seed: int = 0) -> torch.Tensor:
    images, _ = class_images(n, seed)
    return torch.from_numpy(images).unsqueeze(1)  # (n, 1, 28, 28) uint8


def fake_labels(n: int = 64, seed: int = 0) -> torch.Tensor:
    _, labels = class_images(n, seed)
    return torch.from_numpy(labels).long()  # (n,) the classes of fake_images(n, seed)


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def assert_seed_decides_training(build) -> None:
    """Two D and G steps of the run `build(seed)` makes: seed 3 twice ends with identical parameters in every net
    of the pair (its PARTS that are modules), seed 4 with different ones."""
    def train(seed: int) -> list[torch.Tensor]:
        run = build(seed)
        gen = seed_everything(seed)
        for _ in range(2):
            run.pair.d_step(gen)
            run.pair.g_step(gen)
        nets = [getattr(run.pair, part) for part in run.pair.PARTS]
        return [p for net in nets if isinstance(net, torch.nn.Module) for p in params(net)]

    a, b, c = train(3), train(3), train(4)
    assert len(a) == len(b) == len(c) > 0
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def all_changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return all(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def none_changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


# ---------------------------------------------------------------- steps


def test_cli_loss_names_are_the_variants():
    assert set(LOSS_NAMES) == set(VARIANTS)


@pytest.mark.parametrize("net", ["dcgan", "mlp"])
@pytest.mark.parametrize("loss", sorted(VARIANTS))
def test_one_step_of_each_variant_changes_g_and_d(loss, net):
    extra = ("train.labelled=10",) if loss == "ssgan" else ()  # 64 fake images: too few for 10 labels per class
    run = build_image_run(small_config(loss, net, *extra), fake_images(), labels=fake_labels())  # labelled variants
    pair, gen = run.pair, seed_everything(1)
    g0, d0 = params(pair.generator), params(pair.discriminator)
    if loss == "vae":  # one ELBO step trains encoder ("D") and decoder (G) together
        pair.g_step(gen)
        assert all_changed(g0, pair.generator) and all_changed(d0, pair.discriminator)
        return
    metrics = pair.d_step(gen)
    d_params = list(pair.discriminator.parameters())
    if VARIANTS[loss].loss in ("wasserstein", "hinge"):
        # the critic's output bias adds the same constant to real and fake scores: E[f(fake)] - E[f(real)]
        # does not depend on it (nor does the hinge while every margin is active, as at initialisation)
        d0, d_params = d0[:-1], d_params[:-1]
    assert all(not torch.equal(a, b) for a, b in zip(d0, d_params)) and none_changed(g0, pair.generator)
    d1 = params(pair.discriminator)
    metrics.update(pair.g_step(gen))
    assert all_changed(g0, pair.generator) and none_changed(d1, pair.discriminator)
    assert all(np.isfinite(v) for v in metrics.values())
    assert {"d_loss", "g_loss"} <= set(metrics)


@pytest.mark.parametrize("loss", ["ns", "wgan-gp", "began", "vae"])
def test_bf16_autocast_steps_train_and_stay_fp32(loss):
    fp32 = build_image_run(small_config(loss), fake_images())
    bf16 = build_image_run(small_config(loss, "dcgan", "train.precision=bf16"), fake_images())
    gen_a, gen_b = seed_everything(1), seed_everything(1)
    g0 = params(bf16.pair.generator)
    a = {**fp32.pair.d_step(gen_a), **fp32.pair.g_step(gen_a)}
    b = {**bf16.pair.d_step(gen_b), **bf16.pair.g_step(gen_b)}
    assert all_changed(g0, bf16.pair.generator)
    assert all(p.dtype == torch.float32 for p in bf16.pair.generator.parameters())
    assert set(a) == set(b) and all(np.isfinite(v) for v in b.values())
    assert a != b  # bf16 products round differently ...
    assert b["g_loss"] == pytest.approx(a["g_loss"], rel=0.1, abs=0.05)  # ... but compute the same thing


def test_pytorch_gan_dcgan_trains_in_the_same_pair():
    config = small_config("ns", "pytorch-gan-dcgan", "data.image_size=32")
    images = prepare_images(config, fake_images())  # resized to 32x32, as dcgan.py's transforms do
    assert images.shape == (64, 1, 32, 32) and images.dtype == torch.uint8
    run = build_image_run(config, images)
    gen = seed_everything(1)
    g0, d0 = params(run.pair.generator), params(run.pair.discriminator)
    run.pair.d_step(gen)
    run.pair.g_step(gen)
    assert all_changed(g0, run.pair.generator) and all_changed(d0, run.pair.discriminator)
    assert run.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 32, 32)


def test_wgan_clips_the_critic_and_began_moves_k():
    run = build_image_run(small_config("wgan"), fake_images())
    gen = seed_everything(1)
    run.pair.d_step(gen)
    assert max(p.abs().max().item() for p in run.pair.discriminator.parameters()) <= 0.01
    began = build_image_run(small_config("began"), fake_images()).pair
    for _ in range(3):
        began.d_step(gen)
        metrics = began.g_step(gen)
    assert metrics["k"] == began.k and 0.0 <= began.k <= 1.0 and began.k != 0.0
    assert metrics["m_global"] > 0


def test_variant_defaults_reach_the_config_and_the_optimizers():
    wgan = build_image_run(small_config("wgan"), fake_images())
    assert isinstance(wgan.pair.d_opt, torch.optim.RMSprop) and wgan.pair.d_opt.param_groups[0]["lr"] == 5e-5
    gp = small_config("wgan-gp")
    assert (gp.train.n_critic, gp.train.penalty_weight, gp.train.beta1, gp.train.beta2, gp.model.d_batch_norm) == (
        5, 10.0, 0.0, 0.9, False)
    gp_run = build_image_run(gp, fake_images())
    assert gp_run.pair.d_opt.param_groups[0]["betas"] == (0.0, 0.9)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gp_run.pair.discriminator.modules())
    ns = small_config("ns")
    assert (ns.train.g_lr, ns.train.beta1, ns.train.n_critic) == (2e-4, 0.5, 1)
    # an epoch is iters x (n_critic D steps, 1 G step), as one Phase of the shared loop
    (phase,) = make_phases(gp_run)
    assert len(phase.steps) == 2 * gp.schedule.iters_per_epoch and phase.steps[0][1] == 5


def test_same_seed_same_steps():
    def run_steps(seed: int) -> list[float]:
        run = build_image_run(small_config("dragan", "dcgan", f"seed={seed}"), fake_images())
        gen = seed_everything(seed)
        out = []
        for _ in range(3):
            out += list(run.pair.d_step(gen).values()) + list(run.pair.g_step(gen).values())
        return out

    assert run_steps(3) == run_steps(3) != run_steps(4)


def test_pair_state_round_trip_continues_identically():
    a = build_image_run(small_config("began"), fake_images())
    gen = seed_everything(1)
    a.pair.d_step(gen)
    a.pair.g_step(gen)
    # deep-copied as a checkpoint file would (optimizer.load_state_dict keeps same-device tensors by reference)
    state, gen_state = copy.deepcopy(a.pair.state_dict()), gen.get_state()
    b = build_image_run(small_config("began", "dcgan", "seed=9"), fake_images())
    b.pair.load_state_dict(state)
    gen_b = torch.Generator().set_state(gen_state)
    assert a.pair.d_step(gen) == b.pair.d_step(gen_b) and a.pair.g_step(gen) == b.pair.g_step(gen_b)


# ---------------------------------------------------------------- runs through the CLI


def _epochs(run_dir: Path) -> list[int]:
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [r["epoch"] for r in records if r["event"] == "train"]


def test_image_train_writes_a_run_dir_and_same_seed_same_run(tiny_mnist, tmp_path, run_cli):
    a = run_cli(["image-train", *TINY, "--loss", "wgan-gp", "--seed", "2", "--run-dir", tmp_path / "a",
                 "--data-dir", tiny_mnist])
    assert a.code == 0, a.err
    run_dir = tmp_path / "a"
    assert {"config.json", "metrics.jsonl", "timing.jsonl", "metrics.json", "samples.png", "checkpoints",
            "run.log"} <= {p.name for p in run_dir.iterdir()}
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {
        "last.pt", "adversarial.pt", "eval-adversarial-2.pt", "eval-adversarial-4.pt"}
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["config"]["train"]["loss"] == "wgan-gp" and stored["image_shape"] == [1, 28, 28]
    assert stored["num_train_images"] == 300
    assert _epochs(run_dir) == [1, 2, 3, 4]
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all("d_penalty" in r for r in records if r["event"] == "train")
    b = run_cli(["image-train", *TINY, "--loss", "wgan-gp", "--seed", "2", "--run-dir", tmp_path / "b",
                 "--data-dir", tiny_mnist])
    assert b.code == 0, b.err
    for name in COMPARED:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    c = run_cli(["image-train", *TINY, "--loss", "wgan-gp", "--seed", "3", "--run-dir", tmp_path / "c",
                 "--data-dir", tiny_mnist])
    assert c.code == 0 and (tmp_path / "c" / "metrics.jsonl").read_bytes() != (run_dir / "metrics.jsonl").read_bytes()


def test_stopped_and_extended_run_equals_a_straight_run(tiny_mnist, tmp_path, run_cli):
    """Train 2 epochs, then re-run with 4 (the same command, longer): the same files as 4 epochs in one go."""
    short = [*TINY, "--loss", "began", "--set", "schedule.epochs=2", "--data-dir", tiny_mnist]
    assert run_cli(["image-train", *short, "--run-dir", tmp_path / "split"]).code == 0
    assert _epochs(tmp_path / "split") == [1, 2]
    rerun = run_cli(["image-train", *short, "--run-dir", tmp_path / "split"])  # finished: nothing to do
    assert rerun.code == 0 and _epochs(tmp_path / "split") == [1, 2]
    longer = run_cli(["image-train", *TINY, "--loss", "began", "--data-dir", tiny_mnist, "--run-dir",
                      tmp_path / "split"])
    assert longer.code == 0, longer.err
    whole = run_cli(["image-train", *TINY, "--loss", "began", "--data-dir", tiny_mnist, "--run-dir",
                     tmp_path / "whole"])
    assert whole.code == 0, whole.err
    assert _epochs(tmp_path / "split") == [1, 2, 3, 4]
    for name in COMPARED:
        assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_rolled_back_checkpoint_resumes_to_the_same_metrics(tiny_mnist, tmp_path, run_cli):
    """A run left at its epoch-2 checkpoint with a half-written line after it (as a kill leaves it) finishes
    with the metrics of an uninterrupted run."""
    args = [*TINY, "--loss", "lsgan", "--net", "mlp", "--data-dir", tiny_mnist]
    assert run_cli(["image-train", *args, "--set", "schedule.epochs=2", "--run-dir", tmp_path / "run"]).code == 0
    (tmp_path / "run" / "metrics.json").unlink()
    with open(tmp_path / "run" / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"phase": "adversarial", "epoch": 3, "event": "tr')
    assert run_cli(["image-train", *args, "--run-dir", tmp_path / "run"]).code == 0
    assert run_cli(["image-train", *args, "--run-dir", tmp_path / "whole"]).code == 0
    for name in COMPARED:
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


KILL_ARGS = ["--loss", "ns", "--device", "cpu", "--set", "model.width=8", "--set", "model.latent_dim=16",
             "--set", "train.batch_size=16", "--set", "schedule.iters_per_epoch=4", "--set", "schedule.epochs=40",
             "--set", "schedule.eval_every=5", "--set", "schedule.checkpoint_every_s=0",
             "--set", "data.image_size=16", "--set", "data.channels=1"]


def _image_folder(folder: Path, n: int = 40) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    images, _ = class_images(n, 0)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def test_killed_image_run_resumes_to_the_same_metrics(tmp_path, run_cli):
    """SIGKILL a `seqgan image-train` subprocess mid-way (a folder of PNGs, no FID), re-run: same files."""
    folder = _image_folder(tmp_path / "pngs")
    killed = tmp_path / "killed"
    returncode = kill_cli_when(["image-train", *KILL_ARGS, "--image-dir", folder, "--run-dir", killed],
                               killed / "metrics.jsonl", '"event": "train"', 3, 120, poll_s=0.002)
    assert returncode == -signal.SIGKILL
    state = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert 0 < state["position"]["completed"]["adversarial"] < 40
    assert not (killed / "metrics.json").exists()
    resumed = run_cli(["image-train", *KILL_ARGS, "--image-dir", folder, "--run-dir", killed])
    assert resumed.code == 0, resumed.err
    whole = run_cli(["image-train", *KILL_ARGS, "--image-dir", folder, "--run-dir", tmp_path / "whole"])
    assert whole.code == 0, whole.err
    assert _epochs(killed) == list(range(1, 41))
    for name in COMPARED:
        assert (killed / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_fid_falls_as_training_goes_on(tiny_mnist, tmp_path, run_cli):
    """The third FID sanity row: a GAN learning the tiny dataset gets a lower FID at every evaluation here, and
    ends far below its untrained FID (the full-size curves are in the README's study table)."""
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *TINY, "--loss", "ns", "--set", "schedule.epochs=6",
                      "--set", "schedule.iters_per_epoch=30", "--set", "eval.fid=true", "--set", "eval.num_samples=100",
                      "--set", "eval.final_samples=100", "--set", "eval.n_real=200", "--data-dir", tiny_mnist,
                      "--run-dir", run_dir])
    assert result.code == 0, result.err
    fids = [json.loads(x)["fid"] for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
    assert len(fids) == 4  # init, epochs 2, 4, 6
    assert fids[-1] < fids[0] / 3
    assert all(later < earlier for earlier, later in zip(fids, fids[1:])), fids


def test_fid_during_training_sampling_and_the_fid_command(tiny_mnist, tmp_path, run_cli):
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *TINY, "--loss", "ns", "--set", "eval.fid=true", "--set", "eval.num_samples=40",
                      "--set", "eval.final_samples=60", "--set", "eval.n_real=100", "--data-dir", tiny_mnist,
                      "--run-dir", run_dir])
    assert result.code == 0, result.err
    final = json.loads((run_dir / "metrics.json").read_text())
    assert final["fid"] > 0 and final["fid_signature"].startswith("fid|extractor:mnist-cnn-v1|")
    assert "|nreal:100|nfake:60|" in final["fid_signature"]
    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
    assert [(r["phase"], r["epoch"]) for r in evals] == [("init", 0), ("adversarial", 2), ("adversarial", 4)]
    assert all(r["fid"] > 0 for r in evals)
    # image-sample: a grid from the last checkpoint, from the best-FID snapshot, seeded
    out = tmp_path / "grid.png"
    assert run_cli(["image-sample", "--run-dir", run_dir, "-n", "10", "--nrow", "5", "--out", out]).code == 0
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (5 * 30 + 2, 2 * 30 + 2)  # 28-pixel images with 2-pixel padding
    first = out.read_bytes()
    assert run_cli(["image-sample", "--run-dir", run_dir, "-n", "10", "--nrow", "5", "--out", out]).code == 0
    assert out.read_bytes() == first
    best = min(evals[1:], key=lambda r: r["fid"])
    for spec in ("best", str(best["epoch"])):
        assert run_cli(["image-sample", "--run-dir", run_dir, "-n", "4", "--out", tmp_path / f"{spec}.png",
                        "--checkpoint", spec]).code == 0
    assert (tmp_path / "best.png").read_bytes() == (tmp_path / f"{best['epoch']}.png").read_bytes()
    # `seqgan fid --run-dir` (seqgan/image/fid_cli.py) samples through load_image_run
    fid = run_cli(["fid", "--run-dir", run_dir, "-n", "60", "--n-real", "100", "--data-dir", tiny_mnist, "--json"])
    assert fid.code == 0, fid.err
    assert json.loads(fid.out)["real"] == "mnist-test"


def test_image_study_end_to_end(tiny_mnist, tmp_path, run_cli):
    out = tmp_path / "study"
    args = ["image-study", "--dataset", "mnist", "--losses", "ns,vae", "--seeds", "1,2", "--out", out,
            "--data-dir", tiny_mnist, "--device", "cpu", *[a for kv in SMALL_NETS[:-1] for a in ("--set", kv)],
            "--set", "schedule.iters_per_epoch=2", "--set", "schedule.epochs=2", "--set", "eval.num_samples=30",
            "--set", "eval.final_samples=40", "--set", "eval.n_real=100"]
    result = run_cli(args)
    assert result.code == 0, result.err
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["table"]) == ["ns", "vae"] and summary["seeds"] == [1, 2]
    for loss in ("ns", "vae"):
        row = summary["table"][loss]
        fids = [json.loads((out / loss / f"seed{s}" / "metrics.json").read_text())["fid"] for s in (1, 2)]
        assert row["per_seed"] == {"1": fids[0], "2": fids[1]}
        assert row["fid_mean"] == pytest.approx(sum(fids) / 2)
        assert row["fid_std"] == pytest.approx(abs(fids[0] - fids[1]) / 2 ** 0.5)
        runs = [[json.loads(line) for line in (out / loss / f"seed{s}" / "metrics.jsonl").read_text().splitlines()]
                for s in (1, 2)]
        curves = [[(r["epoch"], r["fid"]) for r in records if r.get("event") == "eval"] for records in runs]
        assert [e for e, _ in curves[0]] == [0, 2]  # initialisation, then the last epoch (eval_every 5)
        assert row["fid_curve_mean"] == [[e, pytest.approx((a + b) / 2)]
                                         for (e, a), (_, b) in zip(curves[0], curves[1])]
        assert row["still_falling"] == (row["fid_curve_mean"][-1][1] < 0.99 * row["fid_curve_mean"][-2][1])
        assert row["minutes_mean"] > 0
    assert summary["table"]["ns"]["survey_fid"] == 6.8 and summary["table"]["vae"]["survey_fid"] == 23.8
    table = (out / "table.md").read_text()
    assert table in result.out and "| NS GAN |" in table and "| 23.8 |" in table
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # re-running resumes every finished run: nothing is retrained, the summary is the same
    kept = ("ns/seed1/checkpoints/last.pt", "vae/seed2/metrics.jsonl", "ns/seed2/metrics.json")
    before = {p: ((out / p).read_bytes(), (out / p).stat().st_mtime_ns) for p in kept}
    again = run_cli(args)
    assert again.code == 0 and json.loads((out / "summary.json").read_text())["table"] == summary["table"]
    assert all(((out / p).read_bytes(), (out / p).stat().st_mtime_ns) == b for p, b in before.items())
    # a run killed before its final FID is resumed and finished, not taken as finished
    (out / "vae" / "seed1" / "metrics.json").unlink()
    assert run_cli(args).code == 0 and (out / "vae" / "seed1" / "metrics.json").exists()


def test_spearman_and_ranks():
    from seqgan.image.study import ranks as _ranks
    from seqgan.image.study import spearman

    assert _ranks([3.0, 1.0, 2.0, 1.0]) == [4.0, 1.5, 3.0, 1.5]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # 1 - 6 sum d^2 / (n (n^2 - 1)) with d = (0, 1, -1, 0): 1 - 12 / 60
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2], [2, 1]) is None


def test_the_study_table_carries_precision_and_recall_when_the_runs_have_them():
    from seqgan.image.study import summarise, table_markdown

    def run(fid, precision=None, recall=None):
        metrics = {"fid": fid, "fid_curve": [[5, fid + 10], [10, fid]], "minutes": 2.0}
        return metrics | ({} if precision is None else {"precision": precision, "recall": recall})

    with_pr = summarise("mnist", {"ns": {1: run(10.0, 0.5, 0.25), 2: run(12.0, 0.7, 0.35)},
                                  "wgan-gp": {1: run(20.0, 0.4, 0.5), 2: run(22.0, 0.6, 0.7)}})
    row = with_pr["table"]["ns"]
    assert (row["precision_mean"], row["recall_mean"]) == pytest.approx((0.6, 0.3))
    assert row["precision_std"] == pytest.approx(statistics.stdev([0.5, 0.7]))
    text = table_markdown(with_pr)
    assert "| precision | recall |" in text and "0.600 ± 0.141 | 0.300 ± 0.071 |" in text
    header, rule = text.splitlines()[:2]
    assert header.count("|") == rule.count("|")
    without = table_markdown(summarise("mnist", {"ns": {1: run(10.0)}, "wgan-gp": {1: run(20.0)}}))
    assert "precision" not in without and "own scores" not in without


def test_the_study_table_carries_each_variants_own_scores_over_seeds():
    from seqgan.image.study import summarise, table_markdown

    def run(fid, **scores):
        return {"fid": fid, "fid_curve": [[5, fid + 10], [10, fid]], "minutes": 2.0, **scores}

    summary = summarise("mnist", {"bigan": {1: run(10.0, latent_recon_mse=0.8, recon_label_agreement=0.6),
                                            2: run(12.0, latent_recon_mse=1.0, recon_label_agreement=0.7)},
                                  "infogan": {1: run(20.0, code_accuracy=0.9), 2: run(22.0, code_accuracy=0.95)},
                                  "ns": {1: run(30.0), 2: run(30.0)}})
    bigan = summary["table"]["bigan"]
    assert (bigan["latent_recon_mse_mean"], bigan["recon_label_agreement_mean"]) == pytest.approx((0.9, 0.65))
    assert summary["table"]["infogan"]["code_accuracy_std"] == pytest.approx(statistics.stdev([0.9, 0.95]))
    assert "code_accuracy_mean" not in summary["table"]["ns"]
    text = table_markdown(summary)
    assert "latent_recon_mse 0.900 ± 0.141; recon_label_agreement 0.650 ± 0.071 |" in text
    assert "code_accuracy 0.925 ± 0.035 |" in text
    header, rule, *rows = text.splitlines()
    assert header.count("|") == rule.count("|") == rows[2].count("|")  # the NS row keeps an empty score cell


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("extra,needles", [
    (["--loss", "nope"], ["unknown loss 'nope'", "wgan-gp"]),
    (["--net", "resnet"], ["model.net", "pytorch-gan-dcgan"]),
    (["--dataset", "cifar"], ["unknown image dataset 'cifar'"]),
    (["--scale", "tpu"], ["unknown scale"]),
    (["--set", "train.n_critic=0"], ["train.n_critic"]),
    (["--set", "model.widht=8"], ["model.width"]),
    (["--set", "schedule.epochs=many"], ["schedule.epochs=many", "int"]),
    (["--set", "schedule.epochs"], ["KEY=VALUE"]),
    (["--loss", "began", "--net", "pytorch-gan-dcgan"], ["no encoder form"]),
    (["--image-dir", "/nonexistent/pngs"], ["/nonexistent/pngs"]),
    (["--image-dir", "/nonexistent/pngs", "--set", "eval.fid=true"], ["eval.fid=false"]),
    (["--net", "pytorch-gan-dcgan", "--set", "data.image_size=30"], ["divisible by 4"]),
])
def test_bad_image_train_input_exits_2_and_writes_nothing(tiny_mnist, tmp_path, run_cli, extra, needles):
    run_dir = tmp_path / "new"
    result = run_cli(["image-train", *TINY, "--data-dir", tiny_mnist, *extra, "--run-dir", run_dir])
    assert_one_line_error(result, "image-train", *needles)
    assert not run_dir.exists()


def test_missing_data_and_missing_run_dir(tmp_path, run_cli):
    result = run_cli(["image-train", *TINY, "--data-dir", tmp_path / "empty", "--run-dir", tmp_path / "new"])
    assert_one_line_error(result, "image-train", "not found", "--data-dir")
    assert_one_line_error(run_cli(["image-train", *TINY]), "image-train", "--run-dir")
    assert not (tmp_path / "new").exists()


def test_keys_lists_the_resolved_config(run_cli):
    result = run_cli(["image-train", "--loss", "wgan", "--keys"])
    assert result.code == 0
    assert "train.optimizer = rmsprop" in result.out and "train.clip = 0.01" in result.out
    assert "train.n_critic = 5" in result.out and "schedule.epochs = 30" in result.out


@pytest.fixture
def finished_run(tiny_mnist, tmp_path, run_cli) -> Path:
    run_dir = tmp_path / "run"
    assert run_cli(["image-train", *TINY, "--data-dir", tiny_mnist, "--run-dir", run_dir]).code == 0
    return run_dir


def test_changed_architecture_and_corrupt_checkpoint_are_refused(finished_run, tiny_mnist, run_cli):
    before = snapshot(finished_run)
    wider = run_cli(["image-train", *TINY, "--set", "model.width=16", "--data-dir", tiny_mnist, "--run-dir",
                     finished_run])
    assert_one_line_error(wider, "image-train", "different configuration", "model.width: 8 -> 16")
    other = run_cli(["image-train", *TINY, "--loss", "lsgan", "--data-dir", tiny_mnist, "--run-dir", finished_run])
    assert_one_line_error(other, "image-train", "train.loss: ns -> lsgan")
    assert snapshot(finished_run) == before
    last = finished_run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:2000])
    before = snapshot(finished_run)
    again = run_cli(["image-train", *TINY, "--data-dir", tiny_mnist, "--run-dir", finished_run])
    assert_one_line_error(again, "image-train", "last.pt", "corrupt")
    assert_one_line_error(run_cli(["image-sample", "--run-dir", finished_run, "--out", finished_run / "g.png"]),
                          "image-sample", "last.pt")
    assert snapshot(finished_run) == before


def test_checkpoint_architecture_not_matching_config_json(finished_run, run_cli):
    path = finished_run / "config.json"
    data = json.loads(path.read_text())
    data["config"]["model"]["width"] = 4
    path.write_text(json.dumps(data))
    result = run_cli(["image-sample", "--run-dir", finished_run, "--out", finished_run / "g.png"])
    assert_one_line_error(result, "image-sample", "architecture")


@pytest.mark.parametrize("extra,needle", [(["-n", "0"], "-n"), (["--out", "{run}"], "is a folder"),
                                          (["--out", "{run}/x.gif"], ".png"),
                                          (["--checkpoint", "99"], "no snapshot at epoch 99"),
                                          (["--checkpoint", "x:1"], "use last, best")])
def test_bad_image_sample_input(finished_run, run_cli, extra, needle):
    extra = [a.format(run=finished_run) for a in extra]
    out = ["--out", finished_run / "g.png"] if "--out" not in extra else []
    before = snapshot(finished_run)
    assert_one_line_error(run_cli(["image-sample", "--run-dir", finished_run, *out, *extra]), "image-sample", needle)
    assert snapshot(finished_run) == before


def test_image_sample_on_a_folder_that_is_not_a_run(tmp_path, run_cli):
    assert_one_line_error(run_cli(["image-sample", "--run-dir", tmp_path, "--out", tmp_path / "g.png"]),
                          "image-sample", "not a run directory")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra,needle", [(["--losses", "ns,bogus"], "bogus"), (["--seeds", "1,x"], "--seeds"),
                                          (["--losses", ","], "at least one"),
                                          (["--set", "eval.fid=false"], "eval.fid")])
def test_bad_image_study_input(tmp_path, run_cli, extra, needle):
    out = tmp_path / "study"
    assert_one_line_error(run_cli(["image-study", *extra, "--out", out]), "image-study", needle)
    assert not out.exists()


def test_copying_a_run_keeps_it_resumable(finished_run, tmp_path, tiny_mnist, run_cli):
    """Run dirs hold no absolute paths that matter: a moved run resumes (extends) in its new place."""
    moved = tmp_path / "moved"
    shutil.move(finished_run, moved)
    result = run_cli(["image-train", *TINY, "--set", "schedule.epochs=5", "--data-dir", tiny_mnist, "--run-dir",
                      moved])
    assert result.code == 0, result.err
    assert _epochs(moved) == [1, 2, 3, 4, 5]
