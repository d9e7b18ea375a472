"""Data-parallel speed on a CPU: 1 process with 2 threads against 2 processes with 1 thread each (torchrun, gloo).

Rows, at the `oracle` preset's sizes (the paper's G and D, vocabulary 5,000, length 20; a random oracle of the
same shape stands in for the original one, as speed does not depend on its weights):
- g_step: one policy-gradient step (64 samples, 16 Monte Carlo rollouts each, scored by D);
- mle_epoch: one MLE epoch over 10,000 sequences, batch 64;
- d_round: one D round of the preset (2,500 fresh negatives + 2,500 real, one epoch, batch 64);
- dcgan_ns_step: one DCGAN iteration with the non-saturating loss at 28x28 (1 D step + 1 G step, batch 64).

Each configuration runs in its own interpreter started by this script (the 2-process one through
`python -m torch.distributed.run`), so thread settings do not leak between them. A step's time is the slowest
process's; the table shows the median of --repeats and the scaling efficiency t(1 process) / (2 x t(2 processes))
(1.0: two processes halve the time; below 0.5: two processes are slower than one); 1 process with 1 thread is
a reference column (on a busy machine two threads can be slower than one). Writes
results/bench_distributed.json (--quick: smaller sizes, one repeat after the warm-up, written to
results/bench_distributed_quick.json: a smoke check only). Run it with nothing else busy on the machine:

    python bench/bench_distributed.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import ROOT, machine, write_report  # first: puts the project root on sys.path

from seqgan.core import distributed

OPS = ("g_step", "mle_epoch", "d_round", "dcgan_ns_step")
THREADS = 2  # the single process's threads = the cores the two processes share between them
FULL = {"real": 10_000, "negatives": 2500, "g_batch": 64, "rollouts": 16, "image_batch": 64, "images": 10_000}
QUICK = {"real": 640, "negatives": 320, "g_batch": 16, "rollouts": 4, "image_batch": 16, "images": 256}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text_ops(sizes: dict) -> dict:
    """The oracle preset's pair at its sizes, and its three timed operations."""
    from dataclasses import replace

    from seqgan.text.adversarial import SeqGANPair
    from seqgan.text.oracle import random_oracle
    from seqgan.text.presets import get_preset
    from seqgan.text.run import build_models

    config = get_preset("oracle")
    config = replace(config, schedule=replace(config.schedule, num_negatives=sizes["negatives"]),
                     adversarial=replace(config.adversarial, g_batch_size=sizes["g_batch"],
                                         num_rollouts=sizes["rollouts"]))
    gen = torch.Generator().manual_seed(0)
    real = random_oracle(0).sample(sizes["real"], gen)  # (N, 20)
    generator, discriminator = build_models(config, 5000, 20, torch.device("cpu"))
    pair = SeqGANPair(generator, discriminator, real, config)
    return {"g_step": lambda: pair.policy_gradient_step(gen), "mle_epoch": lambda: pair.mle_epoch(gen),
            "d_round": lambda: pair.d_step(gen)}


def _image_op(sizes: dict) -> dict:
    """A DCGAN NS pair on random 28x28 pixels (speed does not depend on the content), one D and one G step."""
    from seqgan.image.config import apply_image_overrides, image_config
    from seqgan.image.run import build_image_run

    config = apply_image_overrides(image_config("mnist", "ns", net="dcgan"),
                                   [f"train.batch_size={sizes['image_batch']}", "device=cpu"])
    images = torch.randint(0, 256, (sizes["images"], 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    pair = build_image_run(config, images).pair
    gen = torch.Generator().manual_seed(1)
    return {"dcgan_ns_step": lambda: (pair.d_step(gen), pair.g_step(gen))}


def worker(args: argparse.Namespace) -> int:
    """Time every operation in this process (and its torchrun peers); rank 0 writes the seconds to --part."""
    torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    with distributed.session("cpu", "bench_distributed"):
        torch.manual_seed(0)
        ops = {**_text_ops(sizes), **_image_op(sizes)}
        seconds: dict[str, list[float]] = {}
        for name in OPS:
            fn = ops[name]
            for _ in range(args.warmup):
                fn()
            times = []
            for _ in range(args.repeats):
                distributed.barrier()  # every process starts the step together
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            seconds[name] = [max(ts) for ts in zip(*distributed.gather_objects(times))]  # the slowest process
        if distributed.is_main():
            Path(args.part).write_text(json.dumps({"seconds": seconds, "threads": torch.get_num_threads()}))
    return 0


def run_config(args: argparse.Namespace, processes: int, threads: int, part: Path) -> dict:
    """One configuration in fresh interpreters: `processes` processes of `threads` threads each."""
    script = [str(Path(__file__).resolve()), "--worker", "--part", str(part), "--threads", str(threads),
              "--repeats", str(args.repeats), "--warmup", str(args.warmup), *(["--quick"] if args.quick else [])]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                 "--master_port", str(_free_port())] if processes > 1 else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([*launcher, *script], cwd=ROOT, env=env, check=True)
    return json.loads(part.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one repeat: a smoke check, not numbers to quote")
    parser.add_argument("--out", default=None, help="default results/bench_distributed[_quick].json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=THREADS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    if args.worker:
        return worker(args)
    out = args.out or f"results/bench_distributed{'_quick' if args.quick else ''}.json"
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as scratch:
        one = run_config(args, 1, THREADS, Path(scratch) / "one.json")
        two = run_config(args, 2, 1, Path(scratch) / "two.json")
        single = run_config(args, 1, 1, Path(scratch) / "single.json")  # reference: what one core does alone
    medians = {name: {"one_process_s": statistics.median(one["seconds"][name]),
                      "two_processes_s": statistics.median(two["seconds"][name]),
                      "one_thread_s": statistics.median(single["seconds"][name])} for name in OPS}
    for row in medians.values():
        row["efficiency"] = row["one_process_s"] / (2 * row["two_processes_s"])
    result = {"machine": machine(), "quick": args.quick, "repeats": args.repeats,
              "sizes": QUICK if args.quick else FULL,
              "configurations": {"one": f"1 process x {THREADS} threads", "two": "2 processes x 1 thread (torchrun, "
                                 "gloo)", "single": "1 process x 1 thread (reference)"},
              "median_s": medians, "all_s": {"one_process": one["seconds"], "two_processes": two["seconds"],
                                                  "one_thread": single["seconds"]}}
    quick_note = "  (--quick: a smoke check, not numbers to quote)" if args.quick else ""
    print(f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, load "
          f"{result['machine']['load_average']}{quick_note}")
    print(f"{'operation':16s} {'1 proc x 2 thr s':>17s} {'2 proc x 1 thr s':>17s} {'efficiency':>11s} "
          f"{'1 proc x 1 thr s':>17s}")
    for name, row in medians.items():
        print(f"{name:16s} {row['one_process_s']:17.3f} {row['two_processes_s']:17.3f} {row['efficiency']:11.2f} "
              f"{row['one_thread_s']:17.3f}")
    write_report(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
