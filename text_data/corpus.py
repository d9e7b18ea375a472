"""Text corpora: the paper's named corpora from the data folder, and any user file or folder of text.

Plain .txt files (one example per line) and folders of them are read directly; .csv, .json, .jsonl and
.parquet go through `datasets` (local files; a hub dataset name also works where there is internet).
Splits are deterministic from a seed unless the corpus ships its own test file.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seqgan.base.errors import UserError
from seqgan.base.paths import data_root

TABULAR = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


@dataclass(frozen=True)
class Splits:
    """Train, validation and test lines, and where they came from."""

    train: list[str]
    valid: list[str]
    test: list[str]
    source: str
    notes: list[str] = field(default_factory=list)


def _obama_clean(line: str) -> str | None:
    line = line.strip()
    return None if not line or line == "©2010. All rights reserved." else line


def _poem_clean(line: str) -> str | None:
    line = re.sub(r"\s+", "", line)  # the file spaces every character; the characters are the content
    return line or None


def _strip(line: str) -> str | None:
    return line.strip() or None


@dataclass(frozen=True)
class NamedCorpus:
    """A corpus in the data folder: its files, cleaning, and whether it ships a test split."""

    folder: str
    train: str | None
    test: str | None
    clean: Callable[[str], str | None]
    description: str


NAMED: dict[str, NamedCorpus] = {
    "poems": NamedCorpus("chinese_poems", "shi.txt", None, _poem_clean,
                         "16,394 Chinese quatrains (SeqGAN paper), 24 characters each; no shipped split"),
    "obama": NamedCorpus("obama_speeches", "obama_speeches.txt", None, _obama_clean,
                         "Obama speech paragraphs (a substitute for the paper's file; see its PROVENANCE.md)"),
    "coco": NamedCorpus("image_coco", "image_coco.txt", "test_coco.txt", _strip,
                        "COCO captions as in Texygen: 10,000 train and 10,000 test lines"),
    "emnlp": NamedCorpus("emnlp_news", None, "test_emnlp.txt", _strip,
                         "EMNLP2017 news, test split only (a BLEU reference / held-out set, not for training)"),
}


# Leading bytes of common binary formats a corpus path may point at by mistake.
MAGIC = {b"\x1f\x8b": "gzip-compressed data", b"BZh": "bzip2-compressed data", b"\xfd7zXZ\x00": "xz-compressed data",
         b"(\xb5/\xfd": "zstd-compressed data", b"PK\x03\x04": "a zip archive", b"7z\xbc\xaf\x27\x1c": "a 7z archive",
         b"%PDF": "a PDF document", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
         b"GIF8": "a GIF image", b"PAR1": "a parquet file", b"SQLite format 3": "an SQLite database",
         b"\x7fELF": "an executable"}
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # also the start of the UTF-32 little-endian mark
# Control bytes that text in any 8-bit encoding almost never holds (tab, newlines, form feed, escape excluded).
_CONTROL = bytes(sorted(set(range(32)) - {9, 10, 11, 12, 13, 27})) + b"\x7f"


def binary_kind(data: bytes) -> str | None:
    """What binary format `data` (a file's first bytes, not valid UTF-8 text) looks like, or None when it
    looks like text in some other encoding (latin-1, cp1252, UTF-16 with a byte-order mark...)."""
    if data.startswith(UTF16_BOMS):
        return None
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            return kind
    if b"\x00" in data:
        return "binary data with NUL bytes"
    # 8-bit text has next to no control bytes; compressed or random bytes are ~10% control bytes
    if len(data) - len(data.translate(None, _CONTROL)) > 0.02 * len(data):
        return "binary data, full of control bytes"
    return None


def read_text_file(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, with a clear error for binary or wrongly encoded files."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        text, error = None, err
    if text is None or "\x00" in text[:65536]:
        kind = binary_kind(data[:65536])
        if kind is not None:  # not text: there is no encoding to convert from, so suggest no conversion
            raise UserError(f"{path} is not a text file (it looks like {kind}); pass a UTF-8 text file with one "
                            "example per line")
    if text is None:
        source = "utf-16" if data.startswith(UTF16_BOMS) else "latin1"
        raise UserError(f"{path} is not valid UTF-8 (byte {error.start}); convert it, e.g. "
                        f"`iconv -f {source} -t utf-8 {path.name} > {path.stem}.utf8.txt`") from error
    return text.splitlines()


def read_tabular(path: Path, text_field: str | None) -> list[str]:
    """The `text_field` column of a .csv/.json/.jsonl/.parquet file, through `datasets`."""
    import datasets

    # datasets draws progress bars and logs its own error lines on stderr; our error is the one line a user
    # should see, so both are silenced for this call and restored after it
    verbosity, bars = datasets.logging.get_verbosity(), datasets.utils.are_progress_bars_disabled()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL + 10)
    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset(TABULAR[path.suffix.lower()], data_files=str(path), split="train")
    except Exception as err:  # datasets raises many types for unreadable files
        raise UserError(f"cannot read {path} as {path.suffix} ({type(err).__name__}: {err})") from err
    finally:
        datasets.logging.set_verbosity(verbosity)
        if not bars:
            datasets.enable_progress_bars()
    columns = list(table.column_names)
    field_name = text_field or ("text" if "text" in columns else None)
    if field_name not in columns:
        raise UserError(f"{path} has no column {text_field or 'text'!r}; its columns are: {', '.join(columns)} "
                        "(choose one with --text-field)")
    return [str(v) if v is not None else "" for v in table[field_name]]


def load_lines(path: str | Path, text_field: str | None = None) -> list[str]:
    """Non-empty, stripped lines of a text file, a folder of .txt files, or a tabular file's text column."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"corpus {path} does not exist; pass a .txt/.csv/.json/.jsonl/.parquet file or a folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise UserError(f"folder {path} holds no .txt files")
        raw = [line for f in files for line in read_text_file(f)]
    elif path.suffix.lower() in TABULAR:
        raw = read_tabular(path, text_field)
    else:
        if text_field:
            raise UserError(f"--text-field applies to .csv/.json/.jsonl/.parquet files, not {path.name}")
        raw = read_text_file(path)
    lines = [line.strip() for line in raw if line.strip()]
    if not lines:
        raise UserError(f"{path} has no usable lines (it is empty or only whitespace)")
    return lines


def split_lines(lines: list[str], fractions: tuple[float, float, float], seed: int,
                need_test: bool = True) -> tuple[list, list, list]:
    """A seeded shuffle cut into train/valid/test by `fractions` (summing to 1); disjoint by position.

    Every split must get at least one line (the test split only when `need_test`; a corpus that ships its own
    test file needs none): an empty held-out split would silently drop its NLL from the run's metrics.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserError(f"--split needs three non-negative fractions summing to 1 (got {fractions})")
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    n_train = int(round(fractions[0] * len(lines)))
    n_valid = int(round(fractions[1] * len(lines)))
    pick = [lines[i] for i in order]
    train, valid, test = pick[:n_train], pick[n_train:n_train + n_valid], pick[n_train + n_valid:]
    empty = [name for name, part in (("training", train), ("validation", valid), ("test", test))
             if not part and (need_test or name != "test")]
    if empty:
        counts = f"train {len(train)}, valid {len(valid)}" + (f", test {len(test)}" if need_test else "")
        raise UserError(f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty: --split "
                        f"{','.join(f'{f:g}' for f in fractions)} of {len(lines)} lines gives {counts} lines; "
                        "add data or change --split")
    return train, valid, test


def load_named(name: str, data_dir: str | None, fractions: tuple[float, float, float], seed: int) -> Splits:
    """A named corpus from the data folder, cleaned and split (its shipped test file is used as test)."""
    if name not in NAMED:
        raise UserError(f"unknown corpus {name!r}; named corpora: {', '.join(NAMED)} (or pass a file path)")
    spec = NAMED[name]
    root = data_root(data_dir)
    folder = root / spec.folder if root else None
    if folder is None or not folder.is_dir():
        where = folder or f"<data dir>/{spec.folder}"
        raise UserError(f"corpus {name!r} not found at {where}; put its files there (see PROVENANCE.md of "
                        "../shared/data) and pass --data-dir DIR or set SEQGAN_DATA")
    if spec.train is None:
        raise UserError(f"corpus {name!r} ships only a test split; use it as --refs for `seqgan bleu`, "
                        "not for training")

    def read(file: str) -> list[str]:
        lines = [spec.clean(line) for line in read_text_file(folder / file)]
        return [line for line in lines if line]

    train_lines = read(spec.train)
    if spec.test:  # shipped test split: hold out a validation part of train only
        valid_frac = fractions[1] / max(fractions[0] + fractions[1], 1e-9)
        train, valid, _ = split_lines(train_lines, (1.0 - valid_frac, valid_frac, 0.0), seed, need_test=False)
        return Splits(train, valid, read(spec.test), f"{name}:{folder}", [f"{name}: shipped test split"])
    train, valid, test = split_lines(train_lines, fractions, seed)
    return Splits(train, valid, test, f"{name}:{folder}", [f"{name}: split {fractions} with seed {seed}"])


def load_corpus(corpus: str, data_dir: str | None = None, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                seed: int = 1, text_field: str | None = None) -> Splits:
    """A named corpus (`poems`, `obama`, `coco`) or a path, split deterministically.

    Args:
        corpus: a name from NAMED, or a file/folder path.
        data_dir: the data folder for named corpora.
        fractions: train/valid/test fractions.
        seed: the split's seed.
        text_field: column holding the text in tabular files (default "text").
    """
    if corpus in NAMED:
        return load_named(corpus, data_dir, fractions, seed)
    lines = load_lines(corpus, text_field)
    train, valid, test = split_lines(lines, fractions, seed)
    return Splits(train, valid, test, str(Path(corpus).expanduser().resolve()),
                  [f"{corpus}: {len(lines)} lines split {fractions} with seed {seed}"])
