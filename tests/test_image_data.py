"""Image data: IDX parsing and verification, the dataset cache, image folders, [-1, 1] mapping, image grids."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from seqgan.base.errors import UserError
from seqgan.image import data as D
from tests.image_helpers import IMAGE_MAGIC, LABEL_MAGIC, class_images, write_dataset, write_idx

SMALL = D.IdxDataset("mnist", {"train": 300, "test": 200})


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    """A tiny synthetic MNIST (300 train, 200 test) as --data-dir, with the spec's counts patched to match."""
    monkeypatch.setitem(D.DATASETS, "mnist", SMALL)
    monkeypatch.setenv("SEQGAN_CACHE", str(tmp_path / "cache"))
    return write_dataset(tmp_path / "data")


def test_reads_back_exactly_what_was_written(small_mnist):
    images, labels = D.load_image_dataset("mnist", "train", str(small_mnist))
    want_x, want_y = class_images(300, seed=1)
    assert images.dtype == torch.uint8 and images.shape == (300, 1, 28, 28)
    assert labels.dtype == torch.int64 and labels.shape == (300,)
    assert np.array_equal(images[:, 0].numpy(), want_x)
    assert np.array_equal(labels.numpy(), want_y.astype(np.int64))
    test_x, _ = D.load_image_dataset("mnist", "test", str(small_mnist))
    assert test_x.shape == (200, 1, 28, 28)


def test_full_size_counts_are_verified(tmp_path, monkeypatch):
    """The real spec (10,000 test images of 28x28) accepts a file of exactly that shape."""
    monkeypatch.setenv("SEQGAN_CACHE", str(tmp_path / "cache"))
    images = np.zeros((10_000, 28, 28), dtype=np.uint8)
    images[:, 5, 7] = np.arange(10_000) % 251
    labels = (np.arange(10_000) % 10).astype(np.uint8)
    write_idx(tmp_path / "fashion_mnist" / "t10k-images-idx3-ubyte.gz", images, IMAGE_MAGIC)
    write_idx(tmp_path / "fashion_mnist" / "t10k-labels-idx1-ubyte.gz", labels, LABEL_MAGIC)
    x, y = D.load_image_dataset("fashion-mnist", "test", str(tmp_path))
    assert x.shape == (10_000, 1, 28, 28)
    assert torch.equal(x[:, 0, 5, 7], torch.arange(10_000) % 251)
    assert torch.equal(y, torch.arange(10_000) % 10)


@pytest.mark.parametrize("alias", ["fashion", "fashion-mnist", "Fashion_MNIST", "fashionmnist"])
def test_aliases(alias):
    assert D.canonical_dataset(alias) == "fashion_mnist"


def test_unknown_dataset_and_split(small_mnist):
    with pytest.raises(UserError, match="unknown image dataset 'cifar'"):
        D.load_image_dataset("cifar", "train", str(small_mnist))
    with pytest.raises(UserError, match="unknown split 'valid'"):
        D.load_image_dataset("mnist", "valid", str(small_mnist))


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(UserError) as err:
        D.load_image_dataset("mnist", "train", str(tmp_path / "nowhere"))
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path / "nowhere" / "mnist") in msg
    assert "--data-dir" in msg and "SEQGAN_DATA" in msg


def test_uncompressed_files_are_accepted(tmp_path, monkeypatch):
    monkeypatch.setitem(D.DATASETS, "mnist", SMALL)
    monkeypatch.setenv("SEQGAN_CACHE", str(tmp_path / "cache"))
    images, labels = class_images(200, seed=2)
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte", images, IMAGE_MAGIC, compress=False)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte", labels, LABEL_MAGIC, compress=False)
    x, _ = D.load_image_dataset("mnist", "test", str(tmp_path), use_cache=False)
    assert np.array_equal(x[:, 0].numpy(), images)


def _corrupt(small_mnist, file: str, data: bytes) -> None:
    (small_mnist / "mnist" / file).write_bytes(data)


