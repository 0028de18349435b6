"""Optimiser helpers: Adam with the fastest implementation the device offers, and switching the gradients
of the networks a training step does not update."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def adam(
    params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float], weight_decay: float = 0.0
):
    """`torch.optim.Adam` with the fused kernel: one pass over each parameter instead of a dozen (on a
    2-core CPU, 23 ms instead of 72-280 ms per step for pix2pix's 57M parameters). Same update rule."""
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda", "mps") for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)


def set_requires_grad(nets: list[nn.Module], requires_grad: bool) -> None:
    """Turn the gradients of every parameter of `nets` on or off."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(requires_grad)
