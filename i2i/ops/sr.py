"""Super-resolution operations: MATLAB bicubic resizing, BT.601 luma and the BasicSR PSNR/SSIM protocol.

Array conventions: numpy images are H x W x C (or H x W), torch images are C x H x W or N x C x H x W (any
leading dimensions; the last two are height and width). `imresize` and `rgb_to_y` take [0, 1] floats;
`psnr` and `ssim` take numpy images in [0, 255] (uint8 or float), as BasicSR's metrics do.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch

ImageT = TypeVar("ImageT", np.ndarray, torch.Tensor)

# BT.601 "studio swing" luma of [0, 1] RGB, in 8-bit units: Y in [16, 235].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0
#: Side of the Gaussian window of `ssim`: images must be at least this large after cropping.
SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2
# `ceil(n * scale)` would give 4 for 15 * 0.2 (= 3.0000000000000004); the slack absorbs such float error.
_SIZE_SLACK = 1e-9


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


def rgb_to_y(img: ImageT) -> ImageT:
    """BT.601 luma of [0, 1] RGB: `(16 + 65.481 R + 128.553 G + 24.966 B) / 255`, in [16/255, 235/255].

    numpy H x W x 3 gives H x W x 1; a tensor (..., 3, H, W) gives (..., 1, H, W). Computed in float64
    and returned in the input's dtype, as BasicSR's `bgr2ycbcr(img, y_only=True)` does for float32 input.
    """
    if isinstance(img, torch.Tensor):
        if img.shape[-3] != 3:
            raise ValueError(f"rgb_to_y needs 3 channels, got shape {tuple(img.shape)}")
        weights = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=img.device).view(3, 1, 1)
        y = ((img.double() * weights).sum(dim=-3, keepdim=True) + _Y_OFFSET) / 255.0
        return y.to(img.dtype)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y needs an H x W x 3 array, got shape {img.shape}")
    y = (img.astype(np.float64) @ np.array(_Y_WEIGHTS) + _Y_OFFSET) / 255.0
    return y.astype(img.dtype)[..., None]


def mod_crop(img: ImageT, modulus: int) -> ImageT:
    """Crop the bottom and right edges so that height and width are multiples of `modulus`."""
    if isinstance(img, torch.Tensor):
        h, w = img.shape[-2:]
        return img[..., : h - h % modulus, : w - w % modulus]
    h, w = img.shape[:2]
    return img[: h - h % modulus, : w - w % modulus]


def psnr(a: np.ndarray, b: np.ndarray, *, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """PSNR in dB of two H x W (x C) RGB or grey images in [0, 255], as BasicSR's `calculate_psnr`.

    `crop_border` pixels are dropped on each side first. With `test_y_channel` RGB images are compared on
    their BT.601 luma in [16, 235] (grey images as they are). Identical images give `inf`.
    """
    x, y = _metric_inputs(a, b, crop_border, test_y_channel)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, *, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """SSIM of two H x W (x C) RGB or grey images in [0, 255], as BasicSR's numpy `calculate_ssim`.

    11 x 11 Gaussian window (sigma 1.5) over the valid region only, C1 = (0.01 * 255)^2,
    C2 = (0.03 * 255)^2, float64, computed per channel and averaged. `crop_border` and `test_y_channel`
    as in `psnr`. The images must be at least 11 x 11 after cropping.
    """
    x, y = _metric_inputs(a, b, crop_border, test_y_channel)
    if min(x.shape[:2]) < SSIM_WINDOW:
        raise ValueError(
            f"ssim needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after cropping, got {x.shape[:2]}"
        )
    mu_x, mu_y = _gaussian_valid(x), _gaussian_valid(y)
    var_x = _gaussian_valid(x * x) - mu_x**2
    var_y = _gaussian_valid(y * y) - mu_y**2
    cov = _gaussian_valid(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_x**2 + mu_y**2 + _SSIM_C1) * (var_x + var_y + _SSIM_C2)
    )
    return float(ssim_map.mean(axis=(0, 1)).mean())


def _metric_inputs(
    a: np.ndarray, b: np.ndarray, crop_border: int, test_y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return _metric_input(a, crop_border, test_y_channel), _metric_input(b, crop_border, test_y_channel)


def _metric_input(img: np.ndarray, crop_border: int, test_y_channel: bool) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel and img.shape[2] == 3:
        # Through float32 like BasicSR's to_y_channel, so that results agree to the last digits.
        img = rgb_to_y(img.astype(np.float32) / np.float32(255)) * np.float32(255)
    return img.astype(np.float64)


@lru_cache(maxsize=1)
def _gaussian_taps() -> np.ndarray:
    offsets = np.arange(SSIM_WINDOW) - (SSIM_WINDOW - 1) / 2
    taps = np.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2))
    return taps / taps.sum()


def _gaussian_valid(img: np.ndarray) -> np.ndarray:
    """Separable 11 x 11 Gaussian filter of an H x W x C image, valid region only."""
    taps = _gaussian_taps()
    rows = np.lib.stride_tricks.sliding_window_view(img, SSIM_WINDOW, axis=0) @ taps
    return np.lib.stride_tricks.sliding_window_view(rows, SSIM_WINDOW, axis=1) @ taps
