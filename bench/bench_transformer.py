"""The transformer generator's speed and memory: KV-cached rollouts, MLE and a full adversarial G step.

    python bench/bench_transformer.py --out results/bench_transformer.json

Rollouts (batch 64, length 32, 16 rollouts, a 4-layer 256-wide GPT G over 5,000 tokens, random weights):
  - cached: `GPTGenerator.complete_prefixes` (one prefix pass, then one cached token per step; seqgan.text.lm_rollout);
  - recompute: the same rows and draws, but every step runs each row's whole sequence so far through the
    model without a cache (what a rollout without KV caching costs). It costs about T/2 times the cached
    rollouts' work (tens of minutes at batch 64 x 16 rollouts on 2 cores), so it is timed, beside the cached
    rollouts, at a smaller batch (--small: batch 16 x 4 rollouts, same model, length and vocabulary): the
    speedup is the ratio at equal rows;
  - from scratch: `sample` of as many sequences as give the same number of generated tokens.
Each measurement runs in a fresh process (its peak RSS is the figure reported) and is repeated; medians.

Then MLE tokens/s of the `coco-gpt2` preset's G on the COCO training split beside the `coco` preset's LSTM
(real tokens, <eos> included, padding not counted), and one full adversarial G step (sampling, rollouts, D
scoring, the policy-gradient update) of the rollout configuration above with the coco preset's D.
Run it with nothing else busy on the machine. `--parts mle-lstm,mle-gpt2` re-runs some parts only, keeping the
others' entries in an existing --out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, write_report  # first: puts the project root on sys.path

B, T, N, V = 64, 32, 16, 5000
PARTS = ("cached", "scratch", "cached-small", "recompute", "adv-step", "mle-lstm", "mle-gpt2")
SMALL_B, SMALL_N = 16, 4  # the recompute comparison
LAYERS, HEADS, WIDTH = 4, 4, 256
RECOMPUTE_CHUNK = 2048  # rows per uncached forward (bounds the recompute baseline's memory)


def _gpt():
    from seqgan.text.transformer_generator import GPTGenerator

    return GPTGenerator(V, T, LAYERS, HEADS, WIDTH, start_token=1, seed=0).eval()


def _inputs(g, batch: int, n: int):
    import torch

    seqs = g.sample(batch, torch.Generator().manual_seed(0))
    uniforms = torch.rand((T - 1) * n * batch, T, generator=torch.Generator().manual_seed(1))
    return seqs, uniforms


def recompute_completions(g, seqs, n, uniforms):
    """The cached rollout's rows and draws without a cache: each step feeds every active row's whole sequence."""
    import torch

    batch = seqs.shape[0]
    rows = (T - 1) * n * batch
    out = seqs.repeat((T - 1) * n, 1)
    sampler = g.sampler()
    with torch.no_grad():
        for s in range(2, T + 1):
            active = n * batch * (s - 1)
            inputs = g.shift_right(out[:active, :s])  # start, y_1 .. y_{s-1}: the last position draws token s
            hidden = torch.cat([g.hidden(inputs[lo:lo + RECOMPUTE_CHUNK])[:, -1]
                                for lo in range(0, active, RECOMPUTE_CHUNK)])
            out[:active, s - 1] = sampler.sample(hidden, uniforms[:active, s - 1])  # every active row draws token s
    assert out.shape[0] == rows
    return g.pad_after_eos(out)


def child(part: str, repeats: int, data_dir: str | None) -> dict:
    """One measurement in this (fresh) process: seconds of each repeat, plus what the part reports."""
    import torch

    torch.manual_seed(0)
    if part in ("cached", "recompute", "scratch", "cached-small"):
        g = _gpt()
        batch, n = (B, N) if part in ("cached", "scratch") else (SMALL_B, SMALL_N)
        seqs, uniforms = _inputs(g, batch, n)
        tokens = n * batch * T * (T - 1) // 2  # tokens the rollouts generate: n*batch*(T - t) for every prefix t
        if part.startswith("cached"):
            fn = lambda: g.complete_prefixes(seqs, n, uniforms)  # noqa: E731
        elif part == "recompute":
            fn = lambda: recompute_completions(g, seqs, n, uniforms)  # noqa: E731
        else:
            fn = lambda: g.sample(tokens // T, torch.Generator().manual_seed(2))  # noqa: E731
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return {"times_s": times, "tokens": tokens}
    if part == "check":  # the recompute baseline draws exactly the cached rollouts' tokens
        g = _gpt()
        seqs, uniforms = _inputs(g, SMALL_B, SMALL_N)
        cached = g.complete_prefixes(seqs, SMALL_N, uniforms).view(-1, T)
        same = (cached == recompute_completions(g, seqs, SMALL_N, uniforms)).all(dim=1).float().mean().item()
        return {"rows_equal": same}
    if part in ("mle-lstm", "mle-gpt2"):
        return mle_throughput("coco" if part == "mle-lstm" else "coco-gpt2", data_dir, repeats)
    if part == "adv-step":
        return adversarial_step(data_dir, repeats)
    raise SystemExit(f"unknown part {part}")


def mle_throughput(preset: str, data_dir: str | None, repeats: int) -> dict:
    """bench_text.py's MLE epoch timing (after a warm-up epoch) of the preset's G on the COCO training split."""
    from bench_text import coco_mle_throughput

    result = coco_mle_throughput(data_dir, repeats, preset)
    if result is None:
        raise SystemExit("the COCO captions are needed for the MLE parts (--data-dir or $SEQGAN_DATA)")
    return {"times_s": result.pop("epoch_s_all"), **{k: v for k, v in result.items()
                                                      if k not in ("epoch_s_median", "tokens_per_s")}}


def adversarial_step(data_dir: str | None, repeats: int) -> dict:
    """One SeqGAN G step (sample B, N rollouts per prefix, D scores, policy-gradient update) of the rollout
    configuration with a random D of the coco preset's shape."""
    from dataclasses import replace

    import torch

    from seqgan.text.adversarial import SeqGANPair
    from seqgan.text.presets import get_preset
    from seqgan.text.run import build_models

    base = get_preset("coco-gpt2")
    config = replace(base, generator=replace(base.generator, layers=LAYERS, heads=HEADS, width=WIDTH),
                     adversarial=replace(base.adversarial, num_rollouts=N, g_batch_size=B))
    g, d = build_models(config, V, T, torch.device("cpu"), start_token=1)
    real = torch.randint(4, V, (256, T), generator=torch.Generator().manual_seed(3))
    pair = SeqGANPair(g, d, real, config)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pair.g_step(gen)
        times.append(time.perf_counter() - start)
    return {"times_s": times}


