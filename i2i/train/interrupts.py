"""Ctrl-C during training: the first one asks the run to stop after the step in progress, with a checkpoint
of that step (so `--resume` continues exactly); a second one stops at once, as Python does by default.

Under `torchrun` every process gets the signal, perhaps at different steps: the processes agree on
stopping only at `--log-every` steps (one tiny all-reduce there, none in between), so all of them stop
after the same step and none waits on the others in a collective.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import torch
import torch.distributed as dist

from i2i.train.distributed import ProcessGroup


class StopRequest:
    """A context manager holding the SIGINT handler of a run; `due(step)` says whether to stop after
    `step` (always False where signals cannot be caught: not the main thread)."""

    def __init__(self, group: ProcessGroup, every: int) -> None:
        self.group = group
        self.every = max(1, every)
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._previous is not None:  # a second Ctrl-C: the default behaviour (KeyboardInterrupt)
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def due(self, step: int) -> bool:
        """Whether every process stops after `step`."""
        if not self.group.active:
            return self.requested
        if step % self.every:
            return False
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        flag = torch.tensor([1.0 if self.requested else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
