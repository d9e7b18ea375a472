"""FID: the Fréchet distance between Gaussians fitted to image features, with a signature on every value.

    FID = |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^(1/2))        (Heusel et al., 2017, Eq. 6)

computed in float64. tr((S_1 S_2)^(1/2)) is taken as the sum of square roots of the eigenvalues of the symmetric
PSD matrix S_1^(1/2) S_2 S_1^(1/2), which has the same eigenvalues as S_1 S_2; both square roots come from
`torch.linalg.eigh`, so there is no non-symmetric `sqrtm` and no complex round-off to discard.

Inception weights cannot be downloaded here, so the default feature space is the penultimate layer (its
pre-activation, so no dead ReLU units flatten the covariance) of a small CNN classifier trained once per dataset
inside the project, deterministic given its seed, and cached under `cache_root()/fid/` with its test accuracy and
a checksum of its weights. Scores from this extractor are NOT comparable with published Inception FIDs; compare
rankings. Inception features are available when the user passes a local weights file and has torch-fidelity or
torchmetrics installed (neither is a dependency).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from seqgan.base.errors import UserError
from seqgan.base.paths import cache_root
from seqgan.base.version import VERSION
from seqgan.image.data import canonical_dataset, dataset_checksum, load_image_dataset, to_unit_range

EXTRACTOR_ARCH = "cnn-v1"
CACHE_VERSION = 1
# The accuracy each default extractor must reach on its test split; a lower one is flagged.
MIN_ACCURACY = {"mnist": 0.99, "fashion_mnist": 0.90}




def _log(message: str) -> None:
    print(f"seqgan fid: {message}", file=sys.stderr, flush=True)


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
# Feature extractors
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


@dataclass(frozen=True)
class ExtractorSpec:
    """Architecture and training recipe of the CNN feature extractor; its hash keys the cache.

    Args:
        widths: channels of the two conv blocks.
        features: width of the penultimate (feature) layer.
        epochs: passes over the training split.
        batch_size: training batch size.
        lr: peak Adam learning rate (one-cycle schedule).
        seed: seed of the initialisation, dropout and shuffles.
        size: input height and width (a multiple of 4).
        channels: input channels.
        classes: output classes.
    """

    widths: tuple[int, int] = (16, 32)
    features: int = 128
    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0
    size: int = 28
    channels: int = 1
    classes: int = 10

    def __post_init__(self) -> None:
        if self.size % 4 or self.size < 4:
            raise ValueError(f"ExtractorSpec.size must be a positive multiple of 4 (two 2x2 poolings), got "
                             f"{self.size}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("ExtractorSpec needs epochs >= 1 and batch_size >= 1")

    def key(self) -> str:
        """A stable hash of the architecture and recipe (with the arch version)."""
        blob = json.dumps({"arch": EXTRACTOR_ARCH, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


# Measured on this 2-core machine (1 thread, under load): MNIST 3 epochs -> 99.2% in ~70 s; Fashion 5 epochs.
DEFAULT_SPECS = {"mnist": ExtractorSpec(epochs=3), "fashion_mnist": ExtractorSpec(epochs=5)}


class ClassifierCNN(nn.Module):
    """conv-BN-ReLU-pool x 2, then a linear feature layer and a linear classifier; features = penultimate.

    Args:
        spec: the architecture (widths, feature width, input size and channels, classes).
    """

    def __init__(self, spec: ExtractorSpec) -> None:
        super().__init__()
        w1, w2 = spec.widths
        self.body = nn.Sequential(
            nn.Conv2d(spec.channels, w1, 3, padding=1), nn.BatchNorm2d(w1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1), nn.BatchNorm2d(w2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.embed = nn.Linear(w2 * (spec.size // 4) ** 2, spec.features)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(spec.features, spec.classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer pre-activations (B, F) of images (B, C, H, W) in [-1, 1]."""
        return self.embed(self.body(x))  # (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K) of images (B, C, H, W) in [-1, 1]."""
        return self.head(self.features(x))  # (B, K)


