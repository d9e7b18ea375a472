"""FID against a dataset split: cached real statistics, FID of generated images, and the sanity rows.

The real statistics are cached under `cache_root()/fid/`, keyed by the dataset, split, subset size, seed, the
extractor's checksum and the split's data checksum; the distance and the signature come from eval.fid.
"""

from __future__ import annotations

import hashlib
import os
import time

import torch

from eval.fid import FeatureExtractor, FIDResult, feature_stats, fid_against_stats
from seqgan.base.errors import UserError
from seqgan.base.paths import cache_root
from seqgan.image.data import canonical_dataset, dataset_checksum, load_image_dataset
from seqgan.image.fid_extractor import fid_log, load_or_train_extractor


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
            fid_log(f"cached statistics {path} are unreadable; recomputing")
    if n < len(images):
        index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        images = images[index]  # (n, C, H, W)
    mu, sigma = feature_stats(images, extractor)
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
    return fid_against_stats(mu_r, s_r, fake, extractor, f"{key}-{split}", n, split)


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
