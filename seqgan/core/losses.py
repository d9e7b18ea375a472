"""GAN losses as pure functions of D's outputs, gradient penalties, and BEGAN's equilibrium step.

Every loss is a pair (d, g): `d(real_out, fake_out)` is what D (or the critic) minimises, `g(fake_out)` what G
minimises. Outputs are D's raw scores (logits for the cross-entropy losses, critic values for the others), one
per image: shape (B,) or (B, 1). Losses are batch means, so they do not depend on the batch size.
A loss with a data-dependent margin (the loss-sensitive GAN) also names a `margin(real, fake)` distance between
the images of each (real, fake) pair, and its `d` takes the scaled margins as a third argument.
Chosen by name from `LOSSES`; image pairs never branch on a loss name.

Imports only torch (the core's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

DLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MarginDLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # d(real_out, fake_out, margin)
GLoss = Callable[[torch.Tensor], torch.Tensor]
Margin = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real images, fake images) -> (B,) distances


# ---------------------------------------------------------------- cross-entropy (Goodfellow et al., 2014)


def bce_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """D's cross-entropy: -log D(x) - log(1 - D(G(z))), with D = sigmoid(logit), Goodfellow et al. Eq. 1.

    Args:
        real_out: (B,) logits on real images.
        fake_out: (B,) logits on generated images.
    """
    # -log sigmoid(a) = softplus(-a); -log(1 - sigmoid(a)) = softplus(a): stable for any logit
    return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()


def minimax_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """The minimax (saturating) G loss: log(1 - D(G(z))), Eq. 1 as written.

    Args:
        fake_out: (B,) D's logits on generated images.
    """
    return -F.softplus(fake_out).mean()


def non_saturating_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """The non-saturating G loss: -log D(G(z)) (Goodfellow et al., Section 3, the heuristic used in practice).

    Args:
        fake_out: (B,) D's logits on generated images.
    """
    return F.softplus(-fake_out).mean()


# ---------------------------------------------------------------- Wasserstein (Arjovsky et al., 2017)


def wasserstein_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """The critic's loss E[f(G(z))] - E[f(x)]: minus the Kantorovich-Rubinstein estimate of W1 (WGAN Alg. 1).

    Args:
        real_out: (B,) critic values on real images.
        fake_out: (B,) critic values on generated images.
    """
    return fake_out.mean() - real_out.mean()


def wasserstein_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """G's loss -E[f(G(z))] (WGAN Alg. 1; also hinge GAN's G loss).

    Args:
        fake_out: (B,) critic values on generated images.
    """
    return -fake_out.mean()


# ---------------------------------------------------------------- hinge (Lim & Ye, 2017; Miyato et al., 2018)


def hinge_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """D's hinge loss E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))].

    Args:
        real_out: (B,) D's scores on real images.
        fake_out: (B,) D's scores on generated images.
    """
    return F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()


# ---------------------------------------------------------------- least squares (Mao et al., 2017)


def least_squares_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """LSGAN's D loss 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2] with Mao et al.'s 0-1 coding a = 0, b = 1.

    Args:
        real_out: (B,) D's scores on real images.
        fake_out: (B,) D's scores on generated images.
    """
    return 0.5 * (real_out - 1.0).pow(2).mean() + 0.5 * fake_out.pow(2).mean()


def least_squares_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """LSGAN's G loss 1/2 E[(D(G(z)) - c)^2] with c = 1.

    Args:
        fake_out: (B,) D's scores on generated images.
    """
    return 0.5 * (fake_out - 1.0).pow(2).mean()


# ---------------------------------------------------------------- loss-sensitive GAN (Qi, 2017)

# L_theta(x) >= 0 is softplus of the critic's raw score. The authors' Torch code (lsgan.lua) puts a ReLU after
# D's last layer (SoftPlus is there, commented out); a ReLU gives no gradient to either net on an image whose
# score is negative, so once G pushes its samples there neither net moves them again. Softplus is >= 0 and
# strictly increasing, so every image keeps a gradient.


def l1_margin(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Delta(x, G(z)) before scaling: the L1 norm |x - G(z)|_1 of each (real, fake) pair, summed over every pixel
    (not a per-pixel mean), as `nn.PairwiseDistance(1)` on the flattened images in Qi's code.

    Args:
        real: (B, C, H, W) real images in [-1, 1].
        fake: (B, C, H, W) generated images, paired with `real` row by row.

    Returns:
        (B,) distances.
    """
    return (real - fake).abs().flatten(1).sum(1)


