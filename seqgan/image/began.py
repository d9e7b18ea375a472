"""BEGAN (Berthelot et al., 2017) as a GANPair: an autoencoder D, L1 reconstruction losses, and k_t control.

D's objective is L(x) - k_t L(G(z)), G's is L(G(z)), and after every G step k_t moves towards the equilibrium
E[L(G(z))] = gamma E[L(x)] (`seqgan.core.losses.began_equilibrium`, which also gives the convergence measure).
"""

from __future__ import annotations

import torch
from torch import nn

from seqgan.core.losses import began_d_loss, began_equilibrium, reconstruction_loss
from seqgan.image.image_pair import SavedParts, descend, frozen, latents, mixed_precision, real_batch, sample_images


class BEGANPair(SavedParts):
    """G, the autoencoder D, their optimizers and k_t.

    Args:
        generator: G, latents (B, Z) -> images (B, C, H, W).
        autoencoder: D, images -> reconstructions (B, C, H, W).
        images: the training set, uint8 (N, C, H, W), on the run's device.
        g_opt: G's optimizer.
        d_opt: D's optimizer.
        batch_size: B.
        latent_dim: Z.
        gamma: the diversity ratio (paper: 0.3 to 0.7; 0.5 here).
        lambda_k: k's gain (paper: 0.001).
        k: k_0 (paper: 0).
        bf16: forward passes under bfloat16 autocast (losses, k and the optimizers stay in float32).
    """

    def __init__(self, generator: nn.Module, autoencoder: nn.Module, images: torch.Tensor,
                 g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer, batch_size: int, latent_dim: int,
                 gamma: float = 0.5, lambda_k: float = 0.001, k: float = 0.0, bf16: bool = False) -> None:
        self.generator, self.discriminator, self.images = generator, autoencoder, images
        self.g_opt, self.d_opt = g_opt, d_opt
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.gamma, self.lambda_k, self.k = gamma, lambda_k, k
        self.device, self.bf16 = images.device, bf16
        self._loss_real = 0.0  # L(x) of the latest D step, for the k update after the next G step

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """One D update: minimise L(x) - k_t L(G(z)); returns d_loss, loss_real, loss_fake."""
        real = real_batch(self.images, self.batch_size, gen)  # (B, C, H, W)
        with mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device)).float()
            recon_real, recon_fake = self.discriminator(real).float(), self.discriminator(fake).float()
        loss_real, loss_fake = reconstruction_loss(real, recon_real), reconstruction_loss(fake, recon_fake)
        loss = began_d_loss(loss_real, loss_fake, self.k)
        descend(self.d_opt, loss)
        self._loss_real = loss_real.item()
        return {"d_loss": loss.item(), "loss_real": self._loss_real, "loss_fake_d": loss_fake.item()}

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One G update (minimise L(G(z))), then the k_t step; returns g_loss, k, m_global."""
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device))  # (B, C, H, W)
            recon = self.discriminator(fake)  # (B, C, H, W)
        loss = reconstruction_loss(fake.float(), recon.float())
        descend(self.g_opt, loss)
        self.k, m_global = began_equilibrium(self._loss_real, loss.item(), self.k, self.gamma, self.lambda_k)
        return {"g_loss": loss.item(), "k": self.k, "m_global": m_global}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] on the CPU."""
        return sample_images(self.generator, n, self.latent_dim, gen, self.device)

    def state_dict(self) -> dict:
        """Nets, optimizers, k_t and the latest L(x)."""
        return {**super().state_dict(), "k": self.k, "loss_real": self._loss_real}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of `state_dict`."""
        super().load_state_dict(state)
        self.k, self._loss_real = float(state["k"]), float(state["loss_real"])
