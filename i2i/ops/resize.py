"""Resizing exactly as the references do: MATLAB's bicubic `imresize` (BasicSR's datasets and metrics) and
OpenCV's `cv2.resize` with Lanczos4 or bilinear filtering (Real-ESRGAN's `outscale` and alpha).

Array conventions: numpy images are H x W x C (or H x W), torch images are C x H x W or N x C x H x W (any
leading dimensions; the last two are height and width). `imresize` takes [0, 1] floats.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, TypeVar

import numpy as np
import torch

from i2i.io.pixels import quantize

ImageT = TypeVar("ImageT", np.ndarray, torch.Tensor)

# `ceil(n * scale)` would give 4 for 15 * 0.2 (= 3.0000000000000004); the slack absorbs such float error.
_SIZE_SLACK = 1e-9
_BAND_ROWS = 64


# ------------------------------------------------------------------------------------------ MATLAB bicubic


def output_size(length: int, scale: float) -> int:
    """The length `imresize` gives an axis of `length` pixels: `ceil(length * scale)` (at least 1)."""
    return max(1, math.ceil(length * scale - _SIZE_SLACK))


def imresize(img: ImageT, scale: float, *, antialiasing: bool = True) -> ImageT:
    """Resize like MATLAB `imresize(img, scale, 'bicubic')` (BasicSR's `matlab_functions.imresize`).

    Cubic kernel with a = -0.5, widened by 1/scale when downscaling with `antialiasing`, symmetric
    (edge-repeating) padding, output size `ceil(size * scale)` per axis. `img` is a float numpy H x W (x C)
    array or a float tensor (..., H, W) on any device; the result has the same type, dtype and device and
    is not clipped (bicubic overshoots slightly outside the input range).
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale}")
    if isinstance(img, torch.Tensor):
        if not img.is_floating_point():
            raise TypeError(f"imresize needs a floating-point tensor, got {img.dtype}")
        h, w = img.shape[-2:]
        rows = torch.from_numpy(_resize_matrix(h, output_size(h, scale), scale, antialiasing))
        cols = torch.from_numpy(_resize_matrix(w, output_size(w, scale), scale, antialiasing))
        rows, cols = (m.to(device=img.device, dtype=img.dtype) for m in (rows, cols))
        return rows @ img @ cols.T
    if img.dtype.kind != "f":
        raise TypeError(f"imresize needs a floating-point array, got {img.dtype}")
    h, w = img.shape[:2]
    rows = _resize_matrix(h, output_size(h, scale), scale, antialiasing).astype(img.dtype)
    cols = _resize_matrix(w, output_size(w, scale), scale, antialiasing).astype(img.dtype)
    if img.ndim == 2:
        return rows @ img @ cols.T
    chw = np.moveaxis(img, 2, 0)
    return np.ascontiguousarray(np.moveaxis(rows @ chw @ cols.T, 0, 2))


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def _resize_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool) -> np.ndarray:
    """The out_len x in_len float64 matrix that resizes one axis (rows of weights summing to 1)."""
    shrink = antialiasing and scale < 1
    width = 4.0 / scale if shrink else 4.0
    centre = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinates
    taps = math.ceil(width) + 2
    position = np.floor(centre - width / 2)[:, None] + np.arange(taps)
    distance = centre[:, None] - position
    weights = scale * _cubic(distance * scale) if shrink else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((out_len, in_len))
    source = _symmetric(position.astype(np.int64) - 1, in_len)
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), source.ravel()), weights.ravel())
    return matrix


def _symmetric(index: np.ndarray, length: int) -> np.ndarray:
    """Fold indices into [0, length) by mirroring with the edge repeated (-1 -> 0, length -> length - 1)."""
    folded = np.mod(index, 2 * length)
    return np.where(folded < length, folded, 2 * length - 1 - folded)


def mod_crop(img: ImageT, modulus: int) -> ImageT:
    """Crop the bottom and right edges so that height and width are multiples of `modulus`."""
    if isinstance(img, torch.Tensor):
        h, w = img.shape[-2:]
        return img[..., : h - h % modulus, : w - w % modulus]
    h, w = img.shape[:2]
    return img[: h - h % modulus, : w - w % modulus]


# ------------------------------------------------------------------------------------------ OpenCV resize


