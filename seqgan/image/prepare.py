"""Training images and labels as a run uses them: read, cut to data.limit, resized and converted to the run's
image size and channels, labels checked against the classes."""

from __future__ import annotations

import torch

from seqgan.base.errors import UserError
from seqgan.image.config import ImageConfig


def load_training_data(config: ImageConfig,
                       data_dir: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The training images as uint8 (N, C, H, W), resized / converted as the config says, and their int64 labels
    (N,) (None for a folder of images).

    Args:
        config: the run's config (its data section).
        data_dir: where named datasets live (default: $SEQGAN_DATA or ../shared/data).
    """
    from seqgan.image.data import load_image_dataset, load_image_folder

    d = config.data
    if d.dataset == "folder":
        return prepare_images(config, load_image_folder(d.image_dir, d.image_size or 32, d.channels or 3)), None
    images, labels = load_image_dataset(d.dataset, "train", data_dir)  # (N, 1, 28, 28), (N,)
    return prepare_images(config, images), prepare_labels(config, labels)


def prepare_images(config: ImageConfig, images: torch.Tensor) -> torch.Tensor:
    """The first data.limit images (all when 0), resized to data.image_size and converted to data.channels.

    Args:
        config: the run's config.
        images: uint8 (N, C, H, W).
    """
    d = config.data
    images = images[:d.limit] if d.limit else images
    return convert(images, d.image_size or images.shape[-1], d.channels or images.shape[1])


def prepare_labels(config: ImageConfig, labels: torch.Tensor | None) -> torch.Tensor | None:
    """The labels of the images `prepare_images` keeps: the first data.limit (all when 0); None stays None.

    Args:
        config: the run's config.
        labels: int64 (N,) or None.
    """
    return labels[:config.data.limit] if labels is not None and config.data.limit else labels


def convert(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) resized bilinearly (antialiased) to size x size and to `channels` (1 <-> 3)."""
    if images.shape[-1] != size:
        resized = []
        for chunk in images.split(4096):
            x = torch.nn.functional.interpolate(chunk.float(), size=(size, size), mode="bilinear",
                                                antialias=True, align_corners=False)  # (n, C, size, size)
            resized.append(x.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(resized)
    if images.shape[1] != channels:
        images = (images.expand(-1, 3, -1, -1).contiguous() if channels == 3  # grey -> RGB
                  else images.float().mean(1, keepdim=True).round().to(torch.uint8))  # RGB -> grey
    return images


def convert_float(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """float (N, C, H, W) in [-1, 1] resized to size x size and converted to `channels`."""
    if images.shape[-1] != size:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                                 align_corners=False)
    if images.shape[1] != channels:
        images = images.mean(1, keepdim=True) if channels == 1 else images.expand(-1, channels, -1, -1)
    return images.clamp(-1.0, 1.0)


def checked_labels(config: ImageConfig, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """`labels` if there is one per image, each in 0..model.classes - 1; None for a run built only to sample."""
    k, n = config.model.classes, len(images)
    if labels is None:
        if n:
            raise UserError(f"--loss {config.train.loss} trains on class labels and got images without any; use "
                            "--dataset mnist or fashion_mnist")
        return None
    if len(labels) != n:
        raise UserError(f"got {len(labels)} labels for {n} images; pass one label per image")
    if n and not 0 <= int(labels.min()) <= int(labels.max()) < k:
        raise UserError(f"labels run from {int(labels.min())} to {int(labels.max())}, outside 0..{k - 1}; set "
                        "model.classes to the dataset's number of classes")
    return labels
