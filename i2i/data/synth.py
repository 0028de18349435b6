"""Drawing helpers of the synthetic datasets (`make_paired`, `make_unpaired`, `make_domains`, ... in the
layout modules): shape masks, lighting, blurs and PNG writing, on numpy arrays.

Every synthetic image is a function of a seeded generator, so a dataset depends only on its seed.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.errors import I2IError
from i2i.io.files import atomic_path

CLASSES = ("circle", "rectangle", "triangle")
#: highlight offset (x, y) in units of the shape's extent
LIGHT = np.array([-0.35, -0.35])
#: how much of a shape's colour its glow adds to the background
GLOW = 0.6


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(yy, xx): the pixel centres of a `size` x `size` image, as float32."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    return yy, xx


def hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    """An RGB colour in 0-255 (float32) from HSV in [0, 1] (the hue wraps around)."""
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32) * 255


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image clipped to 0-255 and rounded to uint8."""
    return np.clip(image, 0, 255).round().astype(np.uint8)


def shape_mask(
    kind: str, xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """The shape's mask and its extent (the size its shading scales with, readable from the mask)."""
    dx, dy = xx - centre[0], yy - centre[1]
    if kind == "circle":
        return dx**2 + dy**2 <= radius**2, radius
    if kind == "rectangle":
        half_w, half_h = radius * rng.uniform(0.6, 1.2, 2)
        return (np.abs(dx) <= half_w) & (np.abs(dy) <= half_h), max(half_w, half_h)
    angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2, 4]) * np.pi / 3 + rng.uniform(-0.3, 0.3, 3)
    corners = centre + radius * 1.3 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    # Corners in increasing angle: the inside is where all three edge cross products are >= 0.
    edges = [(corners[i], corners[(i + 1) % 3]) for i in range(3)]
    inside = [(q[0] - p[0]) * (yy - p[1]) - (q[1] - p[1]) * (xx - p[0]) >= 0 for p, q in edges]
    return np.all(inside, axis=0), radius * 1.3


def lighting(xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Light factor of a shape: bright at a highlight up-left of the centre, darker away from it."""
    hx, hy = centre + LIGHT * radius
    dist = np.sqrt((xx - hx) ** 2 + (yy - hy) ** 2) / (1.6 * radius)
    return 1.25 - 0.65 * np.clip(dist, 0, 1)


def shift(mask: np.ndarray, offset: int) -> np.ndarray:
    """`mask` moved `offset` pixels right and down, without wrapping around."""
    out = np.zeros_like(mask)
    out[offset:, offset:] = mask[:-offset, :-offset]
    return out


def erode(mask: np.ndarray) -> np.ndarray:
    """`mask` shrunk by one pixel (4-neighbourhood); pixels outside the image count as inside."""
    padded = np.pad(mask, 1, mode="edge")
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


def blur(mask: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur of a boolean mask, applied twice (close to a Gaussian), as float32 in [0, 1]."""
    out = mask.astype(np.float32)
    for _ in range(2):
        for axis in (0, 1):
            padded = np.pad(out, [(radius + 1, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
            cums = np.cumsum(padded, axis=axis)
            hi = np.take(cums, np.arange(2 * radius + 1, cums.shape[axis]), axis=axis)
            lo = np.take(cums, np.arange(0, cums.shape[axis] - 2 * radius - 1), axis=axis)
            out = (hi - lo) / (2 * radius + 1)
    return out


def glow(image: np.ndarray, mask: np.ndarray, colour: np.ndarray, radius: int) -> np.ndarray:
    """What a soft glow of `radius` pixels around `mask` adds to `image`, towards `colour`."""
    return GLOW * blur(mask, radius)[..., None] * (colour - image).clip(0)


def write_png(path: Path, array: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 array as a PNG (atomically; fast compression)."""
    with atomic_path(path) as tmp:
        Image.fromarray(array, "RGB").save(tmp, format="PNG", compress_level=1)


def check_count(count: int) -> None:
    """`I2IError` for a negative image count."""
    if count < 0:
        raise I2IError(f"count must be >= 0, got {count}")
