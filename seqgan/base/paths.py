"""Where data and caches live: `--data-dir`, then $SEQGAN_DATA, then ../shared/data beside the project."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_root(explicit: str | None = None) -> Path | None:
    """The data folder to read named corpora and the oracle from, or None if there is none.

    Args:
        explicit: a `--data-dir` value; wins over the environment and the defaults.
    """
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("SEQGAN_DATA"):
        return Path(os.environ["SEQGAN_DATA"]).expanduser()
    for candidate in (Path.cwd() / ".." / "shared" / "data", PROJECT_ROOT.parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def cache_root() -> Path:
    """User cache folder ($SEQGAN_CACHE, else $XDG_CACHE_HOME/seqgan, else ~/.cache/seqgan); never ../shared."""
    if os.environ.get("SEQGAN_CACHE"):
        return Path(os.environ["SEQGAN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqgan"
