"""CGAN, ACGAN, InfoGAN: what each net sees, their extra losses against hand-computed values, code sampling,
class-conditional grids, the class metrics, labels through the CLI, same seed same run, resume."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from torch import nn

from eval.class_metrics import class_accuracy, code_accuracy, confusion
from seqgan.core.runtime import seed_everything
from seqgan.image.conditional import Codes, label_planes
from seqgan.image.run import build_image_run
from tests.test_cli_train import assert_one_line_error
from tests.test_image_train import (
    COMPARED,
    KILL_ARGS,
    TINY,
    _epochs,
    _image_folder,
    assert_seed_decides_training,
    fake_images,
    fake_labels,
    small_config,
)

CONDITIONAL = ["cgan", "acgan", "infogan"]
Z, K = 16, 10  # SMALL_NETS' latent size; MNIST's classes


def conditional_run(loss: str, net: str = "dcgan", *extra: str, labels: torch.Tensor | None = None):
    return build_image_run(small_config(loss, net, *extra), fake_images(), labels=fake_labels() if labels is None
                           else labels)


def first_layer(net: nn.Module) -> nn.Module:
    return next(m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


# ---------------------------------------------------------------- what the nets see


@pytest.mark.parametrize("net", ["dcgan", "mlp"])
def test_cgan_g_sees_z_and_the_class_and_d_sees_label_planes(net):
    pair = conditional_run("cgan", net).pair
    assert first_layer(pair.generator).in_features == Z + K
    d_in = first_layer(pair.discriminator)
    assert (d_in.in_channels == 1 + K) if net == "dcgan" else (d_in.in_features == (1 + K) * 28 * 28)
    codes = Codes(torch.arange(4) % K, torch.zeros(4, 0))
    score, aux = pair.discriminate(torch.zeros(4, 1, 28, 28), codes)
    assert score.shape == (4,) and aux.shape == (4, 0)


@pytest.mark.parametrize("loss,g_in,d_out", [("acgan", Z + K, 1 + K), ("infogan", Z + K + 2, 1 + K + 2)])
def test_acgan_and_infogan_heads(loss, g_in, d_out):
    pair = conditional_run(loss).pair
    assert first_layer(pair.generator).in_features == g_in
    assert first_layer(pair.discriminator).in_channels == 1  # D sees only the image
    assert pair.discriminator(torch.zeros(3, 1, 28, 28)).shape == (3, d_out)


def test_infogan_takes_the_papers_mnist_optimizer_and_lambda():
    config = small_config("infogan")
    t = config.train
    assert (t.g_lr, t.d_lr, t.info_weight, t.info_cont_weight, config.model.classes,
            config.model.continuous_codes) == (1e-3, 2e-4, 1.0, 1.0, 10, 2)
    pair = build_image_run(config, fake_images()).pair
    assert pair.g_opt.param_groups[0]["lr"] == 1e-3 and pair.d_opt.param_groups[0]["lr"] == 2e-4
    assert small_config("cgan").train.g_lr == small_config("acgan").train.g_lr == 2e-4


def test_label_planes_by_hand():
    images = torch.full((2, 1, 2, 2), -0.5)
    out = label_planes(images, torch.tensor([2, 0]), 3)  # (2, 1 + 3, 2, 2)
    expected = torch.zeros(2, 4, 2, 2)
    expected[:, 0] = -0.5
    expected[0, 1 + 2] = 1.0
    expected[1, 1 + 0] = 1.0
    assert torch.equal(out, expected)


# ---------------------------------------------------------------- extra losses against hand-computed values


def _ce(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def test_acgan_class_loss_is_the_hand_computed_cross_entropy():
    pair = conditional_run("acgan", "dcgan", "model.classes=3", labels=fake_labels() % 3).pair
    real_aux, fake_aux = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.0],
                                                                                         [1.0, 2.0, 3.0]])
    real, fake = Codes(torch.tensor([0, 2]), torch.zeros(2, 0)), Codes(torch.tensor([1, 2]), torch.zeros(2, 0))
    d = pair.d_extra(real_aux, real, fake_aux, fake)
    want_real = (_ce([2, 0, 0], 0) + _ce([0, 1, 0], 2)) / 2  # (0.2395 + 1.5514) / 2
    want_fake = (math.log(3) + _ce([1, 2, 3], 2)) / 2
    assert d == {"d_class_real": pytest.approx(want_real), "d_class_fake": pytest.approx(want_fake)}
    assert pair.g_extra(fake_aux, fake) == {"g_class": pytest.approx(want_fake)}


def test_infogan_info_loss_is_the_hand_computed_bound():
    pair = conditional_run("infogan", "dcgan", "model.classes=2", "train.info_weight=2",
                           "train.info_cont_weight=0.5").pair
    # Q's outputs: 2 categorical logits, then the means of the 2 continuous codes
    aux = torch.tensor([[0.0, 0.0, 0.5, -0.5], [math.log(3), 0.0, 0.0, 0.0]])
    codes = Codes(torch.tensor([1, 0]), torch.tensor([[1.0, 0.0], [0.2, -0.4]]))
    cross_entropy = (math.log(2) + math.log(4 / 3)) / 2  # -log 1/2, -log 3/4
    gaussian_nll = (0.5 * (0.25 + 0.25) + 0.5 * (0.04 + 0.16)) / 2  # 0.5 (c - mean)^2 summed over the codes
    want = 2 * (cross_entropy + 0.5 * gaussian_nll)
    assert pair.d_extra(aux, None, aux, codes) == {"d_info": pytest.approx(want)}
    assert pair.g_extra(aux, codes) == {"g_info": pytest.approx(want)}


def test_infogan_codes_have_the_papers_shapes_and_ranges():
    pair = conditional_run("infogan").pair
    codes = pair.draw_codes(4000, seed_everything(1))
    assert codes.classes.shape == (4000,) and codes.classes.dtype == torch.int64
    assert set(codes.classes.tolist()) == set(range(K))
    u = codes.continuous
    assert u.shape == (4000, 2) and -1 <= u.min() < -0.99 and 0.99 < u.max() <= 1  # U(-1, 1), not U(0, 1)
    assert u.mean().item() == pytest.approx(0.0, abs=0.05)  # 5 standard errors of the mean
    z = torch.randn(4000, Z)
    x = pair.g_input(z, codes)  # (4000, Z + K + 2)
    assert x.shape == (4000, Z + K + 2)
    assert torch.equal(x[:, :Z], z) and torch.equal(x[:, Z + K:], u)
    assert torch.equal(x[:, Z:Z + K].sum(1), torch.ones(4000)) and torch.equal(x[:, Z:Z + K].argmax(1), codes.classes)


def test_real_labels_are_drawn_with_their_images():
    pair = conditional_run("acgan").pair
    images, codes = pair._real(seed_everything(5))
    # fake_images are a class prototype plus noise: the nearest prototype of each drawn image is its label
    all_images, all_labels = pair.images.float() / 127.5 - 1, pair.labels
    nearest = torch.cdist(images.flatten(1), all_images.flatten(1)).argmin(1)  # (B,) the drawn image itself
    assert torch.equal(all_labels[nearest], codes.classes)


# ---------------------------------------------------------------- sampling and grids


class ClassPainter(nn.Module):
    """A fake G: every image is a constant grey whose level encodes the class in its one-hot input."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        classes = x[:, Z:Z + K].argmax(1).float()  # (B,)
        return (classes / (K - 1) * 2 - 1).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)  # (B, 1, 4, 4)


