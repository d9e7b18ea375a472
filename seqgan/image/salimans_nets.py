"""Salimans et al.'s MNIST nets ("Improved Techniques for Training GANs", 2016; their semi-supervised MNIST
code), `--net salimans-mlp`: fully connected, with weight normalisation, and Gaussian noise layers in D.

G: Z -> 500 -> 500 (softplus, batch norm) -> C*H*W, weight-normalised output layer, tanh (their sigmoid, for
images in [0, 1]; ours are in [-1, 1]).
D: Gaussian noise (std 0.3) on the input, then weight-normalised layers of 1000, 500, 250, 250, 250 ReLU units,
each followed by Gaussian noise (std 0.5), and a weight-normalised output layer. The noise is drawn in
training mode only (from the global generator, which checkpoints save), so D classifies deterministically in
eval mode. Its `features` are the last 250-unit layer's activations (before that layer's noise): the layer
their feature matching reads. Weight normalisation without their data-dependent initialisation; PyTorch's
default initialisation, seeded from the run's init generator.
B batch, Z latent size, C channels, H = W image size.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from seqgan.image.nets import NetSpec, seeded_default_init

G_HIDDEN = (500, 500)
D_HIDDEN = (1000, 500, 250, 250, 250)
INPUT_NOISE, HIDDEN_NOISE = 0.3, 0.5


class GaussianNoise(nn.Module):
    """x + std * N(0, 1) noise in training mode; x in eval mode.

    Args:
        std: the noise's standard deviation.
    """

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, ...) with noise added while training."""
        return x + self.std * torch.randn_like(x) if self.training else x


class SalimansGenerator(nn.Module):
    """Z -> 500 -> 500 (softplus, batch norm) -> C*H*W (weight norm), tanh.

    Args:
        latent_dim: Z.
        image_shape: (C, H, W).
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for hidden in G_HIDDEN:
            layers += [nn.Linear(width, hidden), nn.Softplus(), nn.BatchNorm1d(hidden)]
            width = hidden
        self.net = nn.Sequential(*layers, weight_norm(nn.Linear(width, math.prod(image_shape))), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) from latents (B, Z)."""
        return self.net(z).view(len(z), *self.image_shape)


class SalimansDiscriminator(nn.Module):
    """Noise 0.3, [weight-normalised dense, ReLU, noise 0.5] x (1000, 500, 250, 250, 250), weight-normalised
    output layer.

    Args:
        image_shape: (C, H, W).
        out_dim: 1 for a score; K for SSGAN's class logits.
    """

    def __init__(self, image_shape: tuple[int, int, int], out_dim: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [GaussianNoise(INPUT_NOISE)]
        width = math.prod(image_shape)
        for hidden in D_HIDDEN:
            layers += [weight_norm(nn.Linear(width, hidden)), nn.ReLU(inplace=True), GaussianNoise(HIDDEN_NOISE)]
            width = hidden
        self.body = nn.Sequential(*layers[:-1])  # up to the last hidden layer's activations (the features)
        self.last_noise = layers[-1]
        self.feature_dim, self.out_dim = width, out_dim
        self.head = weight_norm(nn.Linear(width, out_dim))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations (B, 250)."""
        return self.body(images.flatten(1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) (or outputs (B, out_dim)) of images (B, C, H, W)."""
        out = self.head(self.last_noise(self.features(images)))
        return out.squeeze(1) if self.out_dim == 1 else out


def build(spec: NetSpec, d_out: int, gen: torch.Generator) -> tuple[nn.Module, nn.Module]:
    """`--net salimans-mlp`: G and D, PyTorch's default initialisation seeded from `gen`; the spec's width and
    batch-norm switches do not apply (the paper's nets are fixed)."""
    return seeded_default_init(gen, lambda: (SalimansGenerator(spec.latent_dim, spec.image_shape),
                                             SalimansDiscriminator(spec.image_shape, d_out)))
