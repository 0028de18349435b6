"""The MaskGAN demo's inference pipeline (`MaskGAN_demo/demo.py`), step by step, on numpy/torch.

Image: scale_width to loadSize (PIL bicubic), ToTensor, Normalize(0.5, 0.5). Masks: scale_width (nearest),
ToTensor then Normalize(0, 1/255), `.long()`, one-hot: in float32 that turns ids 7, 13, 14, 15 into 6, 12,
13, 14 (`label_mode="demo"`, bit parity with the released tool); `label_mode="exact"` feeds the true ids.
Output: `uint8((fake + 1) * 127.5)`, a truncation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from i2i.errors import I2IError, UsageError

LABEL_MODES = ("demo", "exact")
COMPOSITES = ("changed",)


def demo_label_values(ids: np.ndarray) -> torch.Tensor:
    """The float 'ids' the demo feeds `.long()`: ToTensor (k/255) then Normalize(0, 1/255), in float32."""
    x = torch.from_numpy(np.array(ids, np.uint8)).float().div(255)
    return x.sub(torch.tensor(0.0)).div(torch.tensor(1 / 255, dtype=torch.float32))


def label_ids(ids: np.ndarray, mode: str) -> torch.Tensor:
    """HxW class ids -> 1x1xHxW int64 ids as the generator sees them in `mode` (demo | exact)."""
    if mode == "demo":
        return demo_label_values(ids).long()[None, None]
    if mode == "exact":
        return torch.from_numpy(np.array(ids, np.int64))[None, None]
    raise UsageError(f"label_mode={mode!r} is not one of: {', '.join(LABEL_MODES)}")


def work_size(width: int, height: int, load_size: int, multiple: int) -> tuple[int, int]:
    """(w, h) the networks run at: scale_width to `load_size` (the demo's), the height snapped to a
    multiple of `multiple` for non-square inputs (square inputs are load_size x load_size exactly)."""
    h = int(load_size * height / width) if width != load_size else height
    h = max(multiple, round(h / multiple) * multiple)
    return load_size, h


def image_tensor(rgb_u8: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """HxWx3 uint8 -> 1x3xhxw in [-1, 1]: PIL bicubic resize to `size` (w, h), ToTensor, Normalize(0.5)."""
    image = Image.fromarray(rgb_u8, "RGB")
    if image.size != size:
        image = image.resize(size, Image.BICUBIC)
    x = torch.from_numpy(np.asarray(image, np.uint8).copy()).permute(2, 0, 1).float().div(255)
    return x.sub(0.5).div(0.5)[None]


def resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Class ids resized (nearest, PIL) to `size` (w, h)."""
    if (ids.shape[1], ids.shape[0]) == size:
        return ids
    return np.asarray(Image.fromarray(ids, "L").resize(size, Image.NEAREST))


def check_mask_fits(ids: np.ndarray, width: int, height: int, what: str) -> None:
    """A mask must picture the image: the same size, or the same aspect ratio (CelebA-HQ: 1024 px photos,
    512 px masks)."""
    h, w = ids.shape
    if w * height != h * width:
        raise I2IError(
            f"{what} is {w}x{h} but the image is {width}x{height}; a mask must have the image's size (or at "
            "least its aspect ratio)"
        )


def result_u8(fake: torch.Tensor) -> np.ndarray:
    """The demo's output: uint8((fake.permute(0, 2, 3, 1) + 1) * 127.5)[0], truncating."""
    return ((fake.detach().float().cpu().permute(0, 2, 3, 1) + 1) * 127.5)[0].numpy().astype(np.uint8)


def changed_region(source: np.ndarray, target: np.ndarray, radius: int) -> torch.Tensor:
    """1x1xHxW alpha: 1 where the masks differ, dilated by `radius` px, feathered over another `radius`."""
    diff = torch.from_numpy((source != target).astype(np.float32))[None, None]
    k = 2 * radius + 1
    grown = F.max_pool2d(diff, k, stride=1, padding=radius)
    for _ in range(2):
        grown = F.avg_pool2d(grown, k, stride=1, padding=radius, count_include_pad=False)
    return grown.clamp(0, 1)


@dataclass
class StyleCode:
    """What `encode_style` reads from a photo and its mask, so each edit re-renders with the main branch
    alone: the AdaIN code, the source mask at the working size and the photo itself (its size, alpha and
    the pixels `composite="changed"` keeps)."""

    code: torch.Tensor
    source_ids: np.ndarray
    image: Any
    label_mode: str

    @property
    def work_size(self) -> tuple[int, int]:
        return self.source_ids.shape[1], self.source_ids.shape[0]
