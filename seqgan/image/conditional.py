"""CGAN, ACGAN and InfoGAN as GANPairs: image GANs whose G is conditioned on a class or on latent codes.

All three feed G [z, onehot(c), u]: z ~ N(0, I), a class (or categorical code) c in 0..K-1 as a one-hot, and, for
InfoGAN only, L continuous codes u ~ U(-1, 1). The adversarial part is a `GANLoss` from LOSSES (the variant's
`loss`, so it stays swappable). What differs is only what D sees and which terms D and G add to the GAN loss:

    pair     D's input                  D's output        D adds                      G adds
    CGAN     image + K label planes     score             -                           -
    ACGAN    image                      score, K logits   CE(real, y) + CE(fake, c)   CE(fake, c)
    InfoGAN  image                      score, K + L (Q)  lambda (-L_I) on fakes      lambda (-L_I) on fakes

Each subclass holds its own row (`discriminate`, `d_extra`, `g_extra`); the steps, the code sampling and the
state are shared by `ConditionalPair`. B batch, C channels, H = W image size, Z latent size, K classes, L
continuous codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqgan.core.losses import GANLoss, class_loss, info_loss
from seqgan.image.image_pair import (
    SavedParts,
    descend,
    frozen,
    generate,
    latents,
    mixed_precision,
    real_batch,
    real_labelled_batch,
)


@dataclass(frozen=True)
class Codes:
    """What G is conditioned on besides z.

    Args:
        classes: (B,) int64 in 0..K-1: the class (CGAN, ACGAN) or the categorical code (InfoGAN).
        continuous: (B, L) float in [-1, 1]: InfoGAN's continuous codes; (B, 0) for the other pairs.
    """

    classes: torch.Tensor
    continuous: torch.Tensor


def label_planes(images: torch.Tensor, classes: torch.Tensor, k: int) -> torch.Tensor:
    """CGAN's D input: the images with K constant planes appended, plane y all ones for class y, the others zeros.

    Mirza & Osindero feed y to D beside x (the survey's Eq. 18: D(x|y)); for a conv D, y as constant planes
    reaches the first layer at every position. For the MLP D it is the same concatenation, flattened.

    Args:
        images: (B, C, H, W).
        classes: (B,) int64 in 0..K-1.
        k: K.
    """
    b, _, h, w = images.shape
    planes = F.one_hot(classes, k).to(images.dtype)[:, :, None, None].expand(b, k, h, w)  # (B, K, H, W)
    return torch.cat([images, planes], 1)  # (B, C + K, H, W)


class ConditionalPair(SavedParts):
    """G, D, their optimizers, and the update rules shared by the conditional pairs.

    Args:
        generator: G, inputs (B, Z + K + L) -> images (B, C, H, W).
        discriminator: D; its input and output sizes are the subclass's (see the module docstring).
        images: the training set, uint8 (N, C, H, W), on the run's device.
        labels: int64 (N,) class labels on the same device, or None (InfoGAN, or a pair built for sampling).
        loss: the adversarial loss pair.
        g_opt: G's optimizer.
        d_opt: D's optimizer.
        batch_size: B.
        latent_dim: Z.
        classes: K.
        continuous: L (InfoGAN only).
        bf16: forward passes under bfloat16 autocast (losses and optimizers stay in float32).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, images: torch.Tensor,
                 labels: torch.Tensor | None, loss: GANLoss, g_opt: torch.optim.Optimizer,
                 d_opt: torch.optim.Optimizer, batch_size: int, latent_dim: int, classes: int, continuous: int = 0,
                 bf16: bool = False) -> None:
        self.generator, self.discriminator, self.images, self.labels = generator, discriminator, images, labels
        self.loss, self.g_opt, self.d_opt = loss, g_opt, d_opt
        self.batch_size, self.latent_dim, self.classes, self.continuous = batch_size, latent_dim, classes, continuous
        self.device, self.bf16 = images.device, bf16

    # -- what each variant changes --

    def discriminate(self, images: torch.Tensor, codes: Codes | None) -> tuple[torch.Tensor, torch.Tensor]:
        """D's source scores (B,) and auxiliary outputs (B, A): by default D's first output and the rest.

        Args:
            images: (B, C, H, W) in [-1, 1].
            codes: what the images are conditioned on (None for real images without labels).
        """
        out = self.discriminator(images).float()  # (B, 1 + A)
        return out[:, 0], out[:, 1:]

    def d_extra(self, real_aux: torch.Tensor, real_codes: Codes | None, fake_aux: torch.Tensor,
                fake_codes: Codes) -> dict[str, torch.Tensor]:
        """Terms D adds to its GAN loss, by name (logged); none by default."""
        return {}

    def g_extra(self, fake_aux: torch.Tensor, fake_codes: Codes) -> dict[str, torch.Tensor]:
        """Terms G adds to its GAN loss, by name (logged); none by default."""
        return {}

    # -- shared --

    def draw_codes(self, n: int, gen: torch.Generator) -> Codes:
        """Codes for a training batch: classes uniform over 0..K-1, continuous codes U(-1, 1).

        Args:
            n: B.
            gen: the run's generator.
        """
        classes = torch.randint(self.classes, (n,), generator=gen, device=gen.device)  # (B,)
        continuous = torch.rand(n, self.continuous, generator=gen, device=gen.device) * 2 - 1  # (B, L)
        return Codes(classes.to(self.device), continuous.to(self.device))

    def g_input(self, z: torch.Tensor, codes: Codes) -> torch.Tensor:
        """G's input [z, onehot(c), u] (B, Z + K + L).

        Args:
            z: (B, Z) latents.
            codes: the classes or codes to condition on.
        """
        onehot = F.one_hot(codes.classes, self.classes).to(z.dtype)  # (B, K)
        return torch.cat([z, onehot, codes.continuous.to(z.dtype)], 1)  # (B, Z + K + L)

    def _real(self, gen: torch.Generator) -> tuple[torch.Tensor, Codes | None]:
        """A real batch (B, C, H, W) and, when the pair has labels, their Codes (drawn at the same indices)."""
        if self.labels is None:
            return real_batch(self.images, self.batch_size, gen), None
        images, labels = real_labelled_batch(self.images, self.labels, self.batch_size, gen)
        return images, Codes(labels, torch.zeros(len(labels), 0, device=self.device))

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """One D update: the GAN loss on a real and a generated batch plus the variant's terms; returns d_loss,
        d_real, d_fake (mean scores) and each extra term."""
        real, real_codes = self._real(gen)  # (B, C, H, W)
        codes = self.draw_codes(self.batch_size, gen)
        with mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                z = latents(self.batch_size, self.latent_dim, gen, self.device)  # (B, Z)
                fake = self.generator(self.g_input(z, codes)).float()  # (B, C, H, W)
            real_out, real_aux = self.discriminate(real, real_codes)  # (B,), (B, A)
            fake_out, fake_aux = self.discriminate(fake, codes)
        extra = self.d_extra(real_aux, real_codes, fake_aux, codes)
        loss = sum(extra.values(), self.loss.d(real_out, fake_out))
        descend(self.d_opt, loss)
        return {"d_loss": loss.item(), "d_real": real_out.mean().item(), "d_fake": fake_out.mean().item(),
                **{name: value.item() for name, value in extra.items()}}

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One G update through D (whose weights get no gradient); returns g_loss and each extra term."""
        codes = self.draw_codes(self.batch_size, gen)
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            z = latents(self.batch_size, self.latent_dim, gen, self.device)  # (B, Z)
            fake = self.generator(self.g_input(z, codes))  # (B, C, H, W)
            fake_out, fake_aux = self.discriminate(fake, codes)  # (B,), (B, A)
        extra = self.g_extra(fake_aux, codes)
        loss = sum(extra.values(), self.loss.g(fake_out))
        descend(self.g_opt, loss)
        return {"g_loss": loss.item(), **{name: value.item() for name, value in extra.items()}}

    def balanced_labels(self, n: int) -> torch.Tensor:
        """The classes `sample(n)` conditions on: i % K for image i (every class equally often), (n,) on the CPU."""
        return torch.arange(n) % self.classes

    def sample_with_labels(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One image per requested class (or categorical code) (n, C, H, W) in [-1, 1] on the CPU, G in eval mode.

        Args:
            labels: (n,) int64 in 0..K-1.
            gen: draws z (and InfoGAN's continuous codes); any device.
        """
        n = len(labels)
        z = latents(n, self.latent_dim, gen, self.device)  # (n, Z)
        continuous = (torch.rand(n, self.continuous, generator=gen, device=gen.device) * 2 - 1).to(self.device)
        return generate(self.generator, self.g_input(z, Codes(labels.to(self.device), continuous)))

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] on the CPU, image i of class i % K (`balanced_labels`)."""
        return self.sample_with_labels(self.balanced_labels(n), gen)


class CGANPair(ConditionalPair):
    """CGAN (Mirza & Osindero, 2014; the survey's Eq. 18-20): D(x|y) sees the class as K label planes (D is built
    with C + K input channels and one output); the loss is the plain GAN loss."""

    def discriminate(self, images: torch.Tensor, codes: Codes | None) -> tuple[torch.Tensor, torch.Tensor]:
        """D's scores (B,) of the images under their classes; no auxiliary outputs (B, 0)."""
        out = self.discriminator(label_planes(images, codes.classes, self.classes)).float()  # (B,)
        return out, out.new_zeros(len(out), 0)


