"""FID: the Fréchet distance between Gaussians fitted to image features, with a signature on every value.

    FID = |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^(1/2))        (Heusel et al., 2017, Eq. 6)

computed in float64. tr((S_1 S_2)^(1/2)) is taken as the sum of square roots of the eigenvalues of the symmetric
PSD matrix S_1^(1/2) S_2 S_1^(1/2), which has the same eigenvalues as S_1 S_2; both square roots come from
`torch.linalg.eigh`, so there is no non-symmetric `sqrtm` and no complex round-off to discard (it agrees with
scipy's `sqrtm` formula to 1e-6 and stays finite for singular covariances).

This module holds only the metric: the distance, the feature statistics, and FID of images read by any object
that follows the `FeatureExtractor` protocol. The feature spaces themselves (the cached CNN classifier, the
Inception adapter) and FID against a dataset split live with the image code in seqgan.image.fid_extractor and
seqgan.image.fid_dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from seqgan.base.errors import UserError
from seqgan.base.version import VERSION

# ---------------------------------------------------------------------------------------------------------
# The Fréchet distance
# ---------------------------------------------------------------------------------------------------------


def _as_f64(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu().double()


def _sqrt_psd(s: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix (negative round-off eigenvalues clamped to 0)."""
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp_min(0.0).sqrt()) @ v.T  # (F, F)


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> float:
    """tr((S_1 S_2)^(1/2)) for symmetric PSD S_1, S_2, via eigh of S_1^(1/2) S_2 S_1^(1/2), in float64.

    Args:
        sigma1: covariance (F, F).
        sigma2: covariance (F, F).
    """
    root = _sqrt_psd(_as_f64(sigma1))
    m = root @ _as_f64(sigma2) @ root  # (F, F), symmetric PSD, same eigenvalues as S_1 S_2
    m = 0.5 * (m + m.T)
    return float(torch.linalg.eigvalsh(m).clamp_min(0.0).sqrt().sum())


def frechet_distance(mu1: torch.Tensor | np.ndarray, sigma1: torch.Tensor | np.ndarray,
                     mu2: torch.Tensor | np.ndarray, sigma2: torch.Tensor | np.ndarray) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64 (never below 0).

    Args:
        mu1: mean (F,).
        sigma1: covariance (F, F).
        mu2: mean (F,).
        sigma2: covariance (F, F).
    """
    mu1, mu2, s1, s2 = _as_f64(mu1), _as_f64(mu2), _as_f64(sigma1), _as_f64(sigma2)
    f = mu1.shape[0] if mu1.dim() == 1 else -1
    if mu1.shape != mu2.shape or f < 0 or s1.shape != (f, f) or s2.shape != (f, f):
        raise ValueError(f"shape mismatch: mu {tuple(mu1.shape)} / {tuple(mu2.shape)}, sigma {tuple(s1.shape)} / "
                         f"{tuple(s2.shape)}; expected (F,) and (F, F)")
    diff = mu1 - mu2
    value = float(diff @ diff) + float(s1.trace() + s2.trace()) - 2.0 * trace_sqrt_product(s1, s2)
    return max(value, 0.0)  # a squared distance: tiny negative values are round-off


def gaussian_stats(features: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and unbiased covariance (F, F) of a feature matrix, in float64.

    Args:
        features: (N, F) with N >= 2.
    """
    x = _as_f64(features)
    if x.dim() != 2 or x.shape[0] < 2:
        raise UserError(f"need at least 2 samples to fit a Gaussian, got features of shape {tuple(x.shape)}")
    mu = x.mean(0)  # (F,)
    centred = x - mu  # (N, F)
    return mu, centred.T @ centred / (x.shape[0] - 1)  # (F,), (F, F)


# ---------------------------------------------------------------------------------------------------------
# The feature space: any object with these attributes
# ---------------------------------------------------------------------------------------------------------


class FeatureExtractor(Protocol):
    """What FID needs from a feature space: a name, a fingerprint, and batched features."""

    name: str
    checksum: str
    accuracy: float | None
    channels: int
    size: int

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """float64 features (N, F) of float images (N, C, H, W) in [-1, 1]."""
        ...


def check_images(images: torch.Tensor, extractor: FeatureExtractor) -> None:
    """Raise a UserError unless images fit the extractor: shape (N, C, H, W) with its C and size, and float
    values in [-1, 1] (uint8 pixels pass as they are).

    Args:
        images: (N, C, H, W) float or uint8.
        extractor: the feature space that will read them.
    """
    want = (extractor.channels, extractor.size, extractor.size)
    if images.dim() != 4 or tuple(images.shape[1:]) != want:
        raise UserError(f"{extractor.name} takes images of shape (N, {want[0]}, {want[1]}, {want[2]}), got "
                        f"{tuple(images.shape)}; load folders with size={want[1]}, channels={want[0]}")
    if images.dtype != torch.uint8 and len(images):
        lo, hi = float(images.min()), float(images.max())
        if lo < -1.001 or hi > 1.001 or not (math.isfinite(lo) and math.isfinite(hi)):
            raise UserError(f"image values must lie in [-1, 1] (a tanh generator's range), got [{lo:.3g}, "
                            f"{hi:.3g}]; map [0, 1] images with x * 2 - 1")


