"""Bad input x command: every command that reads a file refuses bad input with exit code 2, exactly one stderr
line and no traceback, and leaves every file it was given byte for byte as it was (nothing new appears either).

Each case runs `cli.main(argv)` in-process, in its own folder holding copies of only the inputs it names
(`{run}`, `{study}`, ... below), with that folder as the working directory so relative paths are exercised.
The inputs are built once per module: a tiny oracle run, a tiny text run, a tiny image run, a tiny study.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY, checksums, run_cli_quiet
from tests.test_text_data import TINY_TEXT

CASE_TIMEOUT_S = 30  # a refused input costs milliseconds; a case that starts real work fails instead of hanging

IMAGE_TINY = ["--device", "cpu", "--set", "data.image_size=16", "--set", "model.width=4", "--set",
              "model.latent_dim=4", "--set", "train.batch_size=8", "--set", "schedule.iters_per_epoch=2",
              "--set", "schedule.epochs=1", "--set", "schedule.checkpoint_every_s=0", "--set",
              "eval.final_samples=16", "--set", "eval.num_samples=16"]

# the inputs a case may name, by placeholder: the file or folder name in the case's folder
ITEMS = {
    "run": "run", "trun": "trun", "irun": "irun", "study": "study.db", "otherdb": "other.db",
    "corpus": "corpus.txt", "refs": "refs.txt", "hyps": "hyps.txt", "oneline": "oneline.txt",
    "empty": "empty.txt", "blank": "blank.txt", "binary": "binary.dat", "gz": "corpus.txt.gz",
    "latin1": "latin1.txt", "utf16": "utf16.txt", "afile": "afile.txt", "folder": "folder", "imgs": "imgs",
    "badimgs": "badimgs", "answers": "answers.csv", "nocols": "nocols.csv", "badanswer": "badanswer.csv",
    "unknownitem": "unknownitem.csv", "jsonl": "bad.jsonl", "notrun": "notrun",
}


def _write_images(folder: Path, n: int = 16) -> None:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def _build(base: Path) -> None:
    """The shared inputs every case copies from."""
    import gzip
    import random

    rng = random.Random(0)
    words = "the a cat dog sat on mat ran red blue big house tree near far".split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) + " ." for _ in range(200)]
    (base / "corpus.txt").write_text("".join(line + "\n" for line in lines))
    (base / "refs.txt").write_text("".join(line + "\n" for line in lines[:30]))
    (base / "hyps.txt").write_text("".join(line + "\n" for line in lines[30:50]))
    (base / "oneline.txt").write_text("just one line of text .\n")
    (base / "empty.txt").write_bytes(b"")
    (base / "blank.txt").write_text("  \n\t\n\n")
    (base / "binary.dat").write_bytes(bytes(range(256)) * 8)
    (base / "corpus.txt.gz").write_bytes(gzip.compress((base / "corpus.txt").read_bytes(), mtime=0))
    (base / "latin1.txt").write_bytes("café crème\nnaïve déjà vu\n".encode("latin-1") * 10)
    (base / "utf16.txt").write_bytes("hello world\nsecond line\n".encode("utf-16") * 5)
    (base / "afile.txt").write_text("a regular file that some paths pass through\n")
    (base / "folder").mkdir()
    (base / "notrun").mkdir()
    (base / "notrun" / "notes.txt").write_text("my notes\n")
    (base / "notrun" / "samples.txt").write_text("my own samples\n")
    (base / "bad.jsonl").write_text('{"text": "fine"}\nnot json\n')
    _write_images(base / "imgs")
    (base / "badimgs").mkdir()
    (base / "badimgs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    sqlite3.connect(base / "other.db").executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);").close()

    def build(argv: list) -> None:
        result = run_cli_quiet(argv)
        assert result.code == 0, result.err

    build(["train", *TINY, "--set", "schedule.adv_epochs=1", "--run-dir", base / "run"])
    build(["train", "--corpus", base / "corpus.txt", "--experiment", "text-small", *TINY_TEXT, "--run-dir",
           base / "trun"])
    build(["image-train", "--image-dir", base / "imgs", *IMAGE_TINY, "--run-dir", base / "irun"])
    build(["human-eval", "create", "--study", base / "study.db", "--system", f"m={base / 'hyps.txt'}", "--real",
           base / "refs.txt", "--per-system", "3"])
    item = sqlite3.connect(base / "study.db").execute("SELECT code FROM items LIMIT 1").fetchone()[0]
    (base / "answers.csv").write_text(f"rater,item,answer\nw1,{item},human\n")
    (base / "nocols.csv").write_text(f"worker,code,verdict\nw1,{item},human\n")
    (base / "badanswer.csv").write_text(f"rater,item,answer\nw1,{item},maybe\n")
    (base / "unknownitem.csv").write_text("rater,item,answer\nw1,ffffffffff,human\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The inputs, built once for the whole module."""
    base = tmp_path_factory.mktemp("bad-inputs-world")
    _build(base)
    return base


