"""The multi-domain (StarGAN v2) training dataset: one sub-folder per domain, class-balanced sampling.

Upstream draws source images and reference pairs through `WeightedRandomSampler`s with weights
1 / class_count, so every domain is equally likely whatever its size. The i2i loop shuffles indices itself,
so the balance lives here: sample `i` picks its domains and images with a generator seeded by
(seed, epoch, i), which gives the same distribution and makes every draw independent of access order,
DataLoader workers and resuming.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode

from i2i.data.layouts import find_domains
from i2i.data.paired import open_rgb

CROP_SCALE = (0.8, 1.0)
CROP_RATIO = (0.9, 1.1)


def random_resized_crop_box(
    width: int,
    height: int,
    rng: random.Random,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of torchvision's `RandomResizedCrop`: up to ten tries at a random area
    fraction and log-uniform aspect ratio, then the largest central crop within `ratio`."""
    area = width * height
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_low, log_high))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_transform(
    image: Image.Image, img_size: int, randcrop_prob: float, rng: random.Random
) -> torch.Tensor:
    """Upstream's training pipeline: with probability `randcrop_prob` a RandomResizedCrop (scale 0.8-1,
    ratio 0.9-1.1) to img_size, a resize to img_size x img_size, a horizontal flip with probability 0.5, then
    [-1, 1]. Draws come from `rng` in upstream's order."""
    bilinear = InterpolationMode.BILINEAR
    size = [img_size, img_size]
    if rng.random() < randcrop_prob:
        top, left, h, w = random_resized_crop_box(*image.size, rng)
        image = TF.resized_crop(image, top, left, h, w, size, interpolation=bilinear, antialias=True)
    image = TF.resize(image, size, interpolation=bilinear, antialias=True)
    if rng.random() < 0.5:
        image = TF.hflip(image)
    return TF.normalize(TF.to_tensor(image), [0.5] * 3, [0.5] * 3)


class DomainDataset(Dataset):
    """Images of `ROOT/<domain>/` (or `ROOT/<phase>/<domain>/`) as StarGAN v2 training samples:
    `{"x", "y", "x_ref", "x_ref2", "y_ref", "path", "ref_path"}`.

    `x` is a source image of domain `y`; `x_ref` and `x_ref2` are two images of the target domain `y_ref`
    (the reference branch's styles; the latent branch translates into `y_ref` too). Both domains are drawn
    uniformly (upstream's 1/class_count weights) and the images uniformly within them; each image gets its
    own crop and flip (`train_transform`). The length is the number of images, as upstream's epoch.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        img_size: int = 256,
        randcrop_prob: float = 0.5,
        seed: int = 0,
        phase: str = "train",
    ) -> None:
        found = find_domains(Path(root), phase)
        self.domains: tuple[str, ...] = found.names
        self.files = found.files
        self.img_size, self.randcrop_prob = img_size, randcrop_prob
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of `epoch` (call it before each epoch, as with samplers)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return sum(len(files) for files in self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        pick = self._rng(index, "pick")
        y = pick.randrange(len(self.files))
        source = self.files[y][pick.randrange(len(self.files[y]))]
        y_ref = pick.randrange(len(self.files))
        ref, ref2 = (self.files[y_ref][pick.randrange(len(self.files[y_ref]))] for _ in range(2))
        return {
            "x": self._load(source, self._rng(index, "x")),
            "y": y,
            "x_ref": self._load(ref, self._rng(index, "x_ref")),
            "x_ref2": self._load(ref2, self._rng(index, "x_ref2")),
            "y_ref": y_ref,
            "path": str(source),
            "ref_path": str(ref),
        }

    def _rng(self, index: int, stream: str) -> random.Random:
        # a str seed hashes the same in every process (no PYTHONHASHSEED dependence)
        return random.Random(f"{self.seed}:{self.epoch}:{index}:{stream}")

    def _load(self, path: Path, rng: random.Random) -> torch.Tensor:
        return train_transform(open_rgb(path), self.img_size, self.randcrop_prob, rng)
