"""User errors: the exception the CLI turns into a one-line message and exit code 2, and an argparse parser
whose own errors look the same."""

from __future__ import annotations

import argparse
import os
import typing


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file, corrupt checkpoint): message says the fix."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors: `PROG: error: ...` and exit 2, like every other user error.

    argparse prints the whole usage block before an error; sub-parsers are built with the parent's class, so
    every sub-command (and `human-eval ACTION`) gets this. `--help` is unchanged.
    """

    def error(self, message: str) -> typing.NoReturn:
        """Print the error on one line, pointing at --help, and exit with code 2 (in a torchrun job, every
        process exits so but only rank 0 prints: they all parsed the same command line)."""
        speaks = os.environ.get("RANK", "0") == "0" or os.environ.get("WORLD_SIZE", "1") == "1"
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see `{self.prog} --help`)\n"
                  if speaks else None)
