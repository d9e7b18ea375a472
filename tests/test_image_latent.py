"""Latent walks: interpolation endpoints and norms, the class arithmetic, and `seqgan image-latent` on tiny runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from seqgan.base.errors import UserError
from seqgan.image.image_pair import generate, latents
from seqgan.image.latent import class_arithmetic, label_samples, latent_width, lerp, slerp, walk_images
from seqgan.image.run import build_image_run, load_image_run
from tests.conftest import run_cli_quiet
from tests.test_cli_train import assert_one_line_error
from tests.test_image_train import TINY, fake_images, small_config


def test_endpoints_are_the_latents_exactly_and_slerp_keeps_the_norm():
    gen = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(4, 32, generator=gen), torch.randn(4, 32, generator=gen)
    for f in (slerp, lerp):  # float32 latents as G takes them: the float64 path starts and ends on them
        path = f(z0, z1, 7)
        assert path.shape == (4, 7, 32)
        assert torch.equal(path[:, 0].float(), z0) and torch.equal(path[:, -1].float(), z1)
    a, b = z0.double(), z1.double()
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)  # equal norms, row by row
    radius = a.norm(dim=1, keepdim=True)  # (4, 1)
    assert torch.allclose(slerp(a, b, 7).norm(dim=2), radius.expand(4, 7), rtol=1e-12, atol=0)
    # the straight line cuts inside the sphere: its midpoint is shorter by cos(angle / 2)
    cos = (a * b).sum(1) / radius[:, 0] ** 2
    mid = lerp(a, b, 3)[:, 1].norm(dim=1)
    assert torch.allclose(mid, radius[:, 0] * torch.sqrt((1 + cos) / 2), rtol=1e-12)
    assert (mid < radius[:, 0] * 0.9).all()  # random latents in 32 dimensions: nearly orthogonal
    # slerp's midpoint is at half the angle from each endpoint
    half = slerp(a, b, 3)[:, 1]
    for end in (a, b):
        got = torch.acos((half * end).sum(1) / (half.norm(dim=1) * end.norm(dim=1)))
        assert torch.allclose(got, torch.acos(cos) / 2, rtol=1e-9)


def test_parallel_endpoints_fall_back_to_the_line():
    z0 = torch.tensor([[1.0, 2.0, 2.0]])
    path = slerp(z0, 2 * z0, 5)  # the same direction: sin(angle) = 0
    assert torch.allclose(path, lerp(z0, 2 * z0, 5)) and torch.isfinite(path).all()
    assert path[0, 2].tolist() == pytest.approx([1.5, 3.0, 3.0])


@pytest.mark.parametrize("loss", ["ns", "lapgan"])
def test_walk_images_start_and_end_with_g_of_the_endpoints(loss):
    run = build_image_run(small_config(loss), fake_images())
    width = latent_width(run.pair)
    assert width == (3 if loss == "lapgan" else 1) * run.config.model.latent_dim  # LAPGAN: one z per level
    z = latents(6, width, torch.Generator().manual_seed(0), run.device)
    for mode in ("slerp", "linear"):
        images = walk_images(run.generator, z[:3], z[3:], 5, mode)  # (3, 5, 1, 28, 28)
        assert images.shape == (3, 5, 1, 28, 28)
        for i in range(3):
            assert torch.equal(images[i, 0], generate(run.generator, z[i:i + 1])[0])
            assert torch.equal(images[i, -1], generate(run.generator, z[3 + i:4 + i])[0])
        assert not torch.equal(images[0, 1], images[0, 0])  # the walk moves


def test_class_arithmetic_averages_disjoint_shares_per_row():
    z = torch.arange(24, dtype=torch.float32).reshape(12, 2)  # latent i = (2i, 2i + 1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 1])
    grid = class_arithmetic(z, labels, (0, 1, 2), rows=2)
    # class 0: latents 0, 3, 6, 9, 10 -> shares (0, 3, 6) and (9, 10); class 1: (1, 4), (7, 11); class 2: 2, 5, 8
    a = torch.tensor([[6.0, 7.0], [19.0, 20.0]])  # means of (0, 3, 6) and (9, 10) as 2i, 2i + 1
    b = torch.tensor([[5.0, 6.0], [18.0, 19.0]])
    c = torch.tensor([[7.0, 8.0], [16.0, 17.0]])  # (2, 5) and (8,)
    assert torch.equal(grid.rows, torch.stack([a, b, c, a - b + c], dim=1))
    assert grid.counts == (5, 4, 3) and grid.samples == 12
    assert class_arithmetic(z, labels, None, rows=1).classes == (0, 1, 2)  # most samples first
    with pytest.raises(UserError, match="only 3 of 12 samples were classified as 2"):
        class_arithmetic(z, labels, (0, 1, 2), rows=4)
    with pytest.raises(UserError, match="only 2 class"):
        class_arithmetic(z, torch.tensor([0, 1] * 6), None, rows=1)


# ---------------------------------------------------------------- the command on tiny trained runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An unconditional (ns) and a conditional (cgan) tiny run on the tiny MNIST, with the tiny FID extractor."""
    from seqgan.image import data, fid_extractor
    from tests.image_helpers import write_dataset

    root = tmp_path_factory.mktemp("latent")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(data.DATASETS, "mnist", data.IdxDataset("mnist", {"train": 300, "test": 200}))
        mp.setitem(fid_extractor.DEFAULT_SPECS, "mnist", fid_extractor.ExtractorSpec(
            widths=(4, 8), features=16, epochs=2, batch_size=32, lr=1e-2))
        mp.setenv("SEQGAN_CACHE", str(root / "cache"))
        data_dir = write_dataset(root / "data")
        made = {"data": data_dir}
        # ns trains 6 epochs of 30 iterations, so that its samples fall in several classes; cgan is refused
        for loss, longer in (("ns", ["--set", "schedule.epochs=6", "--set", "schedule.iters_per_epoch=30"]),
                             ("cgan", [])):
            result = run_cli_quiet(["image-train", *TINY, *longer, "--loss", loss, "--data-dir", data_dir,
                                    "--run-dir", root / loss])
            assert result.code == 0, result.err
            made[loss] = root / loss
        yield made