def _lanczos4(fx: np.ndarray) -> np.ndarray:
    """OpenCV's `interpolateLanczos4`: 8 float32 weights per fraction, normalised in float32 as OpenCV."""
    s45 = 0.70710678118654752440084436210485
    cs = np.array(
        [[1, 0], [-s45, -s45], [0, 1], [s45, -s45], [-1, 0], [s45, s45], [0, -1], [-s45, s45]], np.float64
    )
    x = fx.astype(np.float64)
    y0 = -(x + 3) * np.pi * 0.25
    s0, c0 = np.sin(y0), np.cos(y0)
    coeffs = np.empty((len(x), 8), np.float32)
    for i in range(8):
        t = x + 3 - i
        y = -t * np.pi * 0.25
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (cs[i, 0] * s0 + cs[i, 1] * c0) / (y * y)
        coeffs[:, i] = np.where(np.abs(t) >= np.float32(1e-6), value, 1e30).astype(np.float32)
    total = np.zeros(len(x), np.float32)
    for i in range(8):
        total += coeffs[:, i]
    return coeffs * (np.float32(1) / total)[:, None]


def _taps(src: int, dst: int, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (clamped: OpenCV's replicated border) and float32 weights of each output pixel."""
    scale = 1.0 / (dst / src)
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    start = np.floor(f).astype(np.int64)
    frac = f - start.astype(np.float32)
    if kernel == "linear":
        low, high = start < 0, start >= src - 1
        frac[low | high] = 0
        start = np.where(low, 0, np.where(high, src - 1, start))
        weights = np.stack([np.float32(1) - frac, frac], axis=1)
        offsets = np.arange(2)
    else:
        weights = _lanczos4(frac)
        offsets = np.arange(-3, 5)
    return np.clip(start[:, None] + offsets, 0, src - 1), weights


def resize(
    array: np.ndarray,
    size: tuple[int, int],
    *,
    kernel: Literal["lanczos4", "linear"] = "lanczos4",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """`cv2.resize(array, size, interpolation=INTER_LANCZOS4 or INTER_LINEAR)`, `size` = (width, height).

    uint8 runs in OpenCV's 11-bit fixed point (bit-exact); uint16 and float32 in float32, uint16
    rounded and saturated. `out` (H x W [x C]) receives the result: the array's dtype, or for float32
    arrays uint8/uint16 too (clamped to [0, 1] and rounded, like `quantize`). Works in bands of rows.
    """
    if kernel not in ("lanczos4", "linear"):
        raise ValueError(f"kernel must be lanczos4 or linear, not {kernel!r}")
    width, height = size
    squeeze = array.ndim == 2
    src = array[..., None] if squeeze else array
    if out is None:
        out = np.empty((height, width, src.shape[2]), array.dtype)
    dest = out[..., None] if out.ndim == 2 else out
    if array.dtype != np.float32 and out.dtype != array.dtype:
        raise ValueError(f"a {array.dtype} image resizes into {array.dtype}, not {out.dtype}")
    fixed = array.dtype == np.uint8
    col_idx, col_w = _taps(src.shape[1], width, kernel)
    row_idx, row_w = _taps(src.shape[0], height, kernel)
    if fixed:
        col_w = np.rint(col_w * 2048).astype(np.int64)
        row_w = np.rint(row_w * 2048).astype(np.int64)
    for y0 in range(0, height, _BAND_ROWS):
        idx = row_idx[y0 : y0 + _BAND_ROWS]
        first, last = int(idx.min()), int(idx.max()) + 1
        rows = src[first:last].astype(np.int64 if fixed else np.float32)
        horizontal = np.zeros((last - first, width, src.shape[2]), rows.dtype)
        for k in range(col_idx.shape[1]):
            horizontal += rows[:, col_idx[:, k]] * col_w[:, k, None]
        band = np.zeros((len(idx), width, src.shape[2]), rows.dtype)
        for k in range(idx.shape[1]):
            band += horizontal[idx[:, k] - first] * row_w[y0 : y0 + len(idx), k, None, None]
        target = dest[y0 : y0 + len(idx)]
        if fixed:
            target[...] = np.clip((band + (1 << 21)) >> 22, 0, 255)
        elif target.dtype == np.float32:
            target[...] = band
        elif array.dtype == np.uint16:
            target[...] = np.clip(np.rint(band), 0, 65535)
        else:
            target[...] = quantize(band, 16 if target.dtype == np.uint16 else 8)
    return out[..., 0] if squeeze and out.ndim == 3 else out