class ACGANPair(ConditionalPair):
    """ACGAN (Odena et al., 2017, Section 3): D outputs a source score and K class logits (1 + K outputs).

    D maximises L_S + L_C and G maximises L_C - L_S; L_S is the GAN loss here (non-saturating for G, as usual) and
    -L_C the class cross-entropy: on real images with their labels and on generated ones with their sampled
    classes for D, on generated ones for G.
    """

    def d_extra(self, real_aux: torch.Tensor, real_codes: Codes | None, fake_aux: torch.Tensor,
                fake_codes: Codes) -> dict[str, torch.Tensor]:
        """-L_C for D: cross-entropy of the class logits on real (true labels) and generated (sampled) images."""
        return {"d_class_real": class_loss(real_aux, real_codes.classes),
                "d_class_fake": class_loss(fake_aux, fake_codes.classes)}

    def g_extra(self, fake_aux: torch.Tensor, fake_codes: Codes) -> dict[str, torch.Tensor]:
        """-L_C for G: cross-entropy of D's class logits on G's images against the classes G was given."""
        return {"g_class": class_loss(fake_aux, fake_codes.classes)}


Q_LEAK = 0.1  # the LeakyReLU slope of InfoGAN's MNIST nets (Chen et al., Appendix C.1)


class QHeadDiscriminator(nn.Module):
    """InfoGAN's D with its own Q head (Chen et al., Appendix C.1): D's trunk features f(x) feed D's linear head
    (the source score) and Q, a fully connected layer with batch norm and LeakyReLU, then a linear layer to the
    code outputs. `forward` returns (B, 1 + A), the score first: the layout `InfoGANPair` reads.

    Args:
        trunk: a D with `features(images) -> (B, F)`, `feature_dim` F and a linear `head` F -> 1.
        hidden: Q's hidden units (paper: 128).
        outputs: A = K + L, Q's outputs (categorical logits, continuous means).
    """

    def __init__(self, trunk: nn.Module, hidden: int, outputs: int) -> None:
        super().__init__()
        if not hasattr(trunk, "features"):
            raise ValueError("this net's D exposes no features for a separate Q head; use --net dcgan, mlp or "
                             "began, or --set model.q_hidden=0")
        self.trunk = trunk
        self.q = nn.Sequential(nn.Linear(trunk.feature_dim, hidden), nn.BatchNorm1d(hidden),
                               nn.LeakyReLU(Q_LEAK, inplace=True), nn.Linear(hidden, outputs))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The source score and Q's outputs (B, 1 + A) of images (B, C, H, W)."""
        features = self.trunk.features(images)  # (B, F), shared by D and Q
        return torch.cat([self.trunk.head(features), self.q(features)], 1)  # (B, 1 + A)


