"""Benchmark: wall time of the small commands (`seqgan sample`, `evaluate`, `bleu`) as a user runs them.

Each command runs as a fresh subprocess (`python cli.py ...`), --repeats times after one untimed warm-up (which
also writes the .pyc files); the median is reported. Floors for comparison: the bare interpreter, `import torch`,
and building the CLI's parser. Targets: `sample -n 10` <= 2.5 s and `bleu` <= 0.5 s.

The run is a text-small run on image_coco.txt (word tokens, a 4k vocabulary, 32 tokens per line), trained for
one MLE epoch and one D round: sampling and loading cost the same after any amount of training. BLEU scores 1,000
samples of it against its 1,000-line test split. With --baseline-root (e.g. an unpacked `git archive HEAD`), the
same commands also run from that tree, for a before/after table. Writes results/bench_cli.json (or --out).

    nice -n 19 python bench/bench_cli.py [--run-dir RUN] [--baseline-root DIR] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, machine, timed, write_report  # first: puts the project root on sys.path

TARGETS_S = {"sample -n 10": 2.5, "bleu": 0.5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the benchmark's command line.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    default_data = os.environ.get("SEQGAN_DATA") or str((ROOT / ".." / "shared" / "data").resolve())
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", default=None, help="a trained text run to time (copied first, since `evaluate` "
                   "writes into it; default: train a short text-small run on image_coco.txt)")
    p.add_argument("--data-dir", default=default_data, help=f"folder holding image_coco/ (default {default_data})")
    p.add_argument("--baseline-root", default=None, help="another checkout of the project to time the same "
                   "commands from (the 'before' column)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per command, median reported (default 5)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_cli.json"), help="JSON output path")
    return p.parse_args(argv)


def run_quiet(argv: list[str], cwd: Path) -> None:
    """Run a command, output discarded; exit the benchmark with its stderr when it fails."""
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_cli: {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def prepare_run(args: argparse.Namespace, work: Path) -> Path:
    """A private text run to time: a copy of --run-dir, or a short text-small run trained here."""
    run = work / "run"
    if args.run_dir:
        shutil.copytree(args.run_dir, run)
        return run
    corpus = Path(args.data_dir) / "image_coco" / "image_coco.txt"
    if not corpus.is_file():
        sys.exit(f"bench_cli: {corpus} not found; pass --data-dir or --run-dir")
    print(f"training a short text-small run on {corpus.name} ...", flush=True)
    run_quiet([sys.executable, "cli.py", "train", "--experiment", "text-small", "--corpus", str(corpus),
               "--run-dir", str(run), "--set", "schedule.pretrain_g_epochs=1", "--set",
               "schedule.pretrain_d_rounds=1", "--set", "schedule.adv_epochs=0"], ROOT)
    return run


def commands(run: Path, samples: Path) -> dict[str, list[str]]:
    """Name -> argv after `python`, run from a project root."""
    refs = str(run / "data" / "test.txt")
    return {
        "python (interpreter floor)": ["-c", "pass"],
        "import torch (floor)": ["-c", "import torch"],
        "cli start (build the parser)": ["-c", "import cli; cli.build_parser()"],
        "sample -n 1": ["cli.py", "sample", "--run-dir", str(run), "-n", "1"],
        "sample -n 10": ["cli.py", "sample", "--run-dir", str(run), "-n", "10"],
        "evaluate": ["cli.py", "evaluate", "--run-dir", str(run)],
        "bleu": ["cli.py", "bleu", "--refs", refs, "--hyps", str(samples)],
        "bleu --tokenizer-from": ["cli.py", "bleu", "--refs", refs, "--hyps", str(samples), "--tokenizer-from",
                                  str(run)],
    }


def time_tree(root: Path, cmds: dict[str, list[str]], repeats: int) -> dict[str, dict]:
    """Median and all wall times of every command run from the project tree `root` (None when it fails there,
    e.g. an option the tree does not have)."""
    out = {}
    for name, argv in cmds.items():
        full = [sys.executable, *argv]
        probe = subprocess.run(full, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if probe.returncode != 0:
            out[name] = {"argv": argv, "error": probe.stderr.strip().splitlines()[-1:]}
            continue
        times = timed(lambda full=full: subprocess.run(full, cwd=root, stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.DEVNULL, check=True), repeats, warmup=0)
        out[name] = {"argv": argv, "median_s": statistics.median(times), "all_s": times}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table and write the JSON report.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_cli_") as tmp:
        work = Path(tmp)
        run = prepare_run(args, work)
        samples = work / "samples.txt"
        run_quiet([sys.executable, "cli.py", "sample", "--run-dir", str(run), "-n", "1000", "--out", str(samples)],
                  ROOT)
        cmds = commands(run, samples)
        load_before = list(os.getloadavg())
        after = time_tree(ROOT, cmds, args.repeats)
        before = time_tree(Path(args.baseline_root), cmds, args.repeats) if args.baseline_root else None
        load_after = list(os.getloadavg())

    def cell(result: dict | None) -> str:
        if result is None:
            return ""
        return f"{result['median_s']:.2f} s" if "median_s" in result else "fails"

    rows = [("command", "before", "now", "target")] if before else [("command", "median", "target")]
    for name in cmds:
        target = f"<= {TARGETS_S[name]} s" if name in TARGETS_S else ""
        rows.append((name, cell(before[name]), cell(after[name]), target) if before
                    else (name, cell(after[name]), target))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("\n".join("  ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=True)) for r in rows))
    met = {name: after[name].get("median_s", float("inf")) <= limit for name, limit in TARGETS_S.items()}
    report = {
        "task": "wall time of small seqgan commands, each a fresh subprocess; median of repeats",
        "run": "text-small on image_coco.txt (word tokens, 32 per line), 1 MLE epoch + 1 D round"
        if not args.run_dir else f"a copy of {args.run_dir}",
        "bleu_files": "1,000 samples of the run against its 1,000-line test split",
        "repeats": args.repeats,
        "targets_s": TARGETS_S,
        "targets_met": met,
        "now": after,
        "before": before,
        "baseline_root": args.baseline_root,
        "load_average_at_start": load_before,
        "load_average_at_end": load_after,
        "machine": machine(),
    }
    print(f"targets met: {met}; load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(f"wrote {write_report(args.out, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
