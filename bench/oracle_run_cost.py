"""Wall time and peak memory of the runs of an oracle study, from their timing.jsonl files.

    python bench/oracle_run_cost.py runs/oracle_study --out results/oracle_run_cost.json

The `oracle` preset's cost is its pretraining plus its SeqGAN branch (a standalone `seqgan train
--experiment oracle` does exactly that work). Wall time sums every epoch's training and evaluation seconds,
so time spent paused or on redone work after a resume is counted as it happened.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import write_report


def run_cost(run_dir: Path) -> dict:
    """Seconds of training and evaluation, and the peak RSS recorded at the end of the run."""
    train_s = eval_s = 0.0
    peak = None
    for line in (run_dir / "timing.jsonl").read_text().splitlines():
        rec = json.loads(line)
        train_s += rec.get("train_s", 0.0)
        eval_s += rec.get("eval_s", 0.0)
        if rec.get("event") == "end":
            peak = rec["peak_rss_mb"]
    return {"train_s": train_s, "eval_s": eval_s, "wall_s": train_s + eval_s, "peak_rss_mb": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study_dir")
    parser.add_argument("--out", default="results/oracle_run_cost.json")
    args = parser.parse_args()
    rows = {}
    for run_dir in sorted(Path(args.study_dir).glob("seed*/*")):
        if (run_dir / "timing.jsonl").is_file():
            rows[f"{run_dir.parent.name}/{run_dir.name}"] = run_cost(run_dir)
    per_seed = {}
    for key, cost in rows.items():
        seed, method = key.split("/")
        if method == "seqgan" and f"{seed}/pretrain" in rows:
            per_seed[seed] = rows[f"{seed}/pretrain"]["wall_s"] + cost["wall_s"]
    print(f"{'run':28s} {'train s':>9s} {'eval s':>8s} {'wall min':>9s} {'peak RSS MB':>12s}")
    for key, cost in rows.items():
        print(f"{key:28s} {cost['train_s']:9.1f} {cost['eval_s']:8.1f} {cost['wall_s'] / 60:9.1f} "
              f"{cost['peak_rss_mb'] or float('nan'):12.0f}")
    for seed, wall in per_seed.items():
        print(f"oracle preset (pretrain + seqgan), {seed}: {wall / 60:.1f} min (target <= 45 min)")
    write_report(args.out, {"runs": rows, "oracle_preset_wall_s": per_seed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
