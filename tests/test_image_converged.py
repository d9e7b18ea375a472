"""The converged preset and the nets and terms beside it (BEGAN's own nets, InfoGAN's Q head and nets, SSGAN's
feature matching and Salimans et al.'s nets, BiGAN's ALI-style joint D, LAPGAN's per-level nets): one step
changes the right nets, hand-computed cases, resume equals a straight run, the preset's names and budgets, and
the converged study command."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from seqgan.core.losses import LOSSES, minimax_g_loss
from seqgan.core.runtime import seed_everything
from seqgan.image.began_nets import BEGANDecoder, BEGANEncoder, ClampWhenSampling
from seqgan.image.bigan import JointDiscriminator
from seqgan.image.conditional import QHeadDiscriminator
from seqgan.image.config import apply_image_overrides, image_config
from seqgan.image.image_pair import latents, real_batch
from seqgan.image.infogan_nets import InfoGANDiscriminator, InfoGANGenerator
from seqgan.image.nets import ConvDiscriminator, MLPDiscriminator, UpsampleConv2d
from seqgan.image.presets import CONVERGED, CONVERGED_EVAL_EVERY, CONVERGED_EVAL_SAMPLES, IMAGES_PER_EPOCH, PRESETS
from seqgan.image.run import build_image_run
from seqgan.image.salimans_nets import GaussianNoise, SalimansDiscriminator, SalimansGenerator
from seqgan.image.ssgan import feature_matching_loss
from seqgan.image.variants import VARIANTS
from tests.test_cli_train import assert_one_line_error
from tests.test_image_train import COMPARED, SMALL_NETS, TINY, _epochs, fake_images, fake_labels

# the converged preset's nets at test size: BiGAN's joint layers and InfoGAN's Q narrower, SSGAN's labels fewer
SHRINK = ("model.joint_hidden=32", "model.joint_z_hidden=16", "model.q_hidden=16")
SSGAN_LABELS = ("train.labelled=20",)  # 2 per class: fake_labels(200) has at least 14 of each class
N = 200


def converged_small(loss: str, *extra: str):
    labelled = SSGAN_LABELS if loss == "ssgan" else ()
    return apply_image_overrides(image_config("mnist", loss, preset="converged"),
                                 [*SMALL_NETS, *SHRINK, *labelled, *extra])


def converged_run(loss: str, *extra: str):
    return build_image_run(converged_small(loss, *extra), fake_images(N), labels=fake_labels(N))


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def every_tensor_changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return all(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def no_tensor_changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


# ---------------------------------------------------------------- one step changes the right nets


DENTON = ("model.lapgan_nets=denton",)


@pytest.mark.parametrize("loss,extra", [("mm", ()), ("began", ()), ("ns", ("model.net=began",)), ("infogan", ()),
                                        ("infogan", ("model.net=mlp",)), ("infogan", ("model.net=infogan",)),
                                        ("ns", ("model.net=infogan",)), ("ssgan", ()), ("ssgan", ("model.net=mlp",)),
                                        ("ssgan", ("model.net=salimans-mlp",)), ("bigan", ()), ("lapgan", DENTON)])
def test_one_step_of_each_converged_variant_changes_its_nets(loss, extra):
    """A D step changes every parameter tensor of D (BEGAN's encoder and decoder, InfoGAN's trunk, D head and Q,
    BiGAN's z path and joint layers, every LAPGAN level) and none of G's; a G step the reverse (BiGAN: G and E)."""
    pair = converged_run(loss, *extra).pair
    g_nets = [pair.generator] + ([pair.encoder] if loss == "bigan" else [])
    gen = seed_everything(1)
    g0, d0 = [params(n) for n in g_nets], params(pair.discriminator)
    metrics = pair.d_step(gen)
    assert every_tensor_changed(d0, pair.discriminator)
    assert all(no_tensor_changed(b, n) for b, n in zip(g0, g_nets))
    d1 = params(pair.discriminator)
    metrics.update(pair.g_step(gen))
    assert all(every_tensor_changed(b, n) for b, n in zip(g0, g_nets))
    assert no_tensor_changed(d1, pair.discriminator)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


def test_converged_began_uses_its_own_nets_and_moves_k_by_the_papers_rule():
    pair = converged_run("began").pair
    assert isinstance(pair.generator, BEGANDecoder)
    assert isinstance(pair.discriminator.encoder, BEGANEncoder) and isinstance(pair.discriminator.decoder,
                                                                               BEGANDecoder)
    modules = [*pair.generator.modules(), *pair.discriminator.modules()]
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in modules)
    assert any(isinstance(m, nn.ELU) for m in modules)
    assert isinstance(pair.discriminator.decoder.body[-1], nn.Identity)  # the reconstructions end linear, G too
    assert isinstance(pair.generator.body[-1], ClampWhenSampling)  # ... but its samples lie in [-1, 1]
    assert pair.sample(20, torch.Generator().manual_seed(0)).abs().max() <= 1 and pair.generator.training
    gen = seed_everything(2)
    k = pair.k
    for _ in range(3):  # k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) with this step's losses
        d, g = pair.d_step(gen), pair.g_step(gen)
        k = min(max(k + pair.lambda_k * (pair.gamma * d["loss_real"] - g["g_loss"]), 0.0), 1.0)
        assert g["k"] == pytest.approx(k, abs=1e-12)


# ---------------------------------------------------------------- the nets by hand


def test_began_encoder_and_decoder_layouts():
    """n = 4 on 28x28 (plan 7 x 2^2): the encoder's convs n, n, n, 2n (stride 2), 2n, 2n, 3n (stride 2), 3n, 3n,
    then 3n x 7 x 7 -> h; the decoder h -> n x 7 x 7, two convs per block with upsampling between, a conv to C."""
    encoder = BEGANEncoder(1, 28, width=4, out_dim=3)
    convs = [m for m in encoder.body if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (1, 4, 1), (4, 4, 1), (4, 4, 1), (4, 8, 2), (8, 8, 1), (8, 8, 1), (8, 12, 2), (12, 12, 1), (12, 12, 1)]
    assert all(c.kernel_size == (3, 3) for c in convs) and encoder.head.in_features == 12 * 7 * 7
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    assert encoder(x).shape == (5, 3) and encoder.features(x).shape == (5, 12 * 7 * 7)
    # 28 + 9 convs' (weights + biases) + head: 40 + 148 * 2 + 296 + 584 * 2 + 876 + 1308 * 2 + (588 * 3 + 3)
    assert sum(p.numel() for p in encoder.parameters()) == 40 + 296 + 296 + 1168 + 876 + 2616 + 1767
    decoder = BEGANDecoder(3, 1, 28, width=4)
    assert decoder.project.out_features == 4 * 7 * 7
    kinds = [type(m) for m in decoder.body if isinstance(m, nn.Conv2d)]
    assert kinds == [nn.Conv2d, nn.Conv2d, UpsampleConv2d, nn.Conv2d, UpsampleConv2d, nn.Conv2d, nn.Conv2d]
    assert decoder(torch.randn(5, 3)).shape == (5, 1, 28, 28)
    assert BEGANDecoder(3, 3, 30, width=4)(torch.randn(2, 3)).shape == (2, 3, 30, 30)  # 32 cropped to 30
    assert BEGANEncoder(3, 30, width=4, out_dim=1)(torch.rand(2, 3, 30, 30)).shape == (2,)  # padded to 32


@pytest.mark.parametrize("trunk", [ConvDiscriminator(1, 28, width=4), MLPDiscriminator((1, 28, 28))])
def test_q_head_shares_the_trunk_and_puts_the_score_first(trunk):
    d = QHeadDiscriminator(trunk, hidden=8, outputs=12).eval()
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    out = d(x)
    assert out.shape == (6, 13)
    assert torch.allclose(out[:, 0], trunk(x), atol=1e-6)  # the score is the trunk's own D output
    assert torch.allclose(out[:, 1:], d.q(trunk.features(x)), atol=1e-6)
    assert isinstance(d.q[1], nn.BatchNorm1d) and d.q[2].negative_slope == 0.1  # the paper's Q: FC, BN, lReLU 0.1


def test_infogan_nets_have_the_papers_layers():
    g = InfoGANGenerator(74, 1, 28)
    linears = [m for m in g.project if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(74, 1024), (1024, 128 * 7 * 7)]
    ups = [m for m in g.body if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in ups] == [(128, 64, (4, 4), (2, 2)),
                                                                                      (64, 1, (4, 4), (2, 2))]
    assert g.eval()(torch.randn(3, 74)).shape == (3, 1, 28, 28)
    d = InfoGANDiscriminator(1, 28, out_dim=1).eval()
    convs = [m for m in d.body if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(1, 64), (64, 128)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.body) == 1  # none after the first conv
    assert [m.negative_slope for m in d.body if isinstance(m, nn.LeakyReLU)] == [0.1, 0.1, 0.1]
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert d.features(x).shape == (3, 1024) and d(x).shape == (3,)


def test_salimans_nets_have_the_papers_layers_and_noise_only_while_training():
    d = SalimansDiscriminator((1, 28, 28), out_dim=10)
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [1000, 500, 250, 250, 250, 10]
    assert all(hasattr(m, "parametrizations") for m in linears)  # weight normalisation on every layer
    noise = [m.std for m in d.modules() if isinstance(m, GaussianNoise)]
    assert noise == [0.3, 0.5, 0.5, 0.5, 0.5, 0.5]
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    d.eval()
    assert torch.equal(d(x), d(x)) and d.features(x).shape == (4, 250)
    d.train()
    assert not torch.equal(d(x), d(x))
    g = SalimansGenerator(100, (1, 28, 28))
    assert [m.out_features for m in g.modules() if isinstance(m, nn.Linear)] == [500, 500, 784]
    assert sum(isinstance(m, nn.Softplus) for m in g.modules()) == 2 and g.eval()(torch.randn(2, 100)).shape == (
        2, 1, 28, 28)


def test_feature_matching_loss_by_hand():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # feature means (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0], [1.0, 1.0]])  # means (1, 1)
    assert feature_matching_loss(real, fake).item() == pytest.approx(((2 - 1) ** 2 + (3 - 1) ** 2) / 2)
    assert feature_matching_loss(real, real.flip(0)).item() == 0  # same means, whatever the order


def test_ssgan_feature_matching_step_is_the_loss_of_ds_features_and_trains_only_g():
    pair = converged_run("ssgan", "train.feature_matching=true").pair  # the option; no preset uses it now
    assert pair.feature_matching
    gen = seed_everything(4)
    state = gen.get_state()
    with torch.no_grad():  # the draws the step makes: a real unlabelled batch, then the latents
        real = real_batch(pair.images, pair.batch_size, gen)
        fake = pair.generator(latents(pair.batch_size, pair.latent_dim, gen, pair.device))
        expected = feature_matching_loss(pair.discriminator.features(real), pair.discriminator.features(fake))
    gen.set_state(state)
    d0 = params(pair.discriminator)
    assert pair.g_step(gen)["g_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert no_tensor_changed(d0, pair.discriminator)


def test_joint_discriminator_default_keeps_its_layout_and_the_z_path_relates_x_to_z():
    body = nn.Sequential(nn.Flatten(), nn.Linear(784, 8))
    old = JointDiscriminator(body, 8, 5)
    assert [k for k in old.state_dict() if not k.startswith("image_body")] == [
        "joint.1.weight", "joint.1.bias", "joint.3.weight", "joint.3.bias"]  # as runs saved before the options
    ali = JointDiscriminator(body, 8, 5, hidden=16, z_hidden=12, layers=2, dropout=0.2).eval()
    linears = [m for m in ali.modules() if isinstance(m, nn.Linear)][1:]  # after the image body's
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 12), (12, 12), (20, 16), (16, 16), (16, 1)]
    assert sum(isinstance(m, nn.Dropout) for m in ali.modules()) == 5  # before every linear layer of z and joint
    x, z = torch.rand(4, 1, 28, 28), torch.randn(4, 5)
    assert ali(x, z).shape == (4,) and not torch.allclose(ali(x, z), ali(x, z.flip(0)))


# ---------------------------------------------------------------- the presets


def test_short_preset_is_the_default_and_unchanged():
    for loss, v in VARIANTS.items():
        config = image_config("mnist", loss)
        assert config == image_config("mnist", loss, preset="short") and config.name == f"mnist-{loss}"
        assert config.schedule.epochs == 30 and config.schedule.iters_per_epoch == 100 // max(v.n_critic, 1)
        assert (config.train.d_lr, config.model.net, config.model.q_hidden) == (v.lr, "dcgan", 0)
        assert not config.train.feature_matching and config.model.lapgan_nets == "compact"


@pytest.mark.parametrize("loss", sorted(VARIANTS))
def test_converged_preset_names_budget_and_evaluation(loss):
    row, config = CONVERGED[loss], image_config("fashion_mnist", loss, preset="converged")
    assert config.name == f"fashion-{loss}-converged" and config.train.loss == loss
    assert config.schedule.epochs == row.epochs and config.schedule.eval_every == CONVERGED_EVAL_EVERY
    assert config.eval.num_samples == CONVERGED_EVAL_SAMPLES and config.eval.final_samples == 10_000
    # an epoch reads the same real images as the short preset's, whatever the batch size and n_critic
    t = config.train
    assert config.schedule.iters_per_epoch * t.batch_size * max(t.n_critic, 1) == IMAGES_PER_EPOCH
    for section, changes in (("model", row.model), ("train", row.train)):
        assert all(getattr(getattr(config, section), key) == value for key, value in changes.items())
    gpu = image_config("mnist", loss, scale="gpu", preset="converged")
    assert gpu.name == f"mnist-{loss}-gpu-converged" and gpu.schedule.epochs == 60  # the GPU schedule stays


@pytest.mark.parametrize("loss", ["began", "infogan"])
def test_an_explicit_net_wins_over_the_converged_presets_net(loss):
    assert CONVERGED[loss].model["net"] != "dcgan"  # the preset names its paper's nets
    config = image_config("mnist", loss, net="dcgan", preset="converged")
    assert config.model.net == "dcgan"
    assert all(getattr(config.model, k) == v for k, v in CONVERGED[loss].model.items() if k != "net")


def test_converged_mm_keeps_the_minimax_loss_and_slows_only_d():
    config = image_config("mnist", "mm", preset="converged")
    assert LOSSES[VARIANTS[config.train.loss].loss].g is minimax_g_loss
    assert config.train.d_lr < config.train.g_lr == VARIANTS["mm"].lr
    short = image_config("mnist", "mm")
    assert (config.model, config.train.beta1, config.train.n_critic) == (short.model, short.train.beta1, 1)


def test_preset_flag_on_the_command_line(run_cli):
    keys = run_cli(["image-train", "--loss", "began", "--preset", "converged", "--keys"])
    assert keys.code == 0
    lines = set(keys.out.splitlines())
    assert {"name = mnist-began-converged", "model.net = began", "train.batch_size = 16"} <= lines
    assert set(PRESETS) == {"short", "converged"}
    bad = run_cli(["image-train", "--loss", "ns", "--preset", "long", "--keys"])
    assert_one_line_error(bad, "image-train", "unknown preset 'long'", "short or converged")


# ---------------------------------------------------------------- resume and the study command

SMALL_EVAL = ["--set", "train.labelled=50", "--set", "eval.num_samples=50", "--set", "eval.final_samples=50"]


def _tiny_converged(loss: str, tiny_mnist) -> list[str]:
    return [*TINY, "--preset", "converged", "--loss", loss, *[a for kv in SHRINK for a in ("--set", kv)],
            *SMALL_EVAL, "--data-dir", tiny_mnist]


@pytest.mark.parametrize("loss,extra", [("mm", ()), ("began", ()), ("infogan", ()), ("ssgan", ()), ("bigan", ()),
                                        ("lapgan", DENTON), ("ssgan", ("model.net=salimans-mlp",))])
def test_stopped_and_extended_converged_run_equals_a_straight_run(tiny_mnist, tmp_path, run_cli, loss, extra):
    """2 epochs, then the same command with 4: the same files as 4 epochs in one go (nets, optimizers, k_t, the
    global RNG that dropout and noise layers draw from)."""
    args = [*_tiny_converged(loss, tiny_mnist), *[a for kv in extra for a in ("--set", kv)]]
    split = run_cli(["image-train", *args, "--set", "schedule.epochs=2", "--run-dir", tmp_path / "split"])
    assert split.code == 0, split.err
    longer = run_cli(["image-train", *args, "--run-dir", tmp_path / "split"])
    assert longer.code == 0, longer.err
    assert run_cli(["image-train", *args, "--run-dir", tmp_path / "whole"]).code == 0
    assert _epochs(tmp_path / "split") == [1, 2, 3, 4]
    stored = json.loads((tmp_path / "whole" / "config.json").read_text())["config"]
    assert stored["name"] == f"mnist-{loss}-converged"
    for name in COMPARED:
        assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_converged_study_runs_every_loss_with_its_preset_and_resumes(tiny_mnist, tmp_path, run_cli):
    out = tmp_path / "study"
    args = ["image-study", "--preset", "converged", "--dataset", "mnist", "--losses", "mm,began", "--seeds", "1",
            "--out", out, "--data-dir", tiny_mnist, "--device", "cpu",
            *[a for kv in SMALL_NETS[:-1] for a in ("--set", kv)], "--set", "schedule.iters_per_epoch=2",
            "--set", "schedule.epochs=2", "--set", "schedule.eval_every=1", "--set", "eval.num_samples=30",
            "--set", "eval.final_samples=40", "--set", "eval.n_real=100"]
    result = run_cli(args)
    assert result.code == 0, result.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preset"] == "converged" and list(summary["table"]) == ["mm", "began"]
    assert summary["configs"]["began"]["model"]["net"] == "began"
    assert summary["configs"]["mm"]["train"]["d_lr"] == CONVERGED["mm"].variant["lr"]
    for loss in ("mm", "began"):
        stored = json.loads((out / loss / "seed1" / "config.json").read_text())["config"]
        assert stored["name"] == f"mnist-{loss}-converged"
    kept = out / "began" / "seed1" / "checkpoints" / "last.pt"
    before = (kept.read_bytes(), kept.stat().st_mtime_ns)
    again = run_cli(args)  # everything finished: nothing retrained, the same table
    assert again.code == 0 and json.loads((out / "summary.json").read_text())["table"] == summary["table"]
    assert (kept.read_bytes(), kept.stat().st_mtime_ns) == before
