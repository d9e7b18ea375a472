"""Benchmark: images/s of one image-GAN training iteration (n_critic D steps + 1 G step, batch 64) per net and loss.

Rows: our DCGAN at 28x28 for every variant; PyTorch-GAN's dcgan.py nets at 32x32 (NS loss, as its BCE);
the MLP of its gan.py (NS) and of its wgan_gp.py (WGAN-GP). Each iteration runs through the same `GANPair`
methods the training loop calls, on a 60,000-image uint8 tensor held in memory (random pixels: speed does not
depend on the content). "real img/s" counts real images consumed per second (batch x D steps, or batch per step
for the VAE), which is what PyTorch-GAN's per-epoch times measure; "iter/s" counts whole iterations.
Reference (PyTorch-GAN on this machine): dcgan 147 img/s, MLP GAN 2,330, MLP WGAN-GP 2,180.
Median of --repeats timed runs of --iters iterations after --warmup iterations. Writes results/bench_image.json.

    OMP_NUM_THREADS=2 nice -n 19 python bench/bench_image.py [--repeats 5] [--iters 20] [--only dcgan]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import ROOT, machine, write_report  # first: puts the project root on sys.path

from seqgan.core.runtime import resolve_precision, seed_everything
from seqgan.image.config import apply_image_overrides, image_config
from seqgan.image.run import build_image_run
from seqgan.image.variants import VARIANTS

# PyTorch-GAN's images/s on this machine: its dcgan.py at 32x32, gan.py, wgan_gp.py
REFERENCE = {"pytorch-gan-dcgan/ns": 147.0, "mlp/ns": 2330.0, "mlp/wgan-gp": 2180.0}


def rows() -> list[tuple[str, str, int]]:
    """(net, loss, image size) of every benchmark row."""
    return [*(("dcgan", loss, 28) for loss in VARIANTS), ("pytorch-gan-dcgan", "ns", 32), ("mlp", "ns", 28),
            ("mlp", "wgan-gp", 28)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the benchmark's command line.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed repeats, median reported (default 5)")
    p.add_argument("--iters", type=int, default=20, help="iterations per timed repeat (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default 3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=int, default=64, help="our DCGAN's width (default 64, as DCGAN)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", help="fp32 (default), bf16 or auto: train.precision of every row")
    p.add_argument("--only", default="", help="comma-separated substrings: run rows whose net/loss contains one")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_image.json"), help="JSON output path")
    return p.parse_args(argv)


def bench_row(net: str, loss: str, size: int, args: argparse.Namespace) -> dict:
    """Time one (net, loss, size): median seconds per iteration over the repeats, and the derived rates.

    Args:
        net: a net name.
        loss: a variant name.
        size: image height and width.
        args: the benchmark's options.
    """
    config = apply_image_overrides(image_config("mnist", loss, net=net), [
        f"device={args.device}", f"train.batch_size={args.batch_size}", f"model.width={args.width}",
        f"train.precision={args.precision}"])
    images = torch.randint(0, 256, (60_000, 1, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))  # (N, 1, H, W)
    labels = torch.randint(0, 10, (60_000,), generator=torch.Generator().manual_seed(1))  # (N,) for CGAN, ACGAN
    run = build_image_run(config, images, labels=labels)
    pair, gen = run.pair, seed_everything(1, run.device)
    n_critic = config.train.n_critic

    def iteration() -> None:
        for _ in range(n_critic):
            pair.d_step(gen)
        pair.g_step(gen)

    for _ in range(args.warmup):
        iteration()
    times = []
    for _ in range(args.repeats):
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.iters):
            iteration()
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / args.iters)
    per_iter = statistics.median(times)
    real_per_iter = args.batch_size * max(n_critic, 1)  # the VAE reads one real batch per (G) step
    row = {"net": net, "loss": loss, "image_size": size, "n_critic": n_critic, "batch_size": args.batch_size,
           "precision": resolve_precision(args.precision, run.device),
           "s_per_iter": per_iter, "iter_per_s": 1 / per_iter, "real_img_per_s": real_per_iter / per_iter,
           "repeat_s_per_iter": times}
    ref = REFERENCE.get(f"{net}/{loss}")
    if ref:
        row["pytorch_gan_img_per_s"] = ref
        row["speedup_vs_pytorch_gan"] = row["real_img_per_s"] / ref
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table and write the JSON report.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = [w for w in args.only.split(",") if w]
    selected = [r for r in rows() if not wanted or any(w in f"{r[0]}/{r[1]}" for w in wanted)]
    results = []
    print(f"{'net':18s} {'loss':8s} {'size':>4s} {'n_crit':>6s} {'iter/s':>8s} {'real img/s':>11s} "
          f"{'PyTorch-GAN':>11s} {'speed-up':>8s}")
    for net, loss, size in selected:
        row = bench_row(net, loss, size, args)
        results.append(row)
        ref = row.get("pytorch_gan_img_per_s")
        speedup = f"{row['speedup_vs_pytorch_gan']:.2f}x" if ref else ""
        print(f"{net:18s} {loss:8s} {size:4d} {row['n_critic']:6d} {row['iter_per_s']:8.2f} "
              f"{row['real_img_per_s']:11.0f} {ref or '':>11} {speedup:>8s}", flush=True)
    report = {"benchmark": "image GAN training iteration (n_critic D steps + 1 G step)", "rows": results,
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "machine": machine(),
              "reference": "PyTorch-GAN images/s measured on this machine"}
    write_report(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
