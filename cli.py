"""The `seqgan` command: parses arguments and dispatches to library functions.

Every sub-command lives in a small module that exposes `register(subparsers)`; the module's parser sets
`func(args) -> int`. A `UserError` anywhere becomes one stderr line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from seqgan.base.errors import OneLineParser, UserError

# Modules that each add sub-commands. Imported at parse time, so they must import heavy libraries lazily.
COMMAND_MODULES = [
    "seqgan.text.commands",
    "seqgan.text.bleu_cli",
    "seqgan.text.compare_cli",
    "seqgan.text.export_cli",
    "seqgan.image.fid_cli",
    "seqgan.human.cli",
    "seqgan.image.commands",
    "seqgan.image.latent_cli",
]


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every registered sub-command."""
    parser = OneLineParser(
        prog="seqgan",
        description="SeqGAN and the GAN family: train, sample, evaluate, compare.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _speaks() -> bool:
    """False in processes 1.. of a torchrun job (`torchrun -m seqgan ...`): they fail alike, rank 0 says it once."""
    return os.environ.get("RANK", "0") == "0" or os.environ.get("WORLD_SIZE", "1") == "1"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 user error, 130 SIGINT, 143 SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["seqgan", *(sys.argv[1:] if argv is None else argv)]  # recorded in run directories
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        if _speaks():
            print(f"seqgan {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        # inside a training loop SIGINT/SIGTERM save a checkpoint first and say so (TrainingInterrupted carries
        # the message and 128 + the signal number); a plain Ctrl-C elsewhere saved nothing at that moment
        message = str(err) or ("interrupted; nothing was saved at this point (re-running the same command "
                               "continues from the last checkpoint written before, if any)")
        if _speaks():
            print(f"seqgan {args.command}: {message}", file=sys.stderr)
        return int(getattr(err, "exit_code", 130))
    except BrokenPipeError:  # e.g. `seqgan sample ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
