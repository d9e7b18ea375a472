"""Image generators and discriminators: MLP, DCGAN-style conv (any image size), PyTorch-GAN's DCGAN, autoencoder;
the registry also names BEGAN's nets (`seqgan.image.began_nets`), InfoGAN's (`infogan_nets`) and Salimans et
al.'s (`salimans_nets`).

No training code here. Every D returns raw scores of shape (B,) (the loss applies any sigmoid), every G maps
latents (B, Z) to images (B, C, H, W) in [-1, 1]. B batch, Z latent size, C channels, H = W image size.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

Built = TypeVar("Built")  # what a builder passed to `seeded_default_init` returns
LEAK = 0.2  # LeakyReLU slope of DCGAN (Radford et al.) and of PyTorch-GAN's nets


# ---------------------------------------------------------------- MLP (Goodfellow et al.; PyTorch-GAN gan.py)


class MLPGenerator(nn.Module):
    """Z -> 128 -> 256 -> 512 -> 1024 -> C*H*W, LeakyReLU 0.2, batch norm on every hidden layer but the first, tanh.

    Args:
        latent_dim: Z.
        image_shape: (C, H, W).
        hidden: hidden layer widths.
        batch_norm: batch norm after every hidden layer except the first.
        bn_eps: batch norm epsilon; 0.8 is what PyTorch-GAN's gan.py runs with (its BatchNorm1d(n, 0.8) sets eps).
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int],
                 hidden: tuple[int, ...] = (128, 256, 512, 1024), batch_norm: bool = True,
                 bn_eps: float = 0.8) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for index, out in enumerate(hidden):
            layers.append(nn.Linear(width, out))
            if batch_norm and index > 0:
                layers.append(nn.BatchNorm1d(out, eps=bn_eps))
            layers.append(nn.LeakyReLU(LEAK, inplace=True))
            width = out
        layers += [nn.Linear(width, math.prod(image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) from latents (B, Z)."""
        return self.net(z).view(z.shape[0], *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    """C*H*W -> 512 -> 256 -> out, LeakyReLU 0.2 (PyTorch-GAN's gan.py and wgan_gp.py D, without the sigmoid).

    Args:
        image_shape: (C, H, W).
        hidden: hidden layer widths.
        out_dim: 1 for a D score; more for an encoder (BEGAN, VAE).
    """

    def __init__(self, image_shape: tuple[int, int, int], hidden: tuple[int, ...] = (512, 256),
                 out_dim: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = math.prod(image_shape)
        for out in hidden:
            layers += [nn.Linear(width, out), nn.LeakyReLU(LEAK, inplace=True)]
            width = out
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim, self.feature_dim = out_dim, width

    @property
    def head(self) -> nn.Linear:
        """The output layer, F -> out_dim."""
        return self.net[-1]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations (B, F) (what the output layer reads: feature matching, Q heads)."""
        return self.net[:-1](images.flatten(1))  # (B, F)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) (or features (B, out_dim) when out_dim > 1) of images (B, C, H, W)."""
        out = self.net(images.flatten(1))  # (B, out_dim)
        return out.squeeze(1) if self.out_dim == 1 else out


# ---------------------------------------------------------------- DCGAN-style conv nets (Radford et al., 2016)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window of images (B, C, S, S), S >= size: a generator built for the conv plan's
    size hands back the image size."""
    lo = (x.shape[-1] - size) // 2
    return x if x.shape[-1] == size else x[..., lo:lo + size, lo:lo + size]


def pad_to_plan(images: torch.Tensor, pad: int) -> torch.Tensor:
    """Images (B, C, H, W) padded by `pad` pixels in all (split around each side) with -1, the background after
    the shift to [-1, 1]: a discriminator built for the conv plan's size reads any image size."""
    if not pad:
        return images
    lo = pad // 2
    return nn.functional.pad(images, (lo, pad - lo, lo, pad - lo), value=-1.0)


def conv_plan(image_size: int) -> tuple[int, int]:
    """(start size S0, number of x2 stages N) with S0 * 2^N >= image_size, 4 <= S0 <= 7, N >= 1, smallest first.

    28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4); a size that is not of that form (e.g. 30) gets the next one up
    (32), and G crops / D pads the difference, so one definition serves every size.

    Args:
        image_size: H = W of the images, >= 8.
    """
    if not conv_plan_fits(image_size):
        raise ValueError(f"image size must be >= 8 (got {image_size})")
    candidates = [(s0 * 2**n, s0, n) for n in range(1, 12) for s0 in range(4, 8) if s0 * 2**n >= image_size]
    _, s0, n = min(candidates)
    return s0, n


def conv_plan_fits(image_size: int) -> bool:
    """Whether the conv nets take this size (conv_plan needs >= 8); smaller images need the MLP."""
    return image_size >= 8


class ConvGenerator(nn.Module):
    """DCGAN G: Z -> linear to (W*2^(N-1), S0, S0), then N transposed convs 4x4 stride 2 (ReLU, optional BN), tanh.

    Args:
        latent_dim: Z.
        channels: C of the output images.
        image_size: H = W; the last stage's output is centre-cropped to it when the plan overshoots.
        width: channels of the last hidden stage (the first has width * 2^(N-1)).
        batch_norm: batch norm after the linear layer and each hidden transposed conv.
        out_activation: tanh for images in [-1, 1]; identity for a decoder's logits.
    """

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int = 64, batch_norm: bool = True,
                 out_activation: Callable[[], nn.Module] = nn.Tanh) -> None:
        super().__init__()
        self.s0, stages = conv_plan(image_size)
        self.image_size = image_size
        self.start_channels = width * 2 ** (stages - 1)
        norm = (lambda n: nn.BatchNorm2d(n)) if batch_norm else (lambda n: nn.Identity())
        self.project = nn.Sequential(nn.Linear(latent_dim, self.start_channels * self.s0 ** 2),
                                     nn.Unflatten(1, (self.start_channels, self.s0, self.s0)),
                                     norm(self.start_channels), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        c = self.start_channels
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=not batch_norm), norm(c // 2), nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), out_activation()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) from latents (B, Z)."""
        x = self.body(self.project(z))  # (B, C, S0*2^N, S0*2^N)
        return center_crop(x, self.image_size)  # (B, C, H, W)


class ConvDiscriminator(nn.Module):
    """DCGAN D: N convs 4x4 stride 2 (LeakyReLU 0.2, BN on all but the first), then a linear layer to the score.

    Args:
        channels: C of the input images.
        image_size: H = W; zero-padded (after the shift to [-1, 1], so pad value -1 = background) to the plan.
        width: channels of the first conv (doubled at each stage).
        batch_norm: batch norm after every conv but the first (off for gradient-penalty critics: BN couples the
            images of a batch, and the penalty is on per-image gradients).
        out_dim: 1 for a score; more for an encoder (BEGAN, VAE).
    """

    def __init__(self, channels: int, image_size: int, width: int = 64, batch_norm: bool = True,
                 out_dim: int = 1) -> None:
        super().__init__()
        s0, stages = conv_plan(image_size)
        self.pad = s0 * 2**stages - image_size
        layers: list[nn.Module] = []
        c_in, c = channels, width
        for index in range(stages):
            use_bn = batch_norm and index > 0
            layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=not use_bn)]
            if use_bn:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(LEAK, inplace=True))
            c_in, c = c, c * 2
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in * s0 * s0
        self.head = nn.Linear(self.feature_dim, out_dim)
        self.out_dim = out_dim

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last conv stage's activations (B, F), flattened: what the linear head reads (feature matching,
        Q heads)."""
        images = pad_to_plan(images, self.pad)
        return self.body(images).flatten(1)  # (B, F)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) (or features (B, out_dim)) of images (B, C, H, W)."""
        out = self.head(self.features(images))  # (B, out_dim)
        return out.squeeze(1) if self.out_dim == 1 else out


