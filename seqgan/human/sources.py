"""Where a study's texts come from: text files (one item a line), JSON-lines files, or trained run dirs.

Human-written texts drawn alongside a text run (``--real`` when the first ``--system`` is a run directory)
go through that run's tokenizer, max length and decoding, exactly as its samples do, so a rater cannot tell
them apart by a cut-off or the spacing: only the model differs. (Which of these texts a study may show at
all, given ``<unk>``, is decided in `draw`.)
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable
from pathlib import Path

from seqgan.base.errors import UserError
from text_data.tokenizer import TOKENIZER_FILE

from .records import NAME_RE

MAX_CHARS = 5000


def parse_system(spec: str) -> tuple[str, str]:
    """Split a ``--system NAME=SOURCE`` value.

    Args:
        spec: the flag value, e.g. "mle=runs/mle" or "seqgan=samples.txt".
    """
    name, sep, source = spec.partition("=")
    if not sep or not name or not source:
        raise UserError(f"--system {spec!r} must look like NAME=RUN_DIR or NAME=FILE.txt")
    if not NAME_RE.match(name):
        raise UserError(f"--system name {name!r} may hold only letters, digits and _.- (at most 40)")
    return name, source


def read_lines(path: Path) -> list[str]:
    """Non-empty items of a file: one per line, or one JSON string / {"text": ...} per line for .jsonl.

    Args:
        path: a .txt (or any text) file, or a .jsonl file.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text ({err}); convert it to UTF-8") from err
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}; check the path") from err
    texts = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(
                    f"{path}:{n} is not JSON ({err.msg}); write one JSON string per line"
                ) from err
            if isinstance(value, dict):
                value = value.get("text")
            if not isinstance(value, str):
                raise UserError(f'{path}:{n} must be a JSON string or an object with a "text" string')
            line = value
        if len(line) > MAX_CHARS:
            raise UserError(f"{path}:{n} is longer than {MAX_CHARS} characters; shorten or drop it")
        texts.append(line)
    return texts


def check_enough(texts: list[str], n: int, what: str) -> None:
    """UserError when a source has fewer than n items.

    Args:
        texts: the source's non-empty items.
        n: how many are wanted (--per-system).
        what: description for the error message.
    """
    if len(texts) < n:
        raise UserError(
            f"{what} has only {len(texts)} non-empty items, fewer than --per-system {n};"
            " lower --per-system or supply more text"
        )


def choose(texts: list[str], n: int, seed: int, what: str) -> list[str]:
    """Pick n texts without replacement, reproducibly.

    Args:
        texts: candidates.
        n: how many to pick.
        seed: random seed.
        what: description for the error message.
    """
    check_enough(texts, n, what)
    picked = sorted(random.Random(seed).sample(range(len(texts)), n))
    return [texts[i] for i in picked]


def _api(name: str) -> Callable:
    """A function from `seqgan.text.api` (imported on use: it loads torch, which only run directories need), or
    a UserError saying to pass a text file instead when that module cannot be imported."""
    hint = (
        f"this seqgan has no seqgan.text.api.{name}, needed to read a run directory; pass a text file"
        " with one item per line instead (--system NAME=FILE.txt / --real FILE.txt)"
    )
    try:
        api = importlib.import_module("seqgan.text.api")
    except ImportError as err:
        raise UserError(hint) from err
    func = getattr(api, name, None)
    if func is None:
        raise UserError(hint)
    return func


def run_samples(run_dir: Path, n: int, seed: int) -> list[str]:
    """The non-empty texts among n samples drawn from a trained run directory.

    Args:
        run_dir: the run directory.
        n: how many samples to draw.
        seed: the sampler's seed.
    """
    texts = _api("sample_texts")(str(run_dir), n, seed)
    return [t for t in texts if isinstance(t, str) and t.strip()]


def is_text_run(run_dir: str | None) -> bool:
    """Whether `run_dir` is a text run's directory (it has a tokenizer; an oracle or image run has none)."""
    return run_dir is not None and (Path(run_dir) / TOKENIZER_FILE).is_file()


def as_generated(run_dir: str | None, texts: list[str]) -> list[str]:
    """`texts` as the text run in `run_dir` would write them (its encode -> truncate -> decode path).

    Unchanged when there is no run directory or it holds no tokenizer.json (not a text run).

    Args:
        run_dir: the first --system's run directory, or None.
        texts: human-written texts.
    """
    if not is_text_run(run_dir):
        return texts
    from text_data.run_codec import texts_as_generated  # imports torch: only when a text run is involved

    return [t for t in texts_as_generated(run_dir, texts) if t.strip()]


def real_candidates(source: str, first_run_dir: str | None) -> tuple[list[str], str]:
    """Every human-written text a study may draw from, and a description of where they come from.

    Lines of a file, or ("test") the test split of the first system's run dir; with a text run as the first
    system, as that run would write them (`as_generated`).

    Args:
        source: a file path, or "test".
        first_run_dir: the first --system's source if it is a run directory, else None.
    """
    if source == "test" and not Path(source).exists():
        if first_run_dir is None:
            raise UserError(
                "--real test reads the test split of the first --system's run directory, but the"
                " first --system is not a run directory; pass --real FILE.txt instead"
            )
        texts = [t for t in _api("test_texts")(first_run_dir) if isinstance(t, str) and t.strip()]
        return as_generated(first_run_dir, texts), f"the test split of {first_run_dir}"
    path = Path(source)
    if not path.is_file():
        raise UserError(f"--real {source}: no such file; pass a text file of human-written lines or 'test'")
    return as_generated(first_run_dir, read_lines(path)), str(path)


def real_texts(source: str, first_run_dir: str | None, n: int, seed: int) -> list[str]:
    """n human-written texts: lines of a file, or ("test") the test split of the first system's run dir.

    With a text run as the first system, the texts pass through its tokenizer, max length and decoding
    first (`as_generated`), like its samples. A study draws them with `draw.draw_real` instead, which also leaves
    out texts holding <unk> and then draws to match the lengths of all of them.

    Args:
        source: a file path, or "test".
        first_run_dir: the first --system's source if it is a run directory, else None.
        n: how many texts.
        seed: random seed for choosing them.
    """
    texts, what = real_candidates(source, first_run_dir)
    return choose(texts, n, seed, what)
