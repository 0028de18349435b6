"""Image quality metrics, one of each: PSNR, SSIM (BasicSR's protocol) and BT.601 luma for Y-channel scores.

Array conventions: numpy images are H x W x C (or H x W); torch images (for `rgb_to_y`) are (..., 3, H, W).
`psnr` and `ssim` take numpy images with values in [0, `data_range`]: [0, 255] (uint8 or float) by default,
as BasicSR's metrics do, or [0, 1] floats with `data_range=1`.
"""

from __future__ import annotations

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
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


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


def psnr(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float = 255.0,
    crop_border: int = 0,
    test_y_channel: bool = False,
) -> float:
    """PSNR in dB of two H x W (x C) RGB or grey images in [0, `data_range`], as BasicSR's `calculate_psnr`.

    `crop_border` pixels are dropped on each side first. With `test_y_channel` RGB images are compared on
    their BT.601 luma ([16, 235] in 8-bit terms; grey images as they are). Identical images give `inf`.
    The shapes must match, or broadcast (a grey H x W x 1 image against a colour one).
    """
    x, y = _metric_inputs(a, b, data_range, crop_border, test_y_channel)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float = 255.0,
    crop_border: int = 0,
    test_y_channel: bool = False,
) -> float:
    """SSIM of two H x W (x C) RGB or grey images in [0, `data_range`], as BasicSR's numpy `calculate_ssim`.

    11 x 11 Gaussian window (sigma 1.5) over the valid region only, C1 = (0.01 * data_range)^2,
    C2 = (0.03 * data_range)^2, float64, computed per channel and averaged. `crop_border` and
    `test_y_channel` as in `psnr`. The images must be at least 11 x 11 after cropping.
    """
    x, y = _metric_inputs(a, b, data_range, crop_border, test_y_channel)
    if min(x.shape[:2]) < SSIM_WINDOW:
        raise ValueError(
            f"ssim needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after cropping, got {x.shape[:2]}"
        )
    c1, c2 = (_SSIM_K1 * data_range) ** 2, (_SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _gaussian_valid(x), _gaussian_valid(y)
    var_x = _gaussian_valid(x * x) - mu_x**2
    var_y = _gaussian_valid(y * y) - mu_y**2
    cov = _gaussian_valid(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean(axis=(0, 1)).mean())


def _metric_inputs(
    a: np.ndarray, b: np.ndarray, data_range: float, crop_border: int, test_y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}") from None
    return (
        _metric_input(a, data_range, crop_border, test_y_channel),
        _metric_input(b, data_range, crop_border, test_y_channel),
    )


def _metric_input(img: np.ndarray, data_range: float, crop_border: int, test_y_channel: bool) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel and img.shape[2] == 3:
        # Through float32 like BasicSR's to_y_channel, so that results agree to the last digits.
        img = rgb_to_y(img.astype(np.float32) / np.float32(data_range)) * np.float32(data_range)
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
