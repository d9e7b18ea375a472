"""The output-path guard: every command that writes a file or a folder checks its destination here first.

Nothing a user already has may be lost to a typo. A command refuses (one line, exit 2, nothing written):
- an output that is one of its own inputs (same resolved path, or the same file through a link);
- a file a run directory owns: any existing file inside a run directory (a folder holding a seqgan
  config.json), and new files under the names a run writes itself (config.json, metrics*, samples.*,
  checkpoints/, data/, ...), which the next resume would overwrite. A new file of another name beside a run
  (runs/poems/samples-t0.8.txt) is allowed;
- a study database (an SQLite file), whatever its name;
- a folder where a file is wanted, a file where a folder is wanted, a path under a regular file, and a folder
  that does not exist (create it first: a typo should not create folders).
An existing unrelated file named explicitly as the output is replaced, as `cp` and shell redirection do. Files
are written through a temporary file and a rename (`write_output_*`), so an interrupted write leaves the old
file whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from seqgan.base.errors import UserError

RUN_CONFIG = "config.json"
# What train / image-train / evaluate write at the top of a run directory; `eval-*` and `metrics*` are prefixes
RUN_FILES = ("config.json", "metrics.json", "metrics.jsonl", "timing.jsonl", "run.log", "tokenizer.json",
             "samples.txt", "samples.png")
RUN_PREFIXES = ("eval-", "metrics")
RUN_FOLDERS = ("checkpoints", "data")
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")  # the files SQLite keeps next to an open database
MAX_CONFIG_BYTES = 10_000_000  # a run's config.json is a few kB; never read a big file to find out

Inputs = Iterable[tuple[str, str | os.PathLike | None]]  # (option, path) pairs a command reads


def _absolute(path: str | os.PathLike) -> Path:
    """`path` made absolute with symlinks resolved (a link to a run's file is that file)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _check_ancestors(path: Path, flag: str, shown: str) -> None:
    """Refuse a path whose nearest existing ancestor is not a folder (`open` would raise NotADirectoryError)."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise UserError(f"{flag} {shown}: {parent} is a file, not a folder; choose a path in a folder")
            return


def is_run_dir(folder: str | os.PathLike) -> bool:
    """Whether `folder` is a seqgan run directory: its config.json is one `train` or `image-train` wrote (or,
    when that file is damaged, it sits beside a checkpoints folder)."""
    folder = Path(folder)
    config = folder / RUN_CONFIG
    try:
        if not config.is_file():
            return False
        if config.stat().st_size <= MAX_CONFIG_BYTES:
            data = json.loads(config.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("config"), dict) and "version" in data:
                return True
    except (OSError, ValueError):
        pass
    return (folder / "checkpoints").is_dir()


def enclosing_run_dir(path: str | os.PathLike, include_self: bool = False) -> Path | None:
    """The run directory `path` lies in (checking `path` itself too when `include_self`), or None."""
    path = _absolute(path)
    candidates = [path, *path.parents] if include_self else list(path.parents)
    for folder in candidates:
        if is_run_dir(folder):
            return folder
    return None


def is_sqlite_file(path: str | os.PathLike) -> bool:
    """Whether `path` is an SQLite database (a human-eval study), by its 16-byte header."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # hard links and bind mounts
    except OSError:
        return False


def _check_not_input(target: Path, flag: str, shown: str, inputs: Inputs) -> None:
    for in_flag, value in inputs:
        if value is None or str(value) == "-":
            continue
        source = _absolute(value)
        if _same(target, source):
            raise UserError(f"{flag} {shown} is the {in_flag} this command reads; choose another name")


def _run_owned(target: Path, run: Path) -> bool:
    """Whether a (new) file at `target` inside run directory `run` takes a name the run writes itself."""
    parts = target.relative_to(run).parts
    if len(parts) > 1:
        return parts[0] in RUN_FOLDERS
    return parts[0] in RUN_FILES or parts[0].startswith(RUN_PREFIXES)


def check_output_file(path: str | os.PathLike, flag: str, inputs: Inputs = ()) -> Path:
    """Check that a command may write the file `path`; returns it as a Path. Raises a one-line UserError if not.

    Args:
        path: the output file the user named.
        flag: the option that named it, e.g. "--out" (used in messages).
        inputs: (option, path) pairs of the files and folders the command reads; None entries are skipped.
    """
    shown = str(path)
    out = Path(path).expanduser()
    _check_ancestors(out, flag, shown)
    target = _absolute(out)
    if target.is_dir():
        raise UserError(f"{flag} {shown} is a folder; give a file name")
    if not target.parent.is_dir():
        raise UserError(f"{flag} {shown}: folder {out.parent} does not exist; create it first")
    _check_not_input(target, flag, shown, inputs)
    run = enclosing_run_dir(target)
    if run is not None and (target.exists() or _run_owned(target, run)):
        raise UserError(f"{flag} {shown} is a file the run directory {run} owns or will write; choose another "
                        "name, or a path outside the run")
    base = target.name
    for suffix in SQLITE_SIDECARS:
        if base.endswith(suffix) and is_sqlite_file(target.with_name(base[: -len(suffix)])):
            raise UserError(f"{flag} {shown} belongs to the study database beside it; choose another name")
    if target.exists() and (is_sqlite_file(target) or target.suffix.lower() in (".db", ".sqlite", ".sqlite3")):
        raise UserError(f"{flag} {shown} is a database (a human-eval study?); choose another file name")
    if target.exists() and not target.is_file():
        raise UserError(f"{flag} {shown} is not a regular file; choose another name")
    return out


def check_output_folder(path: str | os.PathLike, flag: str, inputs: Inputs = ()) -> Path:
    """Check that a command may write its files into the folder `path` (created later if missing).

    Refuses a file, a path under a file, a run directory or a folder inside one, and any of `inputs`.

    Args:
        path: the output folder the user named.
        flag: the option that named it (for messages).
        inputs: (option, path) pairs the command reads.
    """
    shown = str(path)
    out = Path(path).expanduser()
    _check_ancestors(out, flag, shown)
    target = _absolute(out)
    if target.exists() and not target.is_dir():
        raise UserError(f"{flag} {shown} is a file; give a folder")
    _check_not_input(target, flag, shown, inputs)
    run = enclosing_run_dir(target, include_self=True)
    if run is not None:
        raise UserError(f"{flag} {shown} is inside the run directory {run}; choose a folder outside it")
    return out


def check_run_dir(path: str | os.PathLike, command: str = "seqgan train", flag: str = "--run-dir") -> Path:
    """Check a folder that a training command will create, resume, and write everything of a run into.

    A run directory, a new folder or an empty one is fine. A non-empty folder without a run's config.json is
    refused: training writes config.json, data/, samples and logs into it and would overwrite the user's files
    of those names (`train --run-dir .` in a project folder).

    Args:
        path: the --run-dir value.
        command: the command that trains (named in the message).
        flag: the option (for messages).
    """
    shown = str(path)
    run_dir = Path(path).expanduser()
    _check_ancestors(run_dir, flag, shown)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{flag} {shown} is a file; pass a folder")
    if run_dir.is_dir() and not (run_dir / RUN_CONFIG).exists():
        # an empty checkpoints/ is what a run killed before writing its config.json leaves behind
        stray = [p.name for p in run_dir.iterdir()
                 if not (p.name == "checkpoints" and p.is_dir() and not any(p.iterdir()))]
        if stray:
            raise UserError(f"{flag} {shown} is a folder with other files in it (e.g. {sorted(stray)[0]}) and no "
                            f"config.json of a run; pass a new or empty folder, or a run directory of `{command}`")
    return run_dir


def write_output_text(path: str | os.PathLike, text: str) -> None:
    """Write a checked output file as UTF-8 through a temporary file and a rename."""
    from seqgan.base.files import atomic_write_text

    atomic_write_text(path, text)


def write_output_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a checked output file's bytes through a temporary file and a rename."""
    from seqgan.base.files import atomic_write_bytes

    atomic_write_bytes(path, data)
