"""Sub-commands of the core toolkit: train, sample, evaluate, experiments."""

from __future__ import annotations

import argparse
import json
import sys

from seqgan.base.errors import UserError
from seqgan.core.config import add_sampling_arguments, flatten_config, parse_seeds
from seqgan.text.config import ADVERSARIAL_METHODS

FEW_SAMPLES = 256  # `sample -n` up to this runs on one thread
PROGRESS_SAMPLES = 1000  # `sample -n` from this many on reports its progress on stderr
MAX_SAMPLES = 1_000_000  # `sample -n`: a bound on one call's memory (about 1 kB per sample)
CHECKPOINT_HELP = ("last (default); best (lowest held-out NLL among evaluations); an evaluated epoch: 30 "
                   "(adversarial) or PHASE:EPOCH, e.g. pretrain_g:20; or a phase's end, e.g. pretrain_d")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add train, sample, evaluate and experiments to the `seqgan` parser."""
    p = subparsers.add_parser("train", help="train (or resume) a run",
                              description="Train a run; re-running the same command resumes it.")
    p.add_argument("--experiment", default=None, help="preset name (see `seqgan experiments`; default: the run's "
                   "own when --run-dir holds one, else text-small with --corpus FILE, the corpus's preset with "
                   "--corpus poems|obama|coco, else oracle)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 1); same seed, "
                   "same numbers")
    p.add_argument("--run-dir", required=True, help="folder for config, checkpoints, logs and samples")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set schedule.adv_epochs=10 (repeatable)")
    p.add_argument("--method", choices=list(ADVERSARIAL_METHODS),
                   help="shorthand for --set adversarial.method=...")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1")
    p.add_argument("--data-dir", default=None, help="data folder (default: $SEQGAN_DATA or ../shared/data)")
    p.add_argument("--compile", action="store_true", help="torch.compile the nets' forward passes (CUDA only; "
                   "ignored with a note elsewhere; a setting of this "
                   "command, not of the run)")
    text = p.add_argument_group("text corpora (shorthands for --set data.*)")
    text.add_argument("--corpus", help="a named corpus (poems, obama, coco) or a .txt/.csv/.json/.jsonl/.parquet "
                      "file or folder; without it the synthetic oracle is used")
    text.add_argument("--tokenizer", choices=["char", "word", "bpe"])
    text.add_argument("--vocab-size", type=int, help="largest vocabulary (specials included)")
    text.add_argument("--max-len", type=int, help="tokens per line, <eos> included")
    text.add_argument("--too-long", choices=["truncate", "drop"], help="what to do with longer lines")
    text.add_argument("--lowercase", action="store_true", default=None)
    text.add_argument("--split", help="train,valid,test fractions, e.g. 0.8,0.1,0.1 (seeded by --seed)")
    text.add_argument("--text-field", help="column with the text in .csv/.json/.jsonl/.parquet files")
    p.add_argument("--init-from", default=None,
                   help="start from another run's end of pretraining (a run dir) or from a checkpoint file")
    _add_generator_from(p)
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("sample", help="draw sequences from a trained run")
    add_sampling_arguments(p, "sequences", 10, CHECKPOINT_HELP)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0, help="sample only among the k most likely tokens (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = all)")
    p.add_argument("--prefix", default=None, help="a prompt every sample continues (text, or ids for the oracle)")
    p.add_argument("--format", choices=["txt", "jsonl"], default="txt",
                   help="txt: one sample per line; jsonl: text, ids and log-probability per sample")
    p.add_argument("--out", default=None, help="write here instead of stdout (an existing file is replaced, "
                   "but never one of a run's own files)")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser("evaluate", help="NLL-oracle and NLL-test of a run, with signatures")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--checkpoint", default="last", help=CHECKPOINT_HELP)
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for NLL-oracle")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_evaluate)

    # two parsers with one builder (not an argparse alias), so each one's --help and errors name the command typed
    for name, help_text in (("study", "random G, MLE, constant-reward PG and SeqGAN over seeds (oracle or text)"),
                            ("oracle-study", "the same as `seqgan study`")):
        _add_study_parser(subparsers, name, help_text)

    p = subparsers.add_parser("experiments", help="list presets")
    p.add_argument("--keys", action="store_true", help="also list every config key with its default")
    p.set_defaults(func=cmd_experiments)


def _add_study_parser(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    """The `study` sub-command's parser, registered under `name`."""
    p = subparsers.add_parser(name, help=help_text,
                              description="Pretrain once per seed, branch every method off it, and write "
                              "summary.json and table.md (NLL-oracle, or NLL-valid on a text preset, and "
                              "NLL-test, mean +- std; on text also BLEU, Self-BLEU and MLE's temperature "
                              "curve), with a verdict in sentences. One seed works (its p-values are n/a). "
                              "Everything is checked before training starts. Resumable.")
    p.add_argument("--experiment", default=None, help="preset (default: oracle, or the --corpus preset)")
    p.add_argument("--corpus", default=None, help="a named corpus (poems, obama, coco: its preset) or your own "
                   "text file (the text-small preset with data.corpus=FILE)")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    p.add_argument("--methods", default=None, help="comma-separated: mle, constant, seqgan, seqgan-baseline, "
                   "seqgan-kl, ss, pg-bleu (default: mle,constant,seqgan on the oracle; mle,seqgan on text)")
    p.add_argument("--bleu-samples", type=int, default=2000,
                   help="text: samples per run for BLEU-2..5 and Self-BLEU (0 skips the BLEU table)")
    p.add_argument("--temperatures", default=None, help="MLE's temperature sweep, the curve the other methods "
                   "must lie beyond (default: as `seqgan compare`, 0.6 to 1.5; 'none' skips it)")
    p.add_argument("--out", required=True, help="study folder (runs, summary.json, table.md)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data-dir", default=None)
    _add_generator_from(p)
    p.set_defaults(func=cmd_oracle_study)