@pytest.mark.parametrize("case, match", [
    ("swapped", "magic number 2049, expected 2051"),
    ("truncated", "truncated"),
    ("header_only", "truncated or padded"),
    ("count", "holds 299 images, expected 300"),
    ("dims", "holds 28x27 images, expected 28x28"),
    ("label_count", "holds 299 labels, expected 300"),
    ("label_range", "label 10, outside 0..9"),
    ("not_gzip", "not a valid gzip file"),
])
def test_bad_files_raise_user_errors(small_mnist, case, match):
    images, labels = class_images(300, seed=1)
    img_file, lab_file = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
    if case == "swapped":
        write_idx(small_mnist / "mnist" / img_file, labels, LABEL_MAGIC)
    elif case == "truncated":
        raw = gzip.decompress((small_mnist / "mnist" / img_file).read_bytes())
        _corrupt(small_mnist, img_file, gzip.compress(raw[:-100]))
    elif case == "header_only":
        _corrupt(small_mnist, img_file, gzip.compress(b"\x00\x00\x08\x03" + (300).to_bytes(4, "big")
                                                      + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")))
    elif case == "count":
        write_idx(small_mnist / "mnist" / img_file, images[:299], IMAGE_MAGIC)
    elif case == "dims":
        write_idx(small_mnist / "mnist" / img_file, images[:, :, :27], IMAGE_MAGIC)
    elif case == "label_count":
        write_idx(small_mnist / "mnist" / lab_file, labels[:299], LABEL_MAGIC)
    elif case == "label_range":
        bad = labels.copy()
        bad[17] = 10
        write_idx(small_mnist / "mnist" / lab_file, bad, LABEL_MAGIC)
    elif case == "not_gzip":
        _corrupt(small_mnist, img_file, b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(UserError, match=match):
        D.load_image_dataset("mnist", "train", str(small_mnist))


def test_short_header_is_truncated(tmp_path):
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"\x00\x00\x08"))
    with pytest.raises(UserError, match="shorter than its 16-byte IDX header"):
        D.read_idx_images(tmp_path / "x.gz")


def test_cache_is_used_keyed_by_checksum_and_survives_corruption(small_mnist, tmp_path, capsys):
    first = D.load_image_dataset("mnist", "test", str(small_mnist))
    cached = list((tmp_path / "cache" / "image_data").glob("mnist-test-*.pt"))
    assert len(cached) == 1
    # A changed source file gets a new key (no stale data), the old cache entry stays harmlessly.
    images, labels = class_images(200, seed=3)
    write_idx(small_mnist / "mnist" / "t10k-images-idx3-ubyte.gz", images, IMAGE_MAGIC)
    write_idx(small_mnist / "mnist" / "t10k-labels-idx1-ubyte.gz", labels, LABEL_MAGIC)
    second = D.load_image_dataset("mnist", "test", str(small_mnist))
    assert np.array_equal(second[0][:, 0].numpy(), images) and not torch.equal(first[0], second[0])
    assert len(list((tmp_path / "cache" / "image_data").glob("mnist-test-*.pt"))) == 2
    # A corrupt cache file is ignored (with a log line) and rebuilt.
    new = next(p for p in (tmp_path / "cache" / "image_data").glob("mnist-test-*.pt") if p != cached[0])
    new.write_bytes(b"not a torch file")
    capsys.readouterr()
    third = D.load_image_dataset("mnist", "test", str(small_mnist))
    assert torch.equal(third[0], second[0]) and torch.equal(third[1], second[1])
    assert "ignoring unreadable dataset cache" in capsys.readouterr().err
    assert D.load_image_dataset("mnist", "test", str(small_mnist))[0].shape == (200, 1, 28, 28)


def test_unit_range_round_trip():
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    unit = D.to_unit_range(pixels)
    assert unit.dtype == torch.float32
    assert unit.min().item() == -1.0 and unit.max().item() == 1.0
    assert torch.equal(D.from_unit_range(unit), pixels)
    assert torch.equal(D.from_unit_range(torch.tensor([-3.0, 3.0])), torch.tensor([0, 255], dtype=torch.uint8))


def test_image_grid_layout_and_atomic_write(tmp_path):
    images = torch.zeros(5, 1, 4, 3, dtype=torch.uint8)
    for i in range(5):
        images[i] = 10 * (i + 1)
    path = D.save_image_grid(images, tmp_path / "sub" / "grid.png", nrow=3, padding=1)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (2 * (4 + 1) + 1, 3 * (3 + 1) + 1)  # 2 rows x 3 columns of 4x3 images
    assert grid[1, 1] == 10 and grid[1, 5] == 20 and grid[1, 9] == 30 and grid[6, 1] == 40 and grid[6, 5] == 50
    assert grid[0, 0] == 0 and grid[6, 9] == 0  # padding and the empty sixth cell
    assert not list(tmp_path.rglob("*.tmp"))
    rgb = D.save_image_grid(torch.rand(4, 3, 8, 8) * 2 - 1, tmp_path / "rgb.png", nrow=2)
    assert Image.open(rgb).mode == "RGB"
    with pytest.raises(UserError, match="use .png or .jpg"):
        D.save_image_grid(images, tmp_path / "grid.xyz")
    with pytest.raises(UserError, match="non-empty batch"):
        D.save_image_grid(torch.zeros(0, 1, 4, 4), tmp_path / "empty.png")


def test_image_folder_round_trip_resize_and_modes(tmp_path):
    pixels = torch.randint(0, 256, (3, 1, 12, 12), dtype=torch.uint8)
    D.save_image_files(pixels, tmp_path / "imgs")
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    back = D.load_image_folder(tmp_path / "imgs", size=12, channels=1)
    assert back.dtype == torch.uint8 and torch.equal(back, pixels)
    rgb = D.load_image_folder(tmp_path / "imgs", size=12, channels=3)
    assert rgb.shape == (3, 3, 12, 12) and torch.equal(rgb[:, 0], pixels[:, 0]) and torch.equal(rgb[:, 2], rgb[:, 0])
    Image.new("RGB", (40, 20), (200, 100, 0)).save(tmp_path / "imgs" / "nested.jpg")
    resized = D.load_image_folder(tmp_path / "imgs", size=8, channels=3)
    assert resized.shape == (4, 3, 8, 8)


def test_image_folder_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        D.load_image_folder(tmp_path / "missing", 28, 1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no images")
    with pytest.raises(UserError, match="no image files"):
        D.load_image_folder(tmp_path / "empty", 28, 1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match="cannot read image .*broken.png"):
        D.load_image_folder(tmp_path / "bad", 28, 1)
    with pytest.raises(UserError, match="channels must be 1"):
        D.load_image_folder(tmp_path / "bad", 28, 2)


@pytest.mark.slow
def test_real_mnist_and_fashion_match_provenance():
    """The shared MNIST / Fashion-MNIST files (if present) parse to the counts and labels in PROVENANCE.md."""
    from seqgan.base.paths import data_root

    root = data_root()
    if root is None or not (root / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("shared MNIST data is not available")
    x, y = D.load_image_dataset("mnist", "train", use_cache=False)
    assert x.shape == (60_000, 1, 28, 28) and y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert x.double().div(255).mean().item() == pytest.approx(0.130660, abs=1e-6)
    if (root / "fashion_mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        fx, fy = D.load_image_dataset("fashion", "test", use_cache=False)
        assert fx.shape == (10_000, 1, 28, 28) and fy[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
        assert torch.bincount(fy).tolist() == [1000] * 10