def painted_classes(images: torch.Tensor) -> torch.Tensor:
    return ((images[:, 0, 0, 0] + 1) / 2 * (K - 1)).round().long()  # (B,)


@pytest.mark.parametrize("loss", ["cgan", "infogan"])
def test_grid_rows_are_the_classes_and_sampling_is_balanced(loss):
    run = conditional_run(loss)
    run.pair.generator = ClassPainter()
    grid, nrow = run.sample_grid(torch.Generator().manual_seed(0))
    assert nrow == 10 and grid.shape == (K * 10, 1, 4, 4)
    assert torch.equal(painted_classes(grid).view(K, 10), torch.arange(K)[:, None].expand(K, 10))
    assert torch.equal(painted_classes(run.sample(25, torch.Generator())), torch.arange(25) % K)
    wanted = torch.tensor([7, 7, 3, 0])
    assert torch.equal(painted_classes(run.pair.sample_with_labels(wanted, torch.Generator())), wanted)


# ---------------------------------------------------------------- class metrics


def test_class_accuracy_by_hand():
    assert class_accuracy(torch.tensor([0, 1, 2, 0]), torch.tensor([0, 1, 2, 2])) == pytest.approx(0.75)
    assert torch.equal(confusion(torch.tensor([0, 0, 1]), torch.tensor([1, 1, 1])), torch.tensor([[0, 2], [0, 1]]))
    with pytest.raises(ValueError):
        class_accuracy(torch.tensor([0, 1]), torch.tensor([0]))


def test_code_accuracy_matches_codes_to_classes_one_to_one():
    codes = torch.tensor([0, 0, 1, 1, 2, 2])
    permuted = torch.tensor([2, 2, 0, 0, 1, 1])  # code 0 draws 2s, code 1 0s, code 2 1s: a perfect code
    assert code_accuracy(codes, permuted) == 1.0 and class_accuracy(codes, permuted) == 0.0
    # code 0 -> {0: 3, 1: 2}, code 1 -> {0: 3}: greedy would give code 0 class 0 (3 of 8); the best matching
    # gives code 0 class 1 and code 1 class 0: (2 + 3) / 8
    codes = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    predicted = torch.tensor([0, 0, 0, 1, 1, 0, 0, 0])
    assert code_accuracy(codes, predicted) == pytest.approx(5 / 8)
    # two codes that both mean 0 cannot both be matched to it
    assert code_accuracy(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 0, 0])) == pytest.approx(0.5)


