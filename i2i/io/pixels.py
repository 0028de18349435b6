"""Pixels in memory: `ImageData` (float colour in [0, 1], alpha apart, bit depth) and conversions to and from
arrays and Pillow images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# EXIF orientation -> the numpy operation that shows the picture upright (as `ImageOps.exif_transpose`).
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class ImageData:
    """A decoded image: float colour pixels, optional alpha, and where it came from."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    source: Path | None = None
    format: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order Pillow uses."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def is_grey(self) -> bool:
        """True for one colour channel."""
        return self.pixels.shape[2] == 1


def quantize(x: np.ndarray, bits: int, rounding: str = "round") -> np.ndarray:
    """[0, 1] floats to uint8 (bits=8) or uint16 (bits=16), clipped first; NaN becomes 0.

    "round" rounds to the nearest level; "truncate" floors x * maxval like upstream CycleGAN's tensor2im.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits}")
    if rounding not in ("round", "truncate"):
        raise ValueError(f"rounding must be 'round' or 'truncate', not {rounding!r}")
    scaled = np.clip(x, 0.0, 1.0).astype(np.float32, copy=False)
    np.nan_to_num(scaled, copy=False)
    scaled *= (1 << bits) - 1
    (np.rint if rounding == "round" else np.floor)(scaled, out=scaled)
    return scaled.astype(np.uint8 if bits == 8 else np.uint16)


def luma(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 colour to H x W x 1 grey with the ITU-R 601 weights of Pillow's convert("L")."""
    return np.clip(rgb[..., :3] @ _LUMA, 0.0, 1.0)[..., None]


def resize_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H x W alpha plane to (width, height) with bicubic filtering, clipped to [0, 1]."""
    plane = Image.fromarray(np.ascontiguousarray(alpha, dtype=np.float32))
    resized = np.asarray(plane.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    return np.clip(resized, 0.0, 1.0)


def to_array(image: ImageData) -> np.ndarray:
    """uint8 or uint16 (by bit depth) H x W x C with alpha as the last channel; grey without alpha is H x W."""
    array = quantize(image.pixels, image.bit_depth)
    if image.alpha is not None:
        return np.concatenate([array, quantize(image.alpha[..., None], image.bit_depth)], axis=2)
    return array[..., 0] if image.is_grey else array


def to_pil(image: ImageData) -> Image.Image:
    """A Pillow image: L, LA, RGB or RGBA at 8 bits, or "I;16" for 16-bit grey without alpha.

    Pillow has no 16-bit colour or grey+alpha modes, so those become 8-bit.
    """
    if image.bit_depth == 16 and image.is_grey and image.alpha is None:
        return Image.fromarray(quantize(image.pixels[..., 0], 16))
    return Image.fromarray(to_array(replace(image, bit_depth=8)))


def from_array(array: np.ndarray, bit_depth: int | None = None) -> ImageData:
    """Split H x W (x 1-4) uint8/uint16/float into float colour + alpha (alpha is the 2nd or 4th channel)."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an H x W or H x W x 1/2/3/4 array, got shape {array.shape}")
    if array.dtype == np.uint8:
        values, depth = array.astype(np.float32) / np.float32(255), 8
    elif array.dtype == np.uint16:
        values, depth = array.astype(np.float32) / np.float32(65535), 16
    elif array.dtype.kind == "f":
        values, depth = np.clip(array, 0.0, 1.0).astype(np.float32, copy=False), 8
    else:
        raise ValueError(f"expected uint8, uint16 or float pixels, got {array.dtype}")
    if array.shape[2] in (2, 4):
        return ImageData(np.ascontiguousarray(values[..., :-1]), values[..., -1].copy(), bit_depth or depth)
    return ImageData(values, None, bit_depth or depth)


def upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """An H x W (x C) array turned upright for its EXIF orientation (1-8; other values leave it as is)."""
    return _UPRIGHT[orientation](array) if orientation in _UPRIGHT else array


def montage(rows: Sequence[Sequence[np.ndarray]], gutter: int = 4) -> np.ndarray:
    """Rows of equally tall HxWx3 float images joined into one image, with white gutters between them
    (sample grids, side-by-side comparisons)."""
    joined = []
    for row in rows:
        gap = np.ones((row[0].shape[0], gutter, 3), np.float32)
        joined.append(np.concatenate([p for img in row for p in (img, gap)][:-1], axis=1))
    gap = np.ones((gutter, joined[0].shape[1], 3), np.float32)
    return np.concatenate([p for r in joined for p in (r, gap)][:-1], axis=0)
