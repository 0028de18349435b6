"""Learning-rate schedules: the reference's per-epoch policies (CycleGAN/pix2pix) and BasicSR's cosine
annealing with restarts (ESRGAN)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def lr_lambda(policy_epochs: tuple[int, int, int]) -> Callable[[int], float]:
    """The reference 'linear' policy: constant for n_epochs, then linear decay over n_epochs_decay + 1."""
    n_epochs, n_epochs_decay, epoch_count = policy_epochs

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1)

    return factor


def make_scheduler(optimizer, policy, *, n_epochs, n_epochs_decay, epoch_count, lr_decay_iters):
    """Per-epoch LR schedulers of the reference (`linear`, `step`, `plateau`, `cosine`)."""
    sched = torch.optim.lr_scheduler
    if policy == "linear":
        return sched.LambdaLR(optimizer, lr_lambda((n_epochs, n_epochs_decay, epoch_count)))
    if policy == "step":
        return sched.StepLR(optimizer, step_size=lr_decay_iters, gamma=0.1)
    if policy == "plateau":
        return sched.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)
    if policy == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=n_epochs, eta_min=0)
    raise ValueError(f"unknown lr_policy '{policy}'")


def cosine_restarts(periods: tuple[int, ...], base_lr: float, eta_min: float) -> Callable[[int], float]:
    """BasicSR's CosineAnnealingRestartLR (restart weights 1) as a LambdaLR factor of the step."""
    starts = [sum(periods[:i]) for i in range(len(periods))]

    def factor(step: int) -> float:
        for start, period in zip(reversed(starts), reversed(periods), strict=True):
            if step >= start:
                t = min(step - start, period)
                lr = eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * t / period))
                return lr / base_lr
        return 1.0

    return factor
