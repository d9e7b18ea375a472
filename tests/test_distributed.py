"""Data-parallel training (seqgan.core.distributed): 2 CPU processes (gloo) give what 1 process gives.

The processes are forked here with the environment torchrun gives them (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR/PORT), so each test costs seconds, not an interpreter start per process; one test starts the real
`torchrun -m seqgan train` and kills a process of it.

Every random draw of a training step comes from the run's generator, whose state all processes share: they draw
the same shuffles, samples and rollout uniforms as one process and each uses its rows. The one thing that cannot
be pinned is dropout (each process draws masks for its own rows from its own stream), so the tests that compare
with one process use a D without dropout; the whole-run tests compare 2 processes with 2 processes.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from eval.nll import nll_oracle, nll_test, sharded
from seqgan.core import distributed
from seqgan.text.adversarial import SeqGANPair
from seqgan.text.config import AdversarialConfig, DiscriminatorConfig, ExperimentConfig, GeneratorConfig, ScheduleConfig
from seqgan.text.discriminator import CNNDiscriminator
from seqgan.text.oracle import random_oracle
from seqgan.text.pretrain import discriminator_epoch, mle_epoch
from seqgan.text.task import eos_mask
from tests.conftest import REPO_ROOT, SUBPROCESS_ENV_OVERRIDES, TINY, tiny_generator

V, T = 40, 6
EOS = 3  # an id of the tiny vocabulary used as <eos> where a test needs padding
TOL = 1e-5
WAIT_S = 120  # a forked job's bound (seconds); each takes a few on an idle machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank: int, size: int, port: int) -> dict[str, str]:
    """What torchrun puts in a worker's environment."""
    return {"RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(size),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def _worker(rank: int, size: int, port: int, fn, args: tuple, queue) -> None:
    os.environ.update(_env(rank, size, port))
    torch.set_num_threads(1)
    try:
        with distributed.session("cpu", "test"):
            out = fn(*args)
        buffer = io.BytesIO()
        torch.save(out, buffer)  # bytes through the queue: no shared-memory tensors outliving this process
        queue.put((rank, buffer.getvalue()))
    except BaseException as err:
        queue.put((rank, repr(err).encode()))
        raise


def run_ranks(fn, *args, size: int = 2) -> list:
    """fn(*args) in `size` forked processes of one job; returns each rank's result, in rank order."""
    ctx = multiprocessing.get_context("fork")
    queue, port = ctx.Queue(), _free_port()
    procs = [ctx.Process(target=_worker, args=(r, size, port, fn, args, queue)) for r in range(size)]
    for p in procs:
        p.start()
    results: dict = {}
    try:
        for _ in procs:
            rank, data = queue.get(timeout=WAIT_S)
            results[rank] = data
    finally:
        for p in procs:
            p.join(timeout=WAIT_S)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs), {r: d[:300] for r, d in results.items()}
    return [torch.load(io.BytesIO(results[r]), weights_only=False) for r in range(size)]


def _cli_worker(rank: int, size: int, port: int, argv: list[str], log: str) -> None:
    os.environ.update(_env(rank, size, port))
    torch.set_num_threads(1)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)  # this process's stderr, to read its lines
    sys.stderr = os.fdopen(2, "w", buffering=1)
    import cli

    sys.exit(cli.main(argv))


def start_cli(argv: list, logs: Path, size: int = 2) -> list:
    """`seqgan ARGV` in `size` forked processes of one job (as torchrun would start them); rank r's stderr goes to
    logs/rank{r}.err. Returns the processes."""
    ctx = multiprocessing.get_context("fork")
    port = _free_port()
    logs.mkdir(parents=True, exist_ok=True)
    procs = [ctx.Process(target=_cli_worker, args=(r, size, port, [str(a) for a in argv], str(logs / f"rank{r}.err")))
             for r in range(size)]
    for p in procs:
        p.start()
    return procs


