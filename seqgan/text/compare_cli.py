"""`seqgan compare`: score runs side by side, test their differences, and draw the quality-diversity frontier."""

from __future__ import annotations

import argparse
import json

from seqgan.base.errors import UserError
from seqgan.text.config import seed_arg

MAX_SAMPLES = 1_000_000  # -n and --curve-samples: a bound on one call's memory


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `compare` to the `seqgan` parser."""
    p = subparsers.add_parser(
        "compare", help="compare runs: BLEU, Self-BLEU, NLL, significance, frontier plots",
        description="Sample N from each run; on text score BLEU-2..5 against the held-out test split, Self-BLEU, "
        "NLL-test, length and vocabulary; on the oracle NLL-oracle and NLL-test. Test every run against the first "
        "(Mann-Whitney U and Welch t on per-sample scores), sweep the reference run's temperature to draw MLE's "
        "quality-diversity curve, say which runs lie beyond it, and write report.md, report.json and plots.")
    p.add_argument("run_dirs", nargs="+", help="run directories on the same corpus or oracle; the first is the "
                   "baseline of the significance tests")
    p.add_argument("--out", required=True, help="folder for report.md, report.json and the plots (created; "
                   "their old versions there are replaced; never a run directory)")
    p.add_argument("--names", default=None, help="comma-separated display names (default: each run's method)")
    p.add_argument("-n", type=int, default=2000, help="samples per run (default 2000)")
    p.add_argument("--seed", type=seed_arg, default=0, help="sampling seed, the same for every run")
    p.add_argument("--reference", default="mle", help="the run (by name) whose temperature sweep is the "
                   "frontier curve; 'none' for no sweep (default: mle)")
    p.add_argument("--temperatures", default="0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.35,1.5",
                   help="the reference's temperature sweep")
    p.add_argument("--checkpoint", default="last", help="which checkpoint of each run: last, best, an epoch")
    p.add_argument("--curve-samples", type=int, default=500, help="text: samples per snapshot for BLEU over training")
    p.add_argument("--no-plots", action="store_true", help="skip the matplotlib figures")
    p.add_argument("--json", action="store_true", help="print report.json instead of report.md")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    """seqgan compare."""
    from seqgan.base.outputs import check_output_folder
    from seqgan.text.report import compare, stderr_progress

    check_output_folder(args.out, "--out", [("run directory", run) for run in args.run_dirs])
    if args.n < 2:
        raise UserError(f"-n must be at least 2 (Self-BLEU needs two samples), got {args.n}")
    if max(args.n, args.curve_samples) > MAX_SAMPLES:  # every sample of every run is held in memory at once
        raise UserError(f"-n and --curve-samples must be at most {MAX_SAMPLES:,} (got {args.n}, {args.curve_samples})")
    if args.curve_samples < 1:
        raise UserError(f"--curve-samples must be at least 1, got {args.curve_samples}")
    try:
        temps = tuple(float(t) for t in args.temperatures.split(",") if t.strip())
    except ValueError as err:
        raise UserError(f"--temperatures must be comma-separated numbers (got {args.temperatures!r})") from err
    if not temps or not all(0 < t < float("inf") for t in temps):  # `not` also catches nan
        raise UserError(f"--temperatures must all be > 0 and finite (got {args.temperatures!r})")
    names = [x.strip() for x in args.names.split(",")] if args.names else None
    reference = None if args.reference.lower() == "none" else args.reference
    report = compare(args.run_dirs, args.out, names, args.n, args.seed, temps, reference, args.checkpoint,
                     args.data_dir, args.curve_samples, plots=not args.no_plots, progress=stderr_progress())
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        from pathlib import Path

        print((Path(args.out) / "report.md").read_text(encoding="utf-8"), end="")
    return 0
