"""Synthetic image data for hermetic image tests: tiny IDX .gz files and class-structured 28x28 images."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file's bytes: big-endian magic, one uint32 per dimension, then the uint8 payload."""
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int, compress: bool = True) -> Path:
    """Write `array` (N, H, W) or (N,) as an IDX file, gzip-compressed unless compress=False."""
    data = idx_bytes(array, magic)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, compresslevel=1, mtime=0) if compress else data)
    return path


def class_images(n: int, seed: int, classes: int = 10, proto_seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 28, 28) uint8 and labels (n,): a smooth random prototype per class plus pixel noise.

    The prototypes depend only on `proto_seed`, so two calls with different `seed` draw two samples ("train"
    and "test") of the same distribution.
    """
    protos_gen = torch.Generator().manual_seed(proto_seed)
    coarse = torch.rand((classes, 1, 7, 7), generator=protos_gen)
    protos = torch.nn.functional.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=gen)
    images = protos[labels, 0] * 255 + torch.randn((n, 28, 28), generator=gen) * 25  # (n, 28, 28)
    return images.clamp(0, 255).round().to(torch.uint8).numpy(), labels.to(torch.uint8).numpy()


def write_dataset(root: Path, folder: str = "mnist", n_train: int = 300, n_test: int = 200) -> Path:
    """A tiny MNIST-layout dataset (four IDX .gz files) under root/folder; returns root (a --data-dir)."""
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images, labels = class_images(n, seed)
        write_idx(root / folder / f"{prefix}-images-idx3-ubyte.gz", images, IMAGE_MAGIC)
        write_idx(root / folder / f"{prefix}-labels-idx1-ubyte.gz", labels, LABEL_MAGIC)
    return root
