"""FID (and precision and recall) against a dataset split: cached real statistics and features, the scores of
generated images, and the sanity rows.

The real statistics and the real features are cached under `cache_root()/fid/`, keyed by the dataset, split,
subset size, seed, the extractor's checksum and the split's data checksum; the distance and the signature come
from eval.fid, precision and recall from eval.precision_recall (on the same features as FID: generated images
pass through the extractor once for both).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

import torch

from eval.fid import FeatureExtractor, FIDResult, fid_against_features, fid_against_stats, gaussian_stats
from eval.precision_recall import DEFAULT_K, PrecisionRecallResult, precision_recall_result
from seqgan.base.errors import UserError
from seqgan.base.paths import cache_root
from seqgan.image.data import canonical_dataset, dataset_checksum, load_image_dataset
from seqgan.image.fid_extractor import fid_log, load_or_train_extractor


def _cache_path(kind: str, key: str, split: str, tag: str):
    return cache_root() / "fid" / f"{kind}-{key}-{split}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}.pt"


def _read_cache(path, tag: str) -> dict | None:
    """The cached blob at `path` if it loads and carries `tag`, else None (with a log line if it was unreadable)."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob["tag"] == tag:
            return blob
    except Exception:  # noqa: BLE001 - a bad cache file is recomputed
        pass
    fid_log(f"cached statistics {path} are unreadable; recomputing")
    return None


def _write_cache(path, blob: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        torch.save(blob, tmp)
        os.replace(tmp, path)
    except OSError:
        pass


def _real_subset(dataset: str, split: str, n_real: int, data_dir: str | None) -> tuple[str, torch.Tensor, int]:
    """(canonical name, the split's images, n): how many real images n_real asks for, checked against the split."""
    key = canonical_dataset(dataset)
    images, _ = load_image_dataset(key, split, data_dir)
    n = len(images) if n_real <= 0 else n_real
    if n > len(images):
        raise UserError(f"n_real={n_real} exceeds the {len(images):,} images of {key} {split}; use fewer or "
                        "split=train")
    return key, images, n


def _tag(key: str, split: str, n: int, seed: int, extractor: FeatureExtractor, data_dir: str | None) -> str:
    return f"{key}|{split}|{n}|{seed}|{extractor.checksum}|{dataset_checksum(key, split, data_dir)}"


def real_features(dataset: str, extractor: FeatureExtractor, split: str = "test", n_real: int = 10000,
                  seed: int = 0, data_dir: str | None = None, use_cache: bool = True) -> tuple[torch.Tensor, int]:
    """(features (n, F) float64, n) of a dataset split: the seeded subset `real_stats` uses.

    Args:
        dataset: "mnist" or "fashion_mnist".
        extractor: the feature space.
        split: "train" or "test".
        n_real: real images to use (at most the split size; 0 = all).
        seed: seed of the subset.
        data_dir: a `--data-dir` value.
        use_cache: read/write the features under cache_root()/fid/.
    """
    key, images, n = _real_subset(dataset, split, n_real, data_dir)

    def compute() -> dict:
        subset = images
        if n < len(images):
            index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
            subset = images[index]  # (n, C, H, W)
        return {"features": extractor.features(subset)}  # (n, F)

    blob = _cached("features", (key, split, n, seed, extractor, data_dir), use_cache, compute,
                   valid=lambda b: b["features"].shape[0] == n)
    return blob["features"], n


def real_stats(dataset: str, extractor: FeatureExtractor, split: str = "test", n_real: int = 10000, seed: int = 0,
               data_dir: str | None = None, use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(mu (F,), sigma (F, F), n) of a dataset split's features; a seeded subset when n_real < the split size.
    The arguments are `real_features`'s (the cache then holds the statistics as well as the features)."""
    key, _, n = _real_subset(dataset, split, n_real, data_dir)

    def compute() -> dict:
        mu, sigma = gaussian_stats(real_features(key, extractor, split, n_real, seed, data_dir, use_cache)[0])
        return {"mu": mu, "sigma": sigma}

    blob = _cached("stats", (key, split, n, seed, extractor, data_dir), use_cache, compute,
                   valid=lambda b: b["sigma"].shape == (b["mu"].shape[0],) * 2)
    return blob["mu"], blob["sigma"], n


def _cached(what: str, subset: tuple, use_cache: bool, compute: Callable[[], dict],
            valid: Callable[[dict], bool]) -> dict:
    """`compute()`'s blob for a real subset, read from / written to cache_root()/fid/ when `use_cache` (a cached
    blob that fails `valid` is computed again).

    Args:
        what: "features" or "stats" (the cache's sub-folder).
        subset: (dataset key, split, n, seed, extractor, data_dir), which name the subset and the feature space.
    """
    if not use_cache:
        return compute()
    key, split, n, seed, extractor, data_dir = subset
    tag = _tag(key, split, n, seed, extractor, data_dir)
    path = _cache_path(what, key, split, tag)
    blob = _read_cache(path, tag)
    if blob is not None and valid(blob):
        return blob
    blob = compute()
    _write_cache(path, {"tag": tag, **blob})
    return blob


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
    return fid_against_stats(mu_r, s_r, fake, extractor, f"{key}-{split}", n, split)


def scores_of_samples(fake: torch.Tensor, dataset: str, data_dir: str | None = None, n_real: int = 10000,
                      split: str = "test", seed: int = 0, extractor: FeatureExtractor | None = None,
                      k: int = DEFAULT_K) -> tuple[FIDResult, PrecisionRecallResult]:
    """FID and precision/recall (k-NN manifolds) of generated images against a dataset split, each with its
    signature; the generated images pass through the extractor once for both.

    Args:
        fake: generated images (N, C, H, W), float in [-1, 1] (uint8 accepted), N > k.
        dataset: "mnist" or "fashion_mnist".
        data_dir: a `--data-dir` value.
        n_real: real images (a seeded subset of the split; 0 = all).
        split: "test" (default) or "train".
        seed: seed of the real subset.
        extractor: the feature space (default: the dataset's cached CNN).
        k: the neighbourhood size of precision and recall.
    """
    key = canonical_dataset(dataset)
    extractor = extractor or load_or_train_extractor(key, data_dir)
    if len(fake) < 2:
        raise UserError(f"need at least 2 generated images for FID, got {len(fake)}")
    mu_r, s_r, n = real_stats(key, extractor, split, n_real, seed, data_dir)
    fake_features = extractor.features(fake)  # (N, F)
    fid = fid_against_features(mu_r, s_r, fake_features, extractor, f"{key}-{split}", n, split)
    real, _ = real_features(key, extractor, split, n_real, seed, data_dir)
    return fid, precision_recall_result(real, fake_features, extractor, f"{key}-{split}", k)


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
