"""The reference pix2pix/CycleGAN preprocessing (`get_params`, `get_transform`, `tensor2im`), exactly.

Resampling goes through torchvision on PIL images (PIL bicubic with its built-in antialiasing), as upstream
does, so the outputs match the official pipeline bit for bit. Random choices come from an explicit
`random.Random`, never from a global generator, so callers control reproducibility.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from i2i.errors import I2IError, unknown_name

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
_BICUBIC = InterpolationMode.BICUBIC


def check_network_size(
    tensor: torch.Tensor, path: object, network: tuple[int, int] | None, preprocess: str
) -> None:
    """A preprocessed image must suit the generator: sides that are multiples of `network[0]` and at least
    `network[1]` (None: no check). One line naming the file and the settings to change."""
    if network is None:
        return
    multiple, least = network
    height, width = tensor.shape[-2:]
    if height % multiple or width % multiple or min(height, width) < least:
        raise I2IError(
            f"{path}: preprocess={preprocess} makes it {width}x{height}, but the generator takes sides that "
            f"are multiples of {multiple} and at least {max(multiple, least)}; use --set "
            "preprocess=resize_and_crop, or a crop_size/load_size that suits netG"
        )


def check_preprocess(preprocess: str) -> None:
    """Raise a `UsageError` naming the known modes if `preprocess` is not one of them."""
    if preprocess not in PREPROCESS_MODES:
        raise unknown_name("preprocess mode", preprocess, PREPROCESS_MODES)


def get_params(
    preprocess: str, load_size: int, crop_size: int, size: tuple[int, int], rng: random.Random
) -> dict[str, Any]:
    """Draw one crop position and flip for an image of `size` = (w, h), to apply identically to A and B.

    Returns `{"crop_pos": (x, y), "flip": bool}`, drawn as upstream: x, then y, then the flip.
    """
    check_preprocess(preprocess)
    w, h = size
    new_w, new_h = w, h
    if preprocess == "resize_and_crop":
        new_w = new_h = load_size
    elif preprocess == "scale_width_and_crop":
        # Upstream uses floor here, while the transform itself keeps at least crop_size rows.
        new_w, new_h = load_size, load_size * h // w
    x = rng.randint(0, max(0, new_w - crop_size))
    y = rng.randint(0, max(0, new_h - crop_size))
    return {"crop_pos": (x, y), "flip": rng.random() > 0.5}


@dataclass
class Transform:
    """PIL image -> float tensor (C, H, W) in [-1, 1]; build it with `get_transform`."""

    preprocess: str
    load_size: int
    crop_size: int
    params: dict[str, Any] | None = None
    grayscale: bool = False
    no_flip: bool = False
    rng: random.Random = field(default_factory=random.Random)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        if self.grayscale:
            img = TF.rgb_to_grayscale(img, num_output_channels=1)
        if "resize" in self.preprocess:
            img = _resize(img, self.load_size, self.load_size)
        elif "scale_width" in self.preprocess:
            img = _scale_width(img, self.load_size, self.crop_size)
        if "crop" in self.preprocess:
            img = self._crop(img)
        if self.preprocess == "none":
            img = _multiple_of_4(img)
        if self._flip():
            img = TF.hflip(img)
        half = [0.5] * len(img.getbands())
        return TF.normalize(TF.to_tensor(img), half, half)

    def _crop(self, img: Image.Image) -> Image.Image:
        w, h, size = *img.size, self.crop_size
        if self.params is not None:
            x, y = self.params["crop_pos"]
            # As upstream: no fixed crop unless the image is larger; PIL pads out-of-range areas with black.
            return img.crop((x, y, x + size, y + size)) if w > size or h > size else img
        if w < size or h < size:
            raise I2IError(f"image of {w}x{h} is smaller than crop_size {size}; use a smaller crop size")
        x, y = self.rng.randint(0, w - size), self.rng.randint(0, h - size)
        return img.crop((x, y, x + size, y + size))

    def _flip(self) -> bool:
        if self.no_flip:
            return False
        return bool(self.params["flip"]) if self.params is not None else self.rng.random() < 0.5


def get_transform(
    preprocess: str,
    load_size: int,
    crop_size: int,
    *,
    params: dict[str, Any] | None = None,
    grayscale: bool = False,
    no_flip: bool = False,
    rng: random.Random | None = None,
) -> Transform:
    """The upstream `get_transform`: grayscale, resize/scale_width, crop, multiple-of-4, flip, [-1, 1].

    With `params` (from `get_params`) the crop and flip are fixed, otherwise they are drawn from `rng`
    (a fresh, unseeded generator if None). As upstream, `no_flip` also overrides `params["flip"]`.
    """
    check_preprocess(preprocess)
    return Transform(preprocess, load_size, crop_size, params, grayscale, no_flip, rng or random.Random())


def _resize(img: Image.Image, w: int, h: int) -> Image.Image:
    return TF.resize(img, [h, w], interpolation=_BICUBIC, antialias=True)


def _scale_width(img: Image.Image, target_width: int, crop_size: int) -> Image.Image:
    w, h = img.size
    if w == target_width and h >= crop_size:
        return img
    return _resize(img, target_width, int(max(target_width * h / w, crop_size)))


def _multiple_of_4(img: Image.Image) -> Image.Image:
    w, h = img.size
    # Python's round() is banker's rounding (70 -> 72 but 50 -> 48), as upstream.
    return _resize(img, int(round(w / 4) * 4), int(round(h / 4) * 4))


def tensor2im(t: torch.Tensor) -> np.ndarray:
    """Upstream `tensor2im`: batch element 0 as an (H, W, 3) uint8 array, 1 channel tiled to 3.

    A (C, H, W) tensor is taken as a batch of one. Values are mapped with (x + 1) / 2 * 255 in float32 and
    truncated by the uint8 cast (no rounding, no clipping), exactly as upstream.
    """
    if t.dim() == 3:
        t = t.unsqueeze(0)
    image = t[0].detach().cpu().float().numpy()
    if image.shape[0] == 1:
        image = np.tile(image, (3, 1, 1))
    return ((np.transpose(image, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)