@pytest.fixture
def hermetic(tmp_path_factory, monkeypatch):
    """No data folder, a private cache, no real server, and a time limit per case."""
    monkeypatch.setenv("SEQGAN_DATA", str(tmp_path_factory.getbasetemp() / "no-data"))
    monkeypatch.setenv("SEQGAN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))

    def no_server(*args, **kwargs):
        raise AssertionError("a bad input reached the point of starting a server")

    try:
        import waitress
    except ImportError:  # `serve` then refuses for want of it: one line too
        waitress = None
    if waitress is not None:
        monkeypatch.setattr(waitress, "create_server", no_server)

    def too_slow(signum, frame):
        raise TimeoutError(f"a bad input was not refused within {CASE_TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(CASE_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One bad input: the command line (placeholders name the inputs to copy), what the message must say,
    an optional change to the copied inputs first, and, for a bug another part of the code still has, why the
    case is expected to fail for now."""

    argv: str
    needle: str = ""
    prep: Callable[[Path], None] | None = None
    pending: str = ""


def _truncate(relative: str, keep: int = 500) -> Callable[[Path], None]:
    def prep(case: Path) -> None:
        path = case / relative
        path.write_bytes(path.read_bytes()[:keep])
    return prep


def _write(relative: str, data: bytes) -> Callable[[Path], None]:
    def prep(case: Path) -> None:
        (case / relative).write_bytes(data)
    return prep


def _delete(relative: str) -> Callable[[Path], None]:
    def prep(case: Path) -> None:
        (case / relative).unlink()
    return prep


def _edit_config(relative: str, key: str, value: object) -> Callable[[Path], None]:
    def prep(case: Path) -> None:
        path = case / relative
        data = json.loads(path.read_text())
        section, leaf = key.split(".")
        data["config"][section][leaf] = value
        path.write_text(json.dumps(data))
    return prep


# Bad values of a numeric option: negative, zero, huge, nan, non-numeric (only those an option can get wrong).
def numbers(prefix: str, option: str, values: tuple[str, ...], needle: str = "") -> list[Case]:
    return [Case(f"{prefix} {option} {v}", needle) for v in values]


# A file input given as each kind of bad file: missing, a folder, under a regular file, empty, binary, ...
def bad_files(template: str, kinds: tuple[str, ...], needle: str = "") -> list[Case]:
    paths = {"missing": "missing.txt", "folder": "{folder}", "under-file": "{afile}/x.txt", "empty": "{empty}",
             "blank": "{blank}", "binary": "{binary}", "gzip": "{gz}", "latin1": "{latin1}", "utf16": "{utf16}",
             "oneline": "{oneline}"}
    return [Case(template.replace("FILE", paths[k]), needle) for k in kinds]


ALL_FILE_KINDS = ("missing", "folder", "under-file", "empty", "blank", "binary", "gzip", "latin1")
RUN_DIR_KINDS = ("missing", "folder", "under-file", "file")  # a run to read; one to train into: the last two


def bad_run_dirs(template: str, kinds: tuple[str, ...] = RUN_DIR_KINDS, needle: str = "") -> list[Case]:
    paths = {"missing": "missing-run", "folder": "{folder}", "under-file": "{afile}/run", "file": "{afile}"}
    return [Case(template.replace("RUN", paths[k]), needle) for k in kinds]


TRAIN = "train --experiment oracle-tiny --run-dir new"
TEXT_TRAIN = "train --experiment text-small --run-dir new --corpus"
SAMPLE = "sample --run-dir {run}"
TSAMPLE = "sample --run-dir {trun}"
EVALUATE = "evaluate --run-dir {run}"
BLEU = "bleu --refs {refs} --hyps {hyps}"
COMPARE = "compare {run} --out report --no-plots --reference none"
STUDY = "study --experiment oracle-tiny --seeds 1 --out st"
ITRAIN = f"image-train --image-dir {{imgs}} {shlex.join(IMAGE_TINY)} --run-dir new"
ISAMPLE = "image-sample --run-dir {irun} --out grid.png"
FID = "fid --fake {imgs} --extractor mnist"
CREATE = "human-eval create --system m={hyps} --real {refs} --per-system 3 --study new.db"
IMPORT = "human-eval import --study {study} --answers {answers}"
RESULTS = "human-eval results --study {study}"
EXPORT = "human-eval export --study {study}"
SERVE = "human-eval serve --study {study} --port 0"
INVITE = "human-eval invite --study {study}"

CASES: list[Case] = [
    # ------------------------------------------------------------ train
    *bad_files(f"{TEXT_TRAIN} FILE", (*ALL_FILE_KINDS, "utf16", "oneline")),
    Case(f"{TEXT_TRAIN} {{corpus}} --split 1,0,0", "validation split"),
    Case(f"{TEXT_TRAIN} {{corpus}} --split 0.9,0.1,0", "test split is empty"),
    Case(f"{TEXT_TRAIN} {{corpus}} --split 0.5,0.5", "three non-negative fractions"),
    Case(f"{TEXT_TRAIN} {{corpus}} --split=-0.1,0.6,0.5", "three non-negative fractions"),
    Case(f"{TEXT_TRAIN} {{corpus}} --split nan,0.5,0.5", "three non-negative fractions"),
    Case(f"{TEXT_TRAIN} {{corpus}} --split a,b,c", "split"),
    Case(f"{TEXT_TRAIN} {{corpus}} --text-field body", "--text-field"),
    Case(f"{TEXT_TRAIN} {{corpus}} --tokenizer bogus", "--tokenizer"),
    Case(f"{TEXT_TRAIN} {{corpus}} --too-long bogus", "--too-long"),
    *numbers(f"{TEXT_TRAIN} {{corpus}}", "--vocab-size", ("-5", "0", "3", "abc", "nan", "1e9"), "vocab"),
    *numbers(f"{TEXT_TRAIN} {{corpus}}", "--max-len", ("-1", "1", "abc", "100000000")),
    Case(f"{TEXT_TRAIN} {{corpus}} --max-len 2 --too-long drop", "no line fits"),
    Case(f"{TEXT_TRAIN} {{jsonl}}", "bad.jsonl"),
    Case("train --experiment text-small --corpus poems --run-dir new", "poems"),
    Case("train --experiment text-small --corpus poems --data-dir {afile} --run-dir new", "poems"),
    Case("train --experiment text-small --corpus poems --data-dir {afile}/x --run-dir new", "poems"),
    Case("train --experiment text-small --corpus emnlp --data-dir {folder} --run-dir new", "emnlp"),
    Case("train --experiment oracle-paper --set data.oracle=original --data-dir {folder} --run-dir new",
         "oracle parameters not found"),
    *bad_run_dirs("train --experiment oracle-tiny --run-dir RUN", ("under-file", "file")),
    Case("train --experiment oracle-tiny --run-dir {notrun}", "no config.json"),
    Case("train --experiment oracle-tiny --run-dir {afile}/deeper/run", "is a file"),
    Case("train --experiment oracle-tiny --run-dir {irun}", "--run-dir"),
    Case("train --experiment oracle-tiny --run-dir {trun}", "different configuration"),
    Case("train --experiment oracle-tiny --set schedule.adv_epochs=1 --seed 2 --run-dir {run}", "seed: 1 -> 2"),
    Case("train --experiment oracle-tiny --set schedule.adv_epochs=1 --run-dir {run}", "config.json",
         prep=_write("run/config.json", b'{"config": {"data": ')),
    Case("train --experiment oracle-tiny --set schedule.adv_epochs=1 --run-dir {run}", "config.json",
         prep=_write("run/config.json", b'{"something": "else"}')),
    Case("train --experiment oracle-tiny --set schedule.adv_epochs=1 --run-dir {run}", "config.json",
         prep=_write("run/config.json", bytes(range(256)))),
    Case(f"{TRAIN} --init-from missing-run", "--init-from"),
    Case(f"{TRAIN} --init-from {{folder}}", "--init-from"),
    Case(f"{TRAIN} --init-from {{afile}}", "checkpoint"),
    Case(f"{TRAIN} --init-from {{afile}}/x", "--init-from"),
    Case(f"{TRAIN} --init-from {{trun}}", "architecture"),
    Case("train --experiment bogus --run-dir new", "bogus"),
    Case(f"{TRAIN} --set bogus.key=1", "bogus.key"),
    Case(f"{TRAIN} --set schedule.adv_epoch=1", "did you mean"),
    Case(f"{TRAIN} --set schedule.adv_epochs", "KEY=VALUE"),
    Case(f"{TRAIN} --set schedule.adv_epochs=abc", "expected int"),
    Case(f"{TRAIN} --set schedule.adv_epochs=-1", "schedule.adv_epochs"),
    Case(f"{TRAIN} --set schedule.eval_every=0", "eval_every"),
    Case(f"{TRAIN} --set generator.lr=0", "generator.lr"),
    Case(f"{TRAIN} --set generator.lr=-0.1", "generator.lr"),
    Case(f"{TRAIN} --set generator.lr=nan", "generator.lr"),
    Case(f"{TRAIN} --set generator.lr=abc", "expected float"),
    Case(f"{TRAIN} --set generator.batch_size=0", "batch_size"),
    Case(f"{TRAIN} --set discriminator.dropout=1.5", "dropout"),
    Case(f"{TRAIN} --set discriminator.filter_sizes=2,3", "same, non-zero length"),
    Case(f"{TRAIN} --set discriminator.kind=transformer", "discriminator.kind"),
    Case(f"{TRAIN} --set data.seq_len=1", "seq_len"),
    Case(f"{TRAIN} --set data.num_train=0", "num_train"),
    Case(f"{TRAIN} --set adversarial.num_rollouts=0", "num_rollouts"),
    Case(f"{TRAIN} --set adversarial.rollout_update_rate=1", "rollout_update_rate"),
    Case(f"{TRAIN} --set lowercase=yes", "lowercase"),
    Case(f"{TRAIN} --set eval.num_samples=-3", "num_samples"),
    *numbers(TRAIN, "--seed", ("abc", "1.5", "-1", "99999999999999999999999"), "seed"),
    Case(f"{TRAIN} --method bogus", "--method"),
    Case(f"{TRAIN} --device bogus", "bogus"),
    Case(f"{TRAIN} --vocab-size 1000000000", "vocab"),
    Case(f"{TRAIN} --max-len 100000000", "seq_len"),
    Case(f"{TRAIN} --set data.num_train=10000000000", "num_train"),
    # ------------------------------------------------------------ sample
    *bad_run_dirs("sample --run-dir RUN"),
    Case("sample --run-dir {notrun}", "not a run directory"),
    Case(SAMPLE, "config.json", prep=_write("run/config.json", b"{not json")),
    Case(SAMPLE, "config.json", prep=_write("run/config.json", b'{"something": "else"}')),
    Case(SAMPLE, "config.json", prep=_write("run/config.json", bytes(range(256)))),
    Case(SAMPLE, "last", prep=_delete("run/checkpoints/last.pt")),
    Case(SAMPLE, "last.pt", prep=_truncate("run/checkpoints/last.pt")),
    Case(SAMPLE, "last.pt", prep=_write("run/checkpoints/last.pt", b"")),
    Case(SAMPLE, "architecture", prep=_edit_config("run/config.json", "generator.hidden_dim", 7)),
    Case(TSAMPLE, "tokenizer", prep=_write("trun/tokenizer.json", b"{broken")),
    Case(TSAMPLE, "tokenizer", prep=_write("trun/tokenizer.json", b"")),
    Case(TSAMPLE, "tokenizer", prep=_write("trun/tokenizer.json", bytes(range(256)) * 4)),
    *numbers(SAMPLE, "-n", ("0", "-5", "abc", "1.5", "100000000"), "-n"),
    *numbers(SAMPLE, "--temperature", ("0", "-1", "nan", "abc"), "--temperature"),
    *numbers(SAMPLE, "--top-k", ("-1", "abc"), "--top-k"),
    *numbers(SAMPLE, "--top-p", ("0", "-0.5", "1.5", "nan", "abc"), "--top-p"),
    *numbers(SAMPLE, "--seed", ("abc", "99999999999999999999999"), "seed"),
    Case(f"{SAMPLE} --checkpoint bogus", "--checkpoint"),
    Case(f"{SAMPLE} --checkpoint 999", "999"),
    Case(f"{SAMPLE} --checkpoint pretrain_g:abc", "--checkpoint"),
    Case(f"{SAMPLE} --checkpoint adversarial:-1", "--checkpoint"),
    Case(f"{SAMPLE} --prefix words", "--prefix"),
    Case(f"{SAMPLE} --prefix 99999", "--prefix"),
    Case(f"{TSAMPLE} --prefix '{' '.join(['cat'] * 40)}'", "--prefix"),
    Case(f"{SAMPLE} --format xml", "--format"),
    Case(f"{SAMPLE} --out {{run}}/config.json", "run directory"),
    Case(f"{SAMPLE} --out {{run}}/samples.txt", "run directory"),
    Case(f"{SAMPLE} --out {{run}}/metrics.jsonl", "run directory"),
    Case(f"{SAMPLE} --out {{run}}/run.log", "run directory"),
    Case(f"{SAMPLE} --out {{run}}/checkpoints/last.pt", "run directory"),
    Case(f"{SAMPLE} --out {{run}}/checkpoints/new.txt", "run directory"),
    Case(f"{SAMPLE} --out {{run}}/metrics.json", "run directory"),
    Case(f"{SAMPLE} --out {{run}}/eval-last-t1.json", "run directory"),
    Case(f"{SAMPLE} --out {{trun}}/data/train.txt", "run directory"),
    Case(f"{SAMPLE} --out {{trun}}/tokenizer.json", "run directory"),
    Case(f"{SAMPLE} --out {{irun}}/samples.png", "run directory"),
    Case(f"{SAMPLE} --out {{run}}", "folder"),
    Case(f"{SAMPLE} --out {{folder}}", "folder"),
    Case(f"{SAMPLE} --out {{afile}}/x.txt", "is a file"),
    Case(f"{SAMPLE} --out missing/x.txt", "does not exist"),
    Case(f"{SAMPLE} --out {{study}}", "database"),
    Case(f"{SAMPLE} --out {{otherdb}}", "database"),
    # ------------------------------------------------------------ evaluate
    *bad_run_dirs("evaluate --run-dir RUN"),
    Case("evaluate --run-dir {notrun}", "not a run directory"),
    Case(EVALUATE, "config.json", prep=_write("run/config.json", b"{not json")),
    Case(EVALUATE, "last.pt", prep=_truncate("run/checkpoints/last.pt")),
    Case(EVALUATE, "last", prep=_delete("run/checkpoints/last.pt")),
    Case(f"{EVALUATE} --checkpoint bogus", "--checkpoint"),
    Case(f"{EVALUATE} --checkpoint 999", "999"),
    *numbers(EVALUATE, "--temperature", ("0", "-1", "nan", "abc"), "--temperature"),
    Case("evaluate --run-dir {trun}", "test.txt", prep=_write("trun/data/test.txt", b"\xff\xfe\x00bad" * 50)),
    Case("evaluate --run-dir {trun}", "valid.txt", prep=_write("trun/data/valid.txt", bytes(range(256)) * 4)),
    # ------------------------------------------------------------ bleu
    *bad_files("bleu --hyps {hyps} --refs FILE", (*ALL_FILE_KINDS, "utf16"), "--refs"),
    *bad_files("bleu --refs {refs} --hyps FILE", (*ALL_FILE_KINDS, "utf16"), "--hyps"),
    *numbers(BLEU, "-n", ("0", "-1", "10", "abc", "2,x", "nan"), "-n"),
    *numbers(BLEU, "--processes", ("0", "-1", "abc", "nan"), "--processes"),
    *numbers(BLEU, "--seed", ("-1", "abc"), "--seed"),
    *numbers(f"{BLEU} --self-bleu", "--self-bleu-samples", ("1", "0", "-3", "abc"), "--self-bleu-samples"),
    Case(f"{BLEU} --self-bleu-samples 5", "--self-bleu"),
    Case(f"{BLEU} --smoothing method9", "smoothing"),
    Case(f"{BLEU} --tokenize bogus", "--tokenize"),
    Case(f"{BLEU} --sacrebleu", "one reference line per hypothesis line"),
    Case("bleu --refs {refs}", "--hyps"),
    Case("bleu --hyps {hyps}", "--refs"),
    Case("bleu --refs - --hyps -", "stdin"),
    Case("bleu --hyps {hyps} --sacrebleu --self-bleu", "--sacrebleu needs --refs"),
    # ------------------------------------------------------------ compare
    *bad_run_dirs("compare RUN --out report --no-plots"),
    Case("compare {notrun} --out report --no-plots", "not a run directory"),
    Case("compare {run} {irun} --out report --no-plots"),
    Case(COMPARE, "config.json", prep=_write("run/config.json", b"{not json")),
    Case(COMPARE, "last.pt", prep=_truncate("run/checkpoints/last.pt")),
    Case("compare {run} --out {run} --no-plots", "--out"),
    Case("compare {run} --out {run}/report --no-plots", "run directory"),
    Case("compare {run} --out {trun} --no-plots", "run directory"),
    Case("compare {run} --out {afile} --no-plots", "is a file"),
    Case("compare {run} --out {afile}/report --no-plots", "is a file"),
    *numbers(COMPARE, "-n", ("1", "0", "-1", "abc", "1000000000"), "-n"),
    *numbers(COMPARE, "--curve-samples", ("0", "-1", "abc", "1000000000"), "--curve-samples"),
    *numbers(COMPARE, "--seed", ("abc",), "--seed"),
    *numbers(COMPARE, "--temperatures", ("0,1", "-1", "abc", "nan", "inf", "''"), "--temperatures"),
    Case(f"{COMPARE} --names a,b,c", "--names"),
    Case(f"{COMPARE} --reference nope", "--reference"),
    Case(f"{COMPARE} --checkpoint bogus", "--checkpoint"),
    # ------------------------------------------------------------ study
    Case(f"{STUDY} --methods bogus", "bogus"),
    Case(f"{STUDY} --methods ,", "--methods"),
    Case("study --experiment oracle-tiny --seeds abc --out st", "--seeds"),
    Case("study --experiment oracle-tiny --seeds , --out st", "--seeds"),
    Case("study --experiment oracle-tiny --seeds -1 --out st", "seed"),
    Case("study --experiment oracle-tiny --seeds 99999999999999999999999 --out st", "seed"),
    Case(f"{STUDY} --bleu-samples -1", "--bleu-samples"),
    Case(f"{STUDY} --bleu-samples abc", "--bleu-samples"),
    Case("study --experiment bogus --out st", "bogus"),
    Case(f"{STUDY} --set bogus.key=1", "bogus.key"),
    Case(f"{STUDY} --set schedule.adv_epochs=-1", "adv_epochs"),
    Case("study --experiment oracle-tiny --seeds 1 --out {afile}", "--out"),
    Case("study --experiment oracle-tiny --seeds 1 --out {afile}/st", "--out"),
    Case("study --experiment oracle-tiny --seeds 1 --out {run}", "--out"),
    Case("study --experiment oracle-tiny --seeds 1 --out {notrun}", "--out"),
    Case("study --corpus missing.txt --seeds 1 --out st", "missing.txt"),
    Case("study --corpus {oneline} --seeds 1 --out st", "split"),
    Case("study --corpus {binary} --seeds 1 --out st", "binary.dat"),
    Case("study --corpus {latin1} --seeds 1 --out st", "UTF-8"),
    # ------------------------------------------------------------ image-train
    Case("image-train --image-dir missing --run-dir new", "missing"),
    Case("image-train --image-dir {afile} --run-dir new", "afile"),
    Case("image-train --image-dir {afile}/x --run-dir new", "afile"),
    Case("image-train --image-dir {folder} --run-dir new", "folder"),
    Case("image-train --image-dir {badimgs} --run-dir new", "broken.png"),
    *bad_run_dirs(ITRAIN.replace("--run-dir new", "--run-dir RUN"), ("under-file", "file")),
    Case(ITRAIN.replace("new", "{notrun}"), "no config.json"),
    Case(ITRAIN.replace("new", "{run}"), "--run-dir"),
    Case(ITRAIN.replace("new", "{irun}"), "different configuration"),
    Case(f"{ITRAIN} --loss bogus", "bogus"),
    Case(f"{ITRAIN} --net bogus", "bogus"),
    Case(f"{ITRAIN} --scale bogus", "bogus"),
    Case(f"{ITRAIN} --loss cgan", "labels"),
    Case("image-train --dataset bogus --run-dir new", "bogus"),
    Case("image-train --dataset mnist --run-dir new", "mnist"),
    Case("image-train --dataset mnist --data-dir {afile} --run-dir new", "mnist"),
    Case(f"{ITRAIN} --set bogus.key=1", "bogus.key"),
    Case(f"{ITRAIN} --set schedule.epochs=-1", "epochs"),
    Case(f"{ITRAIN} --set schedule.epochs=abc", "expected int"),
    Case(f"{ITRAIN} --set train.g_lr=nan", "lr"),
    Case(f"{ITRAIN} --set seed=99999999999999999", "seed"),
    Case(f"{ITRAIN} --set schedule.checkpoint_every_s=-1", "checkpoint_every_s"),
    *numbers(ITRAIN, "--seed", ("abc", "-1", "99999999999999999999999"), "seed"),
    Case(f"{ITRAIN} --device bogus", "bogus"),
    Case("image-train --image-dir {imgs}", "--run-dir"),
    # ------------------------------------------------------------ image-sample
    *bad_run_dirs("image-sample --run-dir RUN --out grid.png"),
    Case("image-sample --run-dir {notrun} --out grid.png", "not a run directory"),
    Case("image-sample --run-dir {run} --out grid.png", "image run"),
    Case(ISAMPLE, "config.json", prep=_write("irun/config.json", b"{not json")),
    Case(ISAMPLE, "last.pt", prep=_truncate("irun/checkpoints/last.pt")),
    Case(ISAMPLE, "last", prep=_delete("irun/checkpoints/last.pt")),
    *numbers(ISAMPLE, "-n", ("0", "-1", "abc", "100000000"), "-n"),
    *numbers(ISAMPLE, "--nrow", ("0", "-1", "abc"), "--nrow"),
    *numbers(ISAMPLE, "--seed", ("abc", "99999999999999999999999"), "seed"),
    Case(f"{ISAMPLE} --checkpoint bogus", "--checkpoint"),
    Case(f"{ISAMPLE} --checkpoint 999", "999"),
    Case(f"{ISAMPLE} --device bogus", "bogus"),
    Case("image-sample --run-dir {irun} --out {irun}/samples.png", "run directory"),
    Case("image-sample --run-dir {irun} --out {irun}/checkpoints/x.png", "run directory"),
    Case("image-sample --run-dir {irun} --out {run}/samples.png", "run directory"),
    Case("image-sample --run-dir {irun} --out {irun}", "folder"),
    Case("image-sample --run-dir {irun} --out {afile}/x.png", "is a file"),
    Case("image-sample --run-dir {irun} --out missing/x.png", "does not exist"),
    Case("image-sample --run-dir {irun} --out grid.gif", ".png"),
    Case("image-sample --run-dir {irun} --out {afile}", ".png"),
    # ------------------------------------------------------------ fid
    Case("fid --fake missing --extractor mnist", "--fake"),
    Case("fid --fake {afile} --extractor mnist", "--fake"),
    Case("fid --fake {afile}/x --extractor mnist", "--fake"),
    Case("fid --fake {folder} --real {imgs} --extractor mnist"),  # the extractor's data is missing first
    Case("fid --fake {badimgs} --real {imgs} --extractor mnist"),
    Case("fid --fake {imgs} --real missing --extractor mnist", "--real"),
    Case("fid --fake {imgs} --real {afile} --extractor mnist", "--real"),
    Case("fid --fake {imgs} --real {afile}/x --extractor mnist", "--real"),
    Case("fid --fake {imgs} --real {imgs}", "--extractor"),
    Case("fid --fake {imgs}", "--dataset"),
    Case("fid --fake {imgs} --dataset bogus", "bogus"),
    Case("fid --fake {imgs} --dataset mnist", "mnist"),
    Case("fid --fake {imgs} --dataset mnist --data-dir {afile}", "mnist"),
    Case("fid --fake {imgs} --real {imgs} --extractor bogus", "bogus"),
    Case("fid --fake {imgs} --real {imgs} --extractor inception", "--inception-weights"),
    Case("fid --fake {imgs} --real {imgs} --extractor inception --inception-weights missing.pth", "missing.pth"),
    Case("fid --fake {imgs} --real {imgs} --extractor inception --inception-weights {afile}"),
    Case("fid --fake {imgs} --real {imgs} --inception-weights {afile} --extractor mnist", "--inception-weights"),
    *numbers(FID, "--n-real", ("-1", "abc"), "--n-real"),
    *numbers("fid --run-dir {irun} --real {imgs} --extractor mnist", "-n", ("1", "0", "-1", "abc", "1000000000"),
             "-n"),
    *numbers(FID, "--size", ("0", "-1", "abc"), "--size"),
    *numbers(FID, "--seed", ("abc",), "--seed"),
    Case(f"{FID} --split valid", "--split"),
    Case("fid --fake {imgs} --run-dir {irun}", "not allowed"),
    *bad_run_dirs("fid --run-dir RUN --real {imgs} --extractor mnist"),
    Case("fid --run-dir {run} --real {imgs} --extractor mnist", "image run"),
    Case("fid --run-dir {irun} --real {imgs} --extractor mnist --checkpoint bogus", "--checkpoint"),
    Case("fid --run-dir {irun} --real {imgs} --extractor mnist", "last.pt",
         prep=_truncate("irun/checkpoints/last.pt")),
    # ------------------------------------------------------------ human-eval create
    Case(CREATE.replace("new.db", "{afile}/x.db"), "is a file"),
    Case(CREATE.replace("new.db", "{folder}"), "folder"),
    Case(CREATE.replace("new.db", "{study}"), "already exists"),
    Case(CREATE.replace("new.db", "{otherdb}"), "already exists"),
    Case(CREATE.replace("new.db", "{hyps}"), "already exists"),
    Case(CREATE.replace("new.db", "{run}/samples.txt"), "already exists"),
    Case(CREATE.replace("new.db", "{afile}"), "already exists"),
    Case(CREATE.replace("new.db", "missing/x.db"), "does not exist"),
    Case(CREATE.replace("new.db", "{run}/config.json"), "already exists"),
    Case(CREATE.replace("new.db", "{run}/metrics-study.db"), "run directory"),
    Case(CREATE.replace("new.db", "{run}/checkpoints/s.db"), "run directory"),
    *bad_files("human-eval create --system m=FILE --real {refs} --per-system 3 --study new.db",
               ("missing", "folder", "under-file", "empty", "blank", "binary", "latin1", "utf16")),
    *bad_files("human-eval create --system m={hyps} --real FILE --per-system 3 --study new.db",
               ("missing", "folder", "under-file", "empty", "blank", "binary", "latin1")),
    Case("human-eval create --system m={jsonl} --real {refs} --per-system 1 --study new.db", "JSON"),
    Case("human-eval create --system m --real {refs} --study new.db", "NAME="),
    Case("human-eval create --system =x --real {refs} --study new.db", "NAME="),
    Case("human-eval create --system 'a b={hyps}' --real {refs} --study new.db", "name"),
    Case("human-eval create --system m={hyps} --system m={refs} --per-system 3 --study new.db", "twice"),
    Case(f"{CREATE} --real-name m", "clashes"),
    Case("human-eval create --system m={hyps} --real test --per-system 3 --study new.db", "test"),
    Case("human-eval create --system m={run} --real test --per-system 3 --study new.db", "test split"),
    Case("human-eval create --system m={notrun} --real {refs} --per-system 3 --study new.db", "notrun"),
    *numbers(CREATE, "--per-system", ("0", "-1", "abc", "1000000"), "--per-system"),
    *numbers(CREATE, "--seed", ("abc",), "--seed"),
    Case("human-eval create --real {refs} --study new.db", "--system"),
    # ------------------------------------------------------------ human-eval import
    *bad_files("human-eval import --study {study} --answers FILE",
               ("missing", "folder", "under-file", "empty", "binary", "latin1", "utf16")),
    Case("human-eval import --study {study} --answers {nocols}", "no column"),
    Case("human-eval import --study {study} --answers {badanswer}", "neither human nor machine"),
    Case("human-eval import --study {study} --answers {unknownitem}", "ffffffffff"),
    Case(f"{IMPORT} --rater-col bogus", "bogus"),
    Case(f"{IMPORT} --item-col bogus", "bogus"),
    Case(f"{IMPORT} --answer-col bogus", "bogus"),
    *bad_files("human-eval import --answers {answers} --study FILE",
               ("missing", "folder", "under-file", "empty", "binary", "latin1")),
    Case("human-eval import --answers {answers} --study {otherdb}", "study"),
    Case("human-eval import --answers {answers} --study {corpus}", "study"),
    # ------------------------------------------------------------ human-eval results
    *bad_files("human-eval results --study FILE", ("missing", "folder", "under-file", "empty", "binary", "latin1")),
    Case("human-eval results --study {otherdb}", "study"),
    Case("human-eval results --study {run}/config.json", "study"),
    Case(f"{RESULTS} --csv {{study}}", "--study"),
    Case(f"{RESULTS} --csv ./{{study}}", "--study"),
    Case(f"{RESULTS} --csv {{otherdb}}", "database"),
    Case(f"{RESULTS} --csv {{study}}-wal", "study"),
    Case(f"{RESULTS} --csv {{afile}}/x.csv", "is a file"),
    Case(f"{RESULTS} --csv {{folder}}", "folder"),
    Case(f"{RESULTS} --csv missing/x.csv", "does not exist"),
    Case(f"{RESULTS} --csv {{run}}/config.json", "run directory"),
    Case(f"{RESULTS} --csv {{run}}/metrics.jsonl", "run directory"),
    *numbers(RESULTS, "--resamples", ("0", "-1", "abc", "nan"), "--resamples"),
    *numbers(RESULTS, "--seed", ("abc", "1.5"), "--seed"),
    Case(f"{RESULTS} --unit bogus", "--unit"),
    # ------------------------------------------------------------ human-eval export
    *bad_files("human-eval export --study FILE --out sheet.csv", ("missing", "folder", "under-file", "binary")),
    Case("human-eval export --study {otherdb} --out sheet.csv", "study"),
    Case(f"{EXPORT} --out {{study}}", "--study"),
    Case(f"{EXPORT} --out ./{{study}}", "--study"),
    Case(f"{EXPORT} --out {{otherdb}}", "database"),
    Case(f"{EXPORT} --out {{study}}-journal", "study"),
    Case(f"{EXPORT} --out {{afile}}/x.csv", "is a file"),
    Case(f"{EXPORT} --out {{folder}}", "folder"),
    Case(f"{EXPORT} --out missing/x.csv", "does not exist"),
    Case(f"{EXPORT} --out {{run}}/config.json", "run directory"),
    Case(f"{EXPORT} --out {{trun}}/data/test.txt", "run directory"),
    # ------------------------------------------------------------ human-eval serve
    *bad_files("human-eval serve --port 0 --study FILE", ("missing", "folder", "under-file", "empty", "binary")),
    Case("human-eval serve --port 0 --study {otherdb}", "study"),
    *numbers(SERVE.replace(" --port 0", ""), "--port", ("-1", "70000", "abc"), "port"),
    *numbers(SERVE, "--threads", ("0", "-1", "abc"), "threads"),
    *numbers(SERVE, "--connection-limit", ("0", "-5", "abc"), "connection"),
    *numbers(SERVE, "--channel-timeout", ("0", "-1", "abc"), "timeout"),
    # ------------------------------------------------------------ human-eval invite
    *bad_files("human-eval invite --n 2 --study FILE", ("missing", "folder", "under-file", "binary")),
    *numbers(INVITE, "--n", ("0", "-1", "abc"), "--n"),
    Case(INVITE, "--n"),
    Case(f"{INVITE} --n 2 --prefix 'a b'", "--prefix"),
    Case(f"{INVITE} --n 2 --out {{study}}", "--out"),
    Case(f"{INVITE} --n 2 --out {{afile}}/links.tsv", "afile.txt"),
    Case(f"{INVITE} --n 2 --out {{run}}/config.json", "--out"),
    # ------------------------------------------------------------ the parser itself
    Case("bogus-command", "bogus-command"),
    Case("train --run-dir", "--run-dir"),
    Case("sample", "--run-dir"),
    Case("human-eval results", "--study"),
    Case("human-eval bogus", "bogus"),
]


def _params() -> list:
    params = []
    for i, case in enumerate(CASES):
        marks = [pytest.mark.xfail(strict=False, reason=f"pending ({case.pending})")] if case.pending else []
        params.append(pytest.param(case, marks=marks, id=f"{i:03d}-{case.argv[:70]}"))
    return params


def _materialise(case: Case, world: Path, folder: Path) -> list[str]:
    """Copy the inputs `case` names into `folder`; returns its argv with the placeholders filled in."""
    folder.mkdir()
    argv = shlex.split(case.argv)
    filled = []
    for arg in argv:
        for key, name in ITEMS.items():
            token = "{" + key + "}"
            if token in arg:
                source, dest = world / name, folder / name
                if not dest.exists():
                    (shutil.copytree if source.is_dir() else shutil.copy2)(source, dest)
                arg = arg.replace(token, name)
        filled.append(arg)
    assert "{" not in " ".join(filled), filled  # every placeholder names an input
    if case.prep:
        case.prep(folder)
    return filled


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_refused_and_changes_nothing(case, world, tmp_path, monkeypatch, run_cli, hermetic):
    folder = tmp_path / "case"
    argv = _materialise(case, world, folder)
    monkeypatch.chdir(folder)
    before = checksums(folder)
    result = run_cli(argv)
    assert "Traceback" not in result.err, result.err
    assert result.code == 2, (result.code, result.err)
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith((f"seqgan {argv[0]}", "seqgan: error:")) and "error:" in line, line
    assert case.needle in line, (case.needle, line)
    assert checksums(folder) == before  # same files, same bytes: nothing changed, nothing new
