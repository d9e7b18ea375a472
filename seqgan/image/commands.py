"""Sub-commands for image GANs: image-train, image-sample, image-study (parsing and dispatch only)."""

from __future__ import annotations

import argparse
import json

from seqgan.base.errors import UserError
from seqgan.core.config import add_sampling_arguments, seed_arg

# kept here (not imported from the variants module) so that building the parser stays light
LOSS_NAMES = ("mm", "ns", "wgan", "wgan-gp", "lsgan", "dragan", "hinge", "lsgan-qi", "began", "vae", "cgan", "acgan",
              "infogan", "ssgan", "bigan", "lapgan")
STUDY_LOSSES = "mm,ns,lsgan,wgan,wgan-gp,dragan,began,vae"
MAX_GRID_IMAGES = 10_000  # `image-sample -n`: a 100 x 100 grid


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", help="mnist (default), fashion_mnist (alias fashion)")
    p.add_argument("--net", default=None, help="dcgan (default: conv G/D sized to the images), mlp, "
                   "pytorch-gan-dcgan (PyTorch-GAN's dcgan.py nets), began (BEGAN's conv + ELU nets), infogan "
                   "(InfoGAN's MNIST nets) or salimans-mlp (Salimans et al.'s semi-supervised MNIST nets)")
    p.add_argument("--scale", default="cpu",
                   help="cpu: minutes on 2 cores (default); gpu: a wider net and 10x the training images")
    p.add_argument("--preset", default="short",
                   help="short: each variant's paper defaults at the loss study's fixed budget (default); "
                   "converged: the settings and schedule under which each variant reaches its FID plateau (config "
                   "names end in -converged; see docs/results-image.md)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set schedule.epochs=10 (repeatable; --keys lists them)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1")
    p.add_argument("--data-dir", default=None, help="data folder (default: $SEQGAN_DATA or ../shared/data)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add image-train, image-sample and image-study to the `seqgan` parser."""
    p = subparsers.add_parser("image-train", help="train (or resume) an image GAN or VAE",
                              description="Train an image GAN on MNIST, Fashion-MNIST or a folder of images through "
                              "the shared loop; re-running the same command resumes it.")
    _common(p)
    p.add_argument("--loss", default="ns", help=f"the variant, with its paper's defaults (optimizer, n_critic, "
                   f"penalty, clipping): {', '.join(LOSS_NAMES)}; default ns")
    p.add_argument("--image-dir", default=None, help="train on a folder of images instead of --dataset "
                   "(resized to --set data.image_size, default 32, RGB unless --set data.channels=1; no FID, no "
                   "labels: not for cgan, acgan or ssgan)")
    p.add_argument("--seed", type=seed_arg, default=None, help="random seed (default 1); same seed, same numbers")
    p.add_argument("--run-dir", default=None, help="folder for config, checkpoints, logs and samples (required)")
    p.add_argument("--keys", action="store_true", help="print every config key with its value for these flags")
    p.add_argument("--compile", action="store_true", help="torch.compile the nets' forward passes (CUDA only; "
                   "ignored with a note elsewhere; a setting of this "
                   "command, not of the run)")
    p.set_defaults(func=cmd_image_train)

    p = subparsers.add_parser("image-sample", help="write a grid of samples from an image run")
    add_sampling_arguments(p, "images", 64, "last (default), best (lowest FID), or an evaluated epoch")
    p.add_argument("--out", required=True, help="grid picture to write (.png or .jpg; an existing file is "
                   "replaced, but never one of a run's own files)")
    p.add_argument("--nrow", type=int, default=8, help="images per row (default 8)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_image_sample)

    p = subparsers.add_parser("image-study", help="every (loss, seed) image run; FID table beside Lucic et al.",
                              description="Train (or resume) one run per loss and seed, then write table.md and "
                              "summary.json (FID mean +- std per loss beside the survey's numbers) and "
                              "samples.png (one sample grid per loss).")
    _common(p)
    p.add_argument("--losses", default=STUDY_LOSSES, help=f"comma-separated (default {STUDY_LOSSES})")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    p.add_argument("--out", required=True, help="study folder (runs, table.md, summary.json, samples.png)")
    p.set_defaults(func=cmd_image_study)


def _dataset(name: str) -> str:
    from seqgan.image.data import canonical_dataset

    return canonical_dataset(name)


def _overrides(args: argparse.Namespace) -> list[str]:
    extra = [f"device={args.device}"] if args.device else []
    return [*args.overrides, *extra]


def cmd_image_train(args: argparse.Namespace) -> int:
    """seqgan image-train."""
    from seqgan.core.config import flatten_config
    from seqgan.image.config import apply_image_overrides, image_config

    dataset = "folder" if args.image_dir else _dataset(args.dataset)
    base = image_config(dataset, args.loss, args.scale, args.net, image_dir=args.image_dir or "",
                        preset=args.preset)
    seed = [f"seed={args.seed}"] if args.seed is not None else []
    config = apply_image_overrides(base, [*_overrides(args), *seed])
    if args.keys:
        for key, value in flatten_config(config.to_dict()).items():
            print(f"{key} = {value}")
        return 0
    if not args.run_dir:
        raise UserError("--run-dir DIR is required (the folder for config, checkpoints, logs and samples)")
    from seqgan.core.runtime import request_compile
    from seqgan.image.run import train_image

    request_compile(args.compile)
    final = train_image(config, args.run_dir, args.data_dir, argv=args.argv)
    print(json.dumps(final, indent=2))
    return 0


def cmd_image_sample(args: argparse.Namespace) -> int:
    """seqgan image-sample."""
    from pathlib import Path

    if args.n < 1 or args.nrow < 1:
        raise UserError(f"-n and --nrow must be >= 1 (got {args.n}, {args.nrow})")
    if args.n > MAX_GRID_IMAGES:  # every image is held in memory and drawn into one picture
        raise UserError(f"-n {args.n} is more than {MAX_GRID_IMAGES:,} images for one grid; use a smaller -n")
    from seqgan.base.outputs import check_output_file

    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {args.out} is a folder; give a file name such as grid.png")
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UserError(f"--out {args.out}: use a .png or .jpg file name")
    check_output_file(out, "--out", [("--run-dir", args.run_dir)])
    import torch

    from seqgan.image.data import save_image_grid
    from seqgan.image.run import load_image_run

    run = load_image_run(args.run_dir, args.checkpoint, args.device)
    save_image_grid(run.sample(args.n, torch.Generator().manual_seed(args.seed)), out, nrow=args.nrow)
    print(out)
    return 0


def cmd_image_study(args: argparse.Namespace) -> int:
    """seqgan image-study."""
    from seqgan.base.outputs import check_output_folder
    from seqgan.core.config import parse_seeds
    from seqgan.core.distributed import refuse_torchrun
    from seqgan.image.study import run_image_study, table_markdown

    refuse_torchrun("seqgan image-study")
    seeds = parse_seeds(args.seeds)
    losses = [name.strip() for name in args.losses.split(",") if name.strip()]
    check_output_folder(args.out, "--out")
    if not seeds or not losses:
        raise UserError("--seeds and --losses must each name at least one value")
    summary = run_image_study(_dataset(args.dataset), losses, seeds, args.out, args.scale, args.net,
                              _overrides(args), args.data_dir, preset=args.preset)
    print(table_markdown(summary), end="")
    return 0


