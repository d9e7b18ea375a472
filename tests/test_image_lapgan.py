"""LAPGAN: d, u and the Laplacian pyramid by hand, one step changes every level's nets, coarse-to-fine sampling,
same seed same run, resume, and the image-size check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqgan.core.runtime import seed_everything
from seqgan.image.image_pair import latents
from seqgan.image.lapgan import (
    LEVELS,
    down,
    gaussian_pyramid,
    laplacian_pyramid,
    reconstruct,
    residual_part,
    up,
)
from seqgan.image.run import build_image_run
from tests.test_cli_train import assert_one_line_error
from tests.test_image_train import COMPARED, TINY, _epochs, assert_seed_decides_training, fake_images, small_config

# a 4x4 image: its 2x2 blocks average to 1, 2, 3, 4 (row-major)
IMAGE = torch.tensor([[0., 2., 1., 3.],
                      [1., 1., 3., 1.],
                      [4., 2., 0., 8.],
                      [2., 4., 4., 4.]]).view(1, 1, 4, 4)


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def all_changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return all(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def lapgan_run(net: str = "dcgan", *extra: str):
    return build_image_run(small_config("lapgan", net, *extra), fake_images(32))


# ---------------------------------------------------------------- d, u, pyramid


def test_down_averages_2x2_blocks_and_up_repeats_pixels():
    assert torch.equal(down(IMAGE), torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2))
    assert torch.equal(up(torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)),
                       torch.tensor([[1., 1., 2., 2.], [1., 1., 2., 2.],
                                     [3., 3., 4., 4.], [3., 3., 4., 4.]]).view(1, 1, 4, 4))
    blocks = up(torch.tensor([[5., -1.], [0., 7.]]).view(1, 1, 2, 2))  # 2x2-block-constant
    assert torch.equal(up(down(blocks)), blocks)


def test_laplacian_pyramid_by_hand_reconstructs_exactly():
    h0, h1, i2 = laplacian_pyramid(IMAGE)
    # I_1 = [[1, 2], [3, 4]], I_2 = [[2.5]]; h_1 = I_1 - 2.5, h_0 = I_0 - u(I_1)
    assert torch.equal(i2, torch.tensor([[[[2.5]]]]))
    assert torch.equal(h1, torch.tensor([[-1.5, -0.5], [0.5, 1.5]]).view(1, 1, 2, 2))
    assert torch.equal(h0, torch.tensor([[-1., 1., -1., 1.], [0., 0., 1., -1.],
                                         [1., -1., -4., 4.], [-1., 1., 0., 0.]]).view(1, 1, 4, 4))
    assert torch.equal(reconstruct([h0, h1, i2]), IMAGE)
    images = torch.rand(3, 2, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert [p.shape[-1] for p in gaussian_pyramid(images)] == [28, 14, 7]
    assert torch.allclose(reconstruct(laplacian_pyramid(images)), images, atol=1e-6)


def checkerboard(like: torch.Tensor) -> torch.Tensor:
    """+1 / -1 in a checkerboard, shaped like `like`: zero mean in every 2x2 block."""
    i = torch.arange(like.shape[-1])
    return ((-1.0) ** (i.view(-1, 1) + i.view(1, -1))).expand_as(like)


def test_residual_part_keeps_zero_block_mean_parts_and_removes_block_means():
    h0, h1, _ = laplacian_pyramid(IMAGE)
    assert torch.equal(residual_part(h0), h0) and torch.equal(residual_part(h1), h1)  # real residuals lie there
    assert torch.equal(residual_part(torch.full((1, 1, 4, 4), 3.0)), torch.zeros(1, 1, 4, 4))
    assert torch.equal(residual_part(IMAGE), h0)  # IMAGE - u(d(IMAGE))
    board = checkerboard(IMAGE)
    assert torch.equal(residual_part(board + 5.0), board)


# ---------------------------------------------------------------- steps and sampling


@pytest.mark.parametrize("net", ["dcgan", "mlp"])
def test_d_step_changes_every_levels_d_and_g_step_every_levels_g(net):
    pair = lapgan_run(net).pair
    ds, gs = list(pair.discriminator), [pair.generator.coarse, *pair.generator.refiners]
    assert len(ds) == len(gs) == LEVELS
    d0, g0 = [params(d) for d in ds], [params(g) for g in gs]
    out = pair.d_step(seed_everything(0))
    assert all(all_changed(b, d) for b, d in zip(d0, ds))
    assert all(torch.equal(a, b) for before, g in zip(g0, gs) for a, b in zip(before, g.parameters()))
    assert set(out) == {"d_loss", "d_loss_0", "d_loss_1", "d_loss_2"}
    assert out["d_loss"] == pytest.approx(out["d_loss_0"] + out["d_loss_1"] + out["d_loss_2"], rel=1e-5)
    d1 = [params(d) for d in ds]
    pair.g_step(seed_everything(1))
    assert all(all_changed(b, g) for b, g in zip(g0, gs))
    assert all(torch.equal(a, b) for before, d in zip(d1, ds) for a, b in zip(before, d.parameters()))


class Zero(nn.Module):
    def forward(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(condition)


class Pattern(nn.Module):
    """A residual G that returns value x checkerboard + 1: the + 1 is removed by the projection."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.value * checkerboard(condition) + 1.0


