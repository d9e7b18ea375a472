"""SSGAN and BiGAN: steps change the right nets, SSGAN's D(x) and unsupervised loss against a plain K + 1-way
softmax, the labelled subset, test_accuracy and latent_recon_mse on hand cases, what BiGAN's D sees, same seed
same run, resume, and the CLI (metrics, folders)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

from seqgan.core.losses import LOSSES
from seqgan.core.runtime import seed_everything
from seqgan.image.bigan import latent_recon_mse
from seqgan.image.run import PAIR_METRICS, build_image_run
from seqgan.image.ssgan import classify, source_logit, unsupervised_loss
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

Z, K, N = 16, 10, 200  # SMALL_NETS' latent size; MNIST's classes; training images of the built runs
SSGAN_SMALL = ("train.labelled=20",)  # 2 per class: fake_labels(200) has at least 14 of each class
# CLI runs: 50 labels (5 per class of the tiny MNIST's 300), latent_recon_mse on 50 latents (not 10,000)
SMALL_EVAL = ["--set", "train.labelled=50", "--set", "eval.num_samples=50", "--set", "eval.final_samples=50"]


def ssgan_run(*extra: str):
    return build_image_run(small_config("ssgan", "dcgan", *SSGAN_SMALL, *extra), fake_images(N),
                           labels=fake_labels(N))


def bigan_run(*extra: str):
    return build_image_run(small_config("bigan", "dcgan", *extra), fake_images(N))


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


# ---------------------------------------------------------------- one step changes the right nets


def test_ssgan_d_step_and_g_step_change_their_nets():
    pair = ssgan_run().pair
    g, d = params(pair.generator), params(pair.discriminator)
    out = pair.d_step(seed_everything(0))
    assert changed(d, pair.discriminator) and not changed(g, pair.generator)
    assert set(out) == {"d_loss", "d_class", "d_real", "d_fake"}
    d = params(pair.discriminator)
    pair.g_step(seed_everything(1))
    assert changed(g, pair.generator) and not changed(d, pair.discriminator)


def test_bigan_d_step_changes_only_d_and_g_step_changes_g_and_e_not_d():
    pair = bigan_run().pair
    g, e, d = params(pair.generator), params(pair.encoder), params(pair.discriminator)
    pair.d_step(seed_everything(0))
    assert changed(d, pair.discriminator) and not changed(g, pair.generator) and not changed(e, pair.encoder)
    assert all(p.grad is None for p in [*pair.generator.parameters(), *pair.encoder.parameters()])
    d = params(pair.discriminator)
    pair.d_opt.zero_grad(set_to_none=True)
    pair.g_step(seed_everything(1))
    assert changed(g, pair.generator) and changed(e, pair.encoder) and not changed(d, pair.discriminator)
    assert all(p.grad is None for p in pair.discriminator.parameters())  # frozen: no gradient reaches D
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in pair.encoder.parameters())


# ---------------------------------------------------------------- SSGAN's D against a K + 1-way softmax


def k_plus_one_real_probability(logits: list[float]) -> float:
    """1 - softmax([l_1..l_K, 0])[K + 1]: the reference, a plain softmax with the fake logit 0."""
    exps = [math.exp(v) for v in [*logits, 0.0]]
    return 1 - exps[-1] / sum(exps)


def test_ssgan_real_probability_is_z_over_z_plus_one():
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(3), 0.0, -50.0], [2.0, -1.0, 0.5]])
    d = torch.sigmoid(source_logit(logits))  # (3,)
    assert d.tolist() == pytest.approx([3 / 4, 4 / 5, k_plus_one_real_probability([2.0, -1.0, 0.5])], rel=1e-6)
    for row, value in zip(logits.tolist(), d.tolist()):
        assert value == pytest.approx(k_plus_one_real_probability(row), rel=1e-6)


def test_ssgan_unsupervised_loss_by_hand():
    real = torch.tensor([[0.0, 0.0, 0.0], [math.log(3), 0.0, -50.0]])  # D = 3/4, 4/5
    fake = torch.tensor([[-math.log(3), -math.log(3), -math.log(3)], [2.0, -1.0, 0.5]])  # Z = 1: D = 1/2
    want_real = -(math.log(3 / 4) + math.log(4 / 5)) / 2
    want_fake = -(math.log(1 / 2) + math.log(1 - k_plus_one_real_probability([2.0, -1.0, 0.5]))) / 2
    got = unsupervised_loss(real, fake).item()
    assert got == pytest.approx(want_real + want_fake, rel=1e-6)
    # the pair's step applies the NS loss to the source logit: the same number
    ns = LOSSES["non-saturating"]
    assert ns.d(source_logit(real), source_logit(fake)).item() == pytest.approx(got, rel=1e-6)


def test_ssgan_without_the_gan_terms_is_a_plain_classifier():
    pair = ssgan_run("train.unsupervised_weight=0").pair
    out = pair.d_step(seed_everything(0))
    assert out["d_loss"] == pytest.approx(out["d_class"])


# ---------------------------------------------------------------- the labelled subset


def test_labelled_subset_is_balanced_seeded_and_from_the_training_set():
    images, labels = fake_images(N), fake_labels(N)
    pair = ssgan_run().pair
    assert torch.equal(torch.bincount(pair.labelled_classes, minlength=K), torch.full((K,), 2))
    # each labelled image is a training image with that label, and is not among the unlabelled ones
    flat = images.flatten(1).float()
    match = torch.cdist(pair.labelled_images.flatten(1).float(), flat).argmin(1)  # (20,)
    assert torch.equal(images[match], pair.labelled_images) and torch.equal(labels[match], pair.labelled_classes)
    assert len(match.unique()) == 20 and len(pair.images) == N - 20
    assert torch.cdist(pair.labelled_images.flatten(1).float(), pair.images.flatten(1).float()).min() > 0
    assert torch.equal(ssgan_run().pair.labelled_images, pair.labelled_images)  # same seed, same subset
    assert not torch.equal(ssgan_run("seed=2").pair.labelled_images, pair.labelled_images)


def test_labelled_count_must_split_evenly_over_the_classes():
    from seqgan.base.errors import UserError

    with pytest.raises(UserError, match="multiple of model.classes=10"):
        small_config("ssgan", "dcgan", "train.labelled=25")
    with pytest.raises(UserError, match="fewer than train.labelled"):
        ssgan_run("train.labelled=1000")


# ---------------------------------------------------------------- test_accuracy and latent_recon_mse


class LookupClassifier(nn.Module):
    """A fake D: the logits of an image are one-hot at the label of its nearest stored image (or a constant)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, constant: int | None = None) -> None:
        super().__init__()
        self.images, self.labels, self.constant = images.flatten(1).float() / 127.5 - 1, labels, constant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.constant is not None:
            return nn.functional.one_hot(torch.full((len(x),), self.constant), K).float()  # (B, K)
        nearest = torch.cdist(x.flatten(1), self.images).argmin(1)  # (B,)
        return nn.functional.one_hot(self.labels[nearest], K).float()  # (B, K)