def loss_sensitive_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor, margin: torch.Tensor,
                          real_weight: float = 0.0) -> torch.Tensor:
    """The loss function's objective in LS-GAN (Qi, 2017), divided by lambda as in the authors' code:

        real_weight * E[L(x)] + E[(Delta(x, G(z)) + L(x) - L(G(z)))_+],   L = softplus(D's score) >= 0,

    i.e. min E[L(x)] + lambda E[(...)_+] with real_weight = 1 / lambda. The default 0 is the code's (gamma = 0:
    "the theorem shows this term can be ignored" for the unconditional LS-GAN).

    Args:
        real_out: (B,) or (B, 1) D's raw scores on real images.
        fake_out: (B,) or (B, 1) D's raw scores on generated images, paired with the real ones row by row.
        margin: (B,) Delta(x_i, G(z_i)), already scaled (a constant for D: no gradient is taken through it).
        real_weight: 1 / lambda, the weight of E[L(x)].
    """
    real_loss, fake_loss = F.softplus(real_out.reshape(-1)), F.softplus(fake_out.reshape(-1))  # (B,), (B,)
    hinge = F.relu(margin.reshape(-1) + real_loss - fake_loss).mean()
    return real_weight * real_loss.mean() + hinge if real_weight else hinge


def loss_sensitive_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """G's objective in LS-GAN: E[L(G(z))], the mean loss of its samples.

    Args:
        fake_out: (B,) or (B, 1) D's raw scores on generated images.
    """
    return F.softplus(fake_out).mean()


@dataclass(frozen=True)
class GANLoss:
    """A D loss and a G loss that belong together.

    Args:
        d: d(real_out, fake_out) -> scalar D minimises; with a margin, d(real_out, fake_out, margin).
        g: g(fake_out) -> scalar G minimises.
        margin: for a loss with a data-dependent margin, margin(real images, fake images) -> (B,) distances of
            each (real, fake) pair; the pair scales them (its margin_scale) and passes them to d. None for the
            others, whose d takes two arguments.
    """

    d: DLoss | MarginDLoss
    g: GLoss
    margin: Margin | None = None


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(bce_d_loss, minimax_g_loss),
    "non-saturating": GANLoss(bce_d_loss, non_saturating_g_loss),
    "wasserstein": GANLoss(wasserstein_d_loss, wasserstein_g_loss),
    "hinge": GANLoss(hinge_d_loss, wasserstein_g_loss),
    "least-squares": GANLoss(least_squares_d_loss, least_squares_g_loss),
    "loss-sensitive": GANLoss(loss_sensitive_d_loss, loss_sensitive_g_loss, l1_margin),
}


# ---------------------------------------------------------------- auxiliary heads (ACGAN, InfoGAN)


def class_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """-L_C for one set of images: the cross-entropy -E[log P(C = c | X)] of the class head (Odena et al., 2017,
    Section 3; ACGAN's D maximises L_S + L_C, its G L_C - L_S), batch mean.

    Args:
        logits: (B, K) class logits of D's auxiliary head.
        classes: (B,) int64 targets in 0..K-1 (the true labels of real images, the sampled ones of G's images).
    """
    return F.cross_entropy(logits, classes)


def info_loss(cat_logits: torch.Tensor, cat: torch.Tensor, cont_mean: torch.Tensor, cont: torch.Tensor,
              cont_weight: float = 1.0) -> torch.Tensor:
    """-L_I(G, Q) + const: minus InfoGAN's variational lower bound on I(c; G(z, c)) (Chen et al., 2016,
    Section 5; the survey's Eq. 30), per image, batch mean. H(c) is a constant of the code prior and is left out.

    Q's categorical factor is a softmax over the K values (its -log Q(c|x) is a cross-entropy); each continuous
    code gets a Gaussian with Q's mean and a fixed unit variance (the authors' `fix_std=True`), whose -log Q(c|x)
    is 0.5 (c - mean)^2 + 0.5 log(2 pi), summed over codes (the constant is left out too).

    Args:
        cat_logits: (B, K) Q's logits for the categorical code.
        cat: (B,) int64 the categorical code values G was given.
        cont_mean: (B, L) Q's means for the continuous codes (L may be 0).
        cont: (B, L) the continuous codes G was given.
        cont_weight: weight of the continuous codes' term.
    """
    gaussian_nll = 0.5 * (cont - cont_mean).pow(2).sum(1).mean()  # 0 when L = 0
    return F.cross_entropy(cat_logits, cat) + cont_weight * gaussian_nll


# ---------------------------------------------------------------- gradient penalties


