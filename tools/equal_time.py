"""Compare image runs at the same training time: which variant has the lower FID after T seconds?

    python tools/equal_time.py --run LAPGAN=runs/image_study_converged/mnist-more/lapgan \\
        --run NS=runs/image_study_converged/mnist/ns --out results/image_equal_time/mnist

Each --run is NAME=FOLDER, FOLDER one run (its metrics.jsonl and timing.jsonl) or a study's variant folder with
seed<S>/ runs (every seed is read; the FIDs are averaged over seeds). A run's clock is its epochs times its
median training seconds per epoch (timing.jsonl): evaluations are left out (every variant evaluates on the
same schedule) and the median keeps a stall of the shared machine from counting as training. T is the shortest
of the variants' mean training times; each variant's FID at T is the mean over seeds of its last evaluation at
or before T (no interpolation). Writes OUT/summary.json and OUT/table.md when --out is given, and prints the
table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seqgan.core.checkpoint import atomic_write_json, atomic_write_text  # noqa: E402


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_clock(run_dir: Path) -> dict:
    """One run's median training seconds per epoch and its FID curve [[epoch, seconds, FID], ...]."""
    per_epoch = {r["epoch"]: r["train_s"] for r in _lines(run_dir / "timing.jsonl") if "train_s" in r}
    if not per_epoch:
        raise ValueError(f"{run_dir} has no training epochs in timing.jsonl")
    step = statistics.median(per_epoch.values())
    curve = [[r["epoch"], r["epoch"] * step, r["fid"]] for r in _lines(run_dir / "metrics.jsonl")
             if r.get("event") == "eval" and "fid" in r]
    if not curve:
        raise ValueError(f"{run_dir} has no FID evaluations in metrics.jsonl")
    return {"run": str(run_dir), "seconds_per_epoch": step, "curve": curve}


def variant_runs(folder: Path) -> list[Path]:
    """The run folders of a --run: the folder itself, or its seed<S>/ subfolders."""
    if (folder / "metrics.jsonl").exists():
        return [folder]
    seeds = sorted(p for p in folder.glob("seed*") if (p / "metrics.jsonl").exists())
    if not seeds:
        raise ValueError(f"{folder} is neither a run nor a folder of seed<S> runs")
    return seeds


def fid_at(curve: list[list[float]], seconds: float) -> tuple[int, float]:
    """(epoch, FID) of the last evaluation at or before `seconds` of training."""
    before = [(e, f) for e, t, f in curve if t <= seconds + 1e-9]
    return before[-1] if before else (curve[0][0], curve[0][2])


def compare(variants: dict[str, Path]) -> dict:
    """Every variant's FID at the common training time T (see the module docstring)."""
    clocks = {name: [run_clock(run) for run in variant_runs(folder)] for name, folder in variants.items()}
    totals = {name: statistics.fmean(c["curve"][-1][1] for c in runs) for name, runs in clocks.items()}
    budget = min(totals.values())
    rows = {}
    for name, runs in clocks.items():
        at = [fid_at(c["curve"], budget) for c in runs]
        rows[name] = {"seeds": len(runs), "seconds_per_epoch": statistics.fmean(c["seconds_per_epoch"] for c in runs),
                      "epochs_at_budget": [e for e, _ in at], "fid_at_budget": [f for _, f in at],
                      "fid_at_budget_mean": statistics.fmean(f for _, f in at),
                      "final_fid_curve_mean": statistics.fmean(c["curve"][-1][2] for c in runs),
                      "training_seconds_mean": totals[name], "runs": [c["run"] for c in runs]}
    return {"budget_seconds": budget, "clock": "epochs x median training seconds per epoch", "variants": rows}


def table(summary: dict) -> str:
    minutes = summary["budget_seconds"] / 60
    lines = [f"| variant | s/epoch (median) | epoch reached at {minutes:.1f} min | FID then (mean) | "
             "FID at its own end (mean) | seeds |", "|---|---|---|---|---|---|"]
    for name, row in summary["variants"].items():
        epochs = ", ".join(str(e) for e in row["epochs_at_budget"])
        lines.append(f"| {name} | {row['seconds_per_epoch']:.1f} | {epochs} | {row['fid_at_budget_mean']:.1f} | "
                     f"{row['final_fid_curve_mean']:.1f} | {row['seeds']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=FOLDER (give two or more)")
    parser.add_argument("--out", help="folder for summary.json and table.md")
    args = parser.parse_args(argv)
    try:
        variants = {}
        for item in args.run:
            name, sep, folder = item.partition("=")
            if not sep or not name or not folder:
                raise ValueError(f"--run {item!r}: expected NAME=FOLDER")
            variants[name] = Path(folder)
        if len(variants) < 2:
            raise ValueError("give two or more --run NAME=FOLDER to compare")
        summary = compare(variants)
    except (OSError, ValueError, KeyError) as exc:
        print(f"equal_time: {exc}", file=sys.stderr)
        return 2
    text = table(summary)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "summary.json", summary)
        atomic_write_text(out / "table.md", text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
