"""`ImagePair`: G and D of a loss-based image GAN (MM, NS, WGAN, WGAN-GP, LSGAN, DRAGAN, hinge, Qi's LS-GAN) as a
GANPair.

The whole training set is one uint8 tensor on the run's device; each step draws its batch by index with the
run's generator (no DataLoader, no worker processes). The loss is a `GANLoss` from `seqgan.core.losses.LOSSES`
and the penalty one of `PENALTIES`, so nothing here branches on a loss name. A loss with a margin (Qi's
loss-sensitive GAN) gets the scaled distance between the i-th real and the i-th generated image of D's batches.

Under torchrun (`seqgan.core.distributed`) every process draws the whole batch (indices, latents, a penalty's
points) from the shared generator and computes its rows (`shard`); each process's loss is its rows' mean times
its share of the batch, so the gradients summed over the processes (one all-reduce) are the whole batch's. Batch
norm sees only a process's rows (torch.nn.SyncBatchNorm runs on GPUs only), so a net with batch norm trains like
DistributedDataParallel without SyncBatchNorm; nets without it take one process's steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from seqgan.core.distributed import is_distributed, reduce_gradients, shard
from seqgan.core.losses import PENALTY_POINTS, GANLoss, Penalty, unit_gradient_penalty
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


def shared_descend(optimizer: torch.optim.Optimizer, model: nn.Module, loss: torch.Tensor,
                   extras: list[float]) -> list[float]:
    """`descend` for this process's share of a batch: backpropagate, sum the gradients of `model` (and `extras`)
    over the processes, step; returns the summed extras.

    Args:
        optimizer: `model`'s optimizer.
        model: the net updated (only its parameters that take a gradient are summed).
        loss: this process's part of the batch loss (its rows' mean times its share of the batch).
        extras: numbers summed along (the metrics' parts).
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    summed = reduce_gradients(model.parameters(), extras)
    optimizer.step()
    return summed


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
        margin_scale: the scale of the loss's margin (LS-GAN's tau), for a loss that has one.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, images: torch.Tensor, loss: GANLoss,
                 g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer, batch_size: int, latent_dim: int,
                 penalty: Penalty | None = None, penalty_weight: float = 10.0, clip: float = 0.0,
                 bf16: bool = False, margin_scale: float = 0.0) -> None:
        self.generator, self.discriminator, self.images, self.loss = generator, discriminator, images, loss
        self.g_opt, self.d_opt = g_opt, d_opt
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.penalty, self.penalty_weight, self.clip = penalty, penalty_weight, clip
        self.device, self.bf16, self.margin_scale = images.device, bf16, margin_scale

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """One D update on a real batch and a batch of G's samples; returns d_loss, d_real, d_fake (mean scores)."""
        real = real_batch(self.images, self.batch_size, gen)  # (B, C, H, W)
        if is_distributed():
            return self.shared_d_step(real, gen)
        with mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device)).float()
            real_out, fake_out = self.discriminator(real).float(), self.discriminator(fake).float()  # (B,), (B,)
        if self.loss.margin is None:
            loss = self.loss.d(real_out, fake_out)
        else:  # real image i and generated image i form a pair (fake carries no gradient to G here)
            loss = self.loss.d(real_out, fake_out, self.margin_scale * self.loss.margin(real, fake))
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

    def shared_d_step(self, real: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
        """`d_step` under torchrun: the whole batch's draws, this process's rows, the gradients summed.

        Args:
            real: (B, C, H, W) the whole real batch (drawn alike in every process).
            gen: the run's generator, shared by the processes.
        """
        rows = shard(self.batch_size)
        share = (rows.stop - rows.start) / self.batch_size
        z = latents(self.batch_size, self.latent_dim, gen, self.device)[rows]  # every process draws all B
        with mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                fake_rows = self.generator(z).float()
            real_out, fake_out = self.discriminator(real[rows]).float(), self.discriminator(fake_rows).float()
        if self.loss.margin is None:
            loss = self.loss.d(real_out, fake_out)
        else:
            loss = self.loss.d(real_out, fake_out, self.margin_scale * self.loss.margin(real[rows], fake_rows))
        loss = loss * share
        sums = [real_out.sum().item(), fake_out.sum().item()]
        if self.penalty is not None:
            fake = torch.zeros_like(real)  # only the penalty's points of this process's rows are scored
            fake[rows] = fake_rows
            points = PENALTY_POINTS[self.penalty](real, fake, gen)  # (B, C, H, W): the whole batch's draws
            penalty = unit_gradient_penalty(self.discriminator, points[rows], self.penalty_weight) * share
            loss = loss + penalty
            sums.append(penalty.item())
        loss_sum, real_sum, fake_sum, *penalty_sum = shared_descend(self.d_opt, self.discriminator, loss,
                                                                    [loss.item(), *sums])
        if self.clip > 0:
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.clip, self.clip)
        metrics = {"d_real": real_sum / self.batch_size, "d_fake": fake_sum / self.batch_size}
        if penalty_sum:
            metrics["d_penalty"] = penalty_sum[0]
        return {"d_loss": loss_sum, **metrics}

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One G update through D (whose weights get no gradient); returns g_loss."""
        if is_distributed():
            return self.shared_g_step(gen)
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device))  # (B, C, H, W)
            fake_out = self.discriminator(fake).float()  # (B,)
        loss = self.loss.g(fake_out)
        descend(self.g_opt, loss)
        return {"g_loss": loss.item()}

    def shared_g_step(self, gen: torch.Generator) -> dict[str, float]:
        """`g_step` under torchrun: all B latents drawn, this process's rows generated and scored."""
        rows = shard(self.batch_size)
        share = (rows.stop - rows.start) / self.batch_size
        z = latents(self.batch_size, self.latent_dim, gen, self.device)[rows]
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            fake_out = self.discriminator(self.generator(z)).float()
        loss = self.loss.g(fake_out) * share
        (loss_sum,) = shared_descend(self.g_opt, self.generator, loss, [loss.item()])
        return {"g_loss": loss_sum}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] on the CPU (G in eval mode)."""
        return sample_images(self.generator, n, self.latent_dim, gen, self.device)
