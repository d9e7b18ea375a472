"""Checkpoints: one file per save, written to `*.tmp` then `os.replace`d, so a kill never leaves half a file."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

# the atomic writers live in seqgan.base.files (no torch); imported here too because many modules take them from here
from seqgan.base.files import atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: F401

FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Save a checkpoint dict (tensors, RNG states, plain data) atomically.

    Args:
        path: destination file; its folder must exist.
        state: anything `torch.save` accepts; a `format_version` key is added.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**state, "format_version": FORMAT_VERSION}, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class CheckpointError(Exception):
    """A checkpoint file is missing, truncated or not one of ours."""


def load_checkpoint(path: str | os.PathLike, map_location: torch.device | str = "cpu") -> dict:
    """Load a checkpoint written by `save_checkpoint`; raises CheckpointError on a corrupt or foreign file."""
    path = Path(path)
    try:
        # weights_only=False: our checkpoints hold RNG states (numpy-free tuples) next to tensors; they are
        # files this toolkit wrote itself into the user's run directory.
        state = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint {path} does not exist") from err
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(err).__name__})") from err
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a seqgan checkpoint of format {FORMAT_VERSION}")
    return state


def architecture_differences(stored: dict, built: dict) -> str:
    """The top-level architecture entries that differ between a checkpoint and the nets built, e.g. "net: 'mlp'
    vs 'dcgan'; generator"."""
    keys = [k for k in dict.fromkeys([*stored, *built]) if stored.get(k) != built.get(k)]
    return "; ".join(f"{k}: {stored.get(k)!r} vs {built.get(k)!r}" if not isinstance(built.get(k), dict) else k
                     for k in keys)
