"""The order of the training data: each epoch's batches are a pure function of (seed, epoch), split
across processes, so a resumed run sees the same batches; one DataLoader serves the whole run."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from i2i.train import distributed


def epoch_batches(
    seed: int, epoch: int, n: int, steps_per_epoch: int, batch_size: int, group: distributed.ProcessGroup
) -> list[list[int]]:
    """The dataset indices of this process's batches in `epoch` (n items, padded by repetition so that
    every process takes `steps_per_epoch` batches)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    per_rank = math.ceil(n / group.world_size)
    order = (order * math.ceil(per_rank * group.world_size / n + 1))[: per_rank * group.world_size]
    mine = order[group.rank :: group.world_size]
    return [mine[i * batch_size : (i + 1) * batch_size] for i in range(steps_per_epoch)]


class EpochLoader:
    """One DataLoader for the whole run, so worker processes start once (not once per epoch); `epoch`
    yields the batches of one epoch from a given batch on."""

    def __init__(
        self,
        dataset: Any,
        *,
        seed: int,
        batch_size: int,
        workers: int,
        pin_memory: bool,
        group: distributed.ProcessGroup,
    ) -> None:
        self.seed, self.batch_size, self.group = seed, batch_size, group
        self.batches = _EpochBatches()
        self.loader = torch.utils.data.DataLoader(
            _EpochIndexed(dataset),
            batch_sampler=self.batches,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=pin_memory,
            # its own generator: the loader must not draw from the global RNG that dropout uses
            generator=torch.Generator().manual_seed(seed),
        )

    def epoch(self, epoch: int, start: int, steps_per_epoch: int) -> Iterator[dict[str, Any]]:
        """The batches of `epoch` from batch `start` on."""
        n = len(self.loader.dataset)
        order = epoch_batches(self.seed, epoch, n, steps_per_epoch, self.batch_size, self.group)[start:]
        self.batches.items = [[(epoch, index) for index in batch] for batch in order]
        yield from self.loader


class _EpochBatches:
    """The batches of the current epoch as (epoch, index) pairs; the loop replaces `items` each epoch."""

    def __init__(self) -> None:
        self.items: list[list[tuple[int, int]]] = []

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class _EpochIndexed(torch.utils.data.Dataset):
    """Indexed by (epoch, index): the epoch reaches the dataset's random draws inside worker processes too."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]