def test_sampling_is_full_size_in_range_and_coarse_to_fine():
    pair = lapgan_run().pair
    x = pair.sample(6, torch.Generator().manual_seed(0))
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    # with zero residuals the sample is the coarse image upsampled twice
    pair.generator.refiners = nn.ModuleList([Zero(), Zero()])
    x = pair.sample(6, torch.Generator().manual_seed(0))
    z = latents(6, LEVELS * pair.latent_dim, torch.Generator().manual_seed(0), pair.device)  # z_2 comes first
    pair.generator.eval()
    with torch.no_grad():
        coarse = pair.generator.coarse(z[:, :pair.latent_dim])  # (6, 1, 7, 7)
    assert torch.equal(x, up(up(coarse)))
    # projected residuals add level by level (G_1 at 14x14, G_0 at 28x28), and the result is clamped
    pair.generator.refiners = nn.ModuleList([Pattern(0.5), Pattern(0.25)])  # [G_0, G_1]
    x = pair.sample(6, torch.Generator().manual_seed(0))
    x1 = up(coarse) + 0.25 * checkerboard(up(coarse))  # (6, 1, 14, 14)
    assert torch.equal(x, (up(x1) + 0.5 * checkerboard(up(x1))).clamp(-1, 1))


def test_same_seed_same_parameters():
    assert_seed_decides_training(lambda seed: lapgan_run("dcgan", f"seed={seed}"))


# ---------------------------------------------------------------- CLI


def test_stopped_and_extended_run_equals_a_straight_run(tiny_mnist, tmp_path, run_cli):
    args = [*TINY, "--loss", "lapgan", "--set", "schedule.eval_every=1", "--set", "eval.final_samples=50",
            "--data-dir", tiny_mnist]
    assert run_cli(["image-train", *args, "--set", "schedule.epochs=1", "--run-dir", tmp_path / "split"]).code == 0
    longer = run_cli(["image-train", *args, "--set", "schedule.epochs=2", "--run-dir", tmp_path / "split"])
    assert longer.code == 0, longer.err  # resumes every level's nets and both optimizers from the checkpoint
    assert run_cli(["image-train", *args, "--set", "schedule.epochs=2", "--run-dir", tmp_path / "whole"]).code == 0
    assert _epochs(tmp_path / "split") == [1, 2]
    for name in COMPARED:
        assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    out = tmp_path / "grid.png"
    assert run_cli(["image-sample", "--run-dir", tmp_path / "split", "-n", "8", "--out", out]).code == 0
    assert out.exists()


def test_an_image_size_not_divisible_by_4_is_refused(tiny_mnist, tmp_path, run_cli):
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *TINY, "--loss", "lapgan", "--set", "data.image_size=30", "--data-dir",
                      tiny_mnist, "--run-dir", run_dir])
    assert_one_line_error(result, "image-train", "divisible by 4 (got 30)", "data.image_size=28")
    assert not run_dir.exists()
