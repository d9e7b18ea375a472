"""BiGAN (Donahue et al., 2017) / ALI (Dumoulin et al., 2017) as a GANPair: an encoder E: x -> z beside G: z -> x,
and a D that scores joint pairs (x, z).

D tells (x, E(x)), x from the data, labelled real, from (G(z), z), z ~ N(0, I), labelled fake; E and G play
against it together (Donahue et al., Section 3; the survey's Section 3.8 names BiGAN for feature learning):

    min_{G,E} max_D  E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))]

E and G minimise D's loss with real and fake exchanged, -log(1 - D(x, E(x))) - log D(G(z), z): the
non-saturating form (Donahue et al. train with this "inverse" objective as well, Section 3.4). E is
deterministic (D's image body with Z outputs), as in BiGAN. B batch, C channels, H = W image size, Z latent
size, F D's image features.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from seqgan.core.losses import GANLoss
from seqgan.image.data import to_unit_range
from seqgan.image.image_pair import SavedParts, descend, frozen, latents, mixed_precision, real_batch, sample_images

LEAK = 0.2


class JointDiscriminator(nn.Module):
    """D(x, z): an image body to F features and (optionally) a z path, concatenated, then an MLP to one score.

    With the defaults, z joins as it is and the MLP has one hidden layer of 256 (no dropout). ALI's D
    (Dumoulin et al., Appendix A) gives z its own layers and has several joint layers, with dropout 0.2 in
    both: `z_hidden` > 0 adds a z path of two LeakyReLU layers of that width, `layers` joint hidden layers of
    width `hidden`, and `dropout` before every linear layer of the z path and the joint MLP. A D that can relate
    x to z, not only judge each alone, is what makes E invert G (with a weak joint, E need only match the prior).

    Args:
        image_body: images (B, C, H, W) -> features (B, F) (build_nets' D with d_out = F).
        features: F.
        latent_dim: Z.
        hidden: width of the joint hidden layers.
        z_hidden: width of the z path's two layers (0 = no z path).
        layers: joint hidden layers.
        dropout: dropout probability in the z path and the joint MLP (0 = none).
    """

    def __init__(self, image_body: nn.Module, features: int, latent_dim: int, hidden: int = 256,
                 z_hidden: int = 0, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.image_body = image_body

        def dense(n_in: int, n_out: int) -> list[nn.Module]:
            return [nn.Dropout(dropout), nn.Linear(n_in, n_out)] if dropout else [nn.Linear(n_in, n_out)]

        # (the z path's last activation is the joint's first LeakyReLU, which also activates the image features)
        self.z_path = (nn.Sequential(*dense(latent_dim, z_hidden), nn.LeakyReLU(LEAK), *dense(z_hidden, z_hidden))
                       if z_hidden else nn.Identity())
        joint: list[nn.Module] = [nn.LeakyReLU(LEAK)]
        width = features + (z_hidden or latent_dim)
        for _ in range(layers):
            joint += [*dense(width, hidden), nn.LeakyReLU(LEAK)]
            width = hidden
        self.joint = nn.Sequential(*joint, *dense(width, 1))

    def forward(self, images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of pairs: images (B, C, H, W) with latents (B, Z)."""
        features = self.image_body(images)  # (B, F)
        z_features = self.z_path(z.to(features.dtype))  # (B, Z) or (B, z_hidden)
        return self.joint(torch.cat([features, z_features], 1)).squeeze(1)  # (B,)


@contextlib.contextmanager
def eval_mode(*nets: nn.Module) -> Iterator[None]:
    """The nets in eval mode inside the block, each back in its own mode after it (the scores read E and G so)."""
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)