def state_checksum(state: dict[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names, dtypes, shapes and bytes (hex); identifies extractor weights.

    Args:
        state: a module's `state_dict()`.
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{t.dtype}|{tuple(state[name].shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int,
             device: torch.device, uint8_input: bool) -> torch.Tensor:
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            chunk = x[start:start + batch_size].to(device)
            chunk = to_unit_range(chunk) if uint8_input else chunk.float()  # (b, C, H, W)
            out.append(fn(chunk).cpu())
    return torch.cat(out)


@dataclass
class CNNExtractor:
    """A trained ClassifierCNN used as FID feature space.

    Args:
        model: the classifier (eval mode).
        dataset: the dataset it was trained on.
        spec: its architecture and recipe.
        accuracy: its accuracy on the dataset's test split.
        checksum: `state_checksum` of its weights.
        train_seconds: wall-clock training time when it was built.
        path: its cache file, if any.
    """

    model: ClassifierCNN
    dataset: str
    spec: ExtractorSpec
    accuracy: float
    checksum: str
    train_seconds: float = float("nan")
    path: Path | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def name(self) -> str:
        """e.g. `mnist-cnn-v1`."""
        return f"{self.dataset}-{EXTRACTOR_ARCH}"

    @property
    def channels(self) -> int:
        """Input channels."""
        return self.spec.channels

    @property
    def size(self) -> int:
        """Input height and width."""
        return self.spec.size

    def features(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """float64 features (N, F) of images (N, C, H, W): float in [-1, 1], or uint8 in [0, 255].

        Args:
            images: (N, C, H, W) with C, H, W equal to the spec's.
            batch_size: images per forward pass (no grad, inference mode).
        """
        _check_input(images, self)
        self.model.eval()
        return _batched(self.model.features, images, batch_size, self.device,
                        images.dtype == torch.uint8).double()  # (N, F)

    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted classes (N,) of images (N, C, H, W) as for `features`."""
        _check_input(images, self)
        self.model.eval()
        return _batched(self.model, images, batch_size, self.device, images.dtype == torch.uint8).argmax(1)


def _check_input(images: torch.Tensor, extractor: FeatureExtractor) -> None:
    want = (extractor.channels, extractor.size, extractor.size)
    if images.dim() != 4 or tuple(images.shape[1:]) != want:
        raise UserError(f"{extractor.name} takes images of shape (N, {want[0]}, {want[1]}, {want[2]}), got "
                        f"{tuple(images.shape)}; load folders with size={want[1]}, channels={want[0]}")
    if images.dtype != torch.uint8 and len(images):
        lo, hi = float(images.min()), float(images.max())
        if lo < -1.001 or hi > 1.001 or not (math.isfinite(lo) and math.isfinite(hi)):
            raise UserError(f"image values must lie in [-1, 1] (a tanh generator's range), got [{lo:.3g}, "
                            f"{hi:.3g}]; map [0, 1] images with x * 2 - 1")


def train_classifier(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                     spec: ExtractorSpec, device: torch.device | None = None,
                     desc: str = "FID extractor") -> tuple[ClassifierCNN, float, float]:
    """Train a ClassifierCNN deterministically (given spec.seed); returns (model, test accuracy, seconds).

    Args:
        train_x: uint8 (N, C, H, W) training images.
        train_y: int64 (N,) labels.
        test_x: uint8 (M, C, H, W) test images.
        test_y: int64 (M,) labels.
        spec: architecture and recipe.
        device: where to train (default CPU).
        desc: progress-bar label.
    """
    from seqgan.core.log import progress

    device = device or torch.device("cpu")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(spec.seed)
    with torch.random.fork_rng(devices=[]):  # init and dropout draw from the global RNG: seed it, then restore
        torch.manual_seed(spec.seed)
        model = ClassifierCNN(spec).to(device)
        steps_per_epoch = math.ceil(len(train_x) / spec.batch_size)
        opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=spec.epochs * steps_per_epoch)
        bar = progress(spec.epochs * steps_per_epoch, desc)
        try:
            for _ in range(spec.epochs):
                model.train()
                order = torch.randperm(len(train_x), generator=gen)
                for start_i in range(0, len(train_x), spec.batch_size):
                    idx = order[start_i:start_i + spec.batch_size]
                    x = to_unit_range(train_x[idx]).to(device)  # (B, C, H, W)
                    loss = nn.functional.cross_entropy(model(x), train_y[idx].to(device))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        finally:
            bar.close()
    model.eval()
    pred = _batched(model, test_x, 1000, device, True).argmax(1)
    accuracy = float((pred == test_y).double().mean()) if len(test_y) else float("nan")
    return model, accuracy, time.perf_counter() - start


def extractor_cache_path(dataset: str, spec: ExtractorSpec, data_checksum: str) -> Path:
    """cache_root()/fid/<dataset>-<hash>.pt, the hash covering the spec and the training data's checksum.

    Args:
        dataset: canonical dataset name.
        spec: architecture and recipe.
        data_checksum: `dataset_checksum` of the training split.
    """
    key = hashlib.sha256(f"{spec.key()}|{data_checksum}".encode()).hexdigest()[:16]
    return cache_root() / "fid" / f"{dataset}-{key}.pt"


def _load_extractor_file(path: Path, spec: ExtractorSpec) -> dict | None:
    """The cached blob if it is intact (loads, right spec, weights match their checksum), else None."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable cache file is rebuilt
        problem = f"is unreadable ({type(err).__name__})"
    else:
        if not isinstance(blob, dict) or blob.get("version") != CACHE_VERSION or blob.get("spec_key") != spec.key():
            problem = "is not an extractor of this version and spec"
        elif state_checksum(blob["state_dict"]) != blob.get("checksum"):
            problem = "failed its checksum"
        else:
            return blob
    _log(f"cached extractor {path} {problem}; retraining")
    return None


def load_or_train_extractor(dataset: str, data_dir: str | None = None, spec: ExtractorSpec | None = None,
                            device: torch.device | str | None = None, retrain: bool = False) -> CNNExtractor:
    """The dataset's CNN feature extractor: from the cache if intact, else trained once and cached.

    Args:
        dataset: "mnist" or "fashion_mnist" (aliases accepted).
        data_dir: a `--data-dir` value.
        spec: architecture and recipe (default DEFAULT_SPECS[dataset]).
        device: where to run it (default: auto).
        retrain: ignore the cache.
    """
    from seqgan.core.checkpoint import atomic_write_bytes
    from seqgan.core.runtime import pick_device

    key = canonical_dataset(dataset)
    spec = spec or DEFAULT_SPECS[key]
    device = pick_device("auto" if device is None else str(device))
    data_sum = dataset_checksum(key, "train", data_dir)
    path = extractor_cache_path(key, spec, data_sum)
    blob = None if retrain else _load_extractor_file(path, spec)
    if blob is None:
        train_x, train_y = load_image_dataset(key, "train", data_dir)
        test_x, test_y = load_image_dataset(key, "test", data_dir)
        _log(f"training the {key} feature extractor once ({spec.epochs} epochs over {len(train_x):,} images); "
             f"it is cached at {path}")
        model, accuracy, seconds = train_classifier(train_x, train_y, test_x, test_y, spec, device,
                                                    desc=f"{key} FID extractor")
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        blob = {"version": CACHE_VERSION, "arch": EXTRACTOR_ARCH, "dataset": key, "spec": asdict(spec),
                "spec_key": spec.key(), "data_checksum": data_sum, "state_dict": state,
                "checksum": state_checksum(state), "test_accuracy": accuracy, "train_seconds": seconds,
                "torch": str(torch.__version__)}
        _log(f"{key} extractor: test accuracy {accuracy:.2%}, trained in {seconds:.0f} s")
        if accuracy < MIN_ACCURACY.get(key, 0.0) and spec == DEFAULT_SPECS.get(key):
            _log(f"warning: {key} extractor accuracy {accuracy:.2%} is below the {MIN_ACCURACY[key]:.0%} target")
        try:
            import io

            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            torch.save(blob, buf)
            atomic_write_bytes(path, buf.getvalue())
        except OSError as err:  # an unwritable cache costs a retrain next time, nothing else
            _log(f"could not cache the extractor at {path} ({err}); set SEQGAN_CACHE to a writable folder")
    model = ClassifierCNN(spec)
    model.load_state_dict(blob["state_dict"])
    model.to(device).eval()
    return CNNExtractor(model, key, spec, float(blob["test_accuracy"]), blob["checksum"],
                        float(blob.get("train_seconds", float("nan"))), path, device)


class InceptionExtractor:
    """Inception-v3 pool features (2048) from a local weights file, through torch-fidelity or torchmetrics.

    Args:
        weights_path: a local torch-fidelity-compatible `pt_inception-2015-12-05` weights file.
        device: where to run it.
    """

    accuracy = None
    channels = 3
    size = 0  # any size: the network resizes to 299 itself

    def __init__(self, weights_path: str | os.PathLike, device: torch.device | str | None = None) -> None:
        from seqgan.core.runtime import pick_device

        path = Path(weights_path)
        if not path.is_file():
            raise UserError(f"Inception weights file {path} does not exist; pass a local file (it cannot be "
                            "downloaded here)")
        cls = None
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3 as cls
        except ImportError:
            try:
                from torchmetrics.image.fid import NoTrainInceptionV3 as cls
            except ImportError:
                pass
        if cls is None:
            raise UserError("Inception FID needs torch-fidelity or torchmetrics[image]: pip install torch-fidelity "
                            "(not a seqgan dependency), or use the default CNN extractor")
        self.device = pick_device("auto" if device is None else str(device))
        try:
            self.model = cls("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
        except Exception as err:  # noqa: BLE001 - a wrong file surfaces here in library-specific ways
            raise UserError(f"cannot load Inception weights from {path}: {err}") from err
        self.model.to(self.device).eval()
        self.name = "inception-v3-compat"
        self.checksum = hashlib.sha256(path.read_bytes()).hexdigest()

    def features(self, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
        """float64 pool features (N, 2048) of images (N, C, H, W), C in (1, 3), float [-1, 1] or uint8."""
        from seqgan.image.data import from_unit_range

        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise UserError(f"Inception takes images (N, 1 or 3, H, W), got {tuple(images.shape)}")
        pixels = images if images.dtype == torch.uint8 else from_unit_range(images)
        if pixels.shape[1] == 1:
            pixels = pixels.expand(-1, 3, -1, -1)  # (N, 3, H, W): grey to RGB
        out = []
        with torch.inference_mode():
            for start in range(0, len(pixels), batch_size):
                feats = self.model(pixels[start:start + batch_size].to(self.device))
                feats = feats[0] if isinstance(feats, (tuple, list)) else feats
                out.append(feats.reshape(feats.shape[0], -1).cpu())  # (b, 2048)
        return torch.cat(out).double()


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


def _result(value: float, extractor: FeatureExtractor, real: str, n_real: int, n_fake: int, dim: int,
            split: str | None = None) -> FIDResult:
    acc = extractor.accuracy
    fields = {"extractor": extractor.name, "accuracy": acc, "checksum": extractor.checksum[:8], "real": real,
              "split": split, "n_real": n_real, "n_fake": n_fake, "features": dim, "version": VERSION}
    acc_s = "n/a" if acc is None else f"{acc:.4f}"
    sig = (f"fid|extractor:{extractor.name}|acc:{acc_s}|sha:{fields['checksum']}|real:{real}|nreal:{n_real}"
           f"|nfake:{n_fake}|feat:{dim}|ours:{fields['version']}")
    return FIDResult(value, sig, fields)


def fid_between(a: torch.Tensor, b: torch.Tensor, extractor: FeatureExtractor, a_name: str = "images") -> FIDResult:
    """FID between two image sets in an extractor's feature space (a plays "real", b "fake").

    Args:
        a: images (N, C, H, W), float in [-1, 1] or uint8.
        b: images (M, C, H, W), same format.
        extractor: e.g. `load_or_train_extractor("mnist")`.
        a_name: how the real set is named in the signature.
    """
    fa, fb = extractor.features(a), extractor.features(b)  # (N, F), (M, F)
    mu_a, s_a = gaussian_stats(fa)
    mu_b, s_b = gaussian_stats(fb)
    return _result(frechet_distance(mu_a, s_a, mu_b, s_b), extractor, a_name, len(a), len(b), fa.shape[1])


def real_stats(dataset: str, extractor: FeatureExtractor, split: str = "test", n_real: int = 10000, seed: int = 0,
               data_dir: str | None = None, use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(mu (F,), sigma (F, F), n) of a dataset split's features; a seeded subset when n_real < the split size.

    Args:
        dataset: "mnist" or "fashion_mnist".
        extractor: the feature space.
        split: "train" or "test".
        n_real: real images to use (at most the split size; 0 = all).
        seed: seed of the subset.
        data_dir: a `--data-dir` value.
        use_cache: read/write the statistics under cache_root()/fid/.
    """
    key = canonical_dataset(dataset)
    images, _ = load_image_dataset(key, split, data_dir)
    n = len(images) if n_real <= 0 else n_real
    if n > len(images):
        raise UserError(f"n_real={n_real} exceeds the {len(images):,} images of {key} {split}; use fewer or "
                        "split=train")
    path = None
    if use_cache:
        tag = f"{key}|{split}|{n}|{seed}|{extractor.checksum}|{dataset_checksum(key, split, data_dir)}"
        path = cache_root() / "fid" / f"stats-{key}-{split}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}.pt"
        if path.is_file():
            try:
                blob = torch.load(path, map_location="cpu", weights_only=True)
                if blob["tag"] == tag and blob["sigma"].shape == (blob["mu"].shape[0],) * 2:
                    return blob["mu"], blob["sigma"], n
            except Exception:  # noqa: BLE001 - a bad stats cache is recomputed
                pass
            _log(f"cached statistics {path} are unreadable; recomputing")
    if n < len(images):
        index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        images = images[index]  # (n, C, H, W)
    mu, sigma = gaussian_stats(extractor.features(images))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            torch.save({"tag": tag, "mu": mu, "sigma": sigma}, tmp)
            os.replace(tmp, path)
        except OSError:
            pass
    return mu, sigma, n


def fid_of_samples(fake: torch.Tensor, dataset: str, data_dir: str | None = None, n_real: int = 10000,
                   split: str = "test", seed: int = 0, device: torch.device | str | None = None,
                   extractor: FeatureExtractor | None = None) -> FIDResult:
    """FID of generated images against a dataset split, with its signature.

    Args:
        fake: generated images (N, C, H, W), float in [-1, 1] (uint8 accepted).
        dataset: "mnist" or "fashion_mnist" (aliases accepted).
        data_dir: a `--data-dir` value.
        n_real: real images (a seeded subset of the split; 0 = all).
        split: "test" (default) or "train".
        seed: seed of the real subset (the extractor's own seed is in its spec).
        device: where to run the extractor (default auto).
        extractor: a feature space to use instead of the dataset's cached CNN.
    """
    key = canonical_dataset(dataset)
    extractor = extractor or load_or_train_extractor(key, data_dir, device=device)
    if len(fake) < 2:
        raise UserError(f"need at least 2 generated images for FID, got {len(fake)}")
    mu_r, s_r, n = real_stats(key, extractor, split, n_real, seed, data_dir)
    feats = extractor.features(fake)  # (N, F)
    mu_f, s_f = gaussian_stats(feats)
    value = frechet_distance(mu_r, s_r, mu_f, s_f)
    return _result(value, extractor, f"{key}-{split}", n, len(fake), feats.shape[1], split)


def sanity_rows(dataset: str, data_dir: str | None = None, n: int = 10000, seed: int = 0,
                device: torch.device | str | None = None,
                extra_rows: list[tuple[str, torch.Tensor]] | None = None) -> list[dict]:
    """The FID sanity rows: train vs test (small) and uniform noise vs test (large), each with its signature.

    Args:
        dataset: "mnist" or "fashion_mnist".
        data_dir: a `--data-dir` value.
        n: images per side (at most 10,000, the test split size).
        seed: seed of the subsets and of the noise.
        device: where to run the extractor.
        extra_rows: more (name, images (N, C, H, W) in [-1, 1]) rows, e.g. samples after each training epoch.
    """
    key = canonical_dataset(dataset)
    extractor = load_or_train_extractor(key, data_dir, device=device)
    train, _ = load_image_dataset(key, "train", data_dir)
    gen = torch.Generator().manual_seed(seed)
    train_subset = train[torch.randperm(len(train), generator=gen)[:n]]  # (n, C, H, W) uint8
    noise = torch.rand((n, extractor.channels, extractor.size, extractor.size), generator=gen) * 2 - 1
    rows = []
    sets = [(f"{key} train ({n:,}) vs test", train_subset), ("uniform noise vs test", noise), *(extra_rows or [])]
    for name, images in sets:
        t0 = time.perf_counter()
        res = fid_of_samples(images, key, data_dir, n_real=n, seed=seed, extractor=extractor)
        rows.append({"row": name, "fid": res.value, "signature": res.signature, "seconds": time.perf_counter() - t0})
    return rows
