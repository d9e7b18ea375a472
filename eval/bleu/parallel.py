"""Sufficient statistics of many hypotheses computed in a pool of worker processes, chunk by chunk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class StatsSource(Protocol):
    """What the workers score hypotheses with (a `ReferenceSet`): its statistics of one chunk, in-process."""

    def stats(self, hypotheses: Sequence[Sequence[str]]) -> Any: ...


_WORKER_SOURCE: StatsSource | None = None


def _init_worker(source: StatsSource) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = source


def _worker_stats(hypotheses: Sequence[Sequence[str]]) -> Any:
    assert _WORKER_SOURCE is not None
    return _WORKER_SOURCE.stats(hypotheses)


def chunked_stats(source: StatsSource, hypotheses: Sequence[Sequence[str]], processes: int) -> list:
    """Statistics of consecutive chunks of `hypotheses`, one chunk per worker process, in order.

    Args:
        source: what scores a chunk (`source.stats(chunk)` runs in the workers, so it must be picklable).
        hypotheses: tokenized hypotheses.
        processes: worker processes (at most one per hypothesis).
    """
    import multiprocessing

    processes = min(int(processes), len(hypotheses))
    bounds = np.linspace(0, len(hypotheses), processes + 1).round().astype(int)
    chunks = [list(hypotheses[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with multiprocessing.get_context().Pool(processes, initializer=_init_worker, initargs=(source,)) as pool:
        return pool.map(_worker_stats, chunks)