def test_code_accuracy_equals_brute_force_over_all_matchings():
    gen = torch.Generator().manual_seed(0)
    codes, predicted = torch.randint(0, 4, (200,), generator=gen), torch.randint(0, 4, (200,), generator=gen)
    counts = confusion(codes, predicted)
    best = max(sum(counts[i, p[i]].item() for i in range(4)) for p in itertools.permutations(range(4)))
    assert code_accuracy(codes, predicted) == pytest.approx(best / 200)
    assert code_accuracy(codes, predicted) < 1


# ---------------------------------------------------------------- determinism and resume


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("loss", CONDITIONAL)
def test_same_seed_same_parameters(loss):
    assert_seed_decides_training(lambda seed: conditional_run(loss, "dcgan", f"seed={seed}"))


def test_stopped_and_extended_acgan_run_equals_a_straight_run(tiny_mnist, tmp_path, run_cli):
    args = [*TINY, "--loss", "acgan", "--data-dir", tiny_mnist]
    assert run_cli(["image-train", *args, "--set", "schedule.epochs=2", "--run-dir", tmp_path / "split"]).code == 0
    assert _epochs(tmp_path / "split") == [1, 2]
    longer = run_cli(["image-train", *args, "--run-dir", tmp_path / "split"])
    assert longer.code == 0, longer.err
    assert run_cli(["image-train", *args, "--run-dir", tmp_path / "whole"]).code == 0
    assert _epochs(tmp_path / "split") == [1, 2, 3, 4]
    records = [json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert all({"d_class_real", "d_class_fake", "g_class"} <= set(r) for r in records if r["event"] == "train")
    for name in COMPARED:
        assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


# ---------------------------------------------------------------- the CLI: metrics, grids, labels


@pytest.mark.parametrize("loss,metric", [("cgan", "class_accuracy"), ("infogan", "code_accuracy")])
def test_class_metric_is_logged_with_fid_and_samples_have_one_row_per_class(tiny_mnist, tmp_path, run_cli, loss,
                                                                            metric):
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *TINY, "--loss", loss, "--set", "schedule.epochs=2", "--set", "eval.fid=true",
                      "--set", "eval.num_samples=30", "--set", "eval.final_samples=40", "--set", "eval.n_real=100",
                      "--data-dir", tiny_mnist, "--run-dir", run_dir])
    assert result.code == 0, result.err
    final = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= final[metric] <= 1 and final["fid"] > 0
    assert final[f"{metric}_signature"].startswith(f"{metric}|classifier:mnist-cnn-v1|")
    assert "|n:40|values:10|" in final[f"{metric}_signature"]
    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
    assert [r["epoch"] for r in evals] == [0, 2] and all(0 <= r[metric] <= 1 for r in evals)
    from PIL import Image

    with Image.open(run_dir / "samples.png") as img:
        assert img.size == (10 * 30 + 2, 10 * 30 + 2)  # 10 classes x 10 samples of 28 pixels, 2-pixel padding
    out = tmp_path / "grid.png"
    assert run_cli(["image-sample", "--run-dir", run_dir, "-n", "20", "--nrow", "10", "--out", out]).code == 0


@pytest.mark.parametrize("loss", ["cgan", "acgan"])
def test_a_folder_of_images_cannot_train_a_labelled_variant(tmp_path, run_cli, loss):
    folder = _image_folder(tmp_path / "pngs", n=8)
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *KILL_ARGS, "--loss", loss, "--image-dir", folder, "--run-dir", run_dir])
    assert_one_line_error(result, "image-train", f"--loss {loss} trains on class labels", "infogan")
    assert not run_dir.exists()


def test_infogan_trains_on_a_folder_of_images(tmp_path, run_cli):
    folder = _image_folder(tmp_path / "pngs", n=16)
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *KILL_ARGS, "--loss", "infogan", "--set", "schedule.epochs=2",
                      "--image-dir", folder, "--run-dir", run_dir])
    assert result.code == 0, result.err
    assert _epochs(run_dir) == [1, 2] and (run_dir / "samples.png").exists()


def test_training_labels_must_fit_the_classes():
    from seqgan.base.errors import UserError

    with pytest.raises(UserError, match="outside 0..4"):
        conditional_run("cgan", "dcgan", "model.classes=5")
    with pytest.raises(UserError, match="trains on class labels"):
        build_image_run(small_config("acgan"), fake_images())