@torch.no_grad()
def latent_recon_mse(encoder: nn.Module, generator: nn.Module, z: torch.Tensor) -> float:
    """Mean squared error of E(G(z)) against z, over images and latent dimensions, both nets in eval mode: how
    well E inverts G.

    Args:
        encoder: E, images -> (B, Z).
        generator: G, (B, Z) -> images.
        z: (n, Z) latents on the nets' device.
    """
    with eval_mode(encoder, generator):
        z_hat = encoder(generator(z).float()).float()  # (n, Z)
        return (z_hat - z).pow(2).mean().item()


@torch.no_grad()
def reconstruct(encoder: nn.Module, generator: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """G(E(x)) (N, C, H, W) in [-1, 1] on the CPU, both nets in eval mode (G's output clamped, as when sampling).

    Args:
        encoder: E, images -> (B, Z).
        generator: G, (B, Z) -> images.
        images: uint8 (N, C, H, W) on the nets' device.
        batch_size: images per forward pass.
    """
    with eval_mode(encoder, generator):
        return torch.cat([generator(encoder(to_unit_range(images[i:i + batch_size])).float()).float().clamp(-1, 1).cpu()
                          for i in range(0, len(images), batch_size)])


class BiGANPair(SavedParts):
    """G, E, the joint D, the optimizers (one over G and E together) and BiGAN's update rules.

    Args:
        generator: G, latents (B, Z) -> images (B, C, H, W).
        encoder: E, images (B, C, H, W) -> latents (B, Z).
        discriminator: D(x, z) -> scores (B,).
        images: the training set, uint8 (N, C, H, W), on the run's device.
        loss: the adversarial loss (D's side; E and G minimise it with real and fake swapped).
        g_opt: the optimizer over G's and E's parameters.
        d_opt: D's optimizer.
        batch_size: B.
        latent_dim: Z.
        bf16: forward passes under bfloat16 autocast (losses and optimizers stay in float32).
    """

    PARTS = ("generator", "encoder", "discriminator", "g_opt", "d_opt")  # g_opt trains G and E together

    def __init__(self, generator: nn.Module, encoder: nn.Module, discriminator: nn.Module, images: torch.Tensor,
                 loss: GANLoss, g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer, batch_size: int,
                 latent_dim: int, bf16: bool = False) -> None:
        self.generator, self.encoder, self.discriminator, self.images = generator, encoder, discriminator, images
        self.loss, self.g_opt, self.d_opt = loss, g_opt, d_opt
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.device, self.bf16 = images.device, bf16

    def _pairs(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x, E(x)) from a real batch and (G(z), z) from fresh latents: (B, C, H, W), (B, Z) twice."""
        real = real_batch(self.images, self.batch_size, gen)  # (B, C, H, W)
        z = latents(self.batch_size, self.latent_dim, gen, self.device)  # (B, Z)
        return real, self.encoder(real).float(), self.generator(z).float(), z

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """One D update on (x, E(x)) as real and (G(z), z) as fake (E and G get no gradient); returns d_loss,
        d_real, d_fake (mean scores)."""
        with mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                real, z_real, fake, z_fake = self._pairs(gen)
            real_out = self.discriminator(real, z_real).float()  # (B,)
            fake_out = self.discriminator(fake, z_fake).float()  # (B,)
        loss = self.loss.d(real_out, fake_out)
        descend(self.d_opt, loss)
        return {"d_loss": loss.item(), "d_real": real_out.mean().item(), "d_fake": fake_out.mean().item()}

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One joint update of G and E through D (whose weights get no gradient): D's loss with real and fake
        swapped; returns g_loss."""
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            real, z_real, fake, z_fake = self._pairs(gen)
            real_out = self.discriminator(real, z_real).float()  # (B,)
            fake_out = self.discriminator(fake, z_fake).float()  # (B,)
        loss = self.loss.d(fake_out, real_out)  # swapped labels: E wants (x, E(x)) to look fake, G the reverse
        descend(self.g_opt, loss)
        return {"g_loss": loss.item()}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] on the CPU (G in eval mode)."""
        return sample_images(self.generator, n, self.latent_dim, gen, self.device)
