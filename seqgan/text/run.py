"""Build a text run from its config, train it (or resume it), and load it again to sample or evaluate.

A run directory holds everything needed to resume, sample or evaluate: config.json (resolved config, argv,
notes), metrics.jsonl, timing.jsonl, checkpoints/last.pt and one checkpoint per finished phase,
metrics.json (the final evaluation) and samples.txt. Its life (validate then write, resume, load) is
`seqgan.core.lifecycle`'s; this module is the text kind of run: its task, nets, phases and final files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from seqgan.base.errors import UserError
from seqgan.core.checkpoint import atomic_write_json, atomic_write_text
from seqgan.core.lifecycle import GeneratorOnly, RunDir, RunKind, eval_seed
from seqgan.core.log import eval_records  # noqa: F401 -- re-exported for the report tools
from seqgan.core.loop import Phase
from seqgan.core.runtime import compile_nets, keep_freed_memory, pick_device, resolve_precision, seed_everything
from seqgan.text.adversarial import SeqGANPair
from seqgan.text.config import ExperimentConfig
from seqgan.text.discriminator import CNNDiscriminator, RNNDiscriminator
from seqgan.text.generator import LSTMGenerator
from seqgan.text.generator_api import TextGenerator
from seqgan.text.oracle_task import OracleTask, OracleVocab, build_oracle_task
from seqgan.text.task import GivenTokenizer, TextTask, build_text_task

if TYPE_CHECKING:
    from seqgan.text.pretrained import Pretrained

__all__ = ["GeneratorOnly", "OracleTask", "OracleVocab", "Run", "TEXT", "build_models", "build_oracle_task",
           "build_run", "eval_seed", "load_generator", "load_run", "resolve_checkpoint", "train"]

# Config sections that may change when a run is resumed (to extend or re-evaluate it); anything else
# changes what the checkpoint means, so a resume with a different value is refused.
RESUMABLE_CHANGES = ("schedule", "eval")
PHASE_NAMES = ("pretrain_g", "pretrain_d", "adversarial")
EARLY_STOP_METRIC = "nll_valid"
FINAL_SAMPLES = 100  # samples.txt


def build_models(config: ExperimentConfig, vocab_size: int, seq_len: int, device: torch.device,
                 start_token: int = 0, eos_token: int | None = None, pad_token: int | None = None,
                 pretrained: Pretrained | None = None) -> tuple[TextGenerator, torch.nn.Module]:
    """G and D as the config says, initialised from the run's seed (G from `pretrained` for
    generator.kind=pretrained; D's embedding then covers the model's vocabulary)."""
    d = config.discriminator
    generator = build_generator(config, vocab_size, seq_len, device, start_token, eos_token, pad_token, pretrained)
    if d.kind == "cnn":
        discriminator = CNNDiscriminator(vocab_size, d.emb_dim, d.filter_sizes, d.num_filters, d.dropout,
                                         pad_token or 0, precision=resolve_precision(d.precision, device))
    else:
        discriminator = RNNDiscriminator(vocab_size, d.emb_dim, d.rnn_hidden_dim, d.dropout)
    return generator, discriminator.to(device)


def build_generator(config: ExperimentConfig, vocab_size: int, seq_len: int, device: torch.device,
                    start_token: int = 0, eos_token: int | None = None, pad_token: int | None = None,
                    pretrained: Pretrained | None = None) -> TextGenerator:
    """G as the config says (generator.kind), initialised from the run's seed (`build_models` without D); for
    generator.kind=pretrained, the model of `pretrained` (its special ids are the run's: the arguments'),
    checked to fit T and to give the model's own logits."""
    g = config.generator
    if g.kind == "pretrained":
        from seqgan.text.pretrained import pretrained_generator

        if pretrained is None:
            raise ValueError("generator.kind=pretrained needs the loaded model (seqgan.text.pretrained)")
        return pretrained_generator(pretrained, seq_len, g.pretrained).to(device)
    if g.kind == "gpt2":
        from seqgan.text.transformer_generator import GPTGenerator  # imports transformers only when used

        return GPTGenerator(vocab_size, seq_len, g.layers, g.heads, g.width, g.dropout, start_token, eos_token,
                            pad_token, seed=config.seed).to(device)
    init_gen = torch.Generator().manual_seed(config.seed)
    generator = LSTMGenerator(vocab_size, g.emb_dim, g.hidden_dim, seq_len, start_token, eos_token,
                              pad_token).init_normal_(g.init_std, init_gen)
    return generator.to(device)