def _add_generator_from(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generator-from", metavar="PATH", default=None,
                   help="a local folder holding a pretrained causal language model and its tokenizer "
                   "(save_pretrained); G starts from it and the corpus is encoded with its tokenizer "
                   "(shorthand for --set generator.kind=pretrained --set generator.pretrained=PATH; learning "
                   f"rates generator.lr={FINE_TUNE_G_LR:g} and adversarial.g_lr={FINE_TUNE_PG_LR:g}, and only the "
                   f"newest {FINE_TUNE_KEEP_SNAPSHOTS} evaluation snapshots plus the best kept, unless --set)")


FINE_TUNE_G_LR, FINE_TUNE_PG_LR = 5e-5, 1e-5  # --generator-from's learning rates (MLE, policy gradient)
FINE_TUNE_KEEP_SNAPSHOTS = 3  # a pretrained G's snapshots are large (0.5 GB for gpt2): the newest 3 + the best
# data settings of the run's own tokenizer: a pretrained generator brings its tokenizer, so they would be ignored
OWN_TOKENIZER_KEYS = {"data.tokenizer": "--tokenizer", "data.vocab_size": "--vocab-size",
                      "data.min_frequency": "--set data.min_frequency"}


def generator_overrides(args: argparse.Namespace) -> list[str]:
    """--generator-from PATH as overrides (the folder made absolute: the run records which model it is); they
    come before --set, so that a --set generator.kind that contradicts them is an error, not ignored."""
    import os

    from seqgan.text.config import GPT2_SIZES, GeneratorConfig

    path = getattr(args, "generator_from", None)
    if not path:
        return []
    # a preset's from-scratch sizes (e.g. text-small-gpt2's) give way to the model's own; only a --set of them,
    # which comes after, contradicts the model. A pretrained model is fine-tuned, not trained: small learning
    # rates unless --set says otherwise
    defaults = GeneratorConfig()
    resets = [f"generator.{name}={getattr(defaults, name)}" for name in GPT2_SIZES]
    return [*resets, f"generator.lr={FINE_TUNE_G_LR}", f"adversarial.g_lr={FINE_TUNE_PG_LR}",
            f"schedule.keep_snapshots={FINE_TUNE_KEEP_SNAPSHOTS}",
            "generator.kind=pretrained", f"generator.pretrained={os.path.abspath(os.path.expanduser(path))}"]


def check_pretrained_tokenizer(config, overrides: list[str]) -> None:
    """Refuse settings of the run's own tokenizer alongside a pretrained generator, which brings its own.

    Args:
        config: the resolved config.
        overrides: the --set overrides (and the flags' shorthands), as given.
    """
    if config.generator.kind != "pretrained":
        return
    given = {key.split("=", 1)[0].strip() for key in overrides}
    for key, flag in OWN_TOKENIZER_KEYS.items():
        if key in given:
            raise UserError(f"{flag} sets the run's own tokenizer, but a pretrained generator (--generator-from) "
                            "encodes the corpus with the model's tokenizer; drop it")


NAMED_CORPORA = ("poems", "obama", "coco")  # --corpus NAME picks the corpus's own preset


