"""Shared fixtures for the SeqGAN core tests: tiny models, a trained tiny run, and a CLI runner."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent

# One intra-op thread: these models are tiny, and on a loaded 2-core machine OpenMP's thread barriers make
# small ops 100x slower (a 200k-row sampling call: 20 s with 2 threads, 0.08 s with 1). Subprocesses get the
# same setting through SUBPROCESS_ENV, so in-process and subprocess runs do identical arithmetic.
torch.set_num_threads(1)
SUBPROCESS_ENV_OVERRIDES = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# The tiny end-to-end run every CLI test builds on: the oracle-tiny preset (random 200-token oracle, length 10,
# a small D) with a short adversarial phase. Seconds on a busy 2-core machine.
TINY = ["--experiment", "oracle-tiny", "--set", "schedule.adv_epochs=3"]


def kill_cli_when(argv: list[str], metrics: Path, ready_marker: str, count: int, timeout: float,
                  poll_s: float) -> int:
    """Run `cli.main(argv)` in a subprocess and SIGKILL it once `metrics` holds `count` lines with `ready_marker`.

    Fails the test if the run ends first or the marker does not appear within `timeout` seconds; returns the
    subprocess's return code (-SIGKILL when it was killed).
    """
    code = "import cli, sys; sys.exit(cli.main(sys.argv[1:]))"
    env = {**os.environ, **SUBPROCESS_ENV_OVERRIDES}
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, argv)], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the run ended (code {proc.returncode}) before it could be killed: "
                            f"{proc.stderr.read().decode()[-2000:]}")
            text = metrics.read_text() if metrics.exists() else ""
            if text.count(ready_marker) >= count:
                break
            time.sleep(poll_s)
        else:
            pytest.fail(f"no {ready_marker!r} in {metrics.name} within the timeout")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
    return proc.returncode


@dataclass
class CliResult:
    """What one `cli.main(argv)` call did."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def _call_cli(argv: list[str]) -> int:
    import cli

    try:
        return cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors and --help
        return int(exc.code or 0)


@pytest.fixture
def run_cli(capsys):
    """Call `cli.main(argv)` in-process; returns a CliResult with its exit code, stdout and stderr."""

    def run(argv: list[str]) -> CliResult:
        capsys.readouterr()  # drop anything printed before
        code = _call_cli(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_cli_quiet(argv: list[str]) -> CliResult:
    """Like `run_cli`, usable from session-scoped fixtures (captures through redirect_*)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _call_cli(argv)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch) -> Path:
    """A tiny synthetic MNIST (300 train / 200 test) as --data-dir, a private cache, and a tiny FID extractor
    (the image test files share it)."""
    from seqgan.image import data, fid_extractor
    from tests.image_helpers import write_dataset

    monkeypatch.setitem(data.DATASETS, "mnist", data.IdxDataset("mnist", {"train": 300, "test": 200}))
    monkeypatch.setitem(fid_extractor.DEFAULT_SPECS, "mnist", fid_extractor.ExtractorSpec(
        widths=(4, 8), features=16, epochs=2, batch_size=32, lr=1e-2))
    monkeypatch.setenv("SEQGAN_CACHE", str(tmp_path / "cache"))
    return write_dataset(tmp_path / "data")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished `seqgan train` run of TINY with seed 1. Read-only: copy it (`copy_run`) before changing it."""
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    result = run_cli_quiet(["train", *TINY, "--seed", "1", "--run-dir", run_dir])
    assert result.code == 0, result.err
    return run_dir


@pytest.fixture
def copy_run(tiny_run, tmp_path):
    """A private copy of the finished tiny run, safe to corrupt."""
    dest = tmp_path / "run"
    shutil.copytree(tiny_run, dest)
    return dest


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), to show that a failed command changed nothing."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (relative path -> hex digest): `snapshot` without holding the bytes."""
    import hashlib

    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def oracle_dir() -> Path:
    """../shared/data/seqgan_oracle (via seqgan.base.paths.data_root), or skip the test that needs it."""
    from seqgan.base.paths import data_root

    root = data_root()
    folder = root / "seqgan_oracle" if root else None
    if folder is None or not (folder / "target_params.npz").is_file() or not (folder / "real_data.txt").is_file():
        pytest.skip("shared oracle data (../shared/data/seqgan_oracle or $SEQGAN_DATA) is not available")
    return folder


def tiny_generator(vocab: int = 40, emb: int = 8, hidden: int = 16, max_len: int = 6, seed: int = 0,
                   std: float = 0.5):
    """A small LSTMGenerator with N(0, std^2) weights (std large enough that samples are far from uniform)."""
    from seqgan.text.generator import LSTMGenerator

    gen = torch.Generator().manual_seed(seed)
    model = LSTMGenerator(vocab, emb, hidden, max_len).init_normal_(std, gen)
    with torch.no_grad():  # non-zero biases too, so the bias paths are exercised
        for name, p in model.named_parameters():
            if "bias" in name:
                p.normal_(0.0, std, generator=gen)
    return model


def tiny_discriminator(vocab: int = 40, seed: int = 0):
    """A small CNN discriminator built from the config the tests use everywhere."""
    from seqgan.text.config import DiscriminatorConfig
    from seqgan.text.discriminator import CNNDiscriminator

    torch.manual_seed(seed)
    d = DiscriminatorConfig(filter_sizes=(2, 3), num_filters=(8, 8), emb_dim=8)
    return CNNDiscriminator(vocab, d.emb_dim, d.filter_sizes, d.num_filters, d.dropout)


if str(REPO_ROOT) not in sys.path:  # `import cli` from any working directory
    sys.path.insert(0, str(REPO_ROOT))
