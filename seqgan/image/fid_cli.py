"""`seqgan fid`, `seqgan fid-sanity` and `seqgan fid-extractor`: FID (with precision and recall in the same
features) of image folders, datasets and image runs.

Only argparse is imported here; torch, numpy and Pillow load when a command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seqgan.base.errors import UserError
from seqgan.core.config import seed_arg

MAX_RUN_SAMPLES = 100_000  # `fid --run-dir -n`: papers use 10,000 to 50,000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `fid`, `fid-sanity` and `fid-extractor` sub-commands.

    Args:
        subparsers: the CLI's sub-parser collection.
    """
    p = subparsers.add_parser(
        "fid", help="FID of generated images (a folder or an image run) against a dataset or a folder",
        description="Fréchet distance between Gaussians fitted to classifier features. The default feature "
        "space is a small CNN trained once on the dataset (cached); its FIDs are not comparable with "
        "Inception FIDs in papers. Precision and recall (k-NN manifolds, Kynkäänniemi et al.) in the same features "
        "are printed beside it. Examples: `seqgan fid --dataset mnist --fake DIR`, `seqgan fid --run-dir RUN`, "
        "`seqgan fid --real DIR --fake DIR --extractor mnist`.")
    fake = p.add_mutually_exclusive_group(required=True)
    fake.add_argument("--fake", metavar="DIR", help="folder of generated images (png/jpg, any size: resized)")
    fake.add_argument("--run-dir", metavar="DIR", help="an image run: sample its generator (-n images)")
    real = p.add_mutually_exclusive_group()
    real.add_argument("--dataset", help="real images: mnist or fashion_mnist (also picks the extractor)")
    real.add_argument("--real", metavar="DIR", help="real images: a folder (then choose --extractor)")
    p.add_argument("--extractor", help="feature space: mnist or fashion_mnist (the CNN trained on it; default: "
                   "the dataset's), or inception (needs --inception-weights)")
    p.add_argument("--inception-weights", metavar="FILE", help="local Inception-v3 weights (torch-fidelity "
                   "format); needs torch-fidelity or torchmetrics installed")
    p.add_argument("--split", default="test", choices=["test", "train"], help="real split (default test)")
    p.add_argument("--n-real", type=int, default=10000, help="real images, a seeded subset (default 10000; 0 = all)")
    p.add_argument("-n", type=int, default=10000, help="images sampled from --run-dir (default 10000)")
    p.add_argument("--checkpoint", default="last", help="which checkpoint of --run-dir (default last)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of the real subset and of run sampling (default 0)")
    p.add_argument("--size", type=int, default=299, help="resize folders to this for --extractor inception")
    p.add_argument("--data-dir", default=None, help="data folder (default: $SEQGAN_DATA or ../shared/data)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    p.add_argument("--k", type=int, default=3, help="neighbourhood size of precision and recall (default 3)")
    p.add_argument("--no-precision-recall", dest="precision_recall", action="store_false",
                   help="FID only: skip precision and recall (k-NN manifolds in the same features)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_fid)

    p = subparsers.add_parser("fid-sanity", help="FID sanity rows: train vs test (small), noise vs test (large)")
    p.add_argument("--dataset", required=True, help="mnist or fashion_mnist")
    p.add_argument("-n", type=int, default=10000, help="images per side (default 10000, at most 10000)")
    p.add_argument("--seed", type=seed_arg, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None, metavar="FILE", help="also write the rows as JSON here (an existing "
                   "file is replaced, but never one of a run's own files)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_sanity)

    p = subparsers.add_parser("fid-extractor", help="train (once) or show the cached FID feature extractor")
    p.add_argument("--dataset", required=True, help="mnist or fashion_mnist")
    p.add_argument("--retrain", action="store_true", help="ignore the cache and train again")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_extractor)


def _extractor(args: argparse.Namespace, dataset: str | None):
    from seqgan.image.data import canonical_dataset
    from seqgan.image.fid_extractor import InceptionExtractor, load_or_train_extractor

    name = args.extractor or ("inception" if args.inception_weights else dataset)
    if name is None:
        raise UserError("choose the feature space: --extractor mnist|fashion_mnist (the CNN trained on that "
                        "dataset; folders are converted to 1x28x28) or --extractor inception --inception-weights "
                        "FILE")
    if name.lower() == "inception":
        if not args.inception_weights:
            raise UserError("--extractor inception needs --inception-weights FILE (a local weights file)")
        return InceptionExtractor(args.inception_weights, args.device)
    if args.inception_weights:
        raise UserError(f"--inception-weights goes with --extractor inception, not {name!r}")
    return load_or_train_extractor(canonical_dataset(name), args.data_dir, device=args.device)


def _run_samples(args: argparse.Namespace):
    """(images float (N, C, H, W) in [-1, 1], dataset name or None) drawn from an image run's generator."""
    import torch

    if not 2 <= args.n <= MAX_RUN_SAMPLES:  # the images are held in memory at once
        raise UserError(f"-n must be in 2..{MAX_RUN_SAMPLES:,} for FID, got {args.n}")
    try:
        from seqgan.image.run import load_image_run
    except ImportError as err:
        raise UserError("this build cannot read image runs yet (seqgan.image.run is missing); sample images "
                        "into a folder and use --fake DIR") from err
    run = load_image_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    gen = torch.Generator().manual_seed(args.seed)
    images = run.sample(args.n, gen)  # (N, C, H, W) in [-1, 1]
    return images, getattr(run, "dataset", None)


def cmd_fid(args: argparse.Namespace) -> int:
    """Run `seqgan fid`."""
    from eval.fid import fid_between, fid_between_features
    from eval.precision_recall import precision_recall_result
    from seqgan.image.data import canonical_dataset, load_image_folder
    from seqgan.image.fid_dataset import fid_of_samples, scores_of_samples

    if args.k < 1:
        raise UserError(f"--k must be >= 1 (the k of the k-NN manifolds), got {args.k}")
    if args.n_real < 0:
        raise UserError(f"--n-real must be >= 0 (0 = the whole split), got {args.n_real}")
    if args.size < 1:
        raise UserError(f"--size must be a positive number of pixels, got {args.size}")
    for flag, folder in (("--fake", args.fake), ("--real", args.real)):  # fail before any extractor training
        if folder and not Path(folder).is_dir():
            raise UserError(f"{flag} folder {folder} does not exist or is not a folder")
    run_dataset = None
    if args.run_dir:
        if not Path(args.run_dir).is_dir():
            raise UserError(f"run directory {args.run_dir} does not exist")
        fake, run_dataset = _run_samples(args)
    dataset = canonical_dataset(args.dataset) if args.dataset else (None if args.real else run_dataset)
    if dataset is None and not args.real:
        raise UserError("say what to compare against: --dataset mnist|fashion_mnist or --real DIR")
    extractor = _extractor(args, dataset)
    size = extractor.size or args.size
    if args.fake:
        fake = load_image_folder(args.fake, size, extractor.channels)
    if args.real:
        real = load_image_folder(args.real, size, extractor.channels)
        if len(real) < 2 or len(fake) < 2:
            raise UserError(f"FID needs at least 2 images per side; got {len(real)} real, {len(fake)} fake")
    # precision and recall need more than k images per side; the images pass through the extractor once for both
    with_pr = args.precision_recall and len(fake) > args.k and (not args.real or len(real) > args.k)
    pr = None
    if args.real and with_pr:
        name = f"folder:{Path(args.real).name}"
        real_features, fake_features = extractor.features(real), extractor.features(fake)
        result = fid_between_features(real_features, fake_features, extractor, a_name=name)
        pr = precision_recall_result(real_features, fake_features, extractor, name, args.k)
    elif args.real:
        result = fid_between(real, fake, extractor, a_name=f"folder:{Path(args.real).name}")
    elif with_pr:
        result, pr = scores_of_samples(fake, dataset, args.data_dir, n_real=args.n_real, split=args.split,
                                       seed=args.seed, extractor=extractor, k=args.k)
    else:
        result = fid_of_samples(fake, dataset, args.data_dir, n_real=args.n_real, split=args.split,
                                seed=args.seed, extractor=extractor)
    source = args.fake or f"run:{args.run_dir}"
    if args.json:
        print(json.dumps({**result.to_dict(), **(pr.to_dict() if pr else {}), "fake": source}, indent=2))
    else:
        print(f"FID {result.value:.4f}  {result.signature}")
        if pr is not None:
            print(pr)
        elif args.precision_recall:
            print(f"note: precision and recall need more than --k {args.k} images per side; not computed")
        if result.fields["n_fake"] <= result.fields["features"]:
            print(f"note: {result.fields['n_fake']} fake images < {result.fields['features']} features: the "
                  "covariance is rank-deficient and FID is biased upward; use >= 10,000 images to compare")
    return 0


def cmd_sanity(args: argparse.Namespace) -> int:
    """Run `seqgan fid-sanity`."""
    from seqgan.image.fid_dataset import sanity_rows

    if not 2 <= args.n <= 10000:
        raise UserError(f"-n must be in 2..10000 (the test split has 10,000 images), got {args.n}")
    if args.out:
        from seqgan.base.outputs import check_output_file

        check_output_file(args.out, "--out")
    rows = sanity_rows(args.dataset, args.data_dir, n=args.n, seed=args.seed, device=args.device)
    if args.out:
        from seqgan.core.checkpoint import atomic_write_json

        atomic_write_json(args.out, rows)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["row"]) for r in rows)
    print(f"{'row':<{width}}  {'FID':>10}  {'s':>6}")
    for r in rows:
        print(f"{r['row']:<{width}}  {r['fid']:>10.3f}  {r['seconds']:>6.1f}")
    print(rows[0]["signature"].replace(f"nfake:{args.n}", "nfake:N"))
    return 0


def cmd_extractor(args: argparse.Namespace) -> int:
    """Run `seqgan fid-extractor`."""
    from dataclasses import asdict

    from seqgan.image.fid_extractor import load_or_train_extractor

    ext = load_or_train_extractor(args.dataset, args.data_dir, device=args.device, retrain=args.retrain)
    info = {"extractor": ext.name, "dataset": ext.dataset, "test_accuracy": ext.accuracy, "checksum": ext.checksum,
            "train_seconds": ext.train_seconds, "cache": str(ext.path), "spec": asdict(ext.spec)}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{ext.name}: test accuracy {ext.accuracy:.2%}, sha {ext.checksum[:8]}, trained in "
              f"{ext.train_seconds:.0f} s, cached at {ext.path}")
    return 0
