"""Multi-process training under `torchrun`: process group set-up and gradient averaging.

Gradients are averaged explicitly after each backward instead of wrapping networks in
DistributedDataParallel: GAN steps run a network several times per step, freeze the discriminator
for the generator update and step several optimisers, all of which DDP's autograd hooks handle badly.
The result is what DDP computes (the mean gradient over processes) with one all-reduce per optimiser.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn


@dataclasses.dataclass(frozen=True)
class ProcessGroup:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_from_environment(device_type: str) -> ProcessGroup:
    """Join the process group `torchrun` describes in the environment (a no-op for one process)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return ProcessGroup()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def lost_peer(exc: BaseException) -> str | None:
    """What happened, when `exc` says that a collective failed because another process of the group went
    away (killed, crashed); None for any other error. Gloo raises a plain RuntimeError naming itself."""
    text = str(exc)
    if not isinstance(exc, getattr(dist, "DistError", ())) and not (
        isinstance(exc, RuntimeError) and "gloo" in text.lower()
    ):
        return None
    reason = re.sub(r"^\[[^\]]*\]\s*", "", text.strip().splitlines()[0] if text.strip() else "")
    return reason.split(". ")[0] or type(exc).__name__


def shutdown(group: ProcessGroup) -> None:
    if group.active and dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(params: Iterable[torch.Tensor], group: ProcessGroup) -> None:
    """Replace every gradient by its mean over all processes, in one flat all-reduce."""
    if not group.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= group.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_state(modules: Iterable[nn.Module], group: ProcessGroup) -> None:
    """Give every process rank 0's parameters and buffers."""
    if not group.active:
        return
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def barrier(group: ProcessGroup) -> None:
    if group.active:
        dist.barrier()
