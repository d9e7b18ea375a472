"""`seqgan image-latent`: latent-space walks of an unconditional image run (interpolation rows, or vector
arithmetic on class-averaged latents). Parsing and checks only; torch loads when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqgan.base.errors import UserError
from seqgan.core.config import seed_arg

MAX_GRID_IMAGES = 10_000  # rows x columns of one picture
MAX_SAMPLES = 100_000  # --samples: labelled latents, held in memory with their images
DEFAULT_ROWS = {"interpolate": 8, "arithmetic": 4}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `image-latent` sub-command.

    Args:
        subparsers: the CLI's sub-parser collection.
    """
    p = subparsers.add_parser(
        "image-latent", help="latent walks of an image run: interpolations, or z arithmetic by class",
        description="Pictures of an unconditional image run's latent space. --interpolate K: one row per pair of "
        "random latents, K images from one to the other (spherical or linear). --arithmetic: sample latents, "
        "label G's images with the FID classifier, and show G(mean z of class A - mean z of B + mean z of C).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--interpolate", type=int, metavar="K", help="K images per row (>= 2, endpoints included)")
    what.add_argument("--arithmetic", action="store_true", help="vector arithmetic on class-averaged latents")
    p.add_argument("--run-dir", required=True, help="an image run of an unconditional variant")
    p.add_argument("--out", required=True, help="picture to write (.png or .jpg); an existing file only with --force")
    p.add_argument("--force", action="store_true", help="replace --out if it exists (never a run's own file)")
    p.add_argument("--mode", choices=("slerp", "linear"), default="slerp",
                   help="interpolation: slerp (great circle, default) or linear")
    p.add_argument("--rows", type=int, default=None, help="rows of the grid (default 8 walks, or 4 arithmetic rows)")
    p.add_argument("--classes", default=None, metavar="A,B,C", help="--arithmetic: the classes of A - B + C "
                   "(default: the three classes the classifier gives most samples, most first)")
    p.add_argument("--samples", type=int, default=2000, help="--arithmetic: latents to label (default 2000)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of the latents (default 0)")
    p.add_argument("--checkpoint", default="last", help="last (default), best (lowest FID), or an evaluated epoch")
    p.add_argument("--data-dir", default=None, help="data folder of the FID classifier (default: $SEQGAN_DATA)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_image_latent)


def _classes(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise UserError(f"--classes takes three class numbers A,B,C (for A - B + C), e.g. 7,1,3; got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _check(args: argparse.Namespace) -> tuple[Path, int, tuple[int, int, int] | None]:
    """The checked --out, the number of rows and --classes, before anything is loaded."""
    from seqgan.base.outputs import check_output_file

    if not Path(args.run_dir).is_dir():
        raise UserError(f"run directory {args.run_dir} does not exist")
    if args.interpolate is not None and args.interpolate < 2:
        raise UserError(f"--interpolate K must be >= 2 (a walk has two endpoints), got {args.interpolate}")
    if not args.arithmetic and (args.classes is not None or args.samples != 2000):
        raise UserError("--classes and --samples go with --arithmetic")
    rows = DEFAULT_ROWS["arithmetic" if args.arithmetic else "interpolate"] if args.rows is None else args.rows
    columns = 4 if args.arithmetic else args.interpolate
    if rows < 1 or rows * columns > MAX_GRID_IMAGES:
        raise UserError(f"--rows must be >= 1 and the grid at most {MAX_GRID_IMAGES:,} images; got {rows} rows of "
                        f"{columns}")
    if args.arithmetic and not rows <= args.samples <= MAX_SAMPLES:
        raise UserError(f"--samples must be in {rows}..{MAX_SAMPLES:,} (at least one per row), got {args.samples}")
    classes = _classes(args.classes)
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UserError(f"--out {args.out}: use a .png or .jpg file name")
    check_output_file(out, "--out", [("--run-dir", args.run_dir)])
    if out.exists() and not args.force:
        raise UserError(f"--out {args.out} exists; pass --force to replace it, or choose another name")
    return out, rows, classes


def cmd_image_latent(args: argparse.Namespace) -> int:
    """Run `seqgan image-latent`."""
    out, rows, classes = _check(args)
    from seqgan.image.data import save_image_grid
    from seqgan.image.latent import check_unconditional, latent_width, random_walks
    from seqgan.image.run import load_image_run

    run = load_image_run(args.run_dir, args.checkpoint, args.device, data_dir=args.data_dir)
    check_unconditional(run.pair, run.config.train.loss)
    width = latent_width(run.pair)
    if args.arithmetic:
        images, line = _arithmetic(run, width, rows, classes, args)
        columns = 4
    else:
        images = random_walks(run.generator, width, rows, args.interpolate, args.mode, args.seed, run.device)
        columns, line = args.interpolate, (f"{rows} rows of {args.mode} interpolation in {args.interpolate} steps "
                                           f"between random latents (seed {args.seed})")
    save_image_grid(images.reshape(-1, *images.shape[2:]), out, nrow=columns)
    print(line)
    print(out)
    return 0


def _arithmetic(run, width: int, rows: int, classes: tuple[int, int, int] | None, args: argparse.Namespace):
    """(images (R, 4, C, H, W), the one-line explanation) of the class arithmetic grid."""
    from seqgan.image.fid_extractor import load_or_train_extractor
    from seqgan.image.latent import class_arithmetic, images_of, label_samples

    if run.dataset is None:
        raise UserError("--arithmetic labels samples with the FID classifier of mnist or fashion_mnist; this run "
                        "was trained on a folder of images")
    classifier = load_or_train_extractor(run.dataset, run.data_dir, device=run.device)
    n_classes = classifier.spec.classes
    if classes is not None and max(classes) >= n_classes:
        raise UserError(f"--classes {args.classes}: the {classifier.name} classifier has classes 0..{n_classes - 1}")
    z, labels = label_samples(run.generator, classifier, width, args.samples, args.seed, run.device)
    grid = class_arithmetic(z, labels, classes, rows)  # (R, 4, Z)
    images = images_of(run.generator, grid.rows.reshape(-1, width).to(run.device))  # (4R, C, H, W)
    return images.reshape(rows, 4, *images.shape[1:]), grid.explain(classifier.name)
