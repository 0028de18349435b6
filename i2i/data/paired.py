"""The paired (pix2pix) dataset: the upstream aligned pipeline, randomness fixed by (seed, epoch, index)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from i2i.data.layouts import find_paired, split_aligned
from i2i.data.transforms import check_network_size, check_preprocess, get_params, get_transform
from i2i.errors import I2IError, UsageError, unknown_name

DIRECTIONS = ("AtoB", "BtoA")


def open_rgb(path: Path) -> Image.Image:
    """Open an image as RGB, turned upright by its EXIF orientation (an A|B file is split as displayed);
    I2IError naming an unreadable file."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I"):  # 16-bit grey: Pillow's convert would clip it, not scale it
                levels = np.asarray(image, dtype=np.float64) / 257.0
                image = Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8), "L")
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise I2IError(f"cannot read image {path}: {err}") from err


class PairedDataset(Dataset):
    """Paired images (aligned A|B files or A/ + B/ folders) as `{"A", "B", "path"}` samples in [-1, 1].

    `A` is always the network input: with `direction="BtoA"` the halves swap, and A/B become grayscale when
    `input_nc`/`output_nc` is 1. A and B share one crop and flip. The random draws of sample `i` depend only
    on (seed, epoch, i), so results do not depend on access order, DataLoader workers or resuming.
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
        seed: int = 0,
        max_dataset_size: int | None = None,
        network: tuple[int, int] | None = None,
    ) -> None:
        check_preprocess(preprocess)
        if direction not in DIRECTIONS:
            raise unknown_name("direction", direction, DIRECTIONS)
        if load_size < crop_size:
            raise UsageError(f"load_size ({load_size}) must be >= crop_size ({crop_size})")
        found = find_paired(Path(root), phase)
        self.layout = found.layout
        self.items: list[Path] | list[tuple[Path, Path]] = (found.files or found.pairs)[:max_dataset_size]
        self.preprocess, self.load_size, self.crop_size = preprocess, load_size, crop_size
        self.no_flip, self.direction, self.input_nc, self.output_nc = no_flip, direction, input_nc, output_nc
        self.seed = seed
        self.epoch = 0
        self.network = network  # (size multiple, least side) the generator takes; None: not checked

    def set_epoch(self, epoch: int) -> None:
        """Select the random crops and flips of `epoch` (call it before each epoch, as with samplers)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        a, b, a_path, b_path = self._load(index)
        if self.direction == "BtoA":
            a, b, a_path, b_path = b, a, b_path, a_path
        # A str seed hashes the same in every process (no PYTHONHASHSEED dependence).
        rng = random.Random(f"{self.seed}:{self.epoch}:{index}")
        params = get_params(self.preprocess, self.load_size, self.crop_size, a.size, rng)
        tensors = [
            get_transform(
                self.preprocess,
                self.load_size,
                self.crop_size,
                params=params,
                grayscale=nc == 1,
                no_flip=self.no_flip,
            )(image)
            for image, nc in ((a, self.input_nc), (b, self.output_nc))
        ]
        if tensors[0].shape[1:] != tensors[1].shape[1:]:
            raise I2IError(
                f"A and B differ in size after preprocessing ({a_path}: {a.size[0]}x{a.size[1]}, {b_path}: "
                f"{b.size[0]}x{b.size[1]}); use images of one size or --set preprocess=resize_and_crop"
            )
        check_network_size(tensors[0], a_path, self.network, self.preprocess)
        return {"A": tensors[0], "B": tensors[1], "path": str(a_path)}

    def _load(self, index: int) -> tuple[Image.Image, Image.Image, Path, Path]:
        item = self.items[index]
        if isinstance(item, tuple):
            return open_rgb(item[0]), open_rgb(item[1]), item[0], item[1]
        return *split_aligned(open_rgb(item), item), item, item