def finish(procs: list) -> list[int]:
    """Wait for the processes; their exit codes."""
    for p in procs:
        p.join(timeout=WAIT_S)
        if p.is_alive():
            p.kill()
            pytest.fail("a process of the job did not end in time")
    return [p.exitcode for p in procs]


# ------------------------------------------------------------------------------------------- the steps


def _data(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, V, (n, T), generator=torch.Generator().manual_seed(seed))


def _mle(n: int, batch: int, masked: bool) -> tuple[list[torch.Tensor], dict]:
    """Two MLE epochs of a tiny G over n rows; its parameters and the second epoch's metrics."""
    g = tiny_generator(vocab=V, max_len=T, seed=3)
    opt = torch.optim.Adam(g.parameters(), lr=0.01, fused=True)
    data = _data(n, 4)
    mask = eos_mask(data, EOS) if masked else None
    gen = torch.Generator().manual_seed(5)
    for _ in range(2):
        metrics = mle_epoch(g, opt, data, batch, 5.0, gen, mask)
    return [p.detach().clone() for p in g.parameters()], {**metrics, "gen": gen.get_state()}


@pytest.mark.parametrize("n, batch, masked", [(64, 16, False), (37, 16, True)])
def test_two_processes_mle_epoch_equals_one_process(n, batch, masked):
    """Global batch B over 2 processes = batch B in one: same parameters (to 1e-5), same mean NLL, same random
    stream; with padding (per-process token counts differ) and a last batch of odd size (5 rows: 2 + 3)."""
    one_params, one = _mle(n, batch, masked)
    ranks = run_ranks(_mle, n, batch, masked)
    for params, metrics in ranks:
        for a, b in zip(one_params, params):
            torch.testing.assert_close(b, a, atol=TOL, rtol=TOL)
        assert metrics["g_mle_nll"] == pytest.approx(one["g_mle_nll"], abs=TOL)
        assert torch.equal(metrics["gen"], one["gen"])  # both processes drew exactly what one process drew
    assert all(torch.equal(a, b) for a, b in zip(ranks[0][0], ranks[1][0]))  # the processes hold one model


def _d_epoch() -> tuple[list[torch.Tensor], dict]:
    torch.manual_seed(6)
    # dropout 0: dropout masks are drawn per process for its own rows, the one draw that cannot match one process
    d = CNNDiscriminator(V, 8, (2, 3), (8, 8), dropout=0.0)
    opt = torch.optim.Adam(d.parameters(), lr=1e-3, fused=True)
    gen = torch.Generator().manual_seed(7)
    metrics = {}
    for _ in range(2):
        metrics = discriminator_epoch(d, opt, _data(21, 8), _data(18, 9), 8, 0.2, gen)  # last batch: 7 rows
    return [p.detach().clone() for p in d.parameters()], metrics


def test_two_processes_discriminator_epoch_equals_one_process():
    """D epochs: cross-entropy split by rows, the L2 penalty counted once: same D (to 1e-5), loss and accuracy."""
    one_params, one = _d_epoch()
    for params, metrics in run_ranks(_d_epoch):
        for a, b in zip(one_params, params):
            torch.testing.assert_close(b, a, atol=TOL, rtol=TOL)
        assert metrics["d_loss"] == pytest.approx(one["d_loss"], abs=TOL)
        assert metrics["d_accuracy"] == one["d_accuracy"]


def _g_config(**adv) -> ExperimentConfig:
    return ExperimentConfig(
        generator=GeneratorConfig(emb_dim=8, hidden_dim=16, batch_size=32),
        discriminator=DiscriminatorConfig(filter_sizes=(2, 3), num_filters=(8, 8), emb_dim=8, dropout=0.0),
        schedule=ScheduleConfig(num_negatives=32),
        adversarial=AdversarialConfig(num_rollouts=3, g_batch_size=15, **adv))


