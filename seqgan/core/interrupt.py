"""Stopping a training run cleanly: SIGINT/SIGTERM only mark a stop, which the loop honours at its next step
boundary, or inside a step at a `pause_point` the step offers between its batches."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

import torch

StepFn = Callable[[torch.Generator], dict]


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training; `str(err)` says what was saved, `exit_code` is 128 + the signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class StopSignals:
    """While active, SIGINT and SIGTERM only set `signum`; the loop saves at its next step boundary and stops.

    A second signal before that save raises TrainingInterrupted at once (checkpoints are written atomically,
    so the previous one stays whole). The previous handlers come back on exit. A signal the process was
    told to ignore (a background job of a script ignores SIGINT) stays ignored; outside the main thread
    Python cannot install handlers, and signals keep their usual effect.

    The first signal is acknowledged on stderr at once with `notice()` (when the checkpoint will be saved),
    as the save can be a whole step away.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict = {}
        self.notice: Callable[[], str] = lambda: "saving a checkpoint at the next step boundary"
        # under torchrun the processes must stop at the same boundary: `agree` turns this process's pending
        # signal (0: none) into the job's (the largest of all processes'); `quiet` keeps all but one silent
        self.agree: Callable[[int], int] = lambda signum: signum
        self.quiet = False

    def pending(self) -> int | None:
        """The signal to stop for at this boundary, or None; every process of a torchrun job gets the same
        answer (and so must call this at the same points). A signal that lands while the processes agree counts
        at the next boundary: the answer is the agreed value, never this process's later one."""
        agreed = self.agree(self.signum or 0)
        if agreed:
            self.signum = agreed  # another process may have been signalled: this one stops with it
        return agreed or None

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise TrainingInterrupted(f"stopped by a second {signal.Signals(signum).name} without saving; re-running "
                                      "the same command resumes from the last checkpoint written before "
                                      "(checkpoints/last.pt), or starts over if there is none", signum)
        self.signum = signum
        if self.quiet:
            return
        try:
            text = f"{signal.Signals(signum).name} received: {self.notice()} (a second one stops without saving)"
            # os.write, not print: the handler may run while the main code is inside a print to stderr, and
            # Python's buffered streams refuse reentrant writes; on a terminal, off the progress bar's line
            os.write(sys.stderr.fileno(), (("\n" if sys.stderr.isatty() else "") + text + "\n").encode())
        except (OSError, ValueError, AttributeError):  # no usable stderr (closed, or a StringIO): stay silent
            pass

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                previous = signal.getsignal(sig)
                if previous == signal.SIG_IGN:
                    continue
                signal.signal(sig, self._handle)
                # None: a handler installed outside Python; the default is the closest we can put back
                self.previous[sig] = signal.SIG_DFL if previous is None else previous
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}


class StepPaused(Exception):
    """Raised by `pause_point` inside a step when a stop signal is pending; `state` is the step's position
    inside itself, which the loop checkpoints and `resumed_step_state` hands back after a resume; `done` is
    the fraction of the step done (for the stop message)."""

    def __init__(self, state: dict, done: float = 0.0) -> None:
        super().__init__("step paused by a stop signal")
        self.state = state
        self.done = done


class StepContext:
    """What a step function running inside `train_adversarial` can reach of the loop (one loop runs at a time
    in a process; outside a loop every field is empty and `pause_point` does nothing).

    Attributes:
        signals: the loop's stop signals.
        resume: the position a paused call of the running step saved, until that step takes it.
        progress: called with the fraction of the running step done, for progress lines.
        step: the running step function; pausable: the step functions that called `pause_point`.
    """

    def __init__(self) -> None:
        self.signals: StopSignals | None = None
        self.resume: dict | None = None
        self.progress: Callable[[float], None] | None = None
        self.step: StepFn | None = None
        self.pausable: set = set()


STEP_CONTEXT = StepContext()


def resumed_step_state() -> dict | None:
    """For a step function as it starts: the position inside itself that a paused call saved (the `state` of
    `pause_point`), given once, to the first call after the resume; None when the step starts afresh."""
    state, STEP_CONTEXT.resume = STEP_CONTEXT.resume, None
    return state


def pause_point(state: dict, done: float) -> None:
    """For a long step function, between two of its batches: if SIGINT/SIGTERM arrived, stop the step here.

    Raises StepPaused with `state`, which must hold everything the step needs to continue exactly (its
    shuffled order, next batch, running totals: plain data and tensors); models, optimizers and random
    generators are checkpointed by the loop as they are at this point. Nothing the step did before this call
    may be repeated on resume.

    Args:
        state: the step's position after the batch just done.
        done: fraction of the step done so far, shown in progress lines.
    """
    ctx = STEP_CONTEXT
    if ctx.step is not None:
        ctx.pausable.add(ctx.step)
    if ctx.signals is not None and ctx.signals.pending() is not None:
        raise StepPaused(state, done)
    if ctx.progress is not None:
        ctx.progress(done)