class InfoGANPair(ConditionalPair):
    """InfoGAN (Chen et al., 2016; the survey's Eq. 29-31): min_{G,Q} max_D V(D, G) - lambda L_I(G, Q).

    Q shares D's body. With `model.q_hidden` = 0 it is K + L extra outputs of D's last layer (1 + K + L outputs
    in all), a simplification; with `model.q_hidden` > 0 it is the paper's own head on D's features
    (`QHeadDiscriminator`). -lambda L_I is added to D's loss (which trains Q and the shared body) and to G's;
    real images and labels are never used for it.

    Args:
        info_weight: lambda (paper: 1).
        cont_weight: weight of the continuous codes' Gaussian NLL inside L_I.
        (the rest as for ConditionalPair)
    """

    def __init__(self, *args, info_weight: float = 1.0, cont_weight: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.info_weight, self.cont_weight = info_weight, cont_weight

    def _info(self, aux: torch.Tensor, codes: Codes) -> torch.Tensor:
        """lambda (-L_I) of Q's outputs (B, K + L) on G's images against the codes G was given."""
        k = self.classes
        return self.info_weight * info_loss(aux[:, :k], codes.classes, aux[:, k:], codes.continuous,
                                            self.cont_weight)

    def d_extra(self, real_aux: torch.Tensor, real_codes: Codes | None, fake_aux: torch.Tensor,
                fake_codes: Codes) -> dict[str, torch.Tensor]:
        """lambda (-L_I) for Q (D's head) on the generated batch."""
        return {"d_info": self._info(fake_aux, fake_codes)}

    def g_extra(self, fake_aux: torch.Tensor, fake_codes: Codes) -> dict[str, torch.Tensor]:
        """lambda (-L_I) for G: its images should let Q recover their codes."""
        return {"g_info": self._info(fake_aux, fake_codes)}


def class_grid(pair: ConditionalPair, per_class: int, gen: torch.Generator) -> torch.Tensor:
    """K x per_class images (K * per_class, C, H, W), row-major: row y holds `per_class` samples of class y.

    Args:
        pair: a conditional pair.
        per_class: images per row.
        gen: draws the latents.
    """
    labels = torch.arange(pair.classes).repeat_interleave(per_class)  # (K * per_class,)
    return pair.sample_with_labels(labels, gen)
