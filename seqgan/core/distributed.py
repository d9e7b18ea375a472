"""Data-parallel training across the processes `torchrun` starts: joining the job, this process's share of the
work, and the collectives that put the shares together.

One process (no torchrun variables, or WORLD_SIZE=1) takes none of this: every helper here is then the identity,
so a single-process run does exactly what it did before. Under torchrun each process reads RANK, WORLD_SIZE and
LOCAL_RANK, joins the job (nccl on CUDA, each process on the GPU of its LOCAL_RANK; gloo on CPU) and:

- draws every random number a single process would draw, from the same seeded generator, so all processes hold
  the same shuffles and samples and take their own slice of them (`shard`): W processes with a global batch B
  compute what one process with batch B computes, and the run's generator state is the same in every process;
- sums gradients explicitly (`reduce_gradients`) rather than through DistributedDataParallel: G is trained
  through `features` and `output_layer`, never `forward`, and D's L2 penalty is a separate call, so DDP's
  reducer (which hooks `forward`) would not see those graphs; one flat all-reduce per update is what it would
  do anyway, and the models keep their own state_dict keys;
- keeps its own stream for what is drawn per row and cannot be split (dropout): the global torch RNG is seeded
  from the seed and the rank (`rank_seed`), and each process's state is checkpointed (`rank_rng_states`).

A collective that fails (another process died, or did not answer within the process group's timeout) prints one
line and ends this process with exit code 1 (`JobStopped`); torchrun then stops the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch

from seqgan.base.errors import UserError

TIMEOUT_ENV = "SEQGAN_DIST_TIMEOUT"  # seconds a process waits for the others in one collective
DEFAULT_TIMEOUT_S = 300  # above the longest a process waits while rank 0 alone writes (a large checkpoint)


@dataclass(frozen=True)
class World:
    """This process's place in the job: rank (0 = the one that writes), size (processes), local_rank (its GPU)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def main(self) -> bool:
        """Whether this process writes the run's files and prints its lines."""
        return self.rank == 0


SINGLE = World()


class _State:
    world: World = SINGLE
    label = "seqgan"  # names this process's failure line ("seqgan train")
    stdout = None  # the real stdout of a process that is not rank 0 (silenced from its first session on)
    joined = False  # a process joins one job: torchrun starts it for one command
    depth = 0  # sessions open: a study's session holds the job while each of its runs opens its own inside it
    broken = False  # a collective failed: the group is not left cleanly (NCCL could wait for the lost process)


_STATE = _State()


class JobStopped(SystemExit):
    """Another process of the job is gone (or did not answer in time); this one printed why and exits 1.

    A SystemExit: nothing should catch and carry on from it, and its line is already on stderr (printed when the
    failure was seen, before torchrun's stop signal can end this process)."""

    def __init__(self) -> None:
        super().__init__(1)


def is_main() -> bool:
    """True in a single process and in rank 0: the process that writes files and prints."""
    return _STATE.world.rank == 0


def is_distributed() -> bool:
    """Whether several processes share the work."""
    return _STATE.world.size > 1


def env_world() -> World | None:
    """The job torchrun describes in this process's environment; None without one (or with one process)."""
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        size = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as err:
        raise UserError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them): {err}") from err
    if size <= 1:
        return None
    if not 0 <= rank < size or local_rank < 0:
        raise UserError(f"RANK {rank} is outside WORLD_SIZE {size} (or LOCAL_RANK {local_rank} < 0); start the "
                        "processes with torchrun")
    return World(rank, size, local_rank)


def timeout_s() -> float:
    """How long a collective waits for the other processes ($SEQGAN_DIST_TIMEOUT, default DEFAULT_TIMEOUT_S)."""
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError as err:
        raise UserError(f"${TIMEOUT_ENV} must be a number of seconds (got {text!r})") from err
    if not value > 0:
        raise UserError(f"${TIMEOUT_ENV} must be > 0 seconds (got {text!r})")
    return value


def _uses_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def refuse_torchrun(label: str) -> None:
    """Refuse, in one line and before anything is written, a command that does not split its work across the
    processes of a torchrun job (each process would repeat it)."""
    if env_world() is not None:
        raise UserError(f"`{label}` does not split its work across processes yet; run it without torchrun")


