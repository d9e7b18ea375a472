"""Sub-commands of the core toolkit: train, sample, evaluate, experiments."""

from __future__ import annotations

import argparse
import json
import sys

from seqgan.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add train, sample, evaluate and experiments to the `seqgan` parser."""
    p = subparsers.add_parser("train", help="train (or resume) a run",
                              description="Train a run; re-running the same command resumes it.")
    p.add_argument("--experiment", default="oracle", help="preset name (see `seqgan experiments`)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 1); same seed, "
                   "same numbers")
    p.add_argument("--run-dir", required=True, help="folder for config, checkpoints, logs and samples")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set schedule.adv_epochs=10 (repeatable)")
    p.add_argument("--method", choices=["seqgan", "mle", "constant"],
                   help="shorthand for --set adversarial.method=...")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1")
    p.add_argument("--data-dir", default=None, help="data folder (default: $SEQGAN_DATA or ../shared/data)")
    p.add_argument("--init-from", default=None,
                   help="start from another run's end of pretraining (a run dir) or from a checkpoint file")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("sample", help="draw sequences from a trained run")
    p.add_argument("--run-dir", required=True)
    p.add_argument("-n", type=int, default=10, help="number of sequences")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default="last", help="last (default) or a phase name, e.g. pretrain_d")
    p.add_argument("--out", default=None, help="write here instead of stdout")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser("evaluate", help="NLL-oracle and NLL-test of a run, with signatures")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--checkpoint", default="last")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for NLL-oracle")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser("oracle-study", help="random G, MLE, constant-reward PG and SeqGAN over seeds",
                              description="Pretrain once per seed, branch every method off it, and write "
                              "summary.json and table.md (NLL-oracle and NLL-test, mean +- std). Resumable.")
    p.add_argument("--experiment", default="oracle")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    p.add_argument("--methods", default="mle,constant,seqgan", help="comma-separated: mle, constant, seqgan, "
                   "seqgan-baseline")
    p.add_argument("--out", required=True, help="study folder (runs, summary.json, table.md)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_oracle_study)

    p = subparsers.add_parser("experiments", help="list presets")
    p.add_argument("--keys", action="store_true", help="also list every config key with its default")
    p.set_defaults(func=cmd_experiments)


def _resolve_config(args: argparse.Namespace):
    from seqgan.config import apply_overrides
    from seqgan.experiments import get_preset

    overrides = list(args.overrides)
    if args.method:
        overrides.append(f"adversarial.method={args.method}")
    if args.device:
        overrides.append(f"device={args.device}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    return apply_overrides(get_preset(args.experiment), overrides)


def cmd_train(args: argparse.Namespace) -> int:
    """seqgan train."""
    from seqgan.experiment import train

    config = _resolve_config(args)
    final = train(config, args.run_dir, args.data_dir, args.init_from, argv=args.argv)
    print(json.dumps(final, indent=2))
    return 0


def _check_positive(value: float, name: str) -> None:
    if not value > 0:
        raise UserError(f"{name} must be > 0 (got {value})")


def _check_writable(path: str) -> None:
    from pathlib import Path

    out = Path(path)
    if out.is_dir():
        raise UserError(f"--out {path} is a folder; give a file name")
    if not out.parent.is_dir():
        raise UserError(f"--out {path}: folder {out.parent} does not exist; create it first")


def cmd_sample(args: argparse.Namespace) -> int:
    """seqgan sample."""
    import torch

    from seqgan.core.checkpoint import atomic_write_text
    from seqgan.experiment import load_run

    _check_positive(args.n, "-n")
    _check_positive(args.temperature, "--temperature")
    if args.out:
        _check_writable(args.out)
    run = load_run(args.run_dir, args.data_dir, args.checkpoint)
    gen = torch.Generator(device=run.device).manual_seed(args.seed)
    ids = run.pair.generator.sample(args.n, gen, args.temperature)
    text = "\n".join(" ".join(map(str, row)) for row in ids.tolist()) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """seqgan evaluate."""
    from eval.nll import nll_oracle, nll_test
    from seqgan.core.checkpoint import atomic_write_json
    from seqgan.experiment import eval_seed, load_run

    _check_positive(args.temperature, "--temperature")
    run = load_run(args.run_dir, args.data_dir, args.checkpoint)
    g = run.pair.generator
    oracle = nll_oracle(run.task.oracle, g, run.config.eval.num_samples, eval_seed(run.config),
                        args.temperature, run.task.oracle_name)
    test = nll_test(g, run.task.test, run.task.test_name)
    result = {"checkpoint": args.checkpoint, "nll_oracle": oracle.value, "nll_oracle_signature": oracle.signature,
              "nll_test": test.value, "nll_test_signature": test.signature}
    atomic_write_json(f"{args.run_dir}/eval-{args.checkpoint}-t{args.temperature:g}.json", result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"NLL-oracle {oracle.value:.4f}  {oracle.signature}")
        print(f"NLL-test   {test.value:.4f}  {test.signature}")
    return 0


def cmd_oracle_study(args: argparse.Namespace) -> int:
    """seqgan oracle-study."""
    from seqgan.config import apply_overrides
    from seqgan.experiments import get_preset
    from seqgan.study import run_oracle_study

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as err:
        raise UserError(f"--seeds must be comma-separated integers (got {args.seeds!r})") from err
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    base = apply_overrides(get_preset(args.experiment), args.overrides)
    summary = run_oracle_study(base, seeds, methods, args.out, args.data_dir)
    from seqgan.study import table_markdown

    print(table_markdown(summary))
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    """seqgan experiments."""
    from seqgan.config import _all_keys
    from seqgan.experiments import PRESETS

    for name, (description, _) in PRESETS.items():
        print(f"{name:14s} {description}")
    if args.keys:
        from seqgan.config import ExperimentConfig

        flat = _flatten(ExperimentConfig().to_dict())
        print("\nconfig keys (--set KEY=VALUE), with the paper defaults:")
        for key in _all_keys(ExperimentConfig):
            print(f"  {key} = {flat[key]}")
    return 0


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, prefix + key + "."))
        else:
            out[prefix + key] = value
    return out