# ---------------------------------------------------------------------------------------------------------
# FID with a signature
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FIDResult:
    """An FID value and the signature that says how it was computed.

    Args:
        value: the FID (squared Fréchet distance of the fitted Gaussians).
        signature: `fid|extractor:..|acc:..|sha:..|real:..|nreal:..|nfake:..|feat:..|ours:..`.
        fields: the signature's parts as a dict (for JSON).
    """

    value: float
    signature: str
    fields: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        """{"fid": value, "signature": ..., **fields}."""
        return {"fid": self.value, "signature": self.signature, **self.fields}

    def __str__(self) -> str:
        return f"FID {self.value:.4f}  {self.signature}"


def fid_result(value: float, extractor: FeatureExtractor, real: str, n_real: int, n_fake: int, dim: int,
               split: str | None = None) -> FIDResult:
    """An FID value with its signature.

    Args:
        value: the FID.
        extractor: the feature space it was computed in.
        real: how the real set is named in the signature (e.g. `mnist-test`).
        n_real: real images.
        n_fake: generated images.
        dim: feature width.
        split: the dataset split of the real set, if it is one.
    """
    acc = extractor.accuracy
    fields = {"extractor": extractor.name, "accuracy": acc, "checksum": extractor.checksum[:8], "real": real,
              "split": split, "n_real": n_real, "n_fake": n_fake, "features": dim, "version": VERSION}
    acc_s = "n/a" if acc is None else f"{acc:.4f}"
    sig = (f"fid|extractor:{extractor.name}|acc:{acc_s}|sha:{fields['checksum']}|real:{real}|nreal:{n_real}"
           f"|nfake:{n_fake}|feat:{dim}|ours:{fields['version']}")
    return FIDResult(value, sig, fields)


def feature_stats(images: torch.Tensor, extractor: FeatureExtractor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and covariance (F, F) in float64 of the extractor's features of images (N, C, H, W)."""
    return gaussian_stats(extractor.features(images))


def fid_between(a: torch.Tensor, b: torch.Tensor, extractor: FeatureExtractor, a_name: str = "images") -> FIDResult:
    """FID between two image sets in an extractor's feature space (a plays "real", b "fake").

    Args:
        a: images (N, C, H, W), float in [-1, 1] or uint8.
        b: images (M, C, H, W), same format.
        extractor: any FeatureExtractor (e.g. the CNN of seqgan.image.fid_extractor).
        a_name: how the real set is named in the signature.
    """
    return fid_between_features(extractor.features(a), extractor.features(b), extractor, a_name)


def fid_between_features(fa: torch.Tensor, fb: torch.Tensor, extractor: FeatureExtractor,
                         a_name: str = "images") -> FIDResult:
    """FID between two sets of features already extracted (e.g. shared with precision and recall).

    Args:
        fa: (N, F) the extractor's features of the "real" set.
        fb: (M, F) those of the "fake" set.
        extractor: the feature space both come from.
        a_name: how the real set is named in the signature.
    """
    mu_a, s_a = gaussian_stats(fa)
    mu_b, s_b = gaussian_stats(fb)
    return fid_result(frechet_distance(mu_a, s_a, mu_b, s_b), extractor, a_name, len(fa), len(fb), fa.shape[1])


def fid_against_stats(mu_real: torch.Tensor, sigma_real: torch.Tensor, fake: torch.Tensor,
                      extractor: FeatureExtractor, real: str, n_real: int, split: str | None = None) -> FIDResult:
    """FID of generated images against precomputed real statistics, with its signature.

    Args:
        mu_real: mean (F,) of the real features.
        sigma_real: covariance (F, F) of the real features.
        fake: generated images (N, C, H, W), float in [-1, 1] (uint8 accepted).
        extractor: the feature space the real statistics were computed in.
        real: how the real set is named in the signature.
        n_real: real images behind the statistics.
        split: the dataset split of the real set, if it is one.
    """
    return fid_against_features(mu_real, sigma_real, extractor.features(fake), extractor, real, n_real, split)


def fid_against_features(mu_real: torch.Tensor, sigma_real: torch.Tensor, fake_features: torch.Tensor,
                         extractor: FeatureExtractor, real: str, n_real: int, split: str | None = None) -> FIDResult:
    """FID of generated images' features (already extracted, e.g. shared with precision and recall) against
    precomputed real statistics, with its signature.

    Args:
        mu_real: mean (F,) of the real features.
        sigma_real: covariance (F, F) of the real features.
        fake_features: (N, F) the extractor's features of the generated images.
        extractor: the feature space both come from.
        real: how the real set is named in the signature.
        n_real: real images behind the statistics.
        split: the dataset split of the real set, if it is one.
    """
    mu_f, s_f = gaussian_stats(fake_features)
    value = frechet_distance(mu_real, sigma_real, mu_f, s_f)
    return fid_result(value, extractor, real, n_real, len(fake_features), fake_features.shape[1], split)
