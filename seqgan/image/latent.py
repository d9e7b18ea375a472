"""Walks through G's latent space: interpolation between random latents (linear or spherical), and vector
arithmetic on class-averaged latents labelled by the FID classifier (Radford et al., 2016, Section 6.3).

Spherical interpolation (slerp; White, 2016, "Sampling Generative Networks") follows the great circle between the
two latents: for Gaussian latents in many dimensions almost all mass lies near the sphere of radius sqrt(Z), and
the straight line between two such points passes through latents of smaller norm than G was trained on. R rows,
K steps per row, Z the width of G's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqgan.base.errors import UserError
from seqgan.image.image_pair import generate, latents

MODES = ("slerp", "linear")
PARALLEL = 1e-7  # sin(angle) below this: the endpoints are (anti)parallel and slerp falls back to the line


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear interpolation: (R, K, Z) points (1 - t) z0 + t z1 at K evenly spaced t in [0, 1], in float64.

    Args:
        z0: (R, Z) start latents.
        z1: (R, Z) end latents.
        steps: K >= 2 (t = 0 and t = 1 included; there the points are z0 and z1 exactly).
    """
    a, b = z0.double()[:, None, :], z1.double()[:, None, :]  # (R, 1, Z)
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)[None, :, None]  # (1, K, 1)
    return (1.0 - t) * a + t * b


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation: (R, K, Z) points sin((1 - t) w) / sin w z0 + sin(t w) / sin w z1, w the angle
    between z0 and z1, at K evenly spaced t in [0, 1], in float64; rows whose endpoints are (anti)parallel are
    interpolated linearly. Between endpoints of equal norm every point keeps that norm.

    Args:
        z0: (R, Z) start latents.
        z1: (R, Z) end latents.
        steps: K >= 2 (the endpoints are z0 and z1 exactly: sin(w) / sin(w) = 1 and sin(0) = 0).
    """
    a, b = z0.double(), z1.double()  # (R, Z)
    cos = ((a / a.norm(dim=1, keepdim=True)) * (b / b.norm(dim=1, keepdim=True))).sum(1).clamp(-1.0, 1.0)  # (R,)
    omega = torch.acos(cos)[:, None, None]  # (R, 1, 1)
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)[None, :, None]  # (1, K, 1)
    sin = torch.sin(omega)
    safe = torch.where(sin.abs() < PARALLEL, torch.ones_like(sin), sin)
    curve = torch.sin((1.0 - t) * omega) / safe * a[:, None, :] + torch.sin(t * omega) / safe * b[:, None, :]
    return torch.where(sin.abs() < PARALLEL, lerp(z0, z1, steps), curve)


INTERPOLATIONS = {"slerp": slerp, "linear": lerp}


def images_of(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G's images (n, C, H, W) of latents (n, Z), one latent per forward pass, G in eval mode, on the CPU.

    One at a time, so every picture is G of its latent alone, bit for bit: CPU convolutions choose their blocking
    by batch size, which moves the last bits of the output (about 1e-9 here). The grids are small.
    """
    return generate(generator, z, batch_size=1)


def latent_width(pair: object) -> int:
    """The width of G's input: Z, or L x Z for LAPGAN (one latent per pyramid level, coarsest first)."""
    from seqgan.image.lapgan import LEVELS, LAPGANPair

    return LEVELS * pair.latent_dim if isinstance(pair, LAPGANPair) else pair.latent_dim


def check_unconditional(pair: object, loss: str) -> None:
    """Refuse a conditional pair (CGAN, ACGAN, InfoGAN): its G also takes a class or code beside z."""
    from seqgan.image.conditional import ConditionalPair

    if isinstance(pair, ConditionalPair):
        raise UserError(f"this is a conditional run (--loss {loss}): its G takes a class or code beside z, so a "
                        "walk over z alone is not defined; use a run of an unconditional variant")


def walk_images(generator: nn.Module, z0: torch.Tensor, z1: torch.Tensor, steps: int,
                mode: str = "slerp") -> torch.Tensor:
    """G's images along R walks of K steps: (R, K, C, H, W) in [-1, 1] on the CPU, G in eval mode.

    Args:
        generator: G.
        z0: (R, Z) start latents on G's device (float32).
        z1: (R, Z) end latents.
        steps: K >= 2.
        mode: "slerp" or "linear".
    """
    path = INTERPOLATIONS[mode](z0, z1, steps).to(z0.dtype)  # (R, K, Z): float64 maths, G's dtype
    images = images_of(generator, path.reshape(-1, z0.shape[1]))  # (R*K, C, H, W)
    return images.reshape(len(z0), steps, *images.shape[1:])


