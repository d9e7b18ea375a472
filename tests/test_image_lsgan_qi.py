"""Qi's loss-sensitive GAN: the loss against hand-computed values, the pair's margins against a plain-Python
replay of its batch, the variant's defaults, and one step of each net."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from seqgan.core.losses import LOSSES, l1_margin, loss_sensitive_d_loss, loss_sensitive_g_loss
from seqgan.core.runtime import seed_everything
from seqgan.image.image_pair import ImagePair, latents, real_batch
from seqgan.image.run import build_image_run
from seqgan.image.variants import VARIANTS
from tests.test_image_train import all_changed, fake_images, none_changed, params, small_config


def raw_score(loss: float) -> float:
    """The raw critic score whose softplus is `loss`: log(e^L - 1)."""
    return math.log(math.expm1(loss))


# Two (real, fake) pairs of 1x1x2 images and the losses L = softplus(score) the critic gives them
REAL_IMAGES = torch.tensor([[[[0.5, -0.5]]], [[[1.0, 1.0]]]], dtype=torch.float64)  # (2, 1, 1, 2)
FAKE_IMAGES = torch.tensor([[[[0.0, 0.5]]], [[[1.0, -1.0]]]], dtype=torch.float64)
REAL_LOSS, FAKE_LOSS = (1.0, 0.5), (2.0, 0.25)
REAL_OUT = torch.tensor([raw_score(v) for v in REAL_LOSS], dtype=torch.float64)
FAKE_OUT = torch.tensor([raw_score(v) for v in FAKE_LOSS], dtype=torch.float64)
TAU = 0.5
# |x - G(z)|_1 summed over pixels: |0.5 - 0| + |-0.5 - 0.5| = 1.5 and |1 - 1| + |1 + 1| = 2; scaled by TAU
MARGINS = (0.75, 1.0)
# hinge per pair: max(0, 0.75 + 1 - 2) = 0 and max(0, 1 + 0.5 - 0.25) = 1.25; mean 0.625
HINGE = 0.625


def test_margin_is_the_l1_norm_over_all_pixels():
    assert l1_margin(REAL_IMAGES, FAKE_IMAGES).tolist() == [1.5, 2.0]


@pytest.mark.parametrize("real_weight, expected", [(0.0, HINGE), (0.5, 0.5 * (1.0 + 0.5) / 2 + HINGE)])
def test_d_loss_against_a_hand_computed_case(real_weight, expected):
    margin = TAU * l1_margin(REAL_IMAGES, FAKE_IMAGES)
    assert margin.tolist() == list(MARGINS)
    value = loss_sensitive_d_loss(REAL_OUT, FAKE_OUT, margin, real_weight=real_weight).item()
    assert value == pytest.approx(expected, rel=1e-12)
    # (B, 1) scores give the same number: the margins pair up row by row, not as a (B, B) table
    column = loss_sensitive_d_loss(REAL_OUT[:, None], FAKE_OUT[:, None], margin, real_weight=real_weight).item()
    assert column == pytest.approx(expected, rel=1e-12)


def test_g_loss_and_the_table_entry():
    assert loss_sensitive_g_loss(FAKE_OUT).item() == pytest.approx((2.0 + 0.25) / 2, rel=1e-12)
    entry = LOSSES["loss-sensitive"]
    assert entry.margin is l1_margin and entry.d is loss_sensitive_d_loss and entry.g is loss_sensitive_g_loss
    assert all(LOSSES[name].margin is None for name in LOSSES if name != "loss-sensitive")


def test_gradients_of_the_d_loss():
    """dD/d score: only the pair whose hinge is active pulls, real down and fake up, by sigmoid(score) / B."""
    real, fake = REAL_OUT.clone().requires_grad_(True), FAKE_OUT.clone().requires_grad_(True)
    loss_sensitive_d_loss(real, fake, torch.tensor(MARGINS, dtype=torch.float64)).backward()
    sig = [1 / (1 + math.exp(-s)) for s in REAL_OUT.tolist()], [1 / (1 + math.exp(-s)) for s in FAKE_OUT.tolist()]
    assert real.grad.tolist() == pytest.approx([0.0, sig[0][1] / 2], rel=1e-12)
    assert fake.grad.tolist() == pytest.approx([0.0, -sig[1][1] / 2], rel=1e-12)


def test_variant_defaults_reach_the_config_and_the_optimizers():
    assert "lsgan" in VARIANTS and VARIANTS["lsgan"].loss == "least-squares"  # the name does not clash
    config = small_config("lsgan-qi")
    t = config.train
    assert (t.d_lr, t.g_lr, t.beta1, t.n_critic, t.weight_decay, t.margin_scale) == (1e-4, 1e-4, 0.5, 1, 5e-5, 2e-4)
    run = build_image_run(config, fake_images())
    assert run.pair.margin_scale == 2e-4
    assert run.pair.d_opt.param_groups[0]["weight_decay"] == 5e-5 == run.pair.g_opt.param_groups[0]["weight_decay"]
    ns = build_image_run(small_config("ns"), fake_images())  # the other variants keep no weight decay
    assert ns.pair.d_opt.param_groups[0]["weight_decay"] == 0.0 and small_config("ns").train.margin_scale == 0.0


class TinyG(nn.Module):
    def __init__(self, z: int) -> None:
        super().__init__()
        self.net = nn.Linear(z, 4)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(-1, 1, 2, 2)


def test_pair_pairs_real_and_fake_images_and_one_step_moves_each_net():
    torch.manual_seed(0)
    g, d = TinyG(3), nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    images = torch.randint(0, 256, (10, 1, 2, 2), dtype=torch.uint8)
    pair = ImagePair(g, d, images, LOSSES["loss-sensitive"], torch.optim.Adam(g.parameters(), 1e-2),
                     torch.optim.Adam(d.parameters(), 1e-2), batch_size=4, latent_dim=3, margin_scale=0.3)
    g0, d0, d_before = params(g), params(d), copy.deepcopy(d)
    gen = seed_everything(1)
    replay = torch.Generator().set_state(gen.get_state())
    metrics = pair.d_step(gen)
    # the same draws, scored by a copy of D before the step, the objective written out per pair
    real = real_batch(images, 4, replay)
    with torch.no_grad():
        fake = g(latents(4, 3, replay, images.device))
        r_out, f_out = d_before(real).view(-1).tolist(), d_before(fake).view(-1).tolist()
    softplus = [math.log1p(math.exp(s)) for s in r_out], [math.log1p(math.exp(s)) for s in f_out]
    hinge = []
    for i in range(4):
        margin = 0.3 * sum(abs(a - b) for a, b in zip(real[i].flatten().tolist(), fake[i].flatten().tolist()))
        hinge.append(max(0.0, margin + softplus[0][i] - softplus[1][i]))
    assert any(h > 0 for h in hinge)  # so the step has something to learn
    assert metrics["d_loss"] == pytest.approx(sum(hinge) / 4, rel=1e-5)
    assert all_changed(d0, d) and none_changed(g0, g)
    d1 = params(d)
    g_metrics = pair.g_step(gen)
    assert all_changed(g0, g) and none_changed(d1, d)
    assert g_metrics["g_loss"] > 0  # E[L(G(z))] with L = softplus > 0