def _g_step(adv: dict, masked: bool) -> tuple[list[torch.Tensor], list[dict]]:
    """Two policy-gradient steps of a tiny SeqGAN pair (rollouts scored by D); G's and the rollout net's
    parameters, and the steps' metrics."""
    torch.manual_seed(10)
    g = tiny_generator(vocab=V, max_len=T, seed=11)
    if masked:
        g.eos_token, g.pad_token = EOS, 0
    d = CNNDiscriminator(V, 8, (2, 3), (8, 8), dropout=0.0)
    pair = SeqGANPair(g, d, _data(40, 12), _g_config(**adv), (lambda ids: eos_mask(ids, EOS)) if masked else None)
    gen = torch.Generator().manual_seed(13)
    metrics = [pair.policy_gradient_step(gen) for _ in range(2)]
    return [p.detach().clone() for p in [*g.parameters(), *pair.rollout.net.parameters()]], metrics


@pytest.mark.parametrize("adv, masked", [
    ({}, False),  # SeqGAN as the paper: summed loss, no baseline
    ({"baseline": "mean", "reduction": "mean", "kl_coef": 0.1, "entropy_coef": 0.01}, True),
])
def test_two_processes_policy_gradient_step_equals_one_process(adv, masked):
    """The SeqGAN G step over 2 processes (B = 15: 7 + 8 rows, each with its rollouts and D's scores) equals one
    process's, with the same draws: the batch and every rollout uniform come from the shared generator (each
    process draws all of them and completes its rows), so the samples are the same and only float rounding
    differs. Covers the mean baseline, mean reduction, padding and the KL anchor and entropy terms."""
    one_params, one = _g_step(adv, masked)
    for params, metrics in run_ranks(_g_step, adv, masked):
        _assert_same_step(one_params, one, params, metrics)


def _assert_same_step(one_params: list, one: list[dict], params: list, metrics: list[dict]) -> None:
    """A process's parameters and metrics equal one process's, to TOL."""
    for a, b in zip(one_params, params):
        torch.testing.assert_close(b, a, atol=TOL, rtol=TOL)
    for m_one, m_two in zip(one, metrics):
        assert m_one.keys() == m_two.keys()
        for key in m_one:
            assert m_two[key] == pytest.approx(m_one[key], rel=TOL, abs=TOL), key


def _image_steps(loss: str) -> tuple[list[torch.Tensor], list[dict], torch.Tensor]:
    """Two iterations (D step, G step) of a tiny DCGAN without batch norm: batch norm's statistics are per process
    (SyncBatchNorm runs on GPUs only), the one thing that cannot match one process on CPU. G's and D's parameters,
    the metrics and the run generator's state."""
    from seqgan.image.config import apply_image_overrides, image_config
    from seqgan.image.run import build_image_run

    config = apply_image_overrides(image_config("mnist", loss, net="dcgan"), [
        "device=cpu", "train.batch_size=15", "model.width=8", "model.latent_dim=8", "model.g_batch_norm=false",
        "model.d_batch_norm=false", "train.precision=fp32"])
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(20))
    pair = build_image_run(config, images).pair
    gen = torch.Generator().manual_seed(21)
    metrics = [{**pair.d_step(gen), **pair.g_step(gen)} for _ in range(2)]
    params = [p.detach().clone() for p in [*pair.generator.parameters(), *pair.discriminator.parameters()]]
    return params, metrics, gen.get_state()


@pytest.mark.parametrize("loss", ["ns", "wgan-gp", "dragan", "lsgan-qi", "wgan"])
def test_two_processes_image_step_equals_one_process(loss):
    """An image GAN iteration over 2 processes (B = 15: 7 + 8 rows) equals one process's with batch B: the real
    indices, latents and a penalty's draws come from the shared generator (each process draws all of them and
    scores its rows). Covers NS, WGAN-GP's and DRAGAN's penalties (DRAGAN's batch std is the whole batch's),
    LS-GAN's pairwise margin and WGAN's clipping."""
    one_params, one, one_gen = _image_steps(loss)
    for params, metrics, gen in run_ranks(_image_steps, loss):
        assert torch.equal(gen, one_gen)  # both processes drew exactly what one process drew
        _assert_same_step(one_params, one, params, metrics)


