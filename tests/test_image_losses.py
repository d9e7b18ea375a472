"""GAN losses against hand-computed values, gradient penalties against a per-image autograd reference, BEGAN's step."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from seqgan.core.losses import (
    LOSSES,
    PENALTIES,
    began_d_loss,
    began_equilibrium,
    dragan_penalty,
    gradient_penalty,
    reconstruction_loss,
    unit_gradient_penalty,
)
from tests.conftest import REPO_ROOT, SUBPROCESS_ENV_OVERRIDES

REAL = torch.tensor([2.0, -1.0], dtype=torch.float64)  # D's raw outputs on two real images
FAKE = torch.tensor([0.5, -3.0], dtype=torch.float64)  # ... and on two generated ones


def sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


# D(x) = sigmoid(logit): the cross-entropy losses written in probability space, as in Goodfellow et al.
BCE_D = -(math.log(sigmoid(2.0)) + math.log(sigmoid(-1.0))) / 2 - (math.log(1 - sigmoid(0.5))
                                                                   + math.log(1 - sigmoid(-3.0))) / 2
HAND = {
    # name: (D loss, G loss), worked out from the papers' formulas for REAL and FAKE above
    "minimax": (BCE_D, (math.log(1 - sigmoid(0.5)) + math.log(1 - sigmoid(-3.0))) / 2),
    "non-saturating": (BCE_D, -(math.log(sigmoid(0.5)) + math.log(sigmoid(-3.0))) / 2),
    # E[f(fake)] - E[f(real)] = (0.5 - 3) / 2 - (2 - 1) / 2; G: -E[f(fake)]
    "wasserstein": (-1.75, 1.25),
    # D: (max(0, 1-2) + max(0, 1+1)) / 2 + (max(0, 1+0.5) + max(0, 1-3)) / 2 = 1 + 0.75
    "hinge": (1.75, 1.25),
    # D: 1/2 ((2-1)^2 + (-1-1)^2) / 2 + 1/2 (0.5^2 + 3^2) / 2 = 1.25 + 2.3125; G: 1/2 ((0.5-1)^2 + (-3-1)^2) / 2
    "least-squares": (3.5625, 4.0625),
}


def test_the_loss_table_is_complete():
    assert set(LOSSES) == set(HAND) | {"loss-sensitive"}  # its d takes margins: hand-checked in test_image_lsgan_qi
    assert set(PENALTIES) == {"gradient", "dragan"}


@pytest.mark.parametrize("name", sorted(HAND))
def test_each_loss_against_a_hand_computed_value(name):
    d_expected, g_expected = HAND[name]
    assert LOSSES[name].d(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-12)
    assert LOSSES[name].g(FAKE).item() == pytest.approx(g_expected, rel=1e-12)
    # (B, 1) outputs give the same numbers as (B,)
    assert LOSSES[name].d(REAL[:, None], FAKE[:, None]).item() == pytest.approx(d_expected, rel=1e-12)


def test_cross_entropy_is_stable_for_large_logits():
    big = torch.tensor([200.0, -200.0], dtype=torch.float64)
    for name in ("minimax", "non-saturating"):
        assert math.isfinite(LOSSES[name].d(big, -big).item()) and math.isfinite(LOSSES[name].g(big).item())
    # a confident, correct D: loss ~ 2 * log(1 + e^-200) ~ 0
    assert LOSSES["non-saturating"].d(torch.tensor([200.0]), torch.tensor([-200.0])).item() == pytest.approx(0.0,
                                                                                                          abs=1e-80)


def test_saturation_is_what_separates_mm_from_ns():
    """At a confident D (fake logit -5) MM's gradient w.r.t. the logit is sigma(-5) ~ 0.0067, NS's is 1 - sigma(-5)."""
    logit = torch.tensor([-5.0], dtype=torch.float64, requires_grad=True)
    (mm,) = torch.autograd.grad(LOSSES["minimax"].g(logit), logit)
    (ns,) = torch.autograd.grad(LOSSES["non-saturating"].g(logit), logit)
    assert mm.item() == pytest.approx(-sigmoid(-5.0), rel=1e-12)
    assert ns.item() == pytest.approx(-(1 - sigmoid(-5.0)), rel=1e-12)


# ---------------------------------------------------------------- gradient penalties


class SmallCritic(nn.Module):
    """A nonlinear critic (conv, tanh, linear) in float64: its input gradient depends on the input."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 3, 3, padding=1).double()
        self.out = nn.Linear(3 * 6 * 6, 1).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.conv(x)).flatten(1)).squeeze(1)


def _reference_penalty(critic: nn.Module, points: torch.Tensor, weight: float) -> torch.Tensor:
    """The same quantity one image at a time: a separate autograd call per image (no batch coupling)."""
    terms = []
    for x in points:
        x = x[None].clone().requires_grad_(True)  # (1, C, H, W)
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        terms.append((g.pow(2).sum().sqrt() - 1.0) ** 2)
    return weight * torch.stack(terms).mean()


def _data(seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(5, 1, 6, 6, generator=g, dtype=torch.float64) * 2 - 1,
            torch.rand(5, 1, 6, 6, generator=g, dtype=torch.float64) * 2 - 1)


