"""Padding of image tensors to a size the networks accept (cropped back after translation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad NCHW `x` to height x width, centred, by reflection (edge replication where too small)."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    pads = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    reflectable = max(pads[:2]) < x.shape[-1] and max(pads[2:]) < x.shape[-2]
    return F.pad(x, pads, mode="reflect" if reflectable else "replicate")
