"""Benchmark: time to compute the FID of 10,000 images against the 10,000 MNIST test images (extractor cached).

The "fake" images are a seeded subset of the MNIST train split in [-1, 1] (what a perfect generator would give),
so the run also prints the train-vs-test FID. Timed (median of --repeats): loading the cached extractor,
features of the 10,000 real images (no statistics cache), features of the 10,000 fake images, the Fréchet
distance, and `fid_of_samples` end to end with a cold and a warm real-statistics cache. The extractor must be
trained already (`seqgan fid-extractor --dataset mnist`, about a minute); the benchmark refuses otherwise so a
training run is never timed by accident. Writes results/bench_fid.json (or --out). Target: <= 30 s.

    OMP_NUM_THREADS=2 nice -n 19 python bench/bench_fid.py [--dataset mnist] [-n 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

import torch
from _common import ROOT, machine, timed, write_report  # first: puts the project root on sys.path

from eval import fid as F
from seqgan.image import fid_dataset as FD
from seqgan.image import fid_extractor as FE
from seqgan.image.data import canonical_dataset, dataset_checksum, load_image_dataset, to_unit_range


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the benchmark's command line.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", help="mnist or fashion_mnist (default mnist)")
    p.add_argument("-n", type=int, default=10000, help="fake and real images (default 10000)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats, median reported (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--data-dir", default=None, help="data folder (default: $SEQGAN_DATA or ../shared/data)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_fid.json"), help="JSON output path")
    return p.parse_args(argv)


def _median_time(fn, repeats: int) -> tuple[float, object]:
    """(median seconds of `repeats` calls, the last call's result)."""
    results = []
    times = timed(lambda: results.append(fn()), repeats, warmup=0)
    return statistics.median(times), results[-1]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table and write the JSON report.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    key = canonical_dataset(args.dataset)
    spec = FE.DEFAULT_SPECS[key]
    cached = FE.extractor_cache_path(key, spec, dataset_checksum(key, "train", args.data_dir))
    if not cached.is_file():
        print(f"no cached {key} extractor at {cached}; run `seqgan fid-extractor --dataset {key}` first",
              file=sys.stderr)
        return 2
    load_s, extractor = _median_time(lambda: FE.load_or_train_extractor(key, args.data_dir, device="cpu"),
                                     args.repeats)
    train, _ = load_image_dataset(key, "train", args.data_dir)
    gen = torch.Generator().manual_seed(0)
    fake = to_unit_range(train[torch.randperm(len(train), generator=gen)[:args.n]])  # (n, 1, 28, 28) in [-1, 1]
    real_s, (mu_r, s_r, n_real) = _median_time(
        lambda: FD.real_stats(key, extractor, "test", args.n, 0, args.data_dir, use_cache=False), args.repeats)
    feat_s, feats = _median_time(lambda: extractor.features(fake), args.repeats)
    mu_f, s_f = F.gaussian_stats(feats)
    dist_s, value = _median_time(lambda: F.frechet_distance(mu_r, s_r, mu_f, s_f), args.repeats)
    with tempfile.TemporaryDirectory() as tmp:  # a private, empty statistics cache for the cold end-to-end run
        old = os.environ.get("SEQGAN_CACHE")
        os.environ["SEQGAN_CACHE"] = tmp
        try:
            cold_s, _ = _median_time(lambda: FD.fid_of_samples(fake, key, args.data_dir, n_real=args.n,
                                                               extractor=extractor), 1)
            warm_s, result = _median_time(lambda: FD.fid_of_samples(fake, key, args.data_dir, n_real=args.n,
                                                                    extractor=extractor), args.repeats)
        finally:
            if old is None:
                os.environ.pop("SEQGAN_CACHE", None)
            else:
                os.environ["SEQGAN_CACHE"] = old
    rows = [
        ("load cached extractor (s)", f"{load_s:.3f}"),
        (f"features of {n_real:,} real images (s)", f"{real_s:.2f}"),
        (f"features of {len(fake):,} fake images (s)", f"{feat_s:.2f}"),
        ("Fréchet distance, 128 features (s)", f"{dist_s:.4f}"),
        ("fid_of_samples, cold statistics cache (s)", f"{cold_s:.2f}"),
        ("fid_of_samples, warm statistics cache (s)", f"{warm_s:.2f}"),
        ("target (s)", "30"),
        ("FID (train subset vs test)", f"{result.value:.3f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n".join(f"{name:<{width}}  {value}" for name, value in rows))
    print(result.signature)
    report = {
        "benchmark": "fid", "dataset": key, "n_fake": len(fake), "n_real": n_real, "repeats": args.repeats,
        "seconds": {"load_extractor": load_s, "real_features": real_s, "fake_features": feat_s,
                    "frechet_distance": dist_s, "fid_of_samples_cold": cold_s, "fid_of_samples_warm": warm_s},
        "target_seconds": 30, "fid_train_vs_test": result.value, "signature": result.signature,
        "machine": machine(),
    }
    print(f"wrote {write_report(args.out, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