def unit_gradient_penalty(critic: nn.Module, points: torch.Tensor, weight: float) -> torch.Tensor:
    """weight * E[(||grad_x D(x)||_2 - 1)^2] at `points`, differentiable w.r.t. D's parameters.

    Args:
        critic: D; maps (B, C, H, W) to (B,) or (B, 1) scores.
        points: (B, C, H, W) where the gradient norm is measured (detached from G).
        weight: lambda.
    """
    points = points.detach().requires_grad_(True)
    out = critic(points)
    (grad,) = torch.autograd.grad(out.sum(), points, create_graph=True)  # (B, C, H, W); rows are independent
    norms = grad.flatten(1).norm(2, dim=1)  # (B,)
    return weight * (norms - 1.0).pow(2).mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., Alg. 1): on x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per image.

    Args:
        critic: D.
        real: (B, C, H, W) real images.
        fake: (B, C, H, W) generated images (gradients to G are cut).
        gen: the run's generator (draws eps).
        weight: lambda (paper: 10).
    """
    return unit_gradient_penalty(critic, gradient_penalty_points(real, fake, gen), weight)


def gradient_penalty_points(real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """WGAN-GP's x^ = eps x + (1 - eps) G(z) (B, C, H, W), eps ~ U[0, 1] per image drawn with `gen` (detached)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=gen, device=real.device)  # (B, 1, 1, 1)
    return eps * real + (1.0 - eps) * fake.detach()


def dragan_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator,
                   weight: float = 10.0, scale: float = 0.5) -> torch.Tensor:
    """DRAGAN's penalty (Kodali et al., 2017): the same unit-norm penalty, around perturbed real data.

    x_p = x + scale * std(x) * u with u ~ U[0, 1] per pixel, and x^ = x + alpha (x_p - x), alpha ~ U[0, 1]
    per image (the authors' code; `fake` is unused and kept for a common signature with `gradient_penalty`).

    Args:
        critic: D.
        real: (B, C, H, W) real images.
        fake: unused.
        gen: the run's generator.
        weight: lambda (paper: 10).
        scale: the perturbation's size in units of the batch's standard deviation (paper: 0.5).
    """
    return unit_gradient_penalty(critic, dragan_points(real, fake, gen, scale), weight)


def dragan_points(real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator, scale: float = 0.5) -> torch.Tensor:
    """DRAGAN's x^ (B, C, H, W) around the perturbed real batch (`dragan_penalty`; `fake` unused)."""
    noise = torch.rand(real.shape, generator=gen, device=real.device)  # (B, C, H, W)
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=gen, device=real.device)
    return real + alpha * scale * real.std() * noise


Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator, float], torch.Tensor]
PENALTIES: dict[str, Penalty] = {"gradient": gradient_penalty, "dragan": dragan_penalty}
# each penalty's points, built from the whole batch (its random draws and DRAGAN's batch std), so that a data-parallel
# step draws what one process draws and scores only its rows of them with `unit_gradient_penalty`
PENALTY_POINTS: dict[Penalty, Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]] = {
    gradient_penalty: gradient_penalty_points, dragan_penalty: dragan_points}


# ---------------------------------------------------------------- BEGAN (Berthelot et al., 2017)


def reconstruction_loss(images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """BEGAN's L(v) = |v - D(v)|: the autoencoder's mean absolute error (Eq. 1 with eta = 1), batch mean.

    Args:
        images: (B, C, H, W).
        reconstructions: (B, C, H, W) D's output on them.
    """
    return (images - reconstructions).abs().mean()


def began_d_loss(loss_real: torch.Tensor, loss_fake: torch.Tensor, k: float) -> torch.Tensor:
    """D's objective L_D = L(x) - k_t L(G(z)) (BEGAN Eq. 4).

    Args:
        loss_real: scalar L(x).
        loss_fake: scalar L(G(z)) (G detached).
        k: the current k_t.
    """
    return loss_real - k * loss_fake


def began_equilibrium(loss_real: float, loss_fake: float, k: float, gamma: float = 0.5,
                      lambda_k: float = 0.001) -> tuple[float, float]:
    """BEGAN's control step: k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1), and the convergence
    measure M_global = L(x) + |gamma L(x) - L(G(z))| (Eq. 4 and Section 3.4.1).

    Args:
        loss_real: L(x) of this step.
        loss_fake: L(G(z)) of this step.
        k: k_t.
        gamma: the diversity ratio E[L(G(z))] / E[L(x)] the controller holds.
        lambda_k: the proportional gain of k.

    Returns:
        (k_{t+1}, M_global).
    """
    balance = gamma * loss_real - loss_fake
    return min(max(k + lambda_k * balance, 0.0), 1.0), loss_real + abs(balance)