def test_classify_by_hand():
    images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    labels = torch.tensor([0, 0, 1, 2])
    predicted = classify(LookupClassifier(images, labels, constant=0), images, batch_size=3)
    assert predicted.tolist() == [0, 0, 0, 0]  # accuracy 2 / 4: the majority share


def test_test_accuracy_of_a_perfect_and_a_constant_classifier(tiny_mnist):
    from seqgan.image.data import load_image_dataset

    test_images, test_labels = load_image_dataset("mnist", "test", str(tiny_mnist))  # 200 images
    run = ssgan_run()
    run.data_dir = str(tiny_mnist)
    run.pair.discriminator = LookupClassifier(test_images, test_labels)
    scores = PAIR_METRICS["test_accuracy"](run, 0)
    assert scores["test_accuracy"] == 1.0
    assert scores["test_accuracy_signature"].startswith("test_accuracy|dataset:mnist|split:test|n:200|labelled:20|")
    majority = torch.bincount(test_labels).max().item() / len(test_labels)
    run.pair.discriminator = LookupClassifier(test_images, test_labels, constant=int(torch.bincount(test_labels)
                                                                                     .argmax()))
    assert PAIR_METRICS["test_accuracy"](run, 0)["test_accuracy"] == pytest.approx(majority)
    assert 0.05 < majority < 0.5


