"""InfoGAN's MNIST nets (Chen et al., 2016, Appendix C.1), `--net infogan`; Lucic et al. (2018) use the same
nets for every loss on MNIST and Fashion-MNIST.

G: FC 1024 (ReLU, BN), FC 128 x S0 x S0 (ReLU, BN), 4x4 transposed convs of stride 2 halving the channels (ReLU,
BN), the last to C channels, tanh (the paper's output is an image in [0, 1]; ours are in [-1, 1]).
D: 4x4 convs of stride 2 (64 channels, doubling; LeakyReLU 0.1, BN on all but the first), FC 1024 (LeakyReLU
0.1, BN), a linear head. Its `features` are the FC 1024 layer's activations: what the paper's Q head and
SSGAN's feature matching read. On 28x28 images the plan is S0 = 7 with 2 stages (64, 128 channels), as in the
paper; other sizes follow `seqgan.image.nets.conv_plan` (cropped / padded as the DCGAN nets).
B batch, Z latent size, C channels, H = W image size.
"""

from __future__ import annotations

import torch
from torch import nn

from seqgan.image.nets import NetSpec, center_crop, conv_plan, dcgan_init_, pad_to_plan

HIDDEN = 1024  # the FC layer of both nets
LEAK = 0.1  # the paper's LeakyReLU slope
D_WIDTH = 64  # D's first conv; G's last hidden stage has the same


class InfoGANGenerator(nn.Module):
    """Z -> FC 1024 -> FC (64 * 2^(N-1), S0, S0) -> N - 1 upconvs to 64 channels -> an upconv to C, tanh.

    Args:
        latent_dim: Z (the paper: 62 noise + 10 categorical + 2 continuous = 74).
        channels: C.
        image_size: H = W; the output is centre-cropped to it when the plan overshoots.
    """

    def __init__(self, latent_dim: int, channels: int, image_size: int) -> None:
        super().__init__()
        self.s0, stages = conv_plan(image_size)
        self.image_size = image_size
        c = D_WIDTH * 2 ** (stages - 1)
        self.project = nn.Sequential(nn.Linear(latent_dim, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(inplace=True),
                                     nn.Linear(HIDDEN, c * self.s0 ** 2), nn.BatchNorm1d(c * self.s0 ** 2),
                                     nn.ReLU(inplace=True), nn.Unflatten(1, (c, self.s0, self.s0)))
        layers: list[nn.Module] = []
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True)]
            c //= 2
        self.body = nn.Sequential(*layers, nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) from latents (B, Z)."""
        x = self.body(self.project(z))  # (B, C, S0 * 2^N, S0 * 2^N)
        return center_crop(x, self.image_size)  # (B, C, H, W)


class InfoGANDiscriminator(nn.Module):
    """N 4x4 convs of stride 2 (64 channels, doubling; LeakyReLU 0.1; BN on all but the first), FC 1024 (BN,
    LeakyReLU 0.1), linear head to `out_dim`.

    Args:
        channels: C.
        image_size: H = W; zero-padded (value -1) to the plan.
        out_dim: 1 for a score, more for an encoder or extra outputs.
    """

    def __init__(self, channels: int, image_size: int, out_dim: int = 1) -> None:
        super().__init__()
        s0, stages = conv_plan(image_size)
        self.pad = s0 * 2 ** stages - image_size
        layers: list[nn.Module] = []
        c_in, c = channels, D_WIDTH
        for index in range(stages):
            layers.append(nn.Conv2d(c_in, c, 4, 2, 1))
            if index > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(LEAK, inplace=True))
            c_in, c = c, c * 2
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * s0 * s0, HIDDEN), nn.BatchNorm1d(HIDDEN),
                                  nn.LeakyReLU(LEAK, inplace=True))
        self.feature_dim, self.out_dim = HIDDEN, out_dim
        self.head = nn.Linear(HIDDEN, out_dim)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The FC 1024 layer's activations (B, 1024)."""
        images = pad_to_plan(images, self.pad)
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) (or outputs (B, out_dim)) of images (B, C, H, W)."""
        out = self.head(self.features(images))
        return out.squeeze(1) if self.out_dim == 1 else out


def build(spec: NetSpec, d_out: int, gen: torch.Generator) -> tuple[nn.Module, nn.Module]:
    """`--net infogan`: G and D with DCGAN's initialisation (the paper's code draws N(0, 0.02) weights too) from
    `gen`; the spec's width and batch-norm switches do not apply (the paper's nets are fixed)."""
    return (dcgan_init_(InfoGANGenerator(spec.latent_dim, spec.channels, spec.image_size), gen),
            dcgan_init_(InfoGANDiscriminator(spec.channels, spec.image_size, d_out), gen))
