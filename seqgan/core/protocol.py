"""The GANPair protocol: what the one adversarial loop needs from a text or image GAN."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class GANPair(Protocol):
    """A generator and a discriminator with their optimizers and update rules.

    The loop calls `g_step` and `d_step` in the order its schedule says; each returns scalar metrics.
    """

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One generator update; returns metrics such as loss or mean reward."""
        ...

    def d_step(self, gen: torch.Generator) -> dict[str, float]:
        """One discriminator phase (for SeqGAN: fresh negatives, then some epochs); returns metrics."""
        ...

    def sample(self, n: int, gen: torch.Generator) -> Any:
        """Draw n samples from the generator."""
        ...

    def state_dict(self) -> dict:
        """Models and optimizers, for checkpoints."""
        ...

    def load_state_dict(self, state: dict) -> None:
        """Inverse of `state_dict`."""
        ...
