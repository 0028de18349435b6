"""What the training datasets share: random draws that depend only on (seed, epoch, index), so results do
not depend on access order, DataLoader workers or resuming, and the options of the reference's
pix2pix/CycleGAN preprocessing, checked once for the paired and the unaligned dataset."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from i2i.data.transforms import check_preprocess, get_transform
from i2i.errors import UsageError, unknown_name

DIRECTIONS = ("AtoB", "BtoA")


class SeededDataset(Dataset):
    """A dataset whose sample `i` draws from `rng(i)`, a generator seeded by (seed, epoch, i)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of `epoch` (call it before each epoch, as with samplers)."""
        self.epoch = epoch

    def rng(self, index: int, stream: str | None = None) -> random.Random:
        """The generator of sample `index` in this epoch; a `stream` name gives an independent one."""
        # A str seed hashes the same in every process (no PYTHONHASHSEED dependence).
        key = f"{self.seed}:{self.epoch}:{index}"
        return random.Random(key if stream is None else f"{key}:{stream}")


class PipelineDataset(SeededDataset, ABC):
    """The reference's aligned and unaligned datasets: `preprocess` with its sizes, flips, the direction and
    the channels of A (the network input) and B, checked once; `network` is the (size multiple, least side)
    the generator takes, None when not checked. A subclass finds its files in `find`."""

    def __init__(
        self,
        root: str | Path,
        *,
        phase: str = "train",
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        no_flip: bool = False,
        direction: str = "AtoB",
        input_nc: int = 3,
        output_nc: int = 3,
        seed: int = 0,
        max_dataset_size: int | None = None,
        network: tuple[int, int] | None = None,
    ) -> None:
        check_preprocess(preprocess)
        if direction not in DIRECTIONS:
            raise unknown_name("direction", direction, DIRECTIONS)
        if load_size < crop_size:
            raise UsageError(f"load_size ({load_size}) must be >= crop_size ({crop_size})")
        super().__init__(seed)
        self.preprocess, self.load_size, self.crop_size = preprocess, load_size, crop_size
        self.no_flip, self.direction, self.input_nc, self.output_nc = no_flip, direction, input_nc, output_nc
        self.network = network
        self.find(Path(root), phase, max_dataset_size)

    @abstractmethod
    def find(self, root: Path, phase: str, max_dataset_size: int | None) -> None:
        """Find the `phase` files under `root` (at most `max_dataset_size` per list)."""

    def transform(
        self,
        image: Image.Image,
        nc: int,
        *,
        params: dict[str, Any] | None = None,
        rng: random.Random | None = None,
    ) -> torch.Tensor:
        """`image` preprocessed as upstream, grey when `nc` is 1; the crop and flip are `params` (shared
        by A and B) or drawn from `rng`."""
        transform = get_transform(
            self.preprocess,
            self.load_size,
            self.crop_size,
            params=params,
            grayscale=nc == 1,
            no_flip=self.no_flip,
            rng=rng,
        )
        return transform(image)
