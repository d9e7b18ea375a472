"""Speed of SeqGAN's hot paths at the paper's sizes (batch 64, length 20, vocab 5,000, hidden 32, 16 rollouts).

Prints a table and writes results/bench_core.json. Run it with nothing else busy on the machine:

    python bench/bench_core.py --repeats 5

Targets, against TextGAN-PyTorch measured on the same 2-core machine: adversarial G step <= 3 s
(32.7 s), MLE epoch of 9,984 sequences <= 2 s (4.6 s), D epoch of 10k real + 10k fake <= 12 s (20.7 s),
sampling 10,000 sequences <= 1 s (22.7 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from _common import machine, timed, write_report  # first: puts the project root on sys.path

from seqgan.core.runtime import keep_freed_memory, resolve_precision
from seqgan.text.adversarial import SeqGANPair
from seqgan.text.config import ExperimentConfig, apply_overrides
from seqgan.text.oracle import random_oracle
from seqgan.text.pretrain import discriminator_epoch
from seqgan.text.run import build_models

TARGETS = {"g_step": 3.0, "mle_epoch": 2.0, "d_epoch": 12.0, "sample_10k": 1.0}
TEXTGAN = {"g_step": 32.7, "mle_epoch": 4.6, "d_epoch": 20.7, "sample_10k": 22.7}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="results/bench_core.json")
    parser.add_argument("--no-fp32", action="store_true", help="skip the reference rows with an fp32 D")
    args = parser.parse_args()
    keep_freed_memory()
    torch.manual_seed(0)
    config = ExperimentConfig()  # the paper's sizes
    oracle = random_oracle(0)
    gen = torch.Generator().manual_seed(0)
    real = oracle.sample(9984, gen)
    generator, discriminator = build_models(config, 5000, 20, torch.device("cpu"))
    pair = SeqGANPair(generator, discriminator, real, config)
    fake = generator.sample(10_000, gen)
    real10k = oracle.sample(10_000, gen)

    rows = {
        "g_step": timed(lambda: pair.policy_gradient_step(gen), args.repeats),
        "mle_epoch": timed(lambda: pair.mle_epoch(gen), args.repeats),
        "d_epoch": timed(lambda: discriminator_epoch(discriminator, pair.d_opt, real10k, fake, 64, 0.2, gen),
                         max(1, args.repeats // 2)),
        "sample_10k": timed(lambda: generator.sample(10_000, gen), args.repeats),
    }
    # parts of the G step
    seqs = generator.sample(64, gen)
    completions = pair.rollout.completions(seqs, 16, gen)
    parts = {
        "g_step.rollout_completions": timed(lambda: pair.rollout.completions(seqs, 16, gen), args.repeats),
        "g_step.d_scoring_19520_seqs": timed(lambda: discriminator.prob_real(
            torch.cat([completions.view(-1, 20), seqs])), args.repeats),
    }
    if not args.no_fp32:  # the same with D's products in fp32, for reference (auto picks bf16 where fast)
        _, d32 = build_models(apply_overrides(config, ["discriminator.precision=fp32"]), 5000, 20,
                              torch.device("cpu"))
        d32.load_state_dict(discriminator.state_dict())
        pair32 = SeqGANPair(generator, d32, real, config)
        parts["g_step.fp32_d"] = timed(lambda: pair32.policy_gradient_step(gen), args.repeats)
        parts["d_epoch.fp32_d"] = timed(lambda: discriminator_epoch(d32, pair32.d_opt, real10k, fake, 64, 0.2, gen),
                                        max(1, args.repeats // 2))
    medians = {k: statistics.median(v) for k, v in {**rows, **parts}.items()}
    paper_epoch = medians["g_step"] + 5 * (medians["sample_10k"] + 3 * medians["d_epoch"])
    estimate_paper_h = (120 * medians["mle_epoch"] + 50 * (medians["sample_10k"] + 3 * medians["d_epoch"])
                        + 200 * paper_epoch) / 3600
    precision = resolve_precision(config.discriminator.precision, torch.device("cpu"))
    result = {"machine": machine(), "repeats": args.repeats, "d_precision": precision, "median_s": medians,
              "all_s": {**rows, **parts}, "targets_s": TARGETS, "textgan_pytorch_s": TEXTGAN,
              "oracle_paper_estimate_h": estimate_paper_h}
    print(f"machine: {result['machine']}; D products in {precision} (discriminator.precision=auto)")
    print(f"{'operation':32s} {'median s':>9s} {'target s':>9s} {'TextGAN s':>10s}  met")
    for key, value in medians.items():
        target = TARGETS.get(key)
        met = "" if target is None else ("yes" if value <= target else "NO")
        print(f"{key:32s} {value:9.3f} {target or '':>9} {TEXTGAN.get(key, ''):>10}  {met}")
    print(f"oracle-paper schedule estimate: {estimate_paper_h:.1f} h (target <= 11 h; TextGAN-PyTorch ~25 h)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_report(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