def run_child(part: str, repeats: int, data_dir: str | None) -> dict:
    """`child(part)` in a fresh interpreter: its result and its peak RSS."""
    cmd = [sys.executable, __file__, "--child", part, "--repeats", str(repeats)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{part} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/bench_transformer.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="comma-separated parts to run; the others keep their entries in an existing --out")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(args.child, args.repeats, args.data_dir)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(f"bench_transformer: unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    kept = json.loads(out.read_text(encoding="utf-8")) if parts != list(PARTS) and out.is_file() else {}
    report: dict = {**kept, "config": {"batch": B, "length": T, "rollouts": N, "vocab": V, "layers": LAYERS,
                               "heads": HEADS, "width": WIDTH, "small_batch": SMALL_B, "small_rollouts": SMALL_N,
                               "threads": os.environ.get("OMP_NUM_THREADS", "torch default")}}
    if "recompute" in parts:
        report["check"] = run_child("check", 1, args.data_dir)
        print(f"recompute baseline draws the cached rollouts' tokens on {report['check']['rows_equal']:.4%} of rows")
    print(f"{'part':12s} {'median s':>9s} {'tokens/s':>12s} {'peak MB':>9s}")
    for part in parts:
        load = list(os.getloadavg())  # what else kept the machine busy just before
        result = run_child(part, args.repeats, args.data_dir)
        result["median_s"] = statistics.median(result["times_s"])
        result["load_average_before"] = load
        if "tokens" in result:
            result["tokens_per_s"] = result["tokens"] / result["median_s"]
        report[part] = result
        rate = f"{result['tokens_per_s']:12,.0f}" if "tokens_per_s" in result else f"{'':12s}"
        print(f"{part:12s} {result['median_s']:9.2f} {rate} {result['peak_rss_mb']:9.0f}")
    if not all(p in report for p in ("recompute", "cached-small", "cached", "scratch")):
        write_report(args.out, {**report, "machine": machine()})
        return 0
    speedup = report["recompute"]["median_s"] / report["cached-small"]["median_s"]
    vs_scratch = report["cached"]["median_s"] / report["scratch"]["median_s"]
    report["cached_vs_recompute_speedup"] = speedup
    report["cached_vs_scratch_ratio"] = vs_scratch
    print(f"cached rollouts: {speedup:.1f}x faster than recomputing at batch {SMALL_B} x {SMALL_N} "
          f"(target >= 5: {'met' if speedup >= 5 else 'NOT met'});"
          f" {vs_scratch:.2f}x the time of sampling as many tokens from scratch (target <= 2: "
          f"{'met' if vs_scratch <= 2 else 'NOT met'})")
    write_report(args.out, {**report, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
