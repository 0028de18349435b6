"""SAEHD's training losses, written from the description of DeepFaceLab's (§1.4 of the face-swap reference):
DSSIM with a VALID depthwise Gaussian window, Gaussian blur, the mask preparation (blur, clip to 0.5, x2),
the masked reconstruction terms, the mask term and the eyes/mouth priority.

Every function takes NCHW tensors with values in [0, 1] and returns one value per sample (shape (N,)), as
DeepFaceLab sums its losses per sample; the training step averages them over the batch.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from i2i.data.degradations import gaussian_kernel

#: SSIM's constants for images in [0, 1]: (0.01 * 1)^2 and (0.03 * 1)^2
_SSIM_C1 = 0.01**2
_SSIM_C2 = 0.03**2
#: sigma of DSSIM's Gaussian window
DSSIM_SIGMA = 1.5


@functools.lru_cache(maxsize=32)
def _gaussian_2d(size: int, sigma: float) -> np.ndarray:
    """A `size` x `size` Gaussian window (centred, normalised to sum 1)."""
    return gaussian_kernel(size, sigma, sigma, 0.0).astype(np.float32)


def _depthwise(x: torch.Tensor, window: np.ndarray, padding: int = 0) -> torch.Tensor:
    """`x` filtered channel by channel with `window` (zero padding `padding`, VALID when 0)."""
    channels = x.shape[1]
    kernel = torch.from_numpy(window).to(x.device, x.dtype).expand(channels, 1, *window.shape)
    return F.conv2d(x, kernel, padding=padding, groups=channels)


def dssim(pred: torch.Tensor, target: torch.Tensor, window: int, sigma: float = DSSIM_SIGMA) -> torch.Tensor:
    """(1 - SSIM) / 2 per sample: SSIM over a VALID depthwise Gaussian `window` x `window` (sigma `sigma`),
    averaged over the positions of each channel, then over the channels. Images in [0, 1]."""
    window = max(1, int(window))
    if min(pred.shape[-2:]) < window:
        raise ValueError(f"dssim: a {window}x{window} window does not fit {tuple(pred.shape[-2:])} images")
    pred, target = pred.float(), target.float()
    g = _gaussian_2d(window, float(sigma))
    mu_p, mu_t = _depthwise(pred, g), _depthwise(target, g)
    mu_pt = mu_p * mu_t
    mu_sq = mu_p**2 + mu_t**2
    luminance = (2 * mu_pt + _SSIM_C1) / (mu_sq + _SSIM_C1)
    cov2 = 2 * (_depthwise(pred * target, g) - mu_pt)
    var_sum = _depthwise(pred**2 + target**2, g) - mu_sq
    structure = (cov2 + _SSIM_C2) / (var_sum + _SSIM_C2)
    ssim = (luminance * structure).mean(dim=(-2, -1))
    return ((1 - ssim) / 2).mean(dim=1)


def structural_loss(pred: torch.Tensor, target: torch.Tensor, resolution: int) -> torch.Tensor:
    """SAEHD's structural term per sample: 10 * DSSIM(window int(R/11.6)) below R = 256, else
    5 * DSSIM(int(R/11.6)) + 5 * DSSIM(int(R/23.2))."""
    if resolution < 256:
        return 10 * dssim(pred, target, int(resolution / 11.6))
    return 5 * dssim(pred, target, int(resolution / 11.6)) + 5 * dssim(pred, target, int(resolution / 23.2))


def blur_kernel_size(sigma: float) -> int:
    """The side of `gaussian_blur`'s kernel: the odd number at or above max(3, int(4 sigma))."""
    size = max(3, int(4 * sigma))
    return size + 1 if size % 2 == 0 else size


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-channel Gaussian blur of an NCHW tensor, same size out: a `blur_kernel_size(sigma)` window with
    zero padding (so values fade towards the borders, as DeepFaceLab's blur of the masks does)."""
    size = blur_kernel_size(sigma)
    return _depthwise(x, _gaussian_2d(size, float(sigma)), padding=size // 2)


def prepare_mask(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """The mask the masked terms multiply by: blurred with sigma max(1, R // 32), clipped to [0, 0.5], x 2
    (a soft edge that stays 1 inside the face)."""
    blurred = gaussian_blur(mask.float(), max(1, resolution // 32))
    return blurred.clamp(0, 0.5) * 2


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per sample."""
    return ((pred.float() - target.float()) ** 2).mean(dim=(1, 2, 3))


def eyes_mouth_loss(pred: torch.Tensor, target: torch.Tensor, em_mask: torch.Tensor) -> torch.Tensor:
    """The eyes/mouth priority per sample: 300 * L1 between target and prediction inside `em_mask`."""
    em_mask = em_mask.float()
    return 300 * (target.float() * em_mask - pred.float() * em_mask).abs().mean(dim=(1, 2, 3))


def reconstruction_losses(
    pred: torch.Tensor,
    pred_mask: torch.Tensor,
    target: torch.Tensor,
    target_mask: torch.Tensor,
    em_mask: torch.Tensor | None,
    *,
    resolution: int,
    masked_training: bool = True,
    eyes_mouth_prio: bool = False,
) -> dict[str, torch.Tensor]:
    """SAEHD's per-identity terms, each per sample: `dssim` (the structural term), `mse` (10 * MSE) on the
    images multiplied by `prepare_mask(target_mask)` when `masked_training`, `mask` (10 * MSE of the
    predicted mask against the target mask) and, with `eyes_mouth_prio`, `eyes_mouth` (300 * L1)."""
    if masked_training:
        soft = prepare_mask(target_mask, resolution)
        target_m, pred_m = target.float() * soft, pred.float() * soft
    else:
        target_m, pred_m = target, pred
    terms = {
        "dssim": structural_loss(pred_m, target_m, resolution),
        "mse": 10 * mse(pred_m, target_m),
        "mask": 10 * mse(pred_mask, target_mask),
    }
    if eyes_mouth_prio:
        if em_mask is None:
            raise ValueError("eyes_mouth_prio needs the eyes/mouth masks of the samples")
        terms["eyes_mouth"] = eyes_mouth_loss(pred, target, em_mask)
    return terms