def make_phases(pair: SeqGANPair, config: ExperimentConfig) -> list[Phase]:
    """Algorithm 1 as phases: MLE pretraining, D pretraining, adversarial epochs.

    With schedule.early_stop_patience > 0 the MLE phases (pretrain_g, and the adversarial phase of the MLE
    baseline) are evaluated after every epoch and stop once NLL-valid has not improved for that many
    evaluations, going back to their best epoch.
    """
    s, method = config.schedule, config.adversarial.method
    if s.early_stop_patience and not config.data.corpus:
        raise UserError("schedule.early_stop_patience needs a validation split, and the oracle experiment has "
                        "none (its held-out set is the test set); leave it at 0 for the oracle")
    if method == "seqgan":
        adversarial = ((pair.g_step, s.adv_g_steps), (pair.d_step, s.adv_d_rounds))
    elif method in ("constant", "pg-bleu"):
        adversarial = ((pair.g_step, s.adv_g_steps),)  # D plays no part in these
    else:  # the MLE and scheduled-sampling baselines: one more training epoch per adversarial epoch
        adversarial = ((pair.g_step, 1),)
    # early stopping counts evaluations, so the phases it watches are evaluated every epoch
    watched = {"eval_every": 1, "patience": s.early_stop_patience, "monitor": EARLY_STOP_METRIC} \
        if s.early_stop_patience else {}
    return [
        Phase("pretrain_g", s.pretrain_g_epochs, ((pair.mle_epoch, 1),), **watched),
        Phase("pretrain_d", s.pretrain_d_rounds, ((pair.pretrain_d_step, 1),)),
        Phase("adversarial", s.adv_epochs, adversarial, **(watched if method == "mle" else {})),
    ]


@dataclass
class Run:
    """A built run: config, task, models, and the pair that trains them."""

    config: ExperimentConfig
    task: OracleTask | TextTask | OracleVocab
    pair: SeqGANPair | GeneratorOnly  # GeneratorOnly: loaded by `load_generator`, to sample or evaluate
    device: torch.device
    pretrained: Pretrained | None = None  # generator.kind=pretrained: the model's files the run keeps

    def architecture(self) -> dict:
        """Shapes that a checkpoint must match (without D's when the run was built to sample)."""
        nets = {"generator": self.pair.generator.architecture()}
        if not isinstance(self.pair, GeneratorOnly):
            nets["discriminator"] = self.pair.discriminator.architecture()
        return {**nets, **self.task.architecture_tag()}

    def evaluate(self, phase: str = "", epoch: int = 0) -> dict:
        """The task's evaluation (NLL-oracle and NLL-test, or NLL on held-out text), nats per token."""
        return self.task.evaluate(self.pair.generator, self.config)


def build_task(config: ExperimentConfig, data_dir: str | None, run_dir: Path | None,
               device: torch.device, pretrained: Pretrained | None = None) -> OracleTask | TextTask:
    """The run's data: the text corpus (split and tokenizer, from run_dir once saved there; a pretrained
    generator's tokenizer) or the oracle's."""
    if config.data.corpus:
        return build_text_task(config, data_dir, run_dir, device, _given(pretrained))
    return build_oracle_task(config, data_dir, device)


def _given(pretrained: Pretrained | None) -> GivenTokenizer | None:
    if pretrained is None:
        return None
    return GivenTokenizer(pretrained.tokenizer, pretrained.specials, pretrained.vocab_size)


def load_pretrained_generator(config: ExperimentConfig, run_dir: Path | None,
                              needs_weights: bool | None = None) -> Pretrained | None:
    """generator.kind=pretrained: the model and tokenizer (`seqgan.text.pretrained.load_pretrained`), else None.

    Args:
        config: the run's config.
        run_dir: the run directory (once it holds the model's files, they are read from there).
        needs_weights: G starts from the pretrained weights (no checkpoint will be loaded into it); None: unless
            run_dir holds a checkpoint to resume from.
    """
    g = config.generator
    if g.kind != "pretrained":
        return None
    if not config.data.corpus:
        raise UserError("generator.kind=pretrained (--generator-from) needs a text corpus (--corpus): the oracle's "
                        "tokens are not the model's")
    from seqgan.text.pretrained import has_checkpoint, load_pretrained

    if needs_weights is None:
        needs_weights = not has_checkpoint(run_dir, PHASE_NAMES)
    return load_pretrained(g.pretrained, config.data.lowercase, run_dir, needs_weights)


