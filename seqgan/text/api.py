"""The Python API: train, load, sample and evaluate in a few lines (what the CLI does, as functions).

    from seqgan.text.api import experiment, train, sample_texts
    config = experiment("text-small", corpus="my.txt", tokenizer="word", seed=1)
    train(config, "runs/mine")
    print(sample_texts("runs/mine", n=5, seed=0))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from seqgan.base.errors import UserError
from seqgan.core.log import MetricsLog, eval_records
from seqgan.core.loop import snapshot_name
from seqgan.text.config import ExperimentConfig, apply_overrides
from seqgan.text.presets import get_preset
from seqgan.text.run import PHASE_NAMES, Run, best_eval, load_run, read_run_config, resolve_checkpoint, train

__all__ = ["experiment", "train", "load_run", "sample_run", "sample_texts", "test_texts", "unknown_prefix_words",
           "describe_checkpoint"]

PROGRESS_STEPS = 10  # `sample_run` with progress: chunks, each followed by a progress call
# methods whose adversarial phase trains G otherwise than its pretraining did: when `--checkpoint best` picks an
# epoch before that phase, the checkpoint line says in words that it is the pretrained G
ADVERSARIAL_TRAINING = ("seqgan", "ss", "pg-bleu")
PRETRAINED_BEST = "best is the pretrained generator, before adversarial training"


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


def unknown_prefix_words(run: Run, prefix: str | None) -> list[str]:
    """The pieces of a text prompt that the run's tokenizer maps to <unk> (each once, in order): G sees
    <unk> in their place. Empty for the oracle and for prompts it fully knows; a UserError for a prompt
    `sample_run` would refuse (too long, or bad oracle ids)."""
    _prefix_ids(run, prefix)  # a prefix that cannot be used is an error, whatever its words
    tokenizer = getattr(run.task, "tokenizer", None)
    if not prefix or tokenizer is None:
        return []
    specials = getattr(run.task, "specials", None)  # a pretrained model's tokenizer names its own unknown token
    unk = tokenizer.token_to_id("<unk>") if specials is None else specials.unk
    if unk is None:  # byte-level tokenizers have none: every prompt is known
        return []
    encoding = tokenizer.encode(prefix, add_special_tokens=False)
    # offsets may take in the space before a word (depending on the pre-tokenizer): strip it
    words = [prefix[start:end].strip() for i, (start, end) in zip(encoding.ids, encoding.offsets) if i == unk]
    return list(dict.fromkeys(w for w in words if w))


@torch.no_grad()
def sample_run(run: Run, n: int, seed: int = 0, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               prefix: str | None = None, progress: Callable[[int], None] | None = None) -> list[dict]:
    """n samples from a loaded run, each {"text", "ids", "logprob"} (log-probability in nats under G).

    On text, "ids" end with the first <eos>, included (the tokens `logprob` scores); the padding after it is
    dropped. A sample that reaches the length limit without <eos> keeps all its ids. A prompt's words outside
    the vocabulary become <unk> (see `unknown_prefix_words`).

    Args:
        progress: called with the number of samples done, after each of PROGRESS_STEPS chunks. The samples are
            the same with it as without: G draws all of a batch's uniforms first, and on the CPU consecutive
            chunks draw the same numbers from one generator as one batch would (on CUDA they would not, so
            there the run is sampled in one batch and `progress` called once).
    """
    g = run.pair.generator
    g.eval()
    gen = torch.Generator(device=run.device).manual_seed(seed)
    prefix_ids = _prefix_ids(run, prefix)
    chunk = math.ceil(n / PROGRESS_STEPS) if progress is not None and gen.device.type == "cpu" else n
    records: list[dict] = []
    for start in range(0, n, max(chunk, 1)):
        records += _sample_batch(run, min(chunk, n - start), gen, temperature, top_k, top_p, prefix_ids)
        if progress is not None:
            progress(len(records))
    return records


def _sample_batch(run: Run, n: int, gen: torch.Generator, temperature: float, top_k: int, top_p: float,
                  prefix_ids: list[int] | None) -> list[dict]:
    """`sample_run`'s records of one batch of n samples, drawn from `gen`."""
    g = run.pair.generator
    if top_k == 0 and top_p == 1.0 and prefix_ids is None:
        ids = g.sample(n, gen, temperature)  # the fast exact path
    else:
        ids = g.sample_filtered(n, gen, temperature, top_k, top_p, prefix_ids)
    mask = run.task.mask_fn(ids) if run.task.mask_fn is not None else None
    logprob = -g.score(ids, mask)
    texts = run.task.decode(ids)
    lengths = mask.sum(1).tolist() if mask is not None else [ids.shape[1]] * n  # through the first <eos>
    return [{"text": t, "ids": row[:length], "logprob": lp}
            for t, row, length, lp in zip(texts, ids.tolist(), lengths, logprob.tolist())]