class Halve(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.flatten(1)  # (B, 4)


class AsImage(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(-1, 1, 2, 2)  # (B, 1, 2, 2)


def test_latent_recon_mse_by_hand():
    z = torch.tensor([[1.0, 2.0, 0.0, -2.0], [0.0, 0.0, 0.0, 4.0]])
    # E(G(z)) = z / 2: errors (z / 2)^2 = [0.25, 1, 0, 1] and [0, 0, 0, 4]: mean 6.25 / 8
    encoder, generator = Halve(), AsImage()
    assert latent_recon_mse(encoder, generator, z) == pytest.approx(6.25 / 8)
    assert encoder.training and generator.training  # modes restored


def test_bigan_latent_recon_mse_uses_the_runs_nets_and_eval_latents(tiny_mnist):
    run = bigan_run()
    run.data_dir = str(tiny_mnist)
    a, b = PAIR_METRICS["latent_recon_mse"](run, 50), PAIR_METRICS["latent_recon_mse"](run, 50)
    assert a == b and a["latent_recon_mse"] > 0 and "|n:50|z:normal(16)|" in a["latent_recon_mse_signature"]
    assert 0 <= a["recon_label_agreement"] <= 1
    assert a["recon_label_agreement_signature"].startswith("recon_label_agreement|dataset:mnist|split:test|n:200|")


class Flat(nn.Module):
    """E: the image itself, flattened, as the latent (B, C*H*W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class Unflat(nn.Module):
    """G: the latent back into an image (B, 1, 28, 28); `constant` makes every output that one image instead."""

    def __init__(self, constant: torch.Tensor | None = None) -> None:
        super().__init__()
        self.constant = constant

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.constant is not None:
            return self.constant.expand(len(z), -1, -1, -1)
        return z.view(-1, 1, 28, 28)


def test_recon_label_agreement_of_a_perfect_and_a_constant_reconstruction(tiny_mnist):
    from seqgan.image.data import load_image_dataset, to_unit_range
    from seqgan.image.pair_metrics import score_recon_label_agreement

    test_images, test_labels = load_image_dataset("mnist", "test", str(tiny_mnist))  # 200 images
    run = bigan_run()
    run.data_dir = str(tiny_mnist)
    predicted = run.extractor().predict(to_unit_range(test_images))  # the classifier on the images themselves
    run.pair.encoder, run.pair.generator = Flat(), Unflat()  # G(E(x)) = x
    perfect = score_recon_label_agreement(run)["recon_label_agreement"]
    assert perfect == pytest.approx((predicted == test_labels).double().mean().item())
    one = to_unit_range(test_images[:1])  # G(E(x)) = the first test image, whatever x is
    run.pair.generator = Unflat(one)
    constant = score_recon_label_agreement(run)["recon_label_agreement"]
    assert constant == pytest.approx((test_labels == predicted[0]).double().mean().item())
    assert constant < perfect


# ---------------------------------------------------------------- what BiGAN's D sees


class Recorder(nn.Module):
    """Wraps D and keeps the (images, z) pairs it was called with."""

    def __init__(self, d: nn.Module) -> None:
        super().__init__()
        self.d, self.calls = d, []

    def forward(self, images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.calls.append((images.detach().clone(), z.detach().clone()))
        return self.d(images, z)


@pytest.mark.parametrize("step", ["d_step", "g_step"])
def test_bigan_d_sees_x_with_e_of_x_as_real_and_g_of_z_with_z_as_fake(step):
    pair = bigan_run().pair
    pair.discriminator = Recorder(pair.discriminator)
    encoder, generator = copy.deepcopy(pair.encoder), copy.deepcopy(pair.generator)  # before g_step updates them
    getattr(pair, step)(seed_everything(3))
    (real, z_real), (fake, z_fake) = pair.discriminator.calls
    assert real.shape == fake.shape == (16, 1, 28, 28) and z_real.shape == z_fake.shape == (16, Z)
    # the real images are training images; the fake ones are not
    train = pair.images.float() / 127.5 - 1
    assert torch.cdist(real.flatten(1), train.flatten(1)).min(1).values.max() < 0.05  # cdist's rounding
    assert torch.cdist(fake.flatten(1), train.flatten(1)).min() > 1
    with torch.no_grad():  # train mode as in the step: recompute E on the real batch and G on the fake latents
        assert torch.allclose(encoder(real), z_real, atol=1e-5)
        assert torch.allclose(generator(z_fake), fake, atol=1e-5)


# ---------------------------------------------------------------- determinism, resume, CLI


@pytest.mark.parametrize("loss", ["ssgan", "bigan"])
def test_same_seed_same_parameters(loss):
    build = ssgan_run if loss == "ssgan" else bigan_run
    assert_seed_decides_training(lambda seed: build(f"seed={seed}"))


@pytest.mark.parametrize("loss", ["ssgan", "bigan"])
def test_stopped_and_extended_run_equals_a_straight_run(tiny_mnist, tmp_path, run_cli, loss):
    args = [*TINY, *SMALL_EVAL, "--loss", loss, "--set", "schedule.eval_every=1", "--data-dir", tiny_mnist]
    assert run_cli(["image-train", *args, "--set", "schedule.epochs=1", "--run-dir", tmp_path / "split"]).code == 0
    longer = run_cli(["image-train", *args, "--set", "schedule.epochs=2", "--run-dir", tmp_path / "split"])
    assert longer.code == 0, longer.err  # resumes the nets (BiGAN's E too) and optimizers from the checkpoint
    assert run_cli(["image-train", *args, "--set", "schedule.epochs=2", "--run-dir", tmp_path / "whole"]).code == 0
    assert _epochs(tmp_path / "split") == [1, 2]
    for name in COMPARED:
        assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


@pytest.mark.parametrize("loss,metric", [("ssgan", "test_accuracy"), ("bigan", "latent_recon_mse")])
def test_pair_metric_is_logged_at_each_evaluation_with_a_signature(tiny_mnist, tmp_path, run_cli, loss, metric):
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *TINY, *SMALL_EVAL, "--loss", loss, "--set", "schedule.epochs=2",
                      "--data-dir", tiny_mnist, "--run-dir", run_dir])
    assert result.code == 0, result.err
    final = json.loads((run_dir / "metrics.json").read_text())
    assert final[metric] >= 0 and final[f"{metric}_signature"].startswith(f"{metric}|")
    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
    assert [r["epoch"] for r in evals] == [0, 2] and all(metric in r for r in evals)
    out = tmp_path / "grid.png"
    assert run_cli(["image-sample", "--run-dir", run_dir, "-n", "8", "--out", out]).code == 0 and out.exists()


def test_a_folder_of_images_cannot_train_ssgan(tmp_path, run_cli):
    folder = _image_folder(tmp_path / "pngs", n=8)
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *KILL_ARGS, "--loss", "ssgan", "--image-dir", folder, "--run-dir", run_dir])
    assert_one_line_error(result, "image-train", "--loss ssgan trains on class labels", "infogan")
    assert not run_dir.exists()


def test_bigan_trains_on_a_folder_of_images(tmp_path, run_cli):
    folder = _image_folder(tmp_path / "pngs", n=16)
    run_dir = tmp_path / "run"
    result = run_cli(["image-train", *KILL_ARGS, "--loss", "bigan", "--set", "schedule.epochs=2", "--set",
                      "eval.final_samples=50", "--image-dir", folder, "--run-dir", run_dir])
    assert result.code == 0, result.err
    assert _epochs(run_dir) == [1, 2] and "latent_recon_mse" in json.loads((run_dir / "metrics.json").read_text())
