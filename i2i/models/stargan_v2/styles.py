"""Styles: the conditions of each style when an image is made in several, and the style codes of
latent-guided translation: seeded latents (latent k of a seed is the same whatever the count), a domain's
mean style and the truncation trick towards it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from i2i.errors import UsageError

#: latents averaged for the truncation trick's mean style (upstream: 10,000)
MEAN_STYLE_LATENTS = 10_000


def latents(seed: int, count: int, latent_dim: int) -> torch.Tensor:
    """`count` latents z ~ N(0, I) (CPU) drawn from a generator seeded with `seed`: latent k is the same
    for any count > k."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, latent_dim, generator=generator)


def mean_style(mapping: nn.Module, y: int, z: torch.Tensor) -> torch.Tensor:
    """(1, style_dim): the mean style of domain `y` over latents `z` (the truncation trick's centre)."""
    labels = torch.full((z.shape[0],), y, dtype=torch.long, device=z.device)
    return mapping(z, labels).mean(0, keepdim=True)


def truncate(s: torch.Tensor, s_avg: torch.Tensor, psi: float) -> torch.Tensor:
    """lerp(s_avg, s, psi): psi 1 keeps `s`, 0 gives the mean style."""
    return torch.lerp(s_avg.expand_as(s), s, psi)


def style_conditions(num_styles: int, references: list[Any], seed: int, psi: float) -> list[dict[str, Any]]:
    """The translation conditions of each style: one per reference (then `num_styles` must be 1 or their
    number), else latents 0..num_styles-1 of `seed`."""
    if references:
        if num_styles not in (1, len(references)):
            raise UsageError(
                f"num_styles={num_styles} with {len(references)} reference image(s): reference-guided "
                "translation makes one style per reference; give more references"
            )
        return [{"reference": ref} for ref in references]
    if num_styles < 1:
        raise UsageError(f"num_styles must be at least 1, not {num_styles}")
    return [{"style_index": k, "seed": seed, "psi": psi} for k in range(num_styles)]