def _checkpoint_position(path: Path) -> tuple[str, int] | None:
    """(phase, epoch) a full checkpoint was saved at: the last phase with finished epochs (None: unreadable)."""
    try:  # mmap: only the small position dict is read, not the weights
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        completed = state["position"]["completed"]
    except Exception:  # noqa: BLE001 -- a description only; load_run has already vetted the file
        return None
    done = [p for p in PHASE_NAMES if completed.get(p, 0) > 0]
    return (done[-1], int(completed[done[-1]])) if done else ("init", 0)


def describe_checkpoint(run_dir: str | Path, checkpoint: str = "last") -> tuple[str, str | None]:
    """What `--checkpoint` resolves to, for one line on stderr, and a note when an evaluated checkpoint of
    the run has a lower held-out NLL (nll_valid on text, nll_test on the oracle) than it.

    Returns e.g. ("last (adversarial:30)", "note: last has nll_valid 5.7400; best is pretrain_g:10 with
    4.7000 (--checkpoint best)"); the note is None when the checkpoint is the best or was never evaluated.
    """
    run_dir = Path(run_dir)
    path, generator_only, _ = resolve_checkpoint(run_dir, checkpoint)
    spec = checkpoint.strip()
    if generator_only:  # a snapshot: checkpoints/eval-{phase}-{epoch}.pt
        phase, _, epoch_text = path.stem.removeprefix("eval-").rpartition("-")
        position: tuple[str, int] | None = (phase, int(epoch_text))
        g_epoch = position[1]
        label = spec if spec == f"{phase}:{epoch_text}" else f"{spec} ({phase}:{epoch_text})"
        if spec == "best" and _before_adversarial_training(run_dir, phase):
            label += f": {PRETRAINED_BEST}"
    else:
        position = _checkpoint_position(path)
        if position is None:
            return spec, None
        phase, epoch = position
        g_epoch = epoch
        label = f"{spec} ({phase}:{epoch})"
        stops = [r for r in MetricsLog(run_dir / "metrics.jsonl").read()
                 if r.get("event") == "early_stop" and r.get("phase") == phase]
        if stops:  # early stopping put G back to its best evaluated epoch of the phase
            g_epoch = int(stops[-1]["best_epoch"])
            label = f"{spec} ({phase}: early-stopped at epoch {stops[-1]['epoch']}, G from epoch {g_epoch})"
    records = eval_records(run_dir)
    mine = [r for r in records if (r["phase"], r["epoch"]) == (position[0], g_epoch)]
    ckpt_dir = run_dir / "checkpoints"
    candidates = [r for r in records if (ckpt_dir / snapshot_name(r["phase"], r["epoch"])).is_file()]
    if not mine or not candidates:
        return label, None
    best, key = best_eval(candidates)
    if not mine[-1][key] > best[key]:
        return label, None
    where = f"{best['phase']}:{best['epoch']}"
    flag = "best" if best_eval(records)[0] is best else where
    return label, (f"note: {spec} has {key} {mine[-1][key]:.4f}; best is {where} with {best[key]:.4f} "
                   f"(--checkpoint {flag})")


def _before_adversarial_training(run_dir: Path, phase: str) -> bool:
    """Whether `phase` comes before the adversarial phase of a run whose method trains adversarially there
    (the best held-out NLL usually is before it: adversarial training trades likelihood for sample quality)."""
    pretraining = PHASE_NAMES[:PHASE_NAMES.index("adversarial")]
    return phase in pretraining and read_run_config(run_dir).adversarial.method in ADVERSARIAL_TRAINING


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
