"""Benchmark: paper-style BLEU-4 of 10,000 COCO samples against the 10,000-line COCO test set, ours vs nltk.

References: `image_coco/test_coco.txt`; "samples" (hypotheses): the first 10,000 lines of
`image_coco/image_coco.txt` (the train file), both from --data-dir (default: $SEQGAN_DATA, else ../shared/data
relative to the project root). Tokenization: lower-case + nltk.word_tokenize when nltk's punkt_tab data is
installed (as Texygen), otherwise lower-case + whitespace split; the JSON records which one was used.

Ours is timed as the median of --repeats runs, split into building the reference cache (`ReferenceSet`)
and scoring all hypotheses. nltk (`sentence_bleu` per sample, SmoothingFunction().method1 as Texygen) is
timed on a random subset of --nltk-samples hypotheses and extrapolated to all; on that subset ours must
equal nltk to 1e-9. Writes results/bench_bleu.json (or --out).

    nice -n 19 python bench/bench_bleu.py [--data-dir DIR] [--nltk-samples 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import nltk
import numpy as np
from _common import ROOT, machine, write_report  # first: puts the project root on sys.path
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from eval import bleu as B


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the benchmark's command line.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    default_data = os.environ.get("SEQGAN_DATA") or str((ROOT / ".." / "shared" / "data").resolve())
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir", default=default_data, help=f"directory holding image_coco/ (default {default_data})"
    )
    p.add_argument(
        "--n-hyps", type=int, default=10000, help="hypotheses taken from image_coco.txt (default 10000)"
    )
    p.add_argument("-n", type=int, default=4, help="BLEU order (default 4)")
    p.add_argument("--smoothing", default="method1", help="nltk smoothing (default method1, as Texygen)")
    p.add_argument(
        "--repeats", type=int, default=3, help="timed repeats of ours, median reported (default 3)"
    )
    p.add_argument("--nltk-samples", type=int, default=20, help="hypotheses timed with nltk (default 20)")
    p.add_argument("--processes", type=int, default=1, help="worker processes for ours (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the nltk subset (default 0)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_bleu.json"), help="JSON output path")
    return p.parse_args(argv)


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 file, without terminators (no splitting at U+2028 and friends).

    Args:
        path: the file.
    """
    if not path.is_file():
        sys.exit(f"bench_bleu: data file not found: {path}; pass --data-dir or set SEQGAN_DATA")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table and write the JSON report.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    args = parse_args(argv)
    data = Path(args.data_dir) / "image_coco"
    ref_lines = read_lines(data / "test_coco.txt")
    hyp_lines = read_lines(data / "image_coco.txt")[: args.n_hyps]

    punkt = B.nltk_punkt_available()
    mode = "nltk" if punkt else "word"
    t0 = time.perf_counter()
    refs = B.tokenize_lines(ref_lines, mode, lowercase=True)
    hyps = B.tokenize_lines(hyp_lines, mode, lowercase=True)
    tokenize_s = time.perf_counter() - t0
    weights = (1.0 / args.n,) * args.n
    need = B.needed_order(args.n, args.smoothing)

    build, score, total = [], [], []
    per_sample = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        refset = B.ReferenceSet(refs, need)
        t1 = time.perf_counter()
        per_sample = B.sentence_scores(
            refset.stats(hyps, processes=args.processes), weights=weights, smoothing=args.smoothing
        )
        t2 = time.perf_counter()
        build.append(t1 - t0)
        score.append(t2 - t1)
        total.append(t2 - t0)
    ours_score = float(per_sample.mean())

    t0 = time.perf_counter()
    self_bleu = B.self_bleu(hyps, args.n, smoothing=args.smoothing)
    self_bleu_s = time.perf_counter() - t0

    subset = sorted(random.Random(args.seed).sample(range(len(hyps)), min(args.nltk_samples, len(hyps))))
    smoothing_fn = (
        None
        if B.normalize_smoothing(args.smoothing) == "none"
        else getattr(SmoothingFunction(), args.smoothing)
    )
    nltk_times, nltk_values = [], []
    for i in subset:
        t0 = time.perf_counter()
        nltk_values.append(sentence_bleu(refs, hyps[i], weights, smoothing_function=smoothing_fn))
        nltk_times.append(time.perf_counter() - t0)
    max_abs_diff = float(np.max(np.abs(per_sample[subset] - np.array(nltk_values))))
    nltk_per_sample = statistics.mean(nltk_times)
    nltk_total = nltk_per_sample * len(hyps)
    ours_total = statistics.median(total)
    speedup = nltk_total / ours_total

    report = {
        "task": f"paper-style BLEU-{args.n} of {len(hyps)} samples (image_coco.txt) against {len(refs)} "
        "references (test_coco.txt)",
        "tokenization": (
            "lower-case + nltk.word_tokenize (punkt_tab available)"
            if punkt
            else "lower-case + whitespace split (nltk punkt_tab data not installed, cannot be downloaded)"
        ),
        "smoothing": args.smoothing,
        "n_refs": len(refs),
        "n_hyps": len(hyps),
        "bleu": ours_score,
        "self_bleu": self_bleu.score,
        "signature": B.bleu_signature(weights, args.smoothing, mode + "+lowercase", len(refs), len(hyps)),
        "ours": {
            "repeats": args.repeats,
            "processes": args.processes,
            "build_reference_cache_s_median": statistics.median(build),
            "score_hypotheses_s_median": statistics.median(score),
            "total_s_median": ours_total,
            "total_s_all": total,
            "per_sample_ms": 1000 * ours_total / len(hyps),
            "self_bleu_all_samples_s": self_bleu_s,
        },
        "nltk": {
            "version": nltk.__version__,
            "timed_samples": len(subset),
            "per_sample_ms_mean": 1000 * nltk_per_sample,
            "per_sample_ms_median": 1000 * statistics.median(nltk_times),
            "extrapolated_total_s": nltk_total,
        },
        "speedup_vs_nltk": speedup,
        "max_abs_diff_vs_nltk_on_subset": max_abs_diff,
        "tokenize_s_not_timed_above": tokenize_s,
        "machine": {**machine(), "numpy": np.__version__},
    }

    rows = [
        ("ours: build reference cache (median)", f"{statistics.median(build):.3f} s"),
        ("ours: score all hypotheses (median)", f"{statistics.median(score):.3f} s"),
        ("ours: total (median)", f"{ours_total:.3f} s"),
        (f"nltk: per sample (mean of {len(subset)})", f"{1000 * nltk_per_sample:.1f} ms"),
        (f"nltk: extrapolated to {len(hyps)}", f"{nltk_total:.0f} s"),
        ("speed-up", f"{speedup:,.0f}x"),
        (f"BLEU-{args.n} (ours, all samples)", f"{ours_score:.6f}"),
        (
            f"Self-BLEU-{args.n} (ours, all samples, leave-one-out)",
            f"{self_bleu.score:.6f} ({self_bleu_s:.2f} s)",
        ),
        ("max |ours - nltk| on the subset", f"{max_abs_diff:.2e}"),
        ("tokenization", report["tokenization"]),
    ]
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{name:<{width}}  {value}" for name, value in rows))

    print(f"wrote {write_report(args.out, report)}")
    if max_abs_diff > 1e-9:
        print(f"bench_bleu: ours differs from nltk by {max_abs_diff:.3e} > 1e-9", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
