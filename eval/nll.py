"""NLL-oracle and NLL-test in nats per token, with per-sample values and a signature.

Scoring can be split across processes (data-parallel training): inside `sharded(shard)` each process scores the
rows `shard.rows(n)` gives it and `shard.gather` puts every process's per-row values back together, so each
process ends with all n values, in order, and computes the same number one process would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from seqgan.base.version import VERSION


class ScoringModel(Protocol):
    """What NLL-test needs of a model: the summed NLL of each sequence (e.g. seqgan's LSTMGenerator)."""

    def score(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor: ...


class SamplingModel(ScoringModel, Protocol):
    """What NLL-oracle needs of the evaluated model as well: seeded sampling, and its parameters to find its device."""

    def sample(self, n: int, gen: torch.Generator, temperature: float = 1.0) -> torch.Tensor: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


class RowShard(Protocol):
    """How per-row scoring is split across processes (`seqgan.core.distributed.RowShard` is one)."""

    def rows(self, n: int) -> slice | None:
        """This process's rows of n; None when this process scores them all (it works alone)."""
        ...

    def gather(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """All n per-row values, in order, from this process's rows."""
        ...


_SHARD: list[RowShard | None] = [None]  # the sharding in force (None: this process scores every row)


@contextlib.contextmanager
def sharded(shard: RowShard | None) -> Iterator[None]:
    """Within the block, NLL-oracle and NLL-test score rows split by `shard` (None: unsplit). Every process
    must compute the same NLLs in the same order, as each one is a collective."""
    previous, _SHARD[0] = _SHARD[0], shard
    try:
        yield
    finally:
        _SHARD[0] = previous


def _scored(model: ScoringModel, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """`per_token_nll` of every row, this process scoring only its share under `sharded`."""
    shard = _SHARD[0]
    rows = None if shard is None else shard.rows(ids.shape[0])
    if rows is None:
        return per_token_nll(model, ids, mask)
    if rows.stop > rows.start:
        local = per_token_nll(model, ids[rows], None if mask is None else mask[rows])
    else:  # fewer rows than processes: nothing to score here
        local = torch.zeros(0, device=ids.device)
    return shard.gather(local, ids.shape[0])


@dataclass(frozen=True)
class NLLResult:
    """A mean per-token NLL, the per-sequence values it came from, and what produced it."""

    value: float  # nats per token
    per_sample: torch.Tensor  # (N,) nats per token of each sequence
    signature: str


def per_token_nll(model: ScoringModel, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Each sequence's mean NLL per (unmasked) token under `model`, (N,)."""
    lengths = torch.full((ids.shape[0],), ids.shape[1], device=ids.device) if mask is None else mask.sum(1)
    return model.score(ids, mask) / lengths.clamp(min=1)


def nll_oracle(oracle: ScoringModel, generator: SamplingModel, n: int, seed: int, temperature: float = 1.0,
               oracle_name: str = "original") -> NLLResult:
    """Mean oracle NLL of n sequences sampled from `generator` (SeqGAN Eq. 13; paper Table 1).

    Args:
        oracle: the oracle LSTM.
        generator: the model being evaluated.
        n: number of generated sequences.
        seed: seed of the sampling draws (fixed per run, so epochs are compared on common random numbers).
        temperature: sampling temperature.
        oracle_name: "original" or "random-<seed>", for the signature.
    """
    # the sampling draws must come from a generator on the model's device (all its parameters share one)
    gen = torch.Generator(device=next(iter(generator.parameters())).device).manual_seed(seed)
    samples = generator.sample(n, gen, temperature)  # every process draws all n (the same draws)
    per_sample = _scored(oracle, samples, None)
    total = per_sample.mean().item()
    sig = f"nll-oracle|oracle:{oracle_name}|n:{n}|seed:{seed}|temp:{temperature:g}|unit:nats/token|v:{VERSION}"
    return NLLResult(total, per_sample, sig)


def nll_test(generator: ScoringModel, test_ids: torch.Tensor, test_name: str,
             mask: torch.Tensor | None = None) -> NLLResult:
    """Mean NLL per token of held-out real sequences under `generator` (lower = covers the data better).

    Args:
        generator: the model being evaluated.
        test_ids: (N, T) held-out sequences.
        test_name: what the test set is, for the signature.
        mask: optional (N, T) bool, False on padding (not counted).
    """
    per_sample = _scored(generator, test_ids, mask)
    tokens = test_ids.numel() if mask is None else int(mask.sum())
    value = (per_sample * (test_ids.shape[1] if mask is None else mask.sum(1))).sum().item() / tokens
    sig = f"nll-test|test:{test_name}|n:{test_ids.shape[0]}|unit:nats/token|v:{VERSION}"
    return NLLResult(value, per_sample, sig)
