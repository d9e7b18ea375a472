"""One trained run's samples scored: BLEU-n, Self-BLEU, lengths and vocabulary on text, NLL-oracle and NLL-test
on the oracle, at a sampling temperature. `seqgan compare` and the studies build their tables from these points.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from eval.bleu import ReferenceSet, bleu, self_bleu
from eval.nll import nll_oracle, nll_test
from seqgan.base.errors import UserError
from seqgan.text.generator_api import TextGenerator
from seqgan.text.run import Run
from seqgan.text.tokenization import RunTokenization, tokenizer_label

BLEU_ORDERS = (2, 3, 4, 5)
SMOOTHING = "method1"  # Texygen's choice; named in every signature


def tempered(generator: TextGenerator, temperature: float) -> TextGenerator:
    """A copy of G whose softmax is softmax(logits / temperature) (G's `temper_`: its output layer divided by it)."""
    if temperature == 1.0:
        return generator
    if temperature <= 0:
        raise UserError(f"temperatures must be > 0, got {temperature}")
    out = copy.deepcopy(generator)
    out.temper_(temperature)
    return out


def bleu_tokenization(run: Run) -> RunTokenization:
    """A text run's tokenizer as BLEU's tokenization, the one `seqgan bleu --tokenizer-from RUN_DIR` uses."""
    d = run.config.data
    return RunTokenization(run.task.tokenizer, tokenizer_label(run.config), run.task.seq_len,  # the resolved length
                           d.too_long)


def tokens_of(run: Run, ids: torch.Tensor) -> list[list[str]]:
    """Token lists for BLEU of generated ids: on text, the decoded lines (what `seqgan sample` writes) through
    `bleu_tokenization`, so scoring a samples file with `seqgan bleu --tokenizer-from` gives the same; on the
    oracle, the ids."""
    if not run.config.data.corpus:
        return [[str(t) for t in row] for row in ids.tolist()]
    return bleu_tokenization(run).tokens(run.task.decode(ids))


def text_references(run: Run) -> list[list[str]]:
    """The run's held-out test split through `bleu_tokenization` (so <unk> and truncation match G's)."""
    if run.task.test is None:
        raise UserError(f"{run.config.name}: the run has no test split to score BLEU against")
    return bleu_tokenization(run).references(run.task.splits.test)


def sample_ids(run: Run, n: int, seed: int, temperature: float = 1.0) -> torch.Tensor:
    """n samples (n, T) from the run's G at a temperature, with a seeded generator."""
    g = run.pair.generator.eval()
    return g.sample(n, torch.Generator(device=run.device).manual_seed(seed), temperature)


def text_point(run: Run, refset: ReferenceSet, n: int, seed: int, temperature: float = 1.0,
               self_bleu_samples: int = 1000, orders: tuple[int, ...] = BLEU_ORDERS) -> dict:
    """BLEU-n against the test split, Self-BLEU, lengths and vocabulary of n samples at a temperature."""
    toks = tokens_of(run, sample_ids(run, n, seed, temperature))
    out: dict = {"temperature": temperature, "n": n}
    per_sample = {}
    for k in orders:
        score = bleu(toks, refset, k, smoothing=SMOOTHING, tok=bleu_tokenization(run).label)
        out[f"bleu{k}"], out[f"bleu{k}_signature"] = score.score, score.signature
        per_sample[f"bleu{k}"] = score.per_sample
    sb = self_bleu(toks, 4, smoothing=SMOOTHING, n_samples=min(self_bleu_samples, n), seed=seed,
                   tok=bleu_tokenization(run).label)
    out["self_bleu4"], out["self_bleu4_signature"] = sb.score, sb.signature
    lengths = np.array([len(t) for t in toks])
    out["mean_length"] = float(lengths.mean())
    out["distinct_tokens"] = len({w for t in toks for w in t})
    bigrams = [tuple(t[i:i + 2]) for t in toks for i in range(len(t) - 1)]
    out["distinct_2"] = len(set(bigrams)) / max(1, len(bigrams))
    out["_per_sample"] = per_sample
    return out


def oracle_point(run: Run, n: int, seed: int, temperature: float = 1.0) -> dict:
    """NLL-oracle of n samples at a temperature and NLL-test of the tempered G, nats per token."""
    g = tempered(run.pair.generator.eval(), temperature)
    o = nll_oracle(run.task.oracle, g, n, seed, 1.0, oracle_name=run.task.oracle_name)
    t = nll_test(g, run.task.test, run.task.test_name)
    return {"temperature": temperature, "n": n, "nll_oracle": o.value,
            "nll_oracle_signature": o.signature.replace("|temp:1|", f"|temp:{temperature:g}|"),
            "nll_test": t.value, "nll_test_signature": t.signature + f"|temp:{temperature:g}",
            "_per_sample": {"nll_oracle": o.per_sample.cpu().numpy()}}
