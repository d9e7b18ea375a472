"""`ImagePair`: G and D of a loss-based image GAN (MM, NS, WGAN, WGAN-GP, LSGAN, DRAGAN, hinge) as a GANPair.

The whole training set is one uint8 tensor on the run's device; each step draws its batch by index with the
run's generator (no DataLoader, no worker processes). The loss is a `GANLoss` from `seqgan.core.losses.LOSSES`
and the penalty one of `PENALTIES`, so nothing here branches on a loss name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from seqgan.core.losses import GANLoss, Penalty
from seqgan.image.data import to_unit_range


def _batch_index(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """B indices (B,) drawn uniformly with replacement from range(n) with `gen`, moved to `device`."""
    return torch.randint(n, (batch_size,), generator=gen, device=gen.device).to(device)


def as_unit_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float in [-1, 1] (`to_unit_range`); a float batch is returned as it is."""
    return to_unit_range(batch) if batch.dtype == torch.uint8 else batch


def real_batch(images: torch.Tensor, batch_size: int, gen: torch.Generator) -> torch.Tensor:
    """A batch drawn uniformly with replacement from the training set, as float in [-1, 1].

    Args:
        images: uint8 (N, C, H, W) in [0, 255] (or float in [-1, 1]) on the run's device.
        batch_size: B.
        gen: the run's generator (on the same device as `images`).
    """
    return as_unit_range(images[_batch_index(len(images), batch_size, gen, images.device)])  # (B, C, H, W)


def real_labelled_batch(images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                        gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`real_batch` with each image's class label, drawn at the same indices (and with the same draws).

    Args:
        images: uint8 (N, C, H, W) on the run's device.
        labels: int64 (N,) on the same device.
        batch_size: B.
        gen: the run's generator.
    """
    index = _batch_index(len(images), batch_size, gen, images.device)  # (B,)
    return as_unit_range(images[index]), labels[index]  # (B, C, H, W), (B,)


def mixed_precision(device: torch.device, bf16: bool):
    """An autocast context: bfloat16 matrix products and convolutions when `bf16`, a no-op otherwise.

    Args:
        device: where the nets run.
        bf16: whether to autocast.
    """
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """`module`'s parameters take no gradient inside the block (G's step through D), and do again after it."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)


def latents(n: int, dim: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """z ~ N(0, I): (n, dim) drawn with `gen` (on its own device), moved to `device`."""
    return torch.randn(n, dim, generator=gen, device=gen.device).to(device)


@torch.no_grad()
def sample_images(generator: nn.Module, n: int, latent_dim: int, gen: torch.Generator, device: torch.device,
                  batch_size: int = 1000) -> torch.Tensor:
    """n images (n, C, H, W) in [-1, 1] from G in eval mode (batch-norm running statistics), on the CPU.

    Args:
        generator: G.
        n: number of images.
        latent_dim: Z.
        gen: where the latents come from (any device).
        device: where G lives.
        batch_size: images per forward pass.
    """
    return generate(generator, latents(n, latent_dim, gen, device), batch_size)


@torch.no_grad()
def generate(generator: nn.Module, inputs: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """G's images (n, C, H, W) in [-1, 1] for given inputs, in eval mode (batch-norm running statistics), on the CPU.

    Args:
        generator: G.
        inputs: (n, Z') G's inputs (latents, and codes for the conditional pairs) on G's device.
        batch_size: images per forward pass.
    """
    was_training = generator.training
    generator.eval()
    try:
        n = len(inputs)
        return torch.cat([generator(inputs[i:i + batch_size]).float().cpu() for i in range(0, n, batch_size)])
    finally:
        generator.train(was_training)


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One gradient step of `optimizer` on `loss`: clear the gradients, backpropagate, step.

    Args:
        optimizer: the optimizer of the parameters to update (the other net is frozen or detached).
        loss: the scalar to minimise.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


class SavedParts:
    """`state_dict` / `load_state_dict` of a pair: one entry per attribute named in `PARTS` (its nets and
    optimizers), each saved with its own state_dict; a pair with more state extends both methods."""

    PARTS: tuple[str, ...] = ("generator", "discriminator", "g_opt", "d_opt")

    def state_dict(self) -> dict:
        """Every part's state, by attribute name."""
        return {name: getattr(self, name).state_dict() for name in self.PARTS}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of `state_dict`."""
        for name in self.PARTS:
            getattr(self, name).load_state_dict(state[name])


class ImagePair(SavedParts):
    """G, D, their optimizers, and one loss's update rules.

    Args:
        generator: G, latents (B, Z) -> images (B, C, H, W).
        discriminator: D, images -> scores (B,).
        images: the training set, uint8 (N, C, H, W), on the run's device.
        loss: the loss pair (D's and G's objective).
        g_opt: G's optimizer.
        d_opt: D's optimizer.
        batch_size: B for both steps.
        latent_dim: Z.
        penalty: a gradient penalty on D, or None.
        penalty_weight: its lambda.
        clip: clip D's parameters to [-clip, clip] after each D step (WGAN); 0 = never.
        bf16: run G's and D's forward passes under bfloat16 autocast (weights, optimizer state, losses and the
            gradient penalty stay in float32; sampling for evaluation too).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, images: torch.Tensor, loss: GANLoss,
                 g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer, batch_size: int, latent_dim: int,
                 penalty: Penalty | None = None, penalty_weight: float = 10.0, clip: float = 0.0,
                 bf16: bool = False) -> None:
        self.generator, self.discriminator, self.images, self.loss = generator, discriminator, images, loss
        self.g_opt, self.d_opt = g_opt, d_opt
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.penalty, self.penalty_weight, self.clip = penalty, penalty_weight, clip
        self.device, self.bf16 = images.device, bf16

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """One D update on a real batch and a batch of G's samples; returns d_loss, d_real, d_fake (mean scores)."""
        real = real_batch(self.images, self.batch_size, gen)  # (B, C, H, W)
        with mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device)).float()
            real_out, fake_out = self.discriminator(real).float(), self.discriminator(fake).float()  # (B,), (B,)
        loss = self.loss.d(real_out, fake_out)
        metrics = {"d_real": real_out.mean().item(), "d_fake": fake_out.mean().item()}
        if self.penalty is not None:
            penalty = self.penalty(self.discriminator, real, fake, gen, self.penalty_weight)
            metrics["d_penalty"] = penalty.item()
            loss = loss + penalty
        descend(self.d_opt, loss)
        if self.clip > 0:  # WGAN Alg. 1, line 7
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.clip, self.clip)
        return {"d_loss": loss.item(), **metrics}

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One G update through D (whose weights get no gradient); returns g_loss."""
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device))  # (B, C, H, W)
            fake_out = self.discriminator(fake).float()  # (B,)
        loss = self.loss.g(fake_out)
        descend(self.g_opt, loss)
        return {"g_loss": loss.item()}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] on the CPU (G in eval mode)."""
        return sample_images(self.generator, n, self.latent_dim, gen, self.device)
