"""The VAE baseline (Kingma & Welling, 2014) as a GANPair, so it trains, resumes and is scored like the GANs.

The decoder is the variant's G (tanh output in [-1, 1], read as Bernoulli means (x + 1) / 2); the encoder is D's
body with 2Z outputs (mean and log-variance of q(z|x)). `g_step` is one ELBO step; there are no D steps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.image.image_pair import SavedParts, descend, mixed_precision, real_batch, sample_images


def negative_elbo(images: torch.Tensor, decoded: torch.Tensor, mean: torch.Tensor,
                  log_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(-ELBO, reconstruction NLL, KL) per image, averaged over the batch (Kingma & Welling, Eq. 10 and App. B).

    Args:
        images: (B, C, H, W) in [-1, 1]; targets (x + 1) / 2 in [0, 1].
        decoded: (B, C, H, W) decoder output in [-1, 1]; Bernoulli means (y + 1) / 2.
        mean: (B, Z) of q(z|x).
        log_var: (B, Z) log-variance of q(z|x).
    """
    b = images.shape[0]
    recon = F.binary_cross_entropy((decoded + 1) / 2, (images + 1) / 2, reduction="sum") / b
    kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum() / b
    return recon + kl, recon, kl


class VAEPair(SavedParts):
    """Encoder, decoder (= G), one optimizer over both.

    Args:
        decoder: G, latents (B, Z) -> images (B, C, H, W) in [-1, 1].
        encoder: images -> (B, 2Z): mean and log-variance.
        images: the training set, uint8 (N, C, H, W), on the run's device.
        opt: optimizer over encoder and decoder parameters.
        batch_size: B.
        latent_dim: Z.
        bf16: forward passes under bfloat16 autocast (the ELBO and the optimizer stay in float32).
    """

    PARTS = ("generator", "discriminator", "opt")  # decoder, encoder, their one optimizer

    def __init__(self, decoder: nn.Module, encoder: nn.Module, images: torch.Tensor, opt: torch.optim.Optimizer,
                 batch_size: int, latent_dim: int, bf16: bool = False) -> None:
        self.generator, self.discriminator, self.images, self.opt = decoder, encoder, images, opt
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.device, self.bf16 = images.device, bf16

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One ELBO step on a real batch (reparameterised z); returns g_loss (-ELBO), recon, kl (nats/image)."""
        real = real_batch(self.images, self.batch_size, gen)  # (B, C, H, W)
        with mixed_precision(self.device, self.bf16):
            mean, log_var = self.discriminator(real).float().chunk(2, dim=1)  # (B, Z), (B, Z)
        noise = torch.randn(mean.shape, generator=gen, device=gen.device).to(self.device)  # (B, Z)
        z = mean + (0.5 * log_var).exp() * noise  # (B, Z)
        with mixed_precision(self.device, self.bf16):
            decoded = self.generator(z).float()  # (B, C, H, W)
        loss, recon, kl = negative_elbo(real, decoded, mean, log_var)
        descend(self.opt, loss)
        return {"g_loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """A VAE has no discriminator step; kept for the GANPair protocol."""
        return {}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n decoded prior samples (n, C, H, W) in [-1, 1] on the CPU (the decoder's means, as for G)."""
        return sample_images(self.generator, n, self.latent_dim, gen, self.device)
