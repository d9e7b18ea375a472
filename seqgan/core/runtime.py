"""Seeds, devices and random-number-generator state: the one place randomness and devices come from."""

from __future__ import annotations

import ctypes
import ctypes.util
import random
import sys

import torch


def seed_everything(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Seed Python and torch globally and return an explicit generator for samplers and shuffles.

    Args:
        seed: the run's seed.
        device: where the returned generator lives (sampling draws on that device).
    """
    random.seed(seed)
    torch.manual_seed(seed)
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(seed)
    return gen


def pick_device(name: str = "auto") -> torch.device:
    """Resolve "auto" (CUDA if present, else CPU), "cpu", "cuda" or "cuda:N" to a device (under torchrun, CUDA is
    the GPU of the process's LOCAL_RANK: `seqgan.core.distributed.local_device`)."""
    from seqgan.base.errors import UserError
    from seqgan.core.distributed import local_device

    if name == "auto":
        return local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return local_device(device)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX), per /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bf16" where bfloat16 matrix products are fast (such CPUs, CUDA with bf16), else "fp32"."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"


def capture_rng(gen: torch.Generator) -> dict:
    """Everything needed to continue a run's random stream exactly: global and run generators."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state(), "gen": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, gen: torch.Generator) -> None:
    """Inverse of `capture_rng`."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    gen.set_state(state["gen"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def keep_freed_memory() -> None:
    """Stop glibc from returning big freed buffers to the OS, so the next batch does not page-fault them in.

    Sampling and scoring allocate many (rows x 5,000) float buffers; with glibc's defaults each one is
    mmap'd and unmapped, and faulting the pages in again costs more than the arithmetic on them.
    """
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        libc.mallopt(m_mmap_max, 0)  # never serve a malloc with its own mmap
        libc.mallopt(m_trim_threshold, 1 << 30)  # keep up to 1 GiB of freed heap for reuse
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        pass


class _CompileRequest:
    on = False  # `--compile` of train and image-train: a setting of this process, not of the run (resumes ignore it)


def request_compile(on: bool) -> None:
    """Ask for the training nets to be compiled (`compile_nets`); the commands' `--compile` sets it."""
    _CompileRequest.on = on


def compile_nets(nets: list[torch.nn.Module | None], device: torch.device) -> None:
    """When `--compile` asked for it, torch.compile each net's forward in place (`nn.Module.compile`: its
    state_dict keys, so checkpoints, stay the same). On CUDA only: elsewhere the flag is ignored with a one-line
    note (printed by rank 0 under torchrun): CPU compilation needs a C++ toolchain and takes minutes, more than it
    saves on the CPU presets.

    Args:
        nets: the run's nets (None entries are skipped).
        device: where they run.
    """
    from seqgan.core.distributed import is_main

    if not _CompileRequest.on:
        return
    if device.type != "cuda":
        if is_main():
            print(f"note: --compile is ignored on {device.type} (torch.compile is used on CUDA only); training "
                  "uncompiled", file=sys.stderr)
        return
    for net in nets:
        if net is not None:
            net.compile()
