"""The super-resolution training dataset: random GT crops of high-resolution images, with their LR inputs."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from i2i.data.base import SeededDataset
from i2i.data.degradations import KernelSettings, random_kernels
from i2i.data.images import find_image_folder
from i2i.errors import I2IError, unknown_name
from i2i.io.imageio import read_image
from i2i.ops.resize import imresize

DEGRADATIONS = ("bicubic", "realesrgan")


class SRDataset(SeededDataset):
    """High-resolution images (a folder, searched recursively) as super-resolution training samples.

    Each sample is a random `gt_size` crop of one image (reflection-padded at the bottom and right when the
    image is smaller), augmented as BasicSR's `augment`: horizontal flip (`use_hflip`), vertical flip and
    transpose (`use_rot`), each with probability 0.5. Images are RGB float32 C x H x W in [0, 1]; grey
    images are repeated to three channels and alpha is dropped.

    - `degradation="bicubic"`: `{"lq", "gt", "path"}` with lq = MATLAB-bicubic `imresize(gt, 1 / scale)`
      rounded to 8-bit levels, as the LR PNGs of the usual benchmarks and of BasicSR training data are.
    - `degradation="realesrgan"`: `{"gt", "kernel1", "kernel2", "sinc_kernel", "path"}`: the GT crop of
      `crop_pad_size` (default `gt_size`; upstream degrades a 400 crop and cuts 256 pairs from it) and the
      sample's random kernels; `RealESRGANDegradation` makes lq and the USM-sharpened GT from a batch.

    The random draws of sample `i` depend only on (seed, epoch, i), so results do not depend on access
    order, DataLoader workers or resuming.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        scale: int = 4,
        gt_size: int = 128,
        use_hflip: bool = True,
        use_rot: bool = True,
        seed: int = 0,
        degradation: str = "bicubic",
        max_dataset_size: int | None = None,
        crop_pad_size: int | None = None,
        kernel_settings: KernelSettings | None = None,
    ) -> None:
        if degradation not in DEGRADATIONS:
            raise unknown_name("degradation", degradation, DEGRADATIONS)
        if scale < 1:
            raise I2IError(f"scale must be at least 1, not {scale}")
        crop = gt_size if crop_pad_size is None else crop_pad_size
        for name, size in (("gt_size", gt_size), ("crop_pad_size", crop)):
            if size < scale or size % scale:
                raise I2IError(f"{name} ({size}) must be a positive multiple of the scale ({scale})")
        super().__init__(seed)
        self.files = find_image_folder(root)[:max_dataset_size]
        self.scale, self.gt_size, self.crop_size = scale, gt_size, crop
        self.use_hflip, self.use_rot = use_hflip, use_rot
        self.degradation = degradation
        self.kernel_settings = kernel_settings or KernelSettings()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path = self.files[index]
        pixels = read_image(path).pixels
        if pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
        rng = self.rng(index)
        gt = _augment(_random_crop(pixels, self.crop_size, rng), rng, self.use_hflip, self.use_rot)
        sample: dict[str, torch.Tensor | str] = {"gt": _to_tensor(gt), "path": str(path)}
        if self.degradation == "bicubic":
            lq = np.round(np.clip(imresize(gt, 1 / self.scale), 0.0, 1.0) * 255.0) / 255.0
            sample["lq"] = _to_tensor(lq.astype(np.float32))
        else:
            kernels = random_kernels(np.random.default_rng(rng.getrandbits(64)), self.kernel_settings)
            sample.update({name: torch.from_numpy(kernel) for name, kernel in kernels.items()})
        return sample


def _random_crop(img: np.ndarray, size: int, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    if h < size or w < size:
        img = np.pad(img, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = img.shape[:2]
    top, left = rng.randint(0, h - size), rng.randint(0, w - size)
    return img[top : top + size, left : left + size]


def _augment(img: np.ndarray, rng: random.Random, use_hflip: bool, use_rot: bool) -> np.ndarray:
    # Three draws whatever the flags, so that turning one off does not shift the other draws.
    hflip, vflip, transpose = (rng.random() < 0.5 for _ in range(3))
    if use_hflip and hflip:
        img = img[:, ::-1]
    if use_rot and vflip:
        img = img[::-1]
    if use_rot and transpose:
        img = img.transpose(1, 0, 2)
    return img


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