@contextlib.contextmanager
def session(device: str = "auto", label: str = "seqgan", splits: bool = True) -> Iterator[World]:
    """Join the torchrun job for the duration of a command (a process joins once: torchrun starts it for one run).

    Without torchrun variables it yields `SINGLE` and changes nothing. Otherwise it joins (nccl when `device`
    is CUDA, else gloo; $SEQGAN_DIST_TIMEOUT bounds every wait) and leaves the job on exit. Outside rank 0,
    stdout is silenced for the rest of the process (a torchrun worker runs one command), so what a command prints
    at its end (the final metrics) comes once; `cli` prints a user error once per job too.

    Args:
        device: the run's device setting (auto, cpu, cuda, ...), which picks the backend.
        label: the command, at the start of a failure line ("seqgan train").
        splits: the command splits its work across processes; if not, a torchrun job is refused (one line).
    """
    import torch.distributed as dist

    joining = env_world()
    if joining is None:
        yield SINGLE
        return
    if not splits:  # refused before joining: no process waits for another
        refuse_torchrun(label)
    if _STATE.depth:  # inside a command's session (a study's runs): the job is already joined, and stays so
        _STATE.depth += 1
        try:
            yield _STATE.world
        finally:
            _STATE.depth -= 1
        return
    if _STATE.joined:  # a job's rendezvous is made for one session: a second one would wait for nobody
        raise UserError("under torchrun a process joins its job once; run each command with its own torchrun")
    cuda = _uses_cuda(device)
    backend = "nccl" if cuda else "gloo"
    wait = timeout_s()
    if cuda:
        if joining.local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {joining.local_rank} has no GPU ({torch.cuda.device_count()} here); start "
                            "at most one process per GPU (--nproc_per_node)")
        torch.cuda.set_device(joining.local_rank)
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=wait))
    except (RuntimeError, ValueError) as err:
        raise UserError(f"process {joining.rank} could not join the torchrun job ({_first_line(err)}); check "
                        "MASTER_ADDR/MASTER_PORT or --rdzv-endpoint") from err
    _STATE.world = World(joining.rank, joining.size, joining.local_rank, backend)
    _STATE.label, _STATE.joined, _STATE.depth = label, True, 1
    if not _STATE.world.main and _STATE.stdout is None:
        _STATE.stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 -- kept until the process ends
    try:
        yield _STATE.world
    finally:
        _STATE.world, _STATE.depth = SINGLE, 0
        if not _STATE.broken:
            with contextlib.suppress(Exception):
                dist.destroy_process_group()


def _first_line(err: BaseException) -> str:
    """The gist of a backend's error: its first sentence, without the source location gloo puts first."""
    lines = str(err).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else type(err).__name__
    return text.split(". ")[0][:160]


@contextlib.contextmanager
def _collective(what: str) -> Iterator[None]:
    """Run a collective; if it fails, print this process's one line and stop it (`JobStopped`)."""
    try:
        yield
    except RuntimeError as err:  # torch.distributed's errors (DistError and its kinds) are RuntimeErrors
        w = _STATE.world
        reason = (f"another process did not answer within {timeout_s():g} s (${TIMEOUT_ENV})"
                  if "timed out" in str(err).lower() or "timeout" in str(err).lower()
                  else "another process of the job stopped or crashed")
        line = (f"{_STATE.label}: error: process {w.rank} of {w.size} stopped while {what}: {reason} "
                f"({_first_line(err)}); re-run the same torchrun command to resume from the last checkpoint\n")
        with contextlib.suppress(OSError, ValueError):
            os.write(2, line.encode())  # at once: torchrun's stop signal may follow within a second
        _STATE.broken = True
        raise JobStopped() from err


def _comm_device(like: torch.Tensor | None = None) -> torch.device:
    """Where tensors must be for the backend: the process's GPU under nccl, else the CPU."""
    if _STATE.world.backend == "nccl":
        return torch.device("cuda", _STATE.world.local_rank)
    return torch.device("cpu") if like is None else like.device


# ---------------------------------------------------------------------------------------------- sharing work


