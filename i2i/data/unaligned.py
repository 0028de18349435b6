"""The unaligned (CycleGAN) dataset: the upstream unpaired pipeline, randomness fixed by (seed, epoch, index)."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from torch.utils.data import Dataset

from i2i.data.layouts import find_unaligned
from i2i.data.paired import DIRECTIONS, open_rgb
from i2i.data.transforms import check_network_size, check_preprocess, get_transform
from i2i.errors import I2IError, UsageError, unknown_name


class UnalignedDataset(Dataset):
    """Images of `ROOT/<phase>A` and `ROOT/<phase>B` as `{"A", "B", "A_path", "B_path"}` samples in [-1, 1].

    `A` is always the network input: with `direction="BtoA"` the folders swap roles, so `A` comes from
    `<phase>B`. `A` is grayscale when `input_nc` is 1, `B` when `output_nc` is 1 (the reference's channel swap
    for BtoA, applied after the folder swap). Sample `i` takes `A` image `i % |A|` and, as upstream, `B` image
    `i % |B|` with `serial_batches`, else a random one; the length is max(|A|, |B|). A and B get independent
    random crops and flips. All random draws of sample `i` depend only on (seed, epoch, i), so results do not
    depend on access order, DataLoader workers or resuming.
    """

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
        serial_batches: bool = False,
        seed: int = 0,
        max_dataset_size: int | None = None,
        network: tuple[int, int] | None = None,
    ) -> None:
        check_preprocess(preprocess)
        if direction not in DIRECTIONS:
            raise unknown_name("direction", direction, DIRECTIONS)
        if load_size < crop_size:
            raise UsageError(f"load_size ({load_size}) must be >= crop_size ({crop_size})")
        files_a, files_b = find_unaligned(Path(root), phase)
        if direction == "BtoA":
            files_a, files_b = files_b, files_a
        self.files_A, self.files_B = files_a[:max_dataset_size], files_b[:max_dataset_size]
        self.preprocess, self.load_size, self.crop_size = preprocess, load_size, crop_size
        self.no_flip, self.direction, self.input_nc, self.output_nc = no_flip, direction, input_nc, output_nc
        self.serial_batches = serial_batches
        self.seed = seed
        self.epoch = 0
        self.network = network  # (size multiple, least side) the generator takes; None: not checked

    def set_epoch(self, epoch: int) -> None:
        """Select the B images, crops and flips of `epoch` (call it before each epoch, as with samplers)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return max(len(self.files_A), len(self.files_B))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        a_path = self.files_A[index % len(self.files_A)]
        if self.serial_batches:
            b_path = self.files_B[index % len(self.files_B)]
        else:
            b_path = self.files_B[self._rng(index, "pick").randrange(len(self.files_B))]
        return {
            "A": self._load(a_path, self.input_nc, self._rng(index, "A")),
            "B": self._load(b_path, self.output_nc, self._rng(index, "B")),
            "A_path": str(a_path),
            "B_path": str(b_path),
        }

    def _rng(self, index: int, stream: str) -> random.Random:
        # One generator per stream, so e.g. serial_batches does not change the crops; a str seed hashes the
        # same in every process (no PYTHONHASHSEED dependence).
        return random.Random(f"{self.seed}:{self.epoch}:{index}:{stream}")

    def _load(self, path: Path, nc: int, rng: random.Random) -> torch.Tensor:
        transform = get_transform(
            self.preprocess, self.load_size, self.crop_size, grayscale=nc == 1, no_flip=self.no_flip, rng=rng
        )
        image = open_rgb(path)
        try:
            tensor = transform(image)
        except I2IError as err:  # e.g. smaller than crop_size: name the file
            raise I2IError(f"{path}: {err}") from err
        check_network_size(tensor, path, self.network, self.preprocess)
        return tensor