def _nll() -> dict:
    oracle = random_oracle(0, V, 8, 8, T)
    g = tiny_generator(vocab=V, max_len=T, seed=14)
    test = oracle.sample(25, torch.Generator().manual_seed(15))  # 25 rows: 12 + 13
    with sharded(distributed.ROWS):
        a = nll_oracle(oracle, g, 31, seed=16)
        b = nll_test(g, test, "t", eos_mask(test, EOS))
    return {"oracle": a.value, "oracle_rows": a.per_sample, "test": b.value, "test_rows": b.per_sample}


def test_two_processes_nll_evaluation_equals_one_process():
    """NLL-oracle and NLL-test scored half by each process and gathered: the per-sequence values in order, and
    the numbers one process computes."""
    one = _nll()
    for two in run_ranks(_nll):
        assert two["oracle"] == pytest.approx(one["oracle"], abs=1e-6)
        assert two["test"] == pytest.approx(one["test"], abs=1e-6)
        torch.testing.assert_close(two["oracle_rows"], one["oracle_rows"], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(two["test_rows"], one["test_rows"], atol=1e-6, rtol=1e-6)


def test_shards_cover_the_rows_once():
    """Every row goes to exactly one process, in order, whatever n and the number of processes."""
    for size in (1, 2, 3, 8):
        for n in (0, 1, 5, 64, 65):
            parts = [distributed.shard(n, distributed.World(r, size)) for r in range(size)]
            assert [i for s in parts for i in range(s.start, s.stop)] == list(range(n))
            assert max(s.stop - s.start for s in parts) - min(s.stop - s.start for s in parts) <= 1


# ------------------------------------------------------------------------------------------- whole runs

RUN = [*TINY, "--seed", "2", "--device", "cpu"]


def _wait_for(path: Path, text: str, procs: list) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if any(p.exitcode is not None for p in procs):
            pytest.fail(f"the job ended before {text!r} appeared in {path.name}")
        time.sleep(0.02)
    pytest.fail(f"no {text!r} in {path} in time")


def test_interrupted_two_process_run_resumes_as_if_uninterrupted(tmp_path):
    """A 2-process oracle-tiny run stopped by SIGINT (sent to rank 1 only: the processes agree to stop at the
    same point) and resumed with 2 processes writes the files of an uninterrupted 2-process run, byte for byte.
    Rank 0 alone prints the stop line; the run records its number of processes; resuming with another number
    works, with a note."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert finish(start_cli(["train", *RUN, "--run-dir", whole], tmp_path / "logs-whole")) == [0, 0]
    assert json.loads((whole / "config.json").read_text())["world_size"] == 2
    assert "(2 processes)" in (whole / "run.log").read_text()

    procs = start_cli(["train", *RUN, "--run-dir", cut], tmp_path / "logs-cut")
    _wait_for(cut / "metrics.jsonl", '"pretrain_g", "epoch": 1, "event": "train"', procs)
    os.kill(procs[1].pid, signal.SIGINT)
    assert finish(procs) == [130, 130]
    lines = [(tmp_path / "logs-cut" / f"rank{r}.err").read_text().strip().splitlines() for r in (0, 1)]
    assert lines[1] == [] and sum("stopped by SIGINT" in line for line in lines[0]) == 1, lines
    assert (cut / "metrics.jsonl").stat().st_size < (whole / "metrics.jsonl").stat().st_size  # stopped early
    other = tmp_path / "other"
    shutil.copytree(cut, other)

    assert finish(start_cli(["train", *RUN, "--run-dir", cut], tmp_path / "logs-resume")) == [0, 0]
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name

    # the same interrupted run resumed by one process (no torchrun): allowed, and said
    code = subprocess.run([sys.executable, "-c", "import cli, sys; sys.exit(cli.main(sys.argv[1:]))", "train", *RUN,
                           "--run-dir", str(other)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=WAIT_S,
                          env={**os.environ, **SUBPROCESS_ENV_OVERRIDES})
    assert code.returncode == 0, code.stderr
    assert "trained with 2 process(es) and continues with 1" in code.stderr
    assert "world_size" not in json.loads((other / "config.json").read_text())


# a small D and short D rounds for the whole-run text tests
SMALL_D = ["--set", "schedule.pretrain_d_rounds=1", "--set", "schedule.num_negatives=32",
           "--set", "discriminator.filter_sizes=2,3", "--set", "discriminator.num_filters=8,8",
           "--set", "discriminator.emb_dim=8"]


def _word_corpus(tmp_path: Path, seed: int, types: int, lines: int, lengths: tuple[int, int]) -> Path:
    """Random lines of `types` made-up words, `lengths` words each (inclusive), as words.txt."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(types)]
    corpus = tmp_path / "words.txt"
    corpus.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(*lengths))) + "\n"
                              for _ in range(lines)))
    return corpus


