"""LAPGAN's per-level nets after Denton et al. (2015, Section 4 and their CIFAR-10 models), `model.lapgan_nets=denton`.

- The coarsest level (an unconditional GAN on the smallest images): fully connected nets, G with two hidden
  layers of 1200 ReLU units, D with two hidden layers of 600 ReLU units and dropout (0.2 on the input, 0.5 on
  the hidden layers).
- Every finer level k: G_k is three 5x5 convolutions (ReLU and batch norm on the hidden two) on the upsampled
  coarser image with the noise as one more image plane (`seqgan.image.lapgan.ConvResidualGenerator` with 5x5
  kernels); D_k is two 5x5 convolutions with ReLU on the residual and its condition (2C channels), dropout 0.5,
  and a linear layer to the score. Our D_k convolutions have stride 2 (the paper's do not downsample), which
  keeps its cost on one CPU core near a DCGAN D's.
- Widths: level k has `width * 2^k` channels (the paper: more maps at the coarser conv level, 128 vs 64 for
  CIFAR-10; here 64 at 14x14 and 32 at 28x28 with width 32).

The defaults otherwise follow `seqgan.image.lapgan`: G_k ends in tanh and its output is projected to zero 2x2
block means. Initialisation: PyTorch's defaults, seeded from the run's init generator.
B batch, C channels, h = w the level's size, Z latent size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqgan.image.lapgan import ConvResidualGenerator, PairDiscriminator
from seqgan.image.nets import seeded_default_init

COARSE_G_HIDDEN = 1200
COARSE_D_HIDDEN = 600
KERNEL = 5


class CoarseGenerator(nn.Module):
    """The coarsest level's G: Z -> 1200 -> 1200 (ReLU) -> C*h*w, tanh.

    Args:
        latent_dim: Z.
        image_shape: (C, h, w) of the coarsest level.
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(nn.Linear(latent_dim, COARSE_G_HIDDEN), nn.ReLU(inplace=True),
                                 nn.Linear(COARSE_G_HIDDEN, COARSE_G_HIDDEN), nn.ReLU(inplace=True),
                                 nn.Linear(COARSE_G_HIDDEN, math.prod(image_shape)), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, h, w) from latents (B, Z)."""
        return self.net(z).view(len(z), *self.image_shape)


class CoarseDiscriminator(nn.Module):
    """The coarsest level's D: dropout 0.2, C*h*w -> 600 -> 600 (ReLU, dropout 0.5) -> 1.

    Args:
        image_shape: (C, h, w) of the coarsest level.
    """

    def __init__(self, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(0.2), nn.Linear(math.prod(image_shape), COARSE_D_HIDDEN),
                                 nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(COARSE_D_HIDDEN, COARSE_D_HIDDEN),
                                 nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(COARSE_D_HIDDEN, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of images (B, C, h, w)."""
        return self.net(images.flatten(1)).squeeze(1)


class ResidualDiscriminator(nn.Module):
    """A finer level's D on (residual, condition) stacked as 2C channels: two 5x5 convs with stride 2 and ReLU,
    dropout 0.5, linear to the score.

    Args:
        channels: the input's channels (2C).
        image_size: h = w of the level.
        width: the convs' channels.
    """

    def __init__(self, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        size = image_size
        layers: list[nn.Module] = []
        c_in = channels
        for _ in range(2):
            layers += [nn.Conv2d(c_in, width, KERNEL, 2, KERNEL // 2), nn.ReLU(inplace=True)]
            size, c_in = (size + 1) // 2, width  # stride 2, padding 2, kernel 5: ceil(size / 2)
        self.body = nn.Sequential(*layers, nn.Dropout(0.5))
        self.head = nn.Linear(width * size * size, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of (B, 2C, h, w) inputs."""
        return self.head(self.body(images).flatten(1)).squeeze(1)


def denton_level(k: int, coarsest: bool, channels: int, size: int, latent_dim: int, width: int,
                 batch_norm: bool, gen: torch.Generator) -> tuple[nn.Module, nn.Module]:
    """(G_k, D_k) of level k (images of size `size`): the coarse MLPs, or the residual conv nets wrapped as the
    pair expects (`ConvResidualGenerator`, `PairDiscriminator`).

    Args:
        k: the level (0 = full size).
        coarsest: whether it is the unconditional coarsest level.
        channels: C.
        size: h = w of the level.
        latent_dim: Z.
        width: the model's width; level k has width * 2^k channels.
        batch_norm: batch norm in G_k's hidden convs.
        gen: the run's init generator.
    """
    if coarsest:
        shape = (channels, size, size)
        return seeded_default_init(gen, lambda: (CoarseGenerator(latent_dim, shape), CoarseDiscriminator(shape)))
    level_width = width * 2 ** k
    return seeded_default_init(gen, lambda: (
        ConvResidualGenerator(latent_dim, channels, size, level_width, batch_norm, kernel=KERNEL),
        PairDiscriminator(ResidualDiscriminator(2 * channels, size, level_width))))