def build_run(config: ExperimentConfig, data_dir: str | None = None, run_dir: Path | None = None) -> Run:
    """Everything a run needs, from its config (and, for text, the split and tokenizer saved in run_dir)."""
    keep_freed_memory()
    device = pick_device(config.device)
    seed_everything(config.seed)
    pretrained = load_pretrained_generator(config, run_dir)
    task = build_task(config, data_dir, run_dir, device, pretrained)
    real = task.train.ids if isinstance(task, TextTask) else task.train
    generator, discriminator = build_models(config, task.vocab_size, task.seq_len, device, task.start_token,
                                            task.eos_token, task.pad_token, pretrained)
    pair = SeqGANPair(generator, discriminator, real, config, task.mask_fn)
    if pretrained is not None:
        from seqgan.text.pretrained import learning_rate_notes

        task.notes += learning_rate_notes(config.generator.lr, config.adversarial.g_lr)
    compile_nets([generator, discriminator], device)  # with --compile only
    return Run(config, task, pair, device, pretrained)


def save_data(run: Run, run_dir: Path) -> None:
    """What loads need besides checkpoints: the split and tokenizer (and a pretrained generator's files)."""
    run.task.save(run_dir)
    if run.pretrained is not None:
        from seqgan.text.pretrained import save_model_files

        save_model_files(run.pretrained, run_dir)


def finish(run: Run, run_dir: Path) -> dict:
    """Final evaluation (metrics.json, with signatures) and FINAL_SAMPLES samples (samples.txt)."""
    g = run.pair.generator
    final = {**run.task.final(g, run.config), "method": run.config.adversarial.method, "seed": run.config.seed,
             "experiment": run.config.name}
    samples = g.sample(FINAL_SAMPLES, torch.Generator(device=run.device).manual_seed(eval_seed(run.config)))
    atomic_write_text(run_dir / "samples.txt", "".join(line + "\n" for line in run.task.decode(samples)))
    atomic_write_json(run_dir / "metrics.json", final)  # last: a run with metrics.json has all its final files
    return final


def best_key(records: list[dict]) -> str:
    """What `--checkpoint best` minimises: nll_valid on text, nll_test on the oracle (no validation split)."""
    return "nll_valid" if "nll_valid" in records[0] else "nll_test"


# the text kind of run (the oracle or a corpus), as `seqgan.core.lifecycle` sees it
TEXT = RunKind(command="seqgan train", title="a text or oracle run", config_class=ExperimentConfig,
               resumable=RESUMABLE_CHANGES, phase_names=PHASE_NAMES,
               build_phases=lambda run: make_phases(run.pair, run.config), finish=finish, best_key=best_key,
               branch_phase="pretrain_d",  # methods branch off one pretraining (--init-from)
               record=lambda run: {"notes": run.task.notes}, notes=lambda run: run.task.notes,
               save_data=save_data, data_parallel=True)  # torchrun splits its batches (seqgan.core.distributed)


def train(config: ExperimentConfig, run_dir: str | Path, data_dir: str | None = None,
          init_from: str | None = None, argv: list[str] | None = None) -> dict:
    """Train a run from scratch, or resume it if `run_dir` already holds one; returns the final metrics.

    Args:
        config: the resolved config.
        run_dir: the run directory (created if missing).
        data_dir: where named data lives (default: $SEQGAN_DATA or ../shared/data).
        init_from: a checkpoint file, or a run dir whose end of pretraining (checkpoints/pretrain_d.pt)
            this run starts from; used to branch several methods off one pretraining.
        argv: the command line, stored in config.json.
    """
    from eval.nll import sharded
    from seqgan.core.distributed import ROWS

    run_dir = Path(run_dir)
    with sharded(ROWS):  # under torchrun each process scores its share of the NLLs (one process: all of them)
        return RunDir(run_dir, TEXT).train(config, lambda: build_run(config, data_dir, run_dir), init_from, argv)


def best_eval(records: list[dict]) -> tuple[dict, str]:
    """The evaluation record with the lowest held-out NLL, and the key it was chosen by: nll_valid on text,
    nll_test on the oracle (which has no validation split). Ties keep the earliest."""
    return RunDir(".", TEXT).best_eval(records)