def shard(n: int, w: World | None = None) -> slice:
    """This process's contiguous part of n rows: rank r takes [n*r//W, n*(r+1)//W) (sizes differ by at most one;
    a process may get none when n < W). The whole range in a single process."""
    w = w or _STATE.world
    return slice(n * w.rank // w.size, n * (w.rank + 1) // w.size)


def rank_seed(seed: int, rank: int) -> int:
    """A seed for process `rank`'s own random stream, derived from the run's seed (distinct for every pair)."""
    digest = hashlib.sha256(f"seqgan-rank:{seed}:{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2 ** 63)


def rank_generator(seed: int, rank: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator for process `rank`'s own draws, seeded from (seed, rank)."""
    return torch.Generator(device=torch.device(device)).manual_seed(rank_seed(seed, rank))


def seed_rank_stream(seed: int) -> None:
    """Under torchrun, seed this process's global torch RNG (dropout masks, drawn per row of its own share) from
    (seed, rank), so processes do not drop the same units; nothing in a single process."""
    if is_distributed():
        torch.manual_seed(rank_seed(seed, _STATE.world.rank))


# ---------------------------------------------------------------------------------------------- collectives


def barrier(what: str = "waiting for the other processes") -> None:
    """Wait until every process gets here (e.g. rank 0 has written a file the others read next)."""
    if not is_distributed():
        return
    import torch.distributed as dist

    with _collective(what):
        if _STATE.world.backend == "nccl":
            dist.barrier(device_ids=[_STATE.world.local_rank])
        else:
            dist.barrier()


def sum_tensor(tensor: torch.Tensor, what: str = "adding up results") -> torch.Tensor:
    """The element-wise sum of `tensor` over the processes (a new tensor; `tensor` itself in one process)."""
    if not is_distributed():
        return tensor
    import torch.distributed as dist

    total = tensor.detach().to(_comm_device(tensor), copy=True)
    with _collective(what):
        dist.all_reduce(total)
    return total.to(tensor.device)


def sum_numbers(values: Sequence[float], what: str = "adding up metrics") -> list[float]:
    """Each number summed over the processes (in float64); the numbers themselves in one process."""
    if not is_distributed():
        return [float(v) for v in values]
    return sum_tensor(torch.tensor([float(v) for v in values], dtype=torch.float64,
                                   device=_comm_device()), what).tolist()


def max_int(value: int, what: str = "agreeing on a stop") -> int:
    """The largest of the processes' values (one process: the value)."""
    if not is_distributed():
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.int64, device=_comm_device())
    with _collective(what):
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def main_decides(flag: bool, what: str = "agreeing on a checkpoint") -> bool:
    """Rank 0's `flag`, in every process (for decisions made on a clock, which differs between processes)."""
    if not is_distributed():
        return flag
    import torch.distributed as dist

    t = torch.tensor([int(flag)], dtype=torch.int64, device=_comm_device())
    with _collective(what):
        dist.broadcast(t, src=0)
    return bool(t.item())


def gather_objects(obj: object, what: str = "collecting the processes' random states") -> list:
    """Every process's `obj` (picklable), in rank order, in every process; [obj] in one process."""
    if not is_distributed():
        return [obj]
    import torch.distributed as dist

    out: list = [None] * _STATE.world.size
    with _collective(what):
        dist.all_gather_object(out, obj)
    return out


def gather_rows(local: torch.Tensor, n: int, what: str = "gathering evaluation results") -> torch.Tensor:
    """The n rows that the processes' `shard(n)` parts make up, in order, from this process's part `local`."""
    if not is_distributed():
        return local
    import torch.distributed as dist

    w = _STATE.world
    sizes = [shard(n, World(r, w.size)).stop - shard(n, World(r, w.size)).start for r in range(w.size)]
    width = max(sizes)
    padded = local.new_zeros((width, *local.shape[1:]), device=_comm_device(local))
    padded[:local.shape[0]] = local.to(padded.device)
    parts = [torch.empty_like(padded) for _ in range(w.size)]
    with _collective(what):
        dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)]).to(local.device)


