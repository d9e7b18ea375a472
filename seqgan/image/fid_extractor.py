"""The FID feature spaces: a small CNN classifier trained once per dataset and cached, and an Inception adapter.

Inception weights cannot be downloaded here, so the default feature space is the penultimate layer (its
pre-activation, so no dead ReLU units flatten the covariance) of a small CNN classifier trained once per dataset
inside the project, deterministic given its seed, and cached under `cache_root()/fid/` with its test accuracy and
a checksum of its weights. Scores from this extractor are NOT comparable with published Inception FIDs; compare
rankings. Inception features are available when the user passes a local weights file and has torch-fidelity or
torchmetrics installed (neither is a dependency). Both follow eval.fid.FeatureExtractor; the distance itself is
in eval.fid.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from eval.fid import check_images
from seqgan.base.errors import UserError
from seqgan.base.files import atomic_write_bytes
from seqgan.base.paths import cache_root
from seqgan.core.log import progress
from seqgan.core.runtime import pick_device
from seqgan.image.data import canonical_dataset, dataset_checksum, from_unit_range, load_image_dataset, to_unit_range

EXTRACTOR_ARCH = "cnn-v1"
CACHE_VERSION = 1
# The accuracy each default extractor must reach on its test split; a lower one is flagged.
MIN_ACCURACY = {"mnist": 0.99, "fashion_mnist": 0.90}


def fid_log(message: str) -> None:
    """One `seqgan fid:` line on stderr (training, cache problems)."""
    print(f"seqgan fid: {message}", file=sys.stderr, flush=True)


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
        check_images(images, self)
        self.model.eval()
        return _batched(self.model.features, images, batch_size, self.device,
                        images.dtype == torch.uint8).double()  # (N, F)

    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted classes (N,) of images (N, C, H, W) as for `features`."""
        check_images(images, self)
        self.model.eval()
        return _batched(self.model, images, batch_size, self.device, images.dtype == torch.uint8).argmax(1)


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
    fid_log(f"cached extractor {path} {problem}; retraining")
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
    key = canonical_dataset(dataset)
    spec = spec or DEFAULT_SPECS[key]
    device = pick_device("auto" if device is None else str(device))
    data_sum = dataset_checksum(key, "train", data_dir)
    path = extractor_cache_path(key, spec, data_sum)
    blob = None if retrain else _load_extractor_file(path, spec)
    if blob is None:
        train_x, train_y = load_image_dataset(key, "train", data_dir)
        test_x, test_y = load_image_dataset(key, "test", data_dir)
        fid_log(f"training the {key} feature extractor once ({spec.epochs} epochs over {len(train_x):,} images); "
             f"it is cached at {path}")
        model, accuracy, seconds = train_classifier(train_x, train_y, test_x, test_y, spec, device,
                                                    desc=f"{key} FID extractor")
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        blob = {"version": CACHE_VERSION, "arch": EXTRACTOR_ARCH, "dataset": key, "spec": asdict(spec),
                "spec_key": spec.key(), "data_checksum": data_sum, "state_dict": state,
                "checksum": state_checksum(state), "test_accuracy": accuracy, "train_seconds": seconds,
                "torch": str(torch.__version__)}
        fid_log(f"{key} extractor: test accuracy {accuracy:.2%}, trained in {seconds:.0f} s")
        if accuracy < MIN_ACCURACY.get(key, 0.0) and spec == DEFAULT_SPECS.get(key):
            fid_log(f"warning: {key} extractor accuracy {accuracy:.2%} is below the {MIN_ACCURACY[key]:.0%} target")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            torch.save(blob, buf)
            atomic_write_bytes(path, buf.getvalue())
        except OSError as err:  # an unwritable cache costs a retrain next time, nothing else
            fid_log(f"could not cache the extractor at {path} ({err}); set SEQGAN_CACHE to a writable folder")
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
