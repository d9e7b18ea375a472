"""Image data: MNIST / Fashion-MNIST straight from their IDX .gz files, a user's folder of images, image grids.

No torchvision: IDX is a big-endian header plus raw uint8 pixels, parsed with `numpy.frombuffer`; pictures are
read and written with Pillow. Parsed datasets are cached as .pt files in `cache_root()/image_data`, keyed by the
sha256 of the source files, so a changed file is re-parsed and a corrupt cache is ignored.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqgan.base.errors import UserError
from seqgan.base.paths import cache_root, data_root

IMAGE_MAGIC = 2051  # IDX: 0x00000803, ubyte data, 3 dimensions
LABEL_MAGIC = 2049  # IDX: 0x00000801, ubyte data, 1 dimension
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CACHE_VERSION = 1


@dataclass(frozen=True)
class IdxDataset:
    """Where a named IDX dataset lives under the data root and what its files must contain."""

    folder: str
    counts: dict[str, int]
    rows: int = 28
    cols: int = 28
    classes: int = 10


DATASETS = {
    "mnist": IdxDataset("mnist", {"train": 60_000, "test": 10_000}),
    "fashion_mnist": IdxDataset("fashion_mnist", {"train": 60_000, "test": 10_000}),
}
ALIASES = {"fashion": "fashion_mnist", "fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist"}
FILE_PREFIX = {"train": "train", "test": "t10k"}


def canonical_dataset(name: str) -> str:
    """The canonical dataset name ("mnist" or "fashion_mnist") for a name or alias; UserError if unknown.

    Args:
        name: e.g. "mnist", "fashion_mnist", "fashion", "fashion-mnist" (case-insensitive).
    """
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise UserError(f"unknown image dataset {name!r}; choose mnist or fashion_mnist (alias: fashion), "
                        "or use a folder of images")
    return key


def dataset_files(name: str, split: str, data_dir: str | None = None) -> tuple[Path, Path]:
    """Paths of the (images, labels) IDX files of a named dataset split; UserError saying where to put them.

    Args:
        name: dataset name or alias.
        split: "train" or "test".
        data_dir: a `--data-dir` value (else $SEQGAN_DATA, else ../shared/data).
    """
    key = canonical_dataset(name)
    if split not in FILE_PREFIX:
        raise UserError(f"unknown split {split!r} for {key}; use train or test")
    root = data_root(data_dir)
    folder = root / DATASETS[key].folder if root else None
    paths = []
    for kind in ("images-idx3", "labels-idx1"):
        stem = f"{FILE_PREFIX[split]}-{kind}-ubyte"
        found = None
        if folder is not None:
            for candidate in (folder / f"{stem}.gz", folder / stem):  # gzip, or already gunzipped
                if candidate.is_file():
                    found = candidate
                    break
        if found is None:
            where = folder if folder is not None else f"<data dir>/{DATASETS[key].folder}"
            raise UserError(f"{key} {split} file {stem}.gz not found in {where}; put the four IDX .gz files "
                            f"(train-/t10k-images-idx3-ubyte.gz, train-/t10k-labels-idx1-ubyte.gz) in "
                            f"<data dir>/{DATASETS[key].folder}/ and pass --data-dir DIR or set SEQGAN_DATA")
        paths.append(found)
    return paths[0], paths[1]


def _read_payload(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(b"\x1f\x8b"):  # not gzip: an uncompressed IDX file
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{path} is not a valid gzip file ({err}); re-copy it") from err


def _header(data: bytes, path: Path, magic: int, ndim: int) -> tuple[int, ...]:
    need = 4 * (1 + ndim)
    if len(data) < need:
        raise UserError(f"{path} is truncated: {len(data)} bytes, shorter than its {need}-byte IDX header")
    fields = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=1 + ndim))
    if fields[0] != magic:
        kind = "image" if magic == IMAGE_MAGIC else "label"
        raise UserError(f"{path} has IDX magic number {fields[0]}, expected {magic} for an {kind} file; "
                        "is it the right file (images vs labels)?")
    return fields[1:]


def read_idx_images(path: str | os.PathLike, expected_count: int | None = None,
                    expected_dims: tuple[int, int] | None = None) -> np.ndarray:
    """Parse an IDX image file (gzip or raw) into a uint8 array (N, H, W); UserError on a bad file.

    Args:
        path: the `*-images-idx3-ubyte[.gz]` file.
        expected_count: N the file must hold, or None to accept any.
        expected_dims: (H, W) the file must hold, or None to accept any.
    """
    path = Path(path)
    data = _read_payload(path)
    count, rows, cols = _header(data, path, IMAGE_MAGIC, 3)
    if expected_count is not None and count != expected_count:
        raise UserError(f"{path} holds {count} images, expected {expected_count}; the file is not the "
                        "standard release (re-copy it)")
    if expected_dims is not None and (rows, cols) != tuple(expected_dims):
        raise UserError(f"{path} holds {rows}x{cols} images, expected {expected_dims[0]}x{expected_dims[1]}")
    size = count * rows * cols
    if len(data) != 16 + size:
        raise UserError(f"{path} is truncated or padded: {len(data) - 16} pixel bytes, header says {size} "
                        f"({count} x {rows} x {cols}); re-copy it")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols)  # (N, H, W)


def read_idx_labels(path: str | os.PathLike, expected_count: int | None = None) -> np.ndarray:
    """Parse an IDX label file (gzip or raw) into a uint8 array (N,); UserError on a bad file.

    Args:
        path: the `*-labels-idx1-ubyte[.gz]` file.
        expected_count: N the file must hold, or None to accept any.
    """
    path = Path(path)
    data = _read_payload(path)
    (count,) = _header(data, path, LABEL_MAGIC, 1)
    if expected_count is not None and count != expected_count:
        raise UserError(f"{path} holds {count} labels, expected {expected_count}; re-copy it")
    if len(data) != 8 + count:
        raise UserError(f"{path} is truncated or padded: {len(data) - 8} label bytes, header says {count}")
    return np.frombuffer(data, dtype=np.uint8, offset=8)  # (N,)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_checksum(name: str, split: str, data_dir: str | None = None) -> str:
    """sha256 over the images and labels files of a split (hex); keys the caches built from them.

    Args:
        name: dataset name or alias.
        split: "train" or "test".
        data_dir: a `--data-dir` value.
    """
    images, labels = dataset_files(name, split, data_dir)
    return hashlib.sha256((_sha256(images) + _sha256(labels)).encode()).hexdigest()


def load_image_dataset(name: str, split: str, data_dir: str | None = None,
                       use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST or Fashion-MNIST images uint8 (N, 1, 28, 28) and labels int64 (N,), verified against the spec.

    Args:
        name: "mnist" or "fashion_mnist" (aliases "fashion", "fashion-mnist").
        split: "train" (60,000) or "test" (10,000).
        data_dir: a `--data-dir` value (else $SEQGAN_DATA, else ../shared/data).
        use_cache: read/write the parsed tensors under cache_root()/image_data (keyed by file checksums).
    """
    key = canonical_dataset(name)
    spec = DATASETS[key]
    image_path, label_path = dataset_files(key, split, data_dir)
    cache_file = None
    if use_cache:
        digest = hashlib.sha256((_sha256(image_path) + _sha256(label_path)).encode()).hexdigest()
        cache_file = cache_root() / "image_data" / f"{key}-{split}-{digest[:16]}.pt"
        cached = _load_cached(cache_file, spec.counts[split])
        if cached is not None:
            return cached
    count = spec.counts[split]
    images = read_idx_images(image_path, count, (spec.rows, spec.cols))
    labels = read_idx_labels(label_path, count)
    if len(labels) != len(images):  # only reachable when the spec has no fixed count
        raise UserError(f"{label_path} holds {len(labels)} labels but {image_path} holds {len(images)} images")
    if labels.size and int(labels.max()) >= spec.classes:
        raise UserError(f"{label_path} has label {int(labels.max())}, outside 0..{spec.classes - 1}")
    image_t = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, H, W)
    label_t = torch.from_numpy(labels.astype(np.int64))  # (N,)
    if cache_file is not None:
        _save_cached(cache_file, image_t, label_t)
    return image_t, label_t