def test_gradient_penalty_matches_a_per_image_autograd_reference():
    critic = SmallCritic()
    real, fake = _data()
    gen = torch.Generator().manual_seed(11)
    twin = torch.Generator().set_state(gen.get_state())
    got = gradient_penalty(critic, real, fake, gen, weight=10.0)
    eps = torch.rand(5, 1, 1, 1, generator=twin).double()  # the same draw: x^ = eps x + (1 - eps) G(z)
    want = _reference_penalty(critic, eps * real + (1 - eps) * fake, 10.0)
    assert got.item() == pytest.approx(want.item(), rel=1e-10)
    assert got.item() > 0
    # and its gradient w.r.t. the critic's weights (what the critic step uses) agrees too
    params = [critic.conv.weight, critic.conv.bias, critic.out.weight]  # the output bias has no input gradient
    got_grads = torch.autograd.grad(got, params)
    want_grads = torch.autograd.grad(want, params)
    for a, b in zip(got_grads, want_grads):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    """f(x) = <w, x> + b has gradient w everywhere: the penalty is lambda (|w| - 1)^2 whatever eps is."""
    critic = nn.Linear(36, 1).double()
    flat = nn.Sequential(nn.Flatten(), critic)
    with torch.no_grad():
        critic.weight.fill_(0.5)  # |w| = 0.5 * 6 = 3
    real, fake = _data()
    value = gradient_penalty(flat, real, fake, torch.Generator().manual_seed(0), weight=10.0)
    assert value.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-12)
    # d/dw lambda (|w| - 1)^2 = 2 lambda (|w| - 1) w / |w|
    (grad,) = torch.autograd.grad(value, critic.weight)
    assert torch.allclose(grad, torch.full_like(grad, 2 * 10.0 * 2.0 * 0.5 / 3.0), rtol=1e-12)


def test_dragan_penalty_is_taken_around_perturbed_real_data():
    critic = SmallCritic()
    real, fake = _data()
    gen = torch.Generator().manual_seed(5)
    twin = torch.Generator().set_state(gen.get_state())
    got = dragan_penalty(critic, real, fake, gen, weight=10.0, scale=0.5)
    noise = torch.rand(real.shape, generator=twin).double()  # x_p = x + 0.5 std(x) u, x^ = x + alpha (x_p - x)
    alpha = torch.rand(5, 1, 1, 1, generator=twin).double()
    want = _reference_penalty(critic, real + alpha * 0.5 * real.std() * noise, 10.0)
    assert got.item() == pytest.approx(want.item(), rel=1e-10)
    # fake images play no part
    again = dragan_penalty(critic, real, torch.zeros_like(fake), torch.Generator().manual_seed(5), 10.0, 0.5)
    assert again.item() == got.item()


def test_unit_gradient_penalty_is_zero_for_a_unit_norm_critic():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(36, 1, bias=False)).double()
    with torch.no_grad():
        critic[1].weight.fill_(1 / 6)  # |w| = 1
    points = torch.randn(4, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert unit_gradient_penalty(critic, points, 10.0).item() == pytest.approx(0.0, abs=1e-24)


# ---------------------------------------------------------------- BEGAN


def test_began_reconstruction_and_d_loss():
    images = torch.tensor([[0.0, 1.0], [2.0, -3.0]])
    assert reconstruction_loss(images, torch.zeros_like(images)).item() == pytest.approx(1.5)  # (0+1+2+3) / 4
    assert began_d_loss(torch.tensor(0.4), torch.tensor(0.1), 0.2).item() == pytest.approx(0.4 - 0.2 * 0.1)


@pytest.mark.parametrize("loss_real,loss_fake,k,gamma,lam,k_next,m_global", [
    # balance = gamma L(x) - L(G(z)) = 0.2 - 0.1 = 0.1: k grows by lambda * 0.1; M = 0.4 + |0.1|
    (0.4, 0.1, 0.2, 0.5, 0.01, 0.201, 0.5),
    # balance = 0.15 - 0.35 = -0.2: k shrinks; M = 0.3 + 0.2
    (0.3, 0.35, 0.2, 0.5, 0.1, 0.18, 0.5),
    # k is clipped to [0, 1]
    (0.4, 0.1, 0.9995, 0.5, 0.01, 1.0, 0.5),
    (0.1, 0.9, 0.0, 0.5, 0.01, 0.0, 0.1 + 0.85),
])
def test_began_equilibrium_step(loss_real, loss_fake, k, gamma, lam, k_next, m_global):
    got_k, got_m = began_equilibrium(loss_real, loss_fake, k, gamma, lam)
    assert got_k == pytest.approx(k_next, rel=1e-12) and got_m == pytest.approx(m_global, rel=1e-12)


def test_core_with_losses_imports_only_torch_and_the_standard_library():
    code = """
import json, sys
import torch
before = set(sys.modules)
import seqgan.core, seqgan.core.losses
new = sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names))
print(json.dumps(new))
"""
    env = {**os.environ, **SUBPROCESS_ENV_OVERRIDES}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["seqgan"]