def picture_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def test_interpolation_command_writes_the_grid(runs, tmp_path, run_cli):
    out = tmp_path / "walk.png"
    res = run_cli(["image-latent", "--run-dir", runs["ns"], "--interpolate", "5", "--rows", "3", "--out", out])
    assert res.code == 0, res.err
    assert picture_size(out) == (5 * 30 + 2, 3 * 30 + 2)  # 28-pixel images, 2-pixel padding
    assert "slerp" in res.out and str(out) in res.out
    first = out.read_bytes()
    again = run_cli(["image-latent", "--run-dir", runs["ns"], "--interpolate", "5", "--rows", "3", "--out", out])
    assert_one_line_error(again, "image-latent", "exists", "--force")
    assert out.read_bytes() == first
    forced = run_cli(["image-latent", "--run-dir", runs["ns"], "--interpolate", "5", "--rows", "3", "--out", out,
                      "--force"])
    assert forced.code == 0 and out.read_bytes() == first  # same seed, same picture
    linear = tmp_path / "linear.png"
    assert run_cli(["image-latent", "--run-dir", runs["ns"], "--interpolate", "5", "--rows", "3", "--mode",
                    "linear", "--out", linear]).code == 0
    assert linear.read_bytes() != first
    # the default: 8 rows
    default = run_cli(["image-latent", "--run-dir", runs["ns"], "--interpolate", "2", "--out", tmp_path / "d.png"])
    assert default.code == 0, default.err
    assert picture_size(tmp_path / "d.png") == (2 * 30 + 2, 8 * 30 + 2)


def test_arithmetic_command_explains_its_classes(runs, tmp_path, run_cli):
    from seqgan.image.fid_extractor import load_or_train_extractor

    run = load_image_run(runs["ns"], data_dir=runs["data"])
    classifier = load_or_train_extractor("mnist", runs["data"])
    _, labels = label_samples(run.generator, classifier, latent_width(run.pair), 300, 0, run.device)
    counts = torch.bincount(labels, minlength=10)
    top = [int(c) for c in torch.argsort(counts, descending=True, stable=True)[:3]]
    assert counts[top[2]] >= 2, counts  # the tiny G's samples fall in at least three classes
    out = tmp_path / "arith.png"
    res = run_cli(["image-latent", "--run-dir", runs["ns"], "--arithmetic", "--samples", "300", "--rows", "2",
                   "--data-dir", runs["data"], "--out", out])
    assert res.code == 0, res.err
    assert picture_size(out) == (4 * 30 + 2, 2 * 30 + 2)
    a, b, c = top
    line = res.out.splitlines()[0]
    assert f"G(z_{a} - z_{b} + z_{c})" in line and "mnist-cnn-v1" in line
    assert f"{counts[a]}, {counts[b]}, {counts[c]} of 300" in line
    chosen = run_cli(["image-latent", "--run-dir", runs["ns"], "--arithmetic", "--samples", "300", "--rows", "1",
                      "--classes", f"{c},{a},{c}", "--data-dir", runs["data"], "--out", tmp_path / "c.png"])
    assert chosen.code == 0, chosen.err
    assert f"G(z_{c} - z_{a} + z_{c})" in chosen.out


@pytest.mark.parametrize("argv, needles", [
    (["--run-dir", "{tmp}/missing", "--interpolate", "4"], ["does not exist"]),
    (["--run-dir", "{ns}", "--interpolate", "1"], ["--interpolate", ">= 2"]),
    (["--run-dir", "{cgan}", "--interpolate", "4"], ["conditional", "cgan"]),
    (["--run-dir", "{ns}", "--interpolate", "4", "--rows", "0"], ["--rows"]),
    (["--run-dir", "{ns}", "--interpolate", "4", "--classes", "1,2,3"], ["--arithmetic"]),
    (["--run-dir", "{ns}", "--arithmetic", "--classes", "1,2"], ["three class numbers"]),
    (["--run-dir", "{ns}", "--arithmetic", "--classes", "1,2,12"], ["classes 0..9"]),
    (["--run-dir", "{ns}", "--interpolate", "4", "--arithmetic"], ["not allowed with"]),
])
def test_bad_input_is_one_line_exit_2(runs, tmp_path, run_cli, argv, needles):
    argv = [a.format(tmp=tmp_path, ns=runs["ns"], cgan=runs["cgan"]) for a in argv]
    out = tmp_path / "walk.png"
    res = run_cli(["image-latent", *argv, "--data-dir", runs["data"], "--out", out])
    assert res.code == 2 and len(res.err_lines) == 1 and "Traceback" not in res.err, res.err
    assert all(n in res.err for n in needles), res.err
    assert not out.exists()


def test_the_out_file_is_checked_like_the_other_commands(runs, tmp_path, run_cli):
    inside = run_cli(["image-latent", "--run-dir", runs["ns"], "--interpolate", "3", "--out",
                      runs["ns"] / "samples.png", "--force"])
    assert_one_line_error(inside, "image-latent", "run directory")
    gif = run_cli(["image-latent", "--run-dir", runs["ns"], "--interpolate", "3", "--out", tmp_path / "w.gif"])
    assert_one_line_error(gif, "image-latent", ".png")
    assert list(tmp_path.iterdir()) == []