def _load_cached(path: Path, count: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        images, labels = blob["images"], blob["labels"]
        ok = (blob.get("version") == CACHE_VERSION and images.dtype == torch.uint8 and images.dim() == 4
              and labels.dtype == torch.int64 and len(images) == len(labels) == count)
    except Exception:  # a corrupt or foreign cache file is simply rebuilt
        ok = False
    if not ok:
        print(f"seqgan: ignoring unreadable dataset cache {path}; re-parsing", file=sys.stderr)
        return None
    return images, labels


def _save_cached(path: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        torch.save({"version": CACHE_VERSION, "images": images, "labels": labels}, tmp)
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs speed
        pass


def load_image_folder(path: str | os.PathLike, size: int, channels: int) -> torch.Tensor:
    """Every image file under a folder (recursively, sorted), resized to size x size, as uint8 (N, C, size, size).

    Args:
        path: a folder of .png/.jpg/... files.
        size: output height and width in pixels.
        channels: 1 (greyscale) or 3 (RGB); images are converted.
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(path)
    if channels not in (1, 3):
        raise UserError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels}")
    if size < 1:
        raise UserError(f"image size must be a positive number of pixels, got {size}")
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(files), size, size, channels), dtype=np.uint8)  # (N, H, W, C)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as img:
                img = img.convert(mode)
                if img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                out[i] = np.asarray(img, dtype=np.uint8).reshape(size, size, channels)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise UserError(f"cannot read image {file}: {err}; remove or fix it") from err
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [-1, 1] (the range of a tanh generator).

    Args:
        images: uint8 (N, C, H, W) (any shape works).
    """
    return images.to(torch.float32) / 127.5 - 1.0


def from_unit_range(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] (clamped) -> uint8 pixels in [0, 255], rounded.

    Args:
        images: float (N, C, H, W) (any shape works).
    """
    return ((images.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def _to_pil(pixels: np.ndarray):
    """(H, W, C) uint8 -> a PIL image (mode L for C = 1, RGB for C = 3)."""
    from PIL import Image

    if pixels.shape[2] == 1:
        return Image.fromarray(pixels[:, :, 0])
    return Image.fromarray(pixels)


def _encode(pixels: np.ndarray, suffix: str) -> bytes:
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WEBP"}.get(suffix.lower())
    if fmt is None:
        raise UserError(f"cannot write images as {suffix or 'files without an extension'}; use .png or .jpg")
    buf = io.BytesIO()
    _to_pil(pixels).save(buf, format=fmt)
    return buf.getvalue()


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise UserError(f"expected a non-empty batch of images (N, C, H, W) with C in (1, 3), got shape "
                        f"{tuple(images.shape)}")


def save_image_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8, padding: int = 2) -> Path:
    """Write a batch of images as one grid picture (PNG/JPEG by suffix), atomically; returns the path.

    Args:
        images: float (N, C, H, W) in [-1, 1], C = 1 or 3 (uint8 in [0, 255] is accepted too).
        path: destination file, e.g. grid.png; its folder is created.
        nrow: images per row.
        padding: black pixels between and around images.
    """
    from seqgan.core.checkpoint import atomic_write_bytes

    _check_images(images)
    pixels = images if images.dtype == torch.uint8 else from_unit_range(images)
    n, c, h, w = pixels.shape
    cols = max(1, min(nrow, n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding, c), dtype=np.uint8)
    hwc = pixels.permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[top:top + h, left:left + w] = hwc[i]
    path = Path(path)
    data = _encode(grid, path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def save_image_files(images: torch.Tensor, folder: str | os.PathLike, prefix: str = "sample") -> list[Path]:
    """Write each image as its own PNG (`prefix_000000.png`, ...) into a folder; returns the paths.

    Args:
        images: float (N, C, H, W) in [-1, 1], C = 1 or 3 (uint8 accepted too).
        folder: destination folder (created).
        prefix: file-name prefix.
    """
    from seqgan.core.checkpoint import atomic_write_bytes

    _check_images(images)
    pixels = images if images.dtype == torch.uint8 else from_unit_range(images)
    hwc = pixels.permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(len(hwc) - 1)))
    paths = []
    for i in range(len(hwc)):
        path = folder / f"{prefix}_{i:0{width}d}.png"
        atomic_write_bytes(path, _encode(hwc[i], ".png"))
        paths.append(path)
    return paths