def test_two_process_text_run_with_early_stopping_matches_one_process(tmp_path, run_cli):
    """A text run (padding masks, NLL-valid, early stopping that sends G back to its best snapshot in every
    process) of the MLE method, whose G never meets dropout: 2 processes give one process's G records (to 1e-4:
    rounding grows over epochs), the same early stops, and after each stop NLL-valid is the best one again, so
    both processes restored the snapshot."""
    corpus = _word_corpus(tmp_path, seed=0, types=30, lines=120, lengths=(4, 8))
    args = ["train", "--corpus", corpus, "--experiment", "text-small", "--max-len", "9", "--seed", "3",
            "--device", "cpu", "--method", "mle", "--set", "schedule.early_stop_patience=2",
            "--set", "generator.emb_dim=32", "--set", "generator.hidden_dim=64", "--set", "generator.lr=0.03",
            "--set", "generator.batch_size=16", "--set", "schedule.pretrain_g_epochs=10",
            "--set", "schedule.adv_epochs=6", *SMALL_D]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli([*args, "--run-dir", one]).code == 0
    assert finish(start_cli([*args, "--run-dir", two], tmp_path / "logs")) == [0, 0]
    g_keys = ("g_mle_nll", "nll_valid", "nll_test", "epoch", "best_epoch")
    records = [[{k: r[k] for k in g_keys if k in r} | {"at": (r["phase"], r["event"])}
                for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] for run in (one, two)]
    assert [r["at"] for r in records[0]] == [r["at"] for r in records[1]]
    stops = [r for r in records[1] if r["at"][1] == "early_stop"]
    assert len(stops) == 2 and all(r["epoch"] > r["best_epoch"] for r in stops)  # both phases went back
    for a, b in zip(*records):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], abs=1e-4), (a, b)
    after = [r for r in records[1] if r["at"] == ("pretrain_d", "eval")][-1]
    assert after["nll_valid"] == stops[0]["nll_valid"]


