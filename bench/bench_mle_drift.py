"""How much this machine's speed drifts: the same MLE epoch, timed back to back for several minutes.

The MLE epoch of bench_core.py (9,984 sequences at the paper's sizes) is timed again and again, alternating 2
threads and 1 thread, for `--minutes`. If the code were the only thing that set the time, every epoch would take
the same; on a shared host the figures drift for minutes at a time. Alternating thread counts tells a slower
host (both columns slower) from a threading problem (only the 2-thread column slower).

    python bench/bench_mle_drift.py --minutes 8

Prints each pair and the quantiles, and writes results/bench_mle_drift.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import machine, write_report  # first: puts the project root on sys.path

from seqgan.core.runtime import keep_freed_memory
from seqgan.text.adversarial import SeqGANPair
from seqgan.text.config import ExperimentConfig
from seqgan.text.oracle import random_oracle
from seqgan.text.run import build_models

TARGET_S = 2.0  # the MLE-epoch target, for the "share of epochs within target" line


def quantiles(values: list[float]) -> dict[str, float]:
    """min, 10th, 50th, 90th percentile and max of `values` (at least one)."""
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"min": ordered[0], "p10": pick(0.1), "median": statistics.median(ordered), "p90": pick(0.9),
            "max": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=8.0, help="how long to keep timing (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="the multi-thread column's thread count")
    parser.add_argument("--out", default="results/bench_mle_drift.json")
    args = parser.parse_args()
    keep_freed_memory()
    torch.manual_seed(0)
    config = ExperimentConfig()  # the paper's sizes
    gen = torch.Generator().manual_seed(0)
    real = random_oracle(0).sample(9984, gen)
    generator, discriminator = build_models(config, 5000, 20, torch.device("cpu"))
    pair = SeqGANPair(generator, discriminator, real, config)
    pair.mle_epoch(gen)  # warm-up

    pairs: list[dict[str, float]] = []
    start = time.perf_counter()
    print(f"{'minute':>7s} {f'{args.threads} threads s':>12s} {'1 thread s':>11s}")
    while time.perf_counter() - start < args.minutes * 60:
        row = {"minute": (time.perf_counter() - start) / 60}
        for threads in (args.threads, 1):
            torch.set_num_threads(threads)
            tic = time.perf_counter()
            pair.mle_epoch(gen)
            row[f"threads_{threads}"] = time.perf_counter() - tic
        torch.set_num_threads(args.threads)
        pairs.append(row)
        print(f"{row['minute']:7.2f} {row[f'threads_{args.threads}']:12.3f} {row['threads_1']:11.3f}", flush=True)

    multi = [row[f"threads_{args.threads}"] for row in pairs]
    single = [row["threads_1"] for row in pairs]
    within = sum(value <= TARGET_S for value in multi) / len(multi)
    summary = {f"threads_{args.threads}": quantiles(multi), "threads_1": quantiles(single),
               "share_within_target": within, "target_s": TARGET_S}
    for key in (f"threads_{args.threads}", "threads_1"):
        print(key, " ".join(f"{name} {value:.3f}" for name, value in summary[key].items()))
    print(f"{args.threads}-thread epochs within the {TARGET_S} s target: {within:.0%} of {len(multi)}")
    write_report(args.out, {"machine": machine(), "minutes": args.minutes, "summary": summary, "epochs": pairs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