def default_experiment(args: argparse.Namespace) -> str:
    """The preset of a `train` without --experiment: an existing run's own (re-running its command resumes it,
    whatever the default was when it was made), else the --corpus one (a named corpus's preset, text-small for
    a file), else the oracle."""
    from pathlib import Path

    from seqgan.text.presets import PRESETS
    from seqgan.text.run import read_run_config

    try:
        stored = read_run_config(Path(args.run_dir)).name
    except (UserError, TypeError, OSError):
        stored = None
    if stored in PRESETS:
        return stored
    corpus = getattr(args, "corpus", None)
    if corpus:
        return corpus if corpus in NAMED_CORPORA else "text-small"
    return "oracle"


def _resolve_config(args: argparse.Namespace):
    from seqgan.text.config import apply_overrides
    from seqgan.text.presets import get_preset

    if args.experiment is None:
        args.experiment = default_experiment(args)
    overrides = [*generator_overrides(args), *args.overrides]
    if args.method:
        overrides.append(f"adversarial.method={args.method}")
    if args.device:
        overrides.append(f"device={args.device}")
    for flag, key in (("corpus", "corpus"), ("tokenizer", "tokenizer"), ("vocab_size", "vocab_size"),
                      ("max_len", "seq_len"), ("too_long", "too_long"), ("lowercase", "lowercase"),
                      ("split", "split"), ("text_field", "text_field")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"data.{key}={value}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    config = apply_overrides(_resume_base(args) or get_preset(args.experiment), overrides)
    check_pretrained_tokenizer(config, overrides)
    return config


def _resume_base(args: argparse.Namespace):
    """The stored config of the run in --run-dir when it was made from the same preset, else None.

    Re-running a run's command resumes it with the run's own settings; only what this command sets explicitly
    (--set, the flags) changes them. So a newer version whose preset defaults differ (a longer pretraining,
    early stopping, an automatic --max-len) still resumes a run made by an older one, as it was configured.
    """
    from pathlib import Path

    from seqgan.text.run import read_run_config

    try:
        stored = read_run_config(Path(args.run_dir))
    except (UserError, TypeError, OSError):
        return None  # not a run (or an unreadable one): train() says what is wrong with it
    return stored if stored.name == args.experiment else None


def cmd_train(args: argparse.Namespace) -> int:
    """seqgan train."""
    from seqgan.core.runtime import request_compile
    from seqgan.text.run import train

    config = _resolve_config(args)
    request_compile(args.compile)
    final = train(config, args.run_dir, args.data_dir, args.init_from, argv=args.argv)
    print(json.dumps(final, indent=2))
    return 0


def _check_positive(value: float, name: str) -> None:
    if not value > 0:
        raise UserError(f"{name} must be > 0 (got {value})")


def _say_checkpoint(run_dir: str, checkpoint: str) -> str:
    """Name the checkpoint in use on stderr (one line), plus one line when an evaluated one has a lower
    held-out NLL; returns the name."""
    from seqgan.text.api import describe_checkpoint

    label, note = describe_checkpoint(run_dir, checkpoint)
    print(f"using checkpoint {label}", file=sys.stderr)
    if note:
        print(note, file=sys.stderr)
    return label


def cmd_sample(args: argparse.Namespace) -> int:
    """seqgan sample."""
    from seqgan.core.checkpoint import atomic_write_text
    from seqgan.text.run import load_generator

    _check_positive(args.n, "-n")
    if args.n > MAX_SAMPLES:  # the ids, texts and log-probabilities of every sample are held in memory at once
        raise UserError(f"-n {args.n} is more than {MAX_SAMPLES:,} samples per call; draw them in several calls "
                        "with different --seed values")
    _check_positive(args.temperature, "--temperature")
    if args.out:
        from seqgan.base.outputs import check_output_file

        check_output_file(args.out, "--out", [("--run-dir", args.run_dir)])
    if args.top_k < 0 or not 0.0 < args.top_p <= 1.0:
        raise UserError("--top-k must be >= 0 and --top-p in (0, 1]")
    from seqgan.text.api import sample_run, unknown_prefix_words

    run = load_generator(args.run_dir, args.data_dir, args.checkpoint)  # G and the tokenizer only: no D, no data
    if args.n <= FEW_SAMPLES:
        import torch

        # products of a few rows: OpenMP's thread barriers cost more than the arithmetic (10-50x slower on a
        # busy 2-core machine), so one thread
        torch.set_num_threads(1)
    unknown = unknown_prefix_words(run, args.prefix)  # also refuses a bad prefix, before anything is printed
    _say_checkpoint(args.run_dir, args.checkpoint)
    if unknown:
        print(f"warning: --prefix words outside the vocabulary become <unk>: {' '.join(unknown)}", file=sys.stderr)
    report = _sampling_progress(args.n) if args.n >= PROGRESS_SAMPLES else None
    records = sample_run(run, args.n, args.seed, args.temperature, args.top_k, args.top_p, args.prefix, report)
    if args.format == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        text = "".join(r["text"] + "\n" for r in records)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {len(records):,} samples to {args.out}", file=sys.stderr)  # else nothing says it worked
    else:
        sys.stdout.write(text)
    return 0


def _sampling_progress(n: int):
    """What `sample_run` calls as samples get done: a bar on a terminal, else one line on stderr per call (the
    API's PROGRESS_STEPS chunks: one line per ~10%)."""
    from seqgan.core.log import progress, progress_line

    if sys.stderr.isatty():
        bar = progress(n, "sampling")

        def tick(done: int) -> None:
            bar.update(done - bar.n)
            if done >= n:
                bar.close()

        return tick
    return lambda done: progress_line(f"sampled {done:,} of {n:,} ({done / n:.0%})")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """seqgan evaluate."""
    from seqgan.core.checkpoint import atomic_write_json
    from seqgan.text.run import load_generator

    _check_positive(args.temperature, "--temperature")
    run = load_generator(args.run_dir, args.data_dir, args.checkpoint, with_data=True)  # no D: NLL needs only G
    used = _say_checkpoint(args.run_dir, args.checkpoint)
    result = {"checkpoint": args.checkpoint, "checkpoint_used": used,
              **run.task.final(run.pair.generator, run.config, args.temperature)}
    tag = args.checkpoint.replace(":", "-").replace("/", "-")
    atomic_write_json(f"{args.run_dir}/eval-{tag}-t{args.temperature:g}.json", result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if isinstance(value, float):
                label = key.replace("nll_", "NLL-")
                print(f"{label:10s} {value:.4f}  {result.get(key + '_signature', '')}")
    return 0


def cmd_oracle_study(args: argparse.Namespace) -> int:
    """seqgan study (also `seqgan oracle-study`)."""
    from seqgan.core.distributed import env_world, session
    from seqgan.text.config import apply_overrides
    from seqgan.text.presets import get_preset
    from seqgan.text.study import DEFAULT_TEMPERATURES, run_oracle_study, study_markdown

    seeds = parse_seeds(args.seeds)
    overrides = [*generator_overrides(args), *args.overrides]
    experiment = args.experiment
    if args.corpus:
        named = args.corpus in NAMED_CORPORA
        experiment = experiment or (args.corpus if named else "text-small")
        if not named:
            overrides.insert(0, f"data.corpus={args.corpus}")
    base = apply_overrides(get_preset(experiment or "oracle"), overrides)
    check_pretrained_tokenizer(base, overrides)
    default_methods = "mle,seqgan" if base.data.corpus else "mle,constant,seqgan"
    methods = [m.strip() for m in (args.methods or default_methods).split(",") if m.strip()]
    temperatures = DEFAULT_TEMPERATURES if args.temperatures is None else parse_temperatures(args.temperatures)
    if "ss" in methods and env_world() is not None:  # before the other methods' runs train, not after them
        raise UserError("scheduled sampling (--methods ss) trains in one process only; run this study without "
                        "torchrun, or leave ss out")
    # under torchrun the job is joined once for the whole study: every run of it trains on all the processes
    with session(base.device, "seqgan study"):
        summary = run_oracle_study(base, seeds, methods, args.out, args.data_dir, args.bleu_samples, temperatures)
    print(study_markdown(summary))
    return 0


def parse_temperatures(text: str) -> tuple[float, ...]:
    """`--temperatures 0.8,1,1.2` as floats ('none' or '': no sweep); anything else is a one-line UserError."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        temps = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError as err:
        raise UserError(f"--temperatures must be comma-separated numbers or 'none' (got {text!r})") from err
    if any(not t > 0 for t in temps):
        raise UserError(f"--temperatures must all be > 0 (got {text!r})")
    return temps


def cmd_experiments(args: argparse.Namespace) -> int:
    """seqgan experiments."""
    from seqgan.core.config import all_keys
    from seqgan.text.presets import PRESETS

    for name, (description, _) in PRESETS.items():
        print(f"{name:14s} {description}")
    if args.keys:
        from seqgan.text.config import ExperimentConfig

        flat = flatten_config(ExperimentConfig().to_dict())
        print("\nconfig keys (--set KEY=VALUE), with the paper defaults:")
        for key in all_keys(ExperimentConfig):
            print(f"  {key} = {flat[key]}")
    return 0