def test_two_process_image_run_matches_one_process(tmp_path, tiny_mnist, run_cli):
    """`seqgan image-train` (WGAN-GP, a DCGAN without batch norm) with 2 processes: rank 0 alone writes the run,
    FID is computed by rank 0 while the other waits, and the records equal one process's (to 1e-4 relative: rounding
    grows over updates); the final FID and the checkpoint's world size are there."""
    args = ["image-train", "--dataset", "mnist", "--loss", "wgan-gp", "--device", "cpu", "--seed", "4",
            "--data-dir", tiny_mnist, "--set", "model.width=8", "--set", "model.latent_dim=8",
            "--set", "model.g_batch_norm=false", "--set", "model.d_batch_norm=false", "--set", "train.batch_size=15",
            "--set", "train.precision=fp32", "--set", "schedule.iters_per_epoch=2", "--set", "schedule.epochs=2",
            "--set", "schedule.eval_every=1", "--set", "eval.num_samples=64", "--set", "eval.final_samples=64",
            "--set", "eval.n_real=100", "--set", "eval.precision_recall=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli([*args, "--run-dir", one]).code == 0
    assert finish(start_cli([*args, "--run-dir", two], tmp_path / "logs")) == [0, 0]
    assert json.loads((two / "config.json").read_text())["world_size"] == 2
    records = [[json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (one, two)]
    assert len(records[0]) == len(records[1]) and any("fid" in r for r in records[1])
    for a, b in zip(*records):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=1e-4, abs=1e-4), (key, a, b)
            else:
                assert b[key] == value, key
    finals = [json.loads((run / "metrics.json").read_text()) for run in (one, two)]
    assert finals[1]["fid"] == pytest.approx(finals[0]["fid"], abs=1e-3)
    assert (tmp_path / "logs" / "rank1.err").read_text().strip() == ""


@pytest.mark.parametrize("command, start", [
    (["train", *RUN, "--method", "ss"], "seqgan train: error: adversarial.method=ss"),  # refused while building
    (["image-train", "--dataset", "mnist", "--loss", "cgan", "--device", "cpu"],  # refused while building
     "seqgan image-train: error: train.loss=cgan trains in one process only"),
])
def test_user_error_in_a_two_process_job_is_one_line(tmp_path, tiny_mnist, command, start):
    """A refusal under torchrun: every process exits 2, and the job prints the error once (rank 0)."""
    procs = start_cli([*command, "--data-dir", tiny_mnist, "--run-dir", tmp_path / "run"], tmp_path / "logs")
    assert finish(procs) == [2, 2]
    rank0 = (tmp_path / "logs" / "rank0.err").read_text().strip().splitlines()
    assert len(rank0) == 1 and rank0[0].startswith(start), rank0
    assert (tmp_path / "logs" / "rank1.err").read_text().strip() == ""
    assert not (tmp_path / "run" / "config.json").exists()


def test_image_study_under_torchrun_is_refused_before_it_trains(tmp_path, tiny_mnist):
    procs = start_cli(["image-study", "--dataset", "mnist", "--seeds", "1", "--losses", "ns", "--data-dir",
                       tiny_mnist, "--out", tmp_path / "study"], tmp_path / "logs")
    assert finish(procs) == [2, 2]
    rank0 = (tmp_path / "logs" / "rank0.err").read_text().strip().splitlines()
    assert len(rank0) == 1 and rank0[0].startswith("seqgan image-study: error: ") and "torchrun" in rank0[0], rank0
    assert not (tmp_path / "study").exists()


def test_a_two_process_text_study_trains_every_run_on_both_processes(tmp_path, run_cli):
    """`torchrun -m seqgan study`: the job is joined once, every run of the study trains data-parallel, every
    process scores the runs and rank 0 alone writes. MLE's G never meets dropout, so its rows equal a
    one-process study's (to 1e-4); SeqGAN's D has dropout, drawn per process, so its rows only exist."""
    corpus = _word_corpus(tmp_path, seed=1, types=20, lines=100, lengths=(3, 7))
    args = ["study", "--corpus", corpus, "--set", "data.seq_len=8", "--seeds", "1,2", "--methods", "mle,seqgan",
            "--bleu-samples", "40", "--temperatures", "0.8,1.2", "--set", "device=cpu",
            "--set", "generator.emb_dim=16", "--set", "generator.hidden_dim=16", "--set", "generator.batch_size=16",
            "--set", "schedule.pretrain_g_epochs=3", "--set", "schedule.adv_epochs=2",
            "--set", "adversarial.num_rollouts=2", "--set", "adversarial.g_batch_size=16", *SMALL_D]
    one = run_cli([*args, "--out", tmp_path / "one"])
    assert one.code == 0, one.err
    assert finish(start_cli([*args, "--out", tmp_path / "two"], tmp_path / "logs")) == [0, 0]
    assert "error" not in (tmp_path / "logs" / "rank1.err").read_text()
    summaries = [json.loads((tmp_path / name / "summary.json").read_text()) for name in ("one", "two")]
    assert summaries[1]["table"].keys() == summaries[0]["table"].keys()
    for seed in ("1", "2"):
        for row in ("random", "mle"):
            assert summaries[1]["table"][row]["per_seed"][seed] == pytest.approx(
                summaries[0]["table"][row]["per_seed"][seed], abs=1e-4), (seed, row)
        for method in ("pretrain", "mle", "seqgan"):
            config = json.loads((tmp_path / "two" / f"seed{seed}" / method / "config.json").read_text())
            assert config["world_size"] == 2, (seed, method)
    assert summaries[1]["bleu"]["per_seed"]["1"].keys() == summaries[0]["bleu"]["per_seed"]["1"].keys()
    assert (tmp_path / "two" / "table.md").read_text().startswith("| model |")


def test_a_two_process_study_with_scheduled_sampling_is_refused_before_it_trains(tmp_path):
    procs = start_cli(["study", "--experiment", "oracle-tiny", "--seeds", "1", "--methods", "mle,ss",
                       "--out", tmp_path / "study"], tmp_path / "logs")
    assert finish(procs) == [2, 2]
    rank0 = (tmp_path / "logs" / "rank0.err").read_text().strip().splitlines()
    assert len(rank0) == 1 and "scheduled sampling" in rank0[0], rank0
    assert not (tmp_path / "study").exists()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds torchrun's workers through /proc")
def test_killing_one_process_stops_the_torchrun_job_with_one_line(tmp_path):
    """`torchrun -m seqgan train` with 2 processes; SIGKILL one of them mid-run: the job ends within 30 s (no
    hang), and the surviving process says why in one line."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "seqgan", "train", "--experiment", "oracle-tiny", "--set", "schedule.adv_epochs=100000",
           "--device", "cpu", "--run-dir", str(run_dir)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env={**os.environ, **SUBPROCESS_ENV_OVERRIDES},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        metrics = run_dir / "metrics.jsonl"
        while not (metrics.exists() and '"adversarial"' in metrics.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "the job ended or stalled before training"
            time.sleep(0.1)
        workers = _children(proc.pid)
        assert len(workers) == 2
        os.kill(workers[1], signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(timeout=30)
        assert time.monotonic() - killed_at < 30
    finally:
        if proc.poll() is None:
            for pid in _children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
        err = proc.communicate()[1]
    assert proc.returncode != 0
    ours = [line for line in err.splitlines() if line.startswith("seqgan train: error: process")]
    assert len(ours) == 1 and "re-run the same torchrun command to resume" in ours[0], err[-3000:]


def test_single_process_takes_the_old_path(monkeypatch):
    """Without torchrun's variables (or with WORLD_SIZE=1) nothing joins a job and every helper is the identity."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.session("cpu") as w:
        assert w == distributed.SINGLE and distributed.is_main() and not distributed.is_distributed()
        x = torch.arange(4.0)
        assert distributed.sum_tensor(x) is x and distributed.sum_numbers([1.5]) == [1.5]
        assert distributed.ROWS.rows(10) is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.env_world() is None



def test_compile_flag_is_ignored_off_cuda_with_one_note(tiny_run, tmp_path, run_cli):
    """`--compile` on a CPU: one note line, and the run trains exactly as without the flag (same metrics.jsonl)."""
    from seqgan.core.runtime import request_compile

    try:
        result = run_cli(["train", *TINY, "--seed", "1", "--device", "cpu", "--compile", "--run-dir",
                          tmp_path / "run"])
    finally:
        request_compile(False)  # the flag is a setting of the process: off again for the tests that follow
    assert result.code == 0, result.err
    notes = [line for line in result.err.splitlines() if "--compile" in line]
    assert notes == ["note: --compile is ignored on cpu (torch.compile is used on CUDA only); training uncompiled"]
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == (tiny_run / "metrics.jsonl").read_bytes()
