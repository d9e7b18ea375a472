"""eval.nll takes any model with the methods it needs, not only seqgan's LSTM generator."""

from __future__ import annotations

import math

import pytest
import torch

from eval.nll import nll_oracle, nll_test

VOCAB, LENGTH = 7, 5


class UniformModel(torch.nn.Module):
    """Every token equally likely: NLL per token is log(VOCAB) whatever the sequence; samples are uniform draws."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # a parameter, so the model has a device

    def score(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        counted = torch.ones_like(ids, dtype=torch.float64) if mask is None else mask.double()
        return counted.sum(1) * math.log(VOCAB)

    def sample(self, n: int, gen: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        return torch.randint(VOCAB, (n, LENGTH), generator=gen)


def test_nll_of_a_duck_typed_model():
    model = UniformModel()
    oracle = nll_oracle(model, model, 16, seed=3, oracle_name="uniform")
    assert oracle.value == pytest.approx(math.log(VOCAB))
    assert oracle.per_sample.shape == (16,)
    assert oracle.signature.startswith("nll-oracle|oracle:uniform|n:16|seed:3|")
    ids = torch.randint(VOCAB, (4, LENGTH), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, 2:] = False
    assert nll_test(model, ids, "toy", mask).value == pytest.approx(math.log(VOCAB))


def test_the_metrics_import_no_seqgan_module_but_base():
    """eval.bleu and eval.nll are metrics only: loading them loads nothing of the text GAN (its config, generator,
    task), so the layering eval -> seqgan.base holds."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, eval.bleu, eval.nll; "
            "print(sorted(m for m in sys.modules if m.startswith('seqgan.') and not m.startswith('seqgan.base')))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.strip() == "[]"