def random_walks(generator: nn.Module, width: int, rows: int, steps: int, mode: str, seed: int,
                 device: torch.device) -> torch.Tensor:
    """`walk_images` between 2R latents z ~ N(0, I) drawn with `seed`: rows of (z_i, z_{R+i}).

    Args:
        generator: G.
        width: G's input width (`latent_width`).
        rows: R.
        steps: K.
        mode: "slerp" or "linear".
        seed: seeds the latents (the same seed gives the same picture).
        device: G's device.
    """
    z = latents(2 * rows, width, torch.Generator().manual_seed(seed), device)  # (2R, Z)
    return walk_images(generator, z[:rows], z[rows:], steps, mode)


@dataclass(frozen=True)
class Arithmetic:
    """Latent vector arithmetic on class means: rows of [mean z of a, of b, of c, mean_a - mean_b + mean_c].

    Args:
        rows: (R, 4, Z) the latents of the grid.
        classes: (a, b, c).
        counts: how many of the samples the classifier put in each of a, b, c.
        samples: how many latents were labelled.
    """

    rows: torch.Tensor
    classes: tuple[int, int, int]
    counts: tuple[int, int, int]
    samples: int

    def explain(self, classifier: str) -> str:
        """One line saying what each column shows."""
        a, b, c = self.classes
        na, nb, nc = self.counts
        return (f"columns: G(mean z of class {a}) | G(mean z of class {b}) | G(mean z of class {c}) | "
                f"G(z_{a} - z_{b} + z_{c}); each of the {len(self.rows)} rows averages its own share of the {na}, "
                f"{nb}, {nc} of {self.samples} sampled latents that the {classifier} classifier labels {a}, {b}, {c}")


def label_samples(generator: nn.Module, classifier: object, width: int, n: int, seed: int,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """n latents z ~ N(0, I) drawn with `seed` and the classifier's class of G(z): ((n, Z) on the CPU, (n,)).

    Args:
        generator: G.
        classifier: an object with `predict(images) -> (n,) classes` reading its own image shape (`channels`,
            `size`), e.g. the FID extractor.
        width: G's input width.
        n: how many.
        seed: seeds the latents.
        device: G's device.
    """
    from seqgan.image.prepare import convert_float

    z = latents(n, width, torch.Generator().manual_seed(seed), device)  # (n, Z)
    images = generate(generator, z)  # (n, C, H, W)
    shape = (classifier.channels, classifier.size, classifier.size)
    if tuple(images.shape[1:]) != shape:
        images = convert_float(images, classifier.size, classifier.channels)
    return z.cpu(), classifier.predict(images).cpu()


def class_arithmetic(z: torch.Tensor, labels: torch.Tensor, classes: tuple[int, int, int] | None,
                     rows: int) -> Arithmetic:
    """The grid's latents: each class's labelled latents split into R disjoint shares, one mean per share and row.

    Args:
        z: (n, Z) latents.
        labels: (n,) their classes.
        classes: (a, b, c), or None for the three classes with the most samples (most first).
        rows: R.
    """
    counts = torch.bincount(labels)
    if classes is None:
        present = [int(c) for c in torch.argsort(counts, descending=True, stable=True) if counts[c] > 0]
        if len(present) < 3:
            raise UserError(f"the classifier put the samples in only {len(present)} class(es) ({present}); name "
                            "three with --classes A,B,C (a class may repeat) or use more --samples")
        classes = (present[0], present[1], present[2])
    means, found = [], []
    for c in classes:
        index = (labels == c).nonzero().flatten()  # (m,)
        found.append(len(index))
        if len(index) < rows:
            raise UserError(f"only {len(index)} of {len(z)} samples were classified as {c}, fewer than the {rows} "
                            "rows; use more --samples, fewer --rows, or other --classes")
        means.append(torch.stack([z[part].double().mean(0) for part in torch.tensor_split(index, rows)]))  # (R, Z)
    a, b, c = means
    grid = torch.stack([a, b, c, a - b + c], dim=1).to(z.dtype)  # (R, 4, Z)
    return Arithmetic(grid, tuple(classes), tuple(found), len(z))