def reduce_gradients(params: Iterable[torch.nn.Parameter], extras: Sequence[float] = (),
                     what: str = "adding up gradients") -> list[float]:
    """Sum the gradients of `params` over the processes in place (one flat all-reduce), with a few numbers.

    A parameter that has a gradient in no process keeps None (the optimizer skips it, as in one process); one that
    has a gradient in some process gets the sum (zeros standing in where it had none). In one process nothing
    changes and `extras` come back as they are.

    Args:
        params: a model's parameters.
        extras: numbers summed along (loss sums, token counts), returned summed.
        what: what the processes were doing, for the failure line.
    """
    if not is_distributed():
        return [float(v) for v in extras]
    import torch.distributed as dist

    params = [p for p in params if p.requires_grad]
    device = _comm_device(params[0]) if params else _comm_device()
    pieces = [(p.grad.detach().reshape(-1).to(device, torch.float32) if p.grad is not None
               else torch.zeros(p.numel(), dtype=torch.float32, device=device)) for p in params]
    flags = torch.tensor([float(p.grad is not None) for p in params] + [float(v) for v in extras],
                         dtype=torch.float32, device=device)
    flat = torch.cat([*pieces, flags])
    with _collective(what):
        dist.all_reduce(flat)
    start = 0
    for p in params:
        piece = flat[start:start + p.numel()]
        start += p.numel()
        p.grad = piece.view_as(p).to(p.dtype).clone()
    had = flat[start:start + len(params)]
    for p, any_grad in zip(params, had.tolist()):
        if any_grad == 0:
            p.grad = None
    return flat[start + len(params):].tolist()


def scale_gradients(params: Iterable[torch.nn.Parameter], factor: float) -> None:
    """Multiply every existing gradient by `factor` (sums over the processes into means)."""
    for p in params:
        if p.grad is not None:
            p.grad.mul_(factor)


# ---------------------------------------------------------------------------------------------- run state


def rank_rng_states(capture: object) -> list | None:
    """Every process's own random state (`capture`, e.g. `runtime.capture_rng(gen)`), gathered for rank 0's
    checkpoint; None in one process (its state is the checkpoint's "rng")."""
    if not is_distributed():
        return None
    return gather_objects(capture)


def own_rng_state(states: list | None) -> object | None:
    """This process's entry of a checkpoint's `rank_rng_states`, or None when the checkpoint has none for it (it
    was written by fewer processes, or by one)."""
    if not is_distributed() or not states or _STATE.world.rank >= len(states):
        return None
    return states[_STATE.world.rank]


def processes_note(state: dict | None) -> list[str]:
    """The note a resume from checkpoint `state` prints when the run trained with another number of processes than
    this job's (none if the same, or for a new run: None).

    Resuming with another number works: the global batches, shuffles and samples come from the shared generator
    whatever the number, so only the per-process dropout draws and float rounding differ from an uninterrupted
    run."""
    now = _STATE.world.size
    trained_by = now if state is None else state.get("world_size", 1)  # absent: one process
    if trained_by == now:
        return []
    return [f"note: this run trained with {trained_by} process(es) and continues with {now}; its batches and "
            "random draws stay the same, its dropout draws and float rounding do not"]


def finish_files(finish: Callable[[Path], dict], run_dir: Path) -> dict:
    """`finish(folder)` (a run's final evaluation and files) in every process, as its evaluation is shared work;
    rank 0 writes into `run_dir`, the others into a scratch folder that is then deleted."""
    if is_main():
        return finish(run_dir)
    with tempfile.TemporaryDirectory(prefix="seqgan-rank-") as scratch:
        return finish(Path(scratch))


def local_device(device: torch.device) -> torch.device:
    """The device this process uses for `device`: under torchrun, a CUDA device is the GPU of LOCAL_RANK (an
    explicit index is refused: every process would use that one GPU)."""
    w = _STATE.world
    if w.size <= 1 or device.type != "cuda":
        return device
    if device.index is not None:  # refused in every process alike, so that rank 0 says it
        raise UserError(f"--device {device} under torchrun: each process uses the GPU of its LOCAL_RANK; use "
                        "--device cuda (or auto), and CUDA_VISIBLE_DEVICES to choose the GPUs")
    return torch.device("cuda", w.local_rank)


class RowShard:
    """`eval.nll`'s row sharding: score this process's rows and gather everyone's (the identity in one process)."""

    def rows(self, n: int) -> slice | None:
        """This process's rows of n (None in a single process: all of them, unsplit)."""
        return shard(n) if is_distributed() else None

    def gather(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """All n per-row values, in order, from this process's."""
        return gather_rows(local, n)


ROWS = RowShard()
