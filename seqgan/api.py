"""The Python API: train, load, sample and evaluate in a few lines (what the CLI does, as functions).

    from seqgan.api import experiment, train, sample_texts
    config = experiment("text-small", corpus="my.txt", tokenizer="word", seed=1)
    train(config, "runs/mine")
    print(sample_texts("runs/mine", n=5, seed=0))
"""

from __future__ import annotations

from pathlib import Path

import torch

from seqgan.config import ExperimentConfig, apply_overrides
from seqgan.errors import UserError
from seqgan.experiment import Run, load_run, train
from seqgan.experiments import get_preset

__all__ = ["experiment", "train", "load_run", "sample_run", "sample_texts", "test_texts"]


def experiment(name: str = "oracle", seed: int = 1, overrides: list[str] | None = None,
               **data: object) -> ExperimentConfig:
    """A preset with overrides; keyword arguments set `data.*` keys (corpus=..., tokenizer=..., seq_len=...)."""
    items = [f"seed={seed}", *(overrides or [])]
    for key, value in data.items():
        value = ",".join(map(str, value)) if isinstance(value, tuple | list) else value
        items.append(f"data.{key}={value}")
    return apply_overrides(get_preset(name), items)


def _prefix_ids(run: Run, prefix: str | None) -> list[int] | None:
    if not prefix:
        return None
    tokenizer = getattr(run.task, "tokenizer", None)
    if tokenizer is None:  # the oracle: the prompt is token ids
        try:
            ids = [int(x) for x in prefix.split()]
        except ValueError as err:
            raise UserError("--prefix for an oracle run is space-separated token ids, e.g. '12 7 4410'") from err
        if any(not 0 <= i < run.task.vocab_size for i in ids):
            raise UserError(f"--prefix ids must be in [0, {run.task.vocab_size})")
        return ids
    ids = tokenizer.encode(prefix, add_special_tokens=False).ids
    if len(ids) >= run.task.seq_len:
        raise UserError(f"--prefix is {len(ids)} tokens long; at most {run.task.seq_len - 1} fit")
    return ids


@torch.no_grad()
def sample_run(run: Run, n: int, seed: int = 0, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               prefix: str | None = None) -> list[dict]:
    """n samples from a loaded run, each {"text", "ids", "logprob"} (log-probability in nats under G)."""
    g = run.pair.generator
    g.eval()
    gen = torch.Generator(device=run.device).manual_seed(seed)
    prefix_ids = _prefix_ids(run, prefix)
    if top_k == 0 and top_p == 1.0 and prefix_ids is None:
        ids = g.sample(n, gen, temperature)  # the fast exact path
    else:
        ids = g.sample_filtered(n, gen, temperature, top_k, top_p, prefix_ids)
    mask = run.task.mask_fn(ids) if run.task.mask_fn is not None else None
    logprob = -g.score(ids, mask)
    texts = run.task.decode(ids)
    return [{"text": t, "ids": row, "logprob": lp} for t, row, lp in zip(texts, ids.tolist(), logprob.tolist())]


def sample_texts(run_dir: str | Path, n: int, seed: int = 0) -> list[str]:
    """n detokenized samples from a run directory's last checkpoint (used by `seqgan human-eval create`)."""
    return [r["text"] for r in sample_run(load_run(run_dir), n, seed)]


def test_texts(run_dir: str | Path) -> list[str]:
    """The held-out test lines a text run was split with (its data/test.txt)."""
    path = Path(run_dir) / "data" / "test.txt"
    if not path.is_file():
        raise UserError(f"{run_dir} has no test split (data/test.txt); it is not a text run")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


test_texts.__test__ = False  # not a pytest test, despite the name