def resolve_checkpoint(run_dir: str | Path, checkpoint: str) -> tuple[Path, bool, str]:
    """Which file `--checkpoint` names: (path, holds only a generator snapshot, a description).

    Accepted: "last"; a phase name (that phase's end); "best" (the evaluation with the lowest held-out
    NLL: nll_valid for text, nll_test for the oracle); "PHASE:EPOCH" or a bare EPOCH of the adversarial
    phase (an evaluated epoch).
    """
    resolved = RunDir(run_dir, TEXT).resolve(checkpoint)
    return resolved.path, resolved.generator_only, resolved.description


def read_run_config(run_dir: Path) -> ExperimentConfig:
    """The config a run directory was trained with (its config.json)."""
    return RunDir(run_dir, TEXT).read_config()


def load_run(run_dir: str | Path, data_dir: str | None = None, checkpoint: str = "last") -> Run:
    """Rebuild a trained run from its directory and load a checkpoint into it.

    Args:
        run_dir: a run directory written by `train`.
        data_dir: where named data lives.
        checkpoint: "last", a phase name ("pretrain_g", "pretrain_d", "adversarial"), "best", or an
            evaluated epoch ("adversarial:30", or just "30" for the adversarial phase). Snapshots hold the
            generator only; D keeps its initial weights then (sampling and evaluation need only G).
    """
    run_dir = Path(run_dir)
    return RunDir(run_dir, TEXT).load(checkpoint, lambda config, record, state: build_run(config, data_dir, run_dir))


def load_generator(run_dir: str | Path, data_dir: str | None = None, checkpoint: str = "last",
                   with_data: bool = False) -> Run:
    """`load_run` for sampling (and, with_data, evaluating): the same G with the same weights, so the same
    samples and scores for a seed, without building D, its optimizers or (unless with_data) the data.

    Args:
        run_dir: a run directory written by `train`.
        data_dir: where named data lives.
        checkpoint: as in `load_run`.
        with_data: build the task's data as `load_run` does (held-out splits for NLL, the oracle and its
            test set); without it the task can only decode (text: tokenizer and max length; oracle: ids).
    """
    run_dir = Path(run_dir)

    def build(config: ExperimentConfig, record: dict, state: dict) -> Run:
        device = pick_device(config.device)
        pretrained = load_pretrained_generator(config, run_dir, needs_weights=False)  # the checkpoint has them
        if with_data:
            keep_freed_memory()
            seed_everything(config.seed)  # as build_run, should building the data draw from the global RNG
            task = build_task(config, data_dir, run_dir, device, pretrained)
        else:
            task = _task_without_data(config, run_dir, state, pretrained)
        if task is None:  # a text run directory without its tokenizer: built the long way
            return build_run(config, data_dir, run_dir)
        generator = build_generator(config, task.vocab_size, task.seq_len, device, task.start_token,
                                    task.eos_token, task.pad_token, pretrained)
        return Run(config, task, GeneratorOnly(generator), device, pretrained)

    return RunDir(run_dir, TEXT).load(checkpoint, build)


def _task_without_data(config: ExperimentConfig, run_dir: Path, state: dict,
                       pretrained: Pretrained | None = None) -> TextTask | OracleVocab | None:
    """The task as sampling sees it, without reading or encoding any data: a text run's tokenizer and max length
    (None when the run directory has no tokenizer.json), or the oracle's vocabulary and length."""
    d = config.data
    if not d.corpus:  # an oracle's G has the oracle's vocabulary and length, which the config fixes
        return OracleVocab(d.vocab_size, d.seq_len)
    # data.seq_len=0 was sized from the training split when the run was built; the checkpoint's G records the
    # result, so the split need not be read and encoded again
    seq_len = d.seq_len or ((state.get("architecture") or {}).get("generator") or {}).get("max_len", 0)
    if not seq_len or not (run_dir / "tokenizer.json").is_file():
        return None
    from text_data.corpus import Splits
    from text_data.tokenizer import load_tokenizer

    given = _given(pretrained)
    tok = load_tokenizer(run_dir / "tokenizer.json") if given is None else given.tokenizer
    return TextTask(tok, Splits([], [], [], f"run dir {run_dir}"), None, None, None, Path(d.corpus).name, seq_len,
                    given=given)
