"""BEGAN's own nets (Berthelot et al., 2017, Figure 1): 3x3 convolutions with ELU, no batch norm.

The decoder (BEGAN's G, and the second half of its autoencoder D) projects the code to an S0 x S0 map of n
channels, then runs blocks of two 3x3 convs with a x2 nearest upsampling between blocks, and a last 3x3 conv to
the image channels. The encoder runs a 3x3 conv to n channels, then blocks of two 3x3 convs, each block but the
last followed by a stride-2 3x3 conv that adds n channels (n, 2n, 3n, ...), and a linear layer to the code.
The layout follows the authors' description and the reference implementation's GeneratorCNN / DiscriminatorCNN;
sizes off the 7 * 2^k / 4 * 2^k plan are cropped (decoder) or padded (encoder) as the DCGAN nets do
(`seqgan.image.nets.conv_plan`), and every layer starts from Glorot-uniform weights (`began_init_`).
B batch, C channels, H = W image size, n width, h code size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seqgan.image.nets import NetSpec, UpsampleConv2d, center_crop, conv_plan, pad_to_plan


def began_init_(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """Glorot (Xavier) uniform weights and zero biases for every conv and linear layer, drawn from `gen`: the
    reference implementation's (TensorFlow's default). PyTorch's default shrinks the signal by about 3x in
    variance per layer, and through the encoder's ten layers an autoencoder then learns nothing for thousands of
    steps (its L1 error stayed at the all-background level, 0.26 on MNIST, for 1,500 steps; with this
    initialisation it fell to 0.19 in 500).

    Args:
        module: a BEGAN net (changed in place and returned).
        gen: a CPU generator.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight, generator=gen)
            nn.init.zeros_(m.bias)
    return module


class ClampWhenSampling(nn.Module):
    """Identity while training, clamp to [-1, 1] in eval mode (when images are sampled for FID and grids).

    BEGAN's G ends linear as in the paper: a tanh there saturates at the background value -1, where the
    reconstruction loss then gives G no gradient (a tanh G collapsed to blank images in our MNIST runs).
    Samples still lie in [-1, 1], as every G's here.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (training) or x clamped to [-1, 1] (eval)."""
        return x if self.training else x.clamp(-1.0, 1.0)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, 1)


class BEGANDecoder(nn.Module):
    """Code (B, h) -> images (B, C, H, W): linear to (n, S0, S0), N + 1 blocks of [conv3x3 ELU, conv3x3 ELU] with
    a x2 nearest upsampling between blocks (fused into the next conv, `UpsampleConv2d`), conv3x3 to C.

    Args:
        latent_dim: h (the code or latent size).
        channels: C.
        image_size: H = W; the output is centre-cropped to it when the plan overshoots.
        width: n.
        out_activation: the last layer's activation: identity for the autoencoder's reconstruction (the paper's
            nets end linear), `ClampWhenSampling` for G.
    """

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int = 64,
                 out_activation: Callable[[], nn.Module] = nn.Identity) -> None:
        super().__init__()
        self.s0, stages = conv_plan(image_size)
        self.image_size, self.width = image_size, width
        self.project = nn.Linear(latent_dim, width * self.s0 ** 2)
        layers: list[nn.Module] = []
        for block in range(stages + 1):
            first = UpsampleConv2d(width, width) if block else _conv(width, width)  # upsample, then the block
            layers += [first, nn.ELU(inplace=True), _conv(width, width), nn.ELU(inplace=True)]
        layers += [_conv(width, channels), out_activation()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) from codes (B, h)."""
        x = self.project(z).view(len(z), self.width, self.s0, self.s0)  # (B, n, S0, S0)
        x = self.body(x)  # (B, C, S0 * 2^N, S0 * 2^N)
        return center_crop(x, self.image_size)  # (B, C, H, W)


class BEGANEncoder(nn.Module):
    """Images (B, C, H, W) -> codes (B, h): conv3x3 to n, ELU; N + 1 blocks of [conv3x3 ELU, conv3x3 ELU], each
    but the last followed by a stride-2 conv3x3 to n more channels and ELU; linear to h.

    Also the D of a loss-based GAN (h = 1: a score, returned as (B,)), so `--net began` serves every variant.

    Args:
        channels: C.
        image_size: H = W; zero-padded (value -1, the background) to the plan.
        width: n.
        out_dim: h.
    """

    def __init__(self, channels: int, image_size: int, width: int = 64, out_dim: int = 64) -> None:
        super().__init__()
        s0, stages = conv_plan(image_size)
        self.pad = s0 * 2 ** stages - image_size
        layers: list[nn.Module] = [_conv(channels, width), nn.ELU(inplace=True)]
        for block in range(stages + 1):
            c = width * (block + 1)
            layers += [_conv(c, c), nn.ELU(inplace=True), _conv(c, c), nn.ELU(inplace=True)]
            if block < stages:
                layers += [_conv(c, c + width, stride=2), nn.ELU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.feature_dim = width * (stages + 1) * s0 * s0
        self.head = nn.Linear(self.feature_dim, out_dim)
        self.out_dim = out_dim

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last conv block's activations (B, F), flattened: what the linear head reads."""
        images = pad_to_plan(images, self.pad)
        return self.body(images).flatten(1)  # (B, F)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Codes (B, h) (scores (B,) when h = 1) of images (B, C, H, W)."""
        out = self.head(self.features(images))  # (B, h)
        return out.squeeze(1) if self.out_dim == 1 else out


def build(spec: NetSpec, d_out: int, gen: torch.Generator) -> tuple[nn.Module, nn.Module]:
    """`--net began`: G (the decoder, linear, clamped when sampling) and D (the encoder to d_out), initialised from
    `gen`; the spec's batch-norm switches do not apply (BEGAN's nets have none)."""
    g = BEGANDecoder(spec.latent_dim, spec.channels, spec.image_size, spec.width, ClampWhenSampling)
    return began_init_(g, gen), began_init_(BEGANEncoder(spec.channels, spec.image_size, spec.width, d_out), gen)
