"""SSGAN, the semi-supervised GAN (Salimans et al., 2016, "Improved Techniques for Training GANs", Section 5;
Odena, 2016), as a GANPair: D is a K-class classifier whose K + 1-th class, "generated", has its logit fixed at 0.

With D's K logits l(x) and Z(x) = sum_k exp(l_k(x)), the fake class's softmax share is 1 / (Z + 1), so

    D(x) = Z(x) / (Z(x) + 1) = sigmoid(logsumexp_k l_k(x))                    (Salimans et al., Section 5)

The source logit is s(x) = logsumexp(l(x)), and the paper's unsupervised loss is the usual GAN loss of s:
-log D(x) = softplus(-s(x)) on real, -log(1 - D(G(z))) = softplus(s(G(z))) on generated images, i.e. a `GANLoss`
from LOSSES applied to s. D's loss = L_supervised (cross-entropy of the K logits on the small labelled subset;
the survey's Section 3.8, Semi-GAN: labels enter D's training) + L_unsupervised (on the other training images
and G's).

G: by default the non-saturating G loss on log D (`loss.g(s(G(z)))`); with `train.feature_matching` the paper's
feature matching (Section 3.1), which works better for classification: G matches the batch mean of D's last
hidden features f (what D's output layer reads) on real unlabelled images and on its own,
||E f(x) - E f(G(z))||^2 averaged over the features (`feature_matching_loss`; the authors' code takes the mean
where the paper writes the sum, which only rescales it). B batch, C channels, H = W image size, Z latent size,
K classes, N images, F D's features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqgan.core.losses import GANLoss, class_loss
from seqgan.image.image_pair import (
    SavedParts,
    as_unit_range,
    descend,
    frozen,
    latents,
    mixed_precision,
    real_batch,
    real_labelled_batch,
    sample_images,
)


def source_logit(logits: torch.Tensor) -> torch.Tensor:
    """s = logsumexp of D's K class logits (B,): D(x) = sigmoid(s) = Z / (Z + 1) (fake logit fixed at 0).

    Args:
        logits: (B, K) D's class logits.
    """
    return torch.logsumexp(logits, dim=1)  # (B,)


def unsupervised_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Salimans et al.'s L_unsupervised: -log D(x) - log(1 - D(G(z))), batch means, D(x) = Z / (Z + 1).

    Args:
        real_logits: (B, K) D's logits on real (unlabelled) images.
        fake_logits: (B, K) D's logits on generated images.
    """
    # -log(Z / (Z + 1)) = softplus(-s); -log(1 / (Z + 1)) = softplus(s): stable for any logits
    return F.softplus(-source_logit(real_logits)).mean() + F.softplus(source_logit(fake_logits)).mean()


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Salimans et al.'s feature matching for G: the mean over features of (E f(x) - E f(G(z)))^2, the
    expectations being batch means.

    Args:
        real_features: (B, F) D's features of real images (a constant for G).
        fake_features: (B', F) D's features of generated images.
    """
    return (real_features.mean(0) - fake_features.mean(0)).pow(2).mean()


def labelled_subset(labels: torch.Tensor, n: int, classes: int, seed: int) -> torch.Tensor:
    """Indices (n,) of n labelled training images, n / K per class, drawn without replacement with `seed`,
    sorted by class then index order of the draw.

    Args:
        labels: (N,) int64 training labels in 0..K-1.
        n: how many labelled images (a multiple of K).
        classes: K.
        seed: the run's seed.
    """
    if n % classes:
        raise ValueError(f"train.labelled={n} is not a multiple of the {classes} classes; use e.g. {classes * 10}")
    gen = torch.Generator().manual_seed(seed)
    per_class = n // classes
    picked = []
    for k in range(classes):
        members = (labels.cpu() == k).nonzero().squeeze(1)  # (N_k,)
        if len(members) < per_class:
            raise ValueError(f"class {k} has {len(members)} training images, fewer than train.labelled / K = "
                             f"{per_class}; lower train.labelled")
        picked.append(members[torch.randperm(len(members), generator=gen)[:per_class]])
    return torch.cat(picked)  # (n,)


@torch.no_grad()
def classify(discriminator: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """D's predicted classes (N,) int64 on the CPU: argmax of its K logits, in eval mode (batch-norm running
    statistics), so the prediction of an image does not depend on the others in its batch.

    Args:
        discriminator: D with K outputs.
        images: uint8 (N, C, H, W) in [0, 255] or float in [-1, 1], on D's device.
        batch_size: images per forward pass.
    """
    was_training = discriminator.training
    discriminator.eval()
    try:
        out = []
        for i in range(0, len(images), batch_size):
            chunk = images[i:i + batch_size]
            out.append(discriminator(as_unit_range(chunk)).float().argmax(1).cpu())  # (b,)
        return torch.cat(out)
    finally:
        discriminator.train(was_training)


class SSGANPair(SavedParts):
    """G, the K-way classifier D, their optimizers, and the semi-supervised update rules.

    Args:
        generator: G, latents (B, Z) -> images (B, C, H, W).
        discriminator: D, images -> K class logits (B, K).
        images: the unlabelled training images, uint8 (N, C, H, W), on the run's device.
        labelled_images: the labelled subset, uint8 (L, C, H, W), on the same device.
        labelled_classes: their labels (L,) int64.
        loss: the adversarial loss applied to the source logit logsumexp(l) (non-saturating by default).
        g_opt: G's optimizer.
        d_opt: D's optimizer.
        batch_size: B, for the unlabelled, the labelled and the generated batch.
        latent_dim: Z.
        unsupervised_weight: weight of the GAN terms in D's loss (0 = D is a plain classifier of the labelled
            subset: the supervised-only baseline, same net and schedule).
        bf16: forward passes under bfloat16 autocast (losses and optimizers stay in float32).
        feature_matching: G's objective is `feature_matching_loss` on D's `features` instead of loss.g.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, images: torch.Tensor,
                 labelled_images: torch.Tensor, labelled_classes: torch.Tensor, loss: GANLoss,
                 g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer, batch_size: int, latent_dim: int,
                 unsupervised_weight: float = 1.0, bf16: bool = False, feature_matching: bool = False) -> None:
        self.generator, self.discriminator, self.images = generator, discriminator, images
        self.labelled_images, self.labelled_classes = labelled_images, labelled_classes
        self.loss, self.g_opt, self.d_opt = loss, g_opt, d_opt
        self.batch_size, self.latent_dim, self.unsupervised_weight = batch_size, latent_dim, unsupervised_weight
        self.device, self.bf16, self.feature_matching = images.device, bf16, feature_matching

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """One D update: L_supervised on a labelled batch + weight x L_unsupervised on an unlabelled and a
        generated batch; returns d_loss, d_class, d_real, d_fake (mean source logits)."""
        labelled, classes = real_labelled_batch(self.labelled_images, self.labelled_classes, self.batch_size, gen)
        real = real_batch(self.images, self.batch_size, gen)  # (B, C, H, W)
        with mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device)).float()
            class_logits = self.discriminator(labelled).float()  # (B, K)
            real_s = source_logit(self.discriminator(real).float())  # (B,)
            fake_s = source_logit(self.discriminator(fake).float())  # (B,)
        supervised = class_loss(class_logits, classes)
        loss = supervised + self.unsupervised_weight * self.loss.d(real_s, fake_s)
        descend(self.d_opt, loss)
        return {"d_loss": loss.item(), "d_class": supervised.item(), "d_real": real_s.mean().item(),
                "d_fake": fake_s.mean().item()}

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One G update through D (whose weights get no gradient): the NS loss -log D(G(z)) on the source
        logit, or feature matching against a batch of unlabelled real images; returns g_loss."""
        if self.feature_matching:
            return self._feature_matching_step(gen)
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device))  # (B, C, H, W)
            fake_s = source_logit(self.discriminator(fake).float())  # (B,)
        loss = self.loss.g(fake_s)
        descend(self.g_opt, loss)
        return {"g_loss": loss.item()}

    def _feature_matching_step(self, gen: torch.Generator) -> dict[str, float]:
        """G's feature-matching update (`feature_matching_loss` of D's features, D in training mode as in the
        authors' code); returns g_loss."""
        real = real_batch(self.images, self.batch_size, gen)  # (B, C, H, W)
        with frozen(self.discriminator), mixed_precision(self.device, self.bf16):
            with torch.no_grad():
                real_features = self.discriminator.features(real).float()  # (B, F)
            fake = self.generator(latents(self.batch_size, self.latent_dim, gen, self.device))  # (B, C, H, W)
            fake_features = self.discriminator.features(fake).float()  # (B, F)
        loss = feature_matching_loss(real_features, fake_features)
        descend(self.g_opt, loss)
        return {"g_loss": loss.item()}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] on the CPU (G in eval mode)."""
        return sample_images(self.generator, n, self.latent_dim, gen, self.device)
