"""SAEHD's optimisers, written from the description of DeepFaceLab's (§1.5 of the face-swap reference).

`AdaBelief` is DeepFaceLab's variant: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) (g - m)^2 (with the new m),
update -lr m / (sqrt(v) + eps), and no bias correction. `RMSprop` (a = rho a + (1 - rho) g^2, update
-lr g / (sqrt(a) + eps)) is the alternative when AdaBelief is off. Both take DeepFaceLab's extras:

- `lr_dropout` (the probability that an entry is updated; 0.3 when on, 1.0 off): each update is multiplied
  by a fresh Bernoulli(lr_dropout) mask, while the moments always update in full. The masks come from a
  generator seeded by (`mask_seed`, update count, parameter index): every torchrun process draws the same
  masks (the replicas stay equal) and a resumed run draws what the uninterrupted one would have;
- `lr_cos` (a period in iterations, 0 off; DeepFaceLab uses 500 with lr dropout): lr is multiplied by
  (cos(2 pi t / lr_cos) + 1) / 2, where t counts the updates made before this one;
- `clipnorm` (0 off; 1.0 with `clipgrad`): gradients scaled by min(1, clipnorm / global norm), the norm
  taken over every parameter of the optimiser.

The update count lives in each parameter group (`iterations`), so it travels with `state_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

#: DeepFaceLab's epsilon: float32's resolution
EPSILON = 1e-6
#: DeepFaceLab's learning rate for SAEHD
SAEHD_LR = 5e-5
#: the fraction of entries updated per step with lr dropout on, and the cosine period that comes with it
LR_DROPOUT = 0.3
LR_COS_PERIOD = 500


class _DFLOptimizer(torch.optim.Optimizer):
    """What DeepFaceLab's optimisers share: gradient clipping by global norm, lr cosine modulation and
    lr dropout around a per-parameter rule (`_direction`)."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if defaults["lr"] < 0:
            raise ValueError(f"invalid learning rate {defaults['lr']}")
        if not 0 < defaults["lr_dropout"] <= 1:
            raise ValueError(f"lr_dropout must be in (0, 1], got {defaults['lr_dropout']}")
        if defaults["clipnorm"] < 0 or defaults["lr_cos"] < 0:
            raise ValueError("clipnorm and lr_cos must be >= 0")
        super().__init__(params, defaults | {"iterations": 0})
        self.mask_seed = 0

    def _dropout_mask(self, update: torch.Tensor, group: dict[str, Any], index: int) -> torch.Tensor:
        generator = torch.Generator(device=update.device)
        generator.manual_seed((self.mask_seed * 1_000_003 + group["iterations"]) * 65_537 + index)
        return torch.bernoulli(torch.full_like(update, group["lr_dropout"]), generator=generator)

    def _direction(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        """The step of one parameter before the learning rate (updating its state)."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            scale = 1.0
            if group["clipnorm"] > 0 and params:
                norm = torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(p.grad.float()) for p in params])
                )
                scale = torch.clamp(group["clipnorm"] / norm, max=1.0)
            lr = group["lr"]
            if group["lr_cos"] > 0:
                lr *= (math.cos(group["iterations"] * 2 * math.pi / group["lr_cos"]) + 1) / 2
            for index, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                g = p.grad if group["clipnorm"] == 0 else p.grad * scale
                update = self._direction(p, g, group) * lr
                if group["lr_dropout"] < 1:
                    update = update * self._dropout_mask(update, group, index)
                p.sub_(update)
            group["iterations"] += 1
        return loss


class AdaBelief(_DFLOptimizer):
    """DeepFaceLab's AdaBelief: no bias correction, eps outside the square root (see the module)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = SAEHD_LR,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = EPSILON,
        *,
        lr_dropout: float = 1.0,
        lr_cos: int = 0,
        clipnorm: float = 0.0,
    ) -> None:
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid betas {betas}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps}
        super().__init__(
            params, defaults | {"lr_dropout": lr_dropout, "lr_cos": lr_cos, "clipnorm": clipnorm}
        )

    def _direction(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        if not state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
        b1, b2 = group["betas"]
        m, v = state["m"], state["v"]
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g - m, g - m, value=1 - b2)
        return m / (v.sqrt() + group["eps"])


class RMSprop(_DFLOptimizer):
    """DeepFaceLab's RMSprop (rho 0.9, eps outside the square root; see the module)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = SAEHD_LR,
        rho: float = 0.9,
        eps: float = EPSILON,
        *,
        lr_dropout: float = 1.0,
        lr_cos: int = 0,
        clipnorm: float = 0.0,
    ) -> None:
        if not 0 <= rho < 1:
            raise ValueError(f"invalid rho {rho}")
        defaults = {"lr": lr, "rho": rho, "eps": eps}
        super().__init__(
            params, defaults | {"lr_dropout": lr_dropout, "lr_cos": lr_cos, "clipnorm": clipnorm}
        )

    def _direction(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        if not state:
            state["a"] = torch.zeros_like(p)
        a = state["a"]
        a.mul_(group["rho"]).addcmul_(g, g, value=1 - group["rho"])
        return g / (a.sqrt() + group["eps"])


def lr_dropout_value(setting: Any) -> float:
    """DeepFaceLab's `lr_dropout` option ("y", "n", "cpu" or a bool) as the update probability: 0.3 on, 1.0
    off ("cpu" only chose where DeepFaceLab drew the masks)."""
    if isinstance(setting, bool):
        return LR_DROPOUT if setting else 1.0
    text = str(setting).strip().lower()
    if text in ("y", "yes", "true", "1", "on", "cpu"):
        return LR_DROPOUT
    if text in ("n", "no", "false", "0", "off"):
        return 1.0
    raise ValueError(f"lr_dropout must be y, n or cpu, got '{setting}'")


def make_optimizer(params: Iterable[Any], config: Any) -> _DFLOptimizer:
    """The optimiser a SAEHD config asks for: AdaBelief (`adabelief`) or RMSprop at `lr`, with lr dropout
    and its cosine modulation when `lr_dropout` is on (Quick96's lr dropout comes without the cosine) and a
    global-norm clip of 1.0 with `clipgrad`."""
    dropout = lr_dropout_value(config.lr_dropout)
    cosine = dropout < 1 and getattr(config, "preset", "") != "quick96"
    extras = {
        "lr_dropout": dropout,
        "lr_cos": LR_COS_PERIOD if cosine else 0,
        "clipnorm": 1.0 if config.clipgrad else 0.0,
    }
    if config.adabelief:
        return AdaBelief(params, lr=config.lr, **extras)
    return RMSprop(params, lr=config.lr, **extras)