# ---------------------------------------------------------------- PyTorch-GAN's dcgan.py, rebuilt from its description


class UpsampleConv2d(nn.Conv2d):
    """x2 nearest upsampling then a 3x3 conv (padding 1), computed without building the upsampled image.

    Each output pixel (2i + a, 2j + b) sees a 3x3 window of the upsampled map that covers only a 2x2 window of
    the input, so the four phases (a, b) are 2x2 convs of the input whose taps are sums of the 3x3 taps (rows:
    phase 0 = (w0, w1 + w2), phase 1 = (w0 + w1, w2); the same for columns). One 2x2 conv producing all four
    phases does 16 multiply-adds per input pixel and channel pair instead of the 36 of the upsampled conv. The
    parameters are the 3x3 conv's (same shapes, init and state dict as nn.Conv2d(c_in, c_out, 3, 1, 1) after an
    nn.Upsample(scale_factor=2)); the outputs agree up to float rounding.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, 1, 1)

    def phase_kernels(self) -> torch.Tensor:
        """(4 * O, I, 2, 2): the 2x2 kernels of phases (0, 0), (0, 1), (1, 0), (1, 1), phase-major."""
        w = self.weight  # (O, I, 3, 3)
        rows = (torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),  # phase a = 0: (O, I, 2, 3)
                torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2))  # phase a = 1
        return torch.cat([torch.stack(pair, -1) for r in rows
                          for pair in ((r[..., 0], r[..., 1] + r[..., 2]), (r[..., 0] + r[..., 1], r[..., 2]))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, O, 2H, 2W) from (B, I, H, W)."""
        bias = None if self.bias is None else self.bias.repeat(4)
        # padding 1 with a 2x2 kernel gives (H + 1, W + 1) positions; phase (a, b) starts at row a, column b
        phases = nn.functional.conv2d(x, self.phase_kernels(), bias, padding=1)  # (B, 4 O, H + 1, W + 1)
        return _InterleavePhases.apply(phases)


PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


class _InterleavePhases(torch.autograd.Function):
    """(B, 4 O, H + 1, W + 1) phase maps -> (B, O, 2H, 2W) with y[:, :, 2i + a, 2j + b] = phase (a, b)[i + a, j + b].

    Written out because slicing and stacking would make autograd allocate a zero tensor per phase.
    """

    @staticmethod
    def forward(ctx, phases: torch.Tensor) -> torch.Tensor:  # noqa: D102
        batch, channels, h1, w1 = phases.shape
        o, height, width = channels // 4, h1 - 1, w1 - 1
        out = phases.new_empty(batch, o, 2 * height, 2 * width)
        for k, (a, b) in enumerate(PHASES):
            out[:, :, a::2, b::2] = phases[:, k * o:(k + 1) * o, a:a + height, b:b + width]
        ctx.shape = phases.shape
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:  # noqa: D102
        batch, channels, h1, w1 = ctx.shape
        o, height, width = channels // 4, h1 - 1, w1 - 1
        grad = grad_out.new_zeros(ctx.shape)
        for k, (a, b) in enumerate(PHASES):
            grad[:, k * o:(k + 1) * o, a:a + height, b:b + width] = grad_out[:, :, a::2, b::2]
        return grad


class UpsampleGenerator(nn.Module):
    """Upsample-and-conv G of eriklindernoren/PyTorch-GAN implementations/dcgan/dcgan.py.

    Z -> linear to (128, H/4, H/4), BN, [x2 nearest upsample, conv3x3 128, BN(eps 0.8), LeakyReLU 0.2],
    [x2, conv3x3 64, BN(eps 0.8), LeakyReLU 0.2], conv3x3 to C, tanh.
    Each upsample + conv pair is one `UpsampleConv2d` (the same function and parameters, 2.25x fewer products).

    Args:
        latent_dim: Z (100 there).
        channels: C.
        image_size: H = W, a multiple of 4 (32 there).
    """

    def __init__(self, latent_dim: int, channels: int, image_size: int) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"pytorch-gan-dcgan needs an image size divisible by 4 (got {image_size})")
        self.init_size = image_size // 4
        self.project = nn.Linear(latent_dim, 128 * self.init_size ** 2)
        self.body = nn.Sequential(
            nn.BatchNorm2d(128),
            UpsampleConv2d(128, 128), nn.BatchNorm2d(128, eps=0.8), nn.LeakyReLU(LEAK, inplace=True),
            UpsampleConv2d(128, 64), nn.BatchNorm2d(64, eps=0.8),
            nn.LeakyReLU(LEAK, inplace=True),
            nn.Conv2d(64, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) from latents (B, Z)."""
        x = self.project(z).view(z.shape[0], 128, self.init_size, self.init_size)  # (B, 128, H/4, H/4)
        return self.body(x)


class StridedDiscriminator(nn.Module):
    """PyTorch-GAN dcgan.py's D: 4 blocks of conv3x3 stride 2 (16, 32, 64, 128 channels), LeakyReLU 0.2,
    Dropout2d 0.25 and BN(eps 0.8) on all but the first; then linear to 1 (its sigmoid lives in the loss).

    Args:
        channels: C.
        image_size: H = W.
    """

    def __init__(self, channels: int, image_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, c_in = image_size, channels
        for index, c in enumerate((16, 32, 64, 128)):
            layers += [nn.Conv2d(c_in, c, 3, 2, 1), nn.LeakyReLU(LEAK, inplace=True), nn.Dropout2d(0.25)]
            if index > 0:
                layers.append(nn.BatchNorm2d(c, eps=0.8))
            size, c_in = (size + 1) // 2, c  # conv3x3, stride 2, padding 1: ceil(size / 2)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(128 * size * size, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of images (B, C, H, W)."""
        return self.head(self.body(images).flatten(1)).squeeze(1)  # (B,)


# ---------------------------------------------------------------- encoder-decoder (BEGAN's D, the VAE)


class AutoEncoder(nn.Module):
    """An encoder to a code and a decoder back to images: BEGAN's discriminator.

    Args:
        encoder: (B, C, H, W) -> (B, K).
        decoder: (B, K) -> (B, C, H, W).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Reconstructions (B, C, H, W) of images (B, C, H, W)."""
        return self.decoder(self.encoder(images))


def dcgan_init_(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """DCGAN's initialisation (Radford et al., Section 4): conv and linear weights N(0, 0.02), BN scale N(1, 0.02),
    biases 0; drawn from `gen` so a seed fixes the initial nets.

    Args:
        module: a net (changed in place and returned).
        gen: a CPU generator.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(1.0 + torch.randn(m.weight.shape, generator=gen) * 0.02)
                m.bias.zero_()
    return module


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class NetSpec:
    """Which image G and D a net name builds.

    Args:
        image_size: H = W.
        channels: C.
        latent_dim: Z.
        width: conv width (DCGAN) or unused.
        g_batch_norm: batch norm in G.
        d_batch_norm: batch norm in D.
    """

    image_size: int
    channels: int
    latent_dim: int = 100
    width: int = 64
    g_batch_norm: bool = True
    d_batch_norm: bool = True

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return (self.channels, self.image_size, self.image_size)


def seeded_default_init(gen: torch.Generator, build: Callable[[], Built]) -> Built:
    """Build with PyTorch's default initialisation (what PyTorch-GAN's gan.py uses), seeded from `gen`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
        return build()


def _mlp(spec: NetSpec, d_out: int, gen: torch.Generator) -> tuple[nn.Module, nn.Module]:
    return seeded_default_init(gen, lambda: (MLPGenerator(spec.latent_dim, spec.image_shape,
                                                           batch_norm=spec.g_batch_norm),
                                              MLPDiscriminator(spec.image_shape, out_dim=d_out)))


def _dcgan(spec: NetSpec, d_out: int, gen: torch.Generator) -> tuple[nn.Module, nn.Module]:
    g = ConvGenerator(spec.latent_dim, spec.channels, spec.image_size, spec.width, spec.g_batch_norm)
    d = ConvDiscriminator(spec.channels, spec.image_size, spec.width, spec.d_batch_norm, d_out)
    return dcgan_init_(g, gen), dcgan_init_(d, gen)


def _pytorch_gan_dcgan(spec: NetSpec, d_out: int, gen: torch.Generator) -> tuple[nn.Module, nn.Module]:
    if d_out != 1:
        raise ValueError("pytorch-gan-dcgan has no encoder form; use --net dcgan or mlp for BEGAN, the VAE, ACGAN, "
                         "InfoGAN, SSGAN and BiGAN")
    # dcgan.py applies the DCGAN initialisation to both nets
    g = UpsampleGenerator(spec.latent_dim, spec.channels, spec.image_size)
    return dcgan_init_(g, gen), dcgan_init_(StridedDiscriminator(spec.channels, spec.image_size), gen)


# builder(spec, D output size, init generator) -> (G, D); an output size K > 1 makes D an encoder
NetBuilder = Callable[[NetSpec, int, torch.Generator], tuple[nn.Module, nn.Module]]


def _defined_in(module: str) -> NetBuilder:
    """The builder `build(spec, d_out, gen)` of seqgan.image.<module>, imported on first use (it imports this)."""
    return lambda spec, d_out, gen: importlib.import_module(f"seqgan.image.{module}").build(spec, d_out, gen)


NETS: dict[str, NetBuilder] = {
    "mlp": _mlp,
    "dcgan": _dcgan,
    "pytorch-gan-dcgan": _pytorch_gan_dcgan,
    "began": _defined_in("began_nets"),  # BEGAN's conv + ELU nets
    "infogan": _defined_in("infogan_nets"),  # InfoGAN's MNIST nets, which Lucic et al. use for every loss
    "salimans-mlp": _defined_in("salimans_nets"),  # Salimans et al.'s semi-supervised MNIST nets
}


def build_nets(name: str, spec: NetSpec, gen: torch.Generator, d_out: int = 1) -> tuple[nn.Module, nn.Module]:
    """G and D of net `name` (a key of NETS) sized by `spec`, initialised from the CPU generator `gen` (DCGAN's
    initialisation for the conv nets, PyTorch's for the MLP, Glorot's for BEGAN's); `d_out` is D's output size
    (1 = a score; K = an encoder to K features)."""
    return NETS[name](spec, d_out, gen)


def architecture(module: nn.Module) -> dict:
    """Parameter names and shapes: what a checkpoint must match."""
    return {name: list(p.shape) for name, p in module.state_dict().items()}
