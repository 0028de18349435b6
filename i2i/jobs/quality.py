"""FID, KID and LPIPS beside an evaluation: which to compute, their feature networks, and the accumulator.

The feature networks' weights are given by catalogue name (the hub's own feature-network catalogue,
`i2i/hub/feature_networks.json`: downloaded into `$I2I_HOME/weights/` on first use, honouring
`I2I_OFFLINE` and `I2I_MIRROR`) or as a local path. The computations are `i2i.ops.quality`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from i2i.errors import UsageError
from i2i.ops import quality as ops

METRICS = ("fid", "kid", "lpips")
INCEPTION = "fid-inception-v3"
LPIPS_BACKBONE = "lpips-alexnet"


@dataclass(frozen=True)
class QualityOptions:
    """Which of FID/KID/LPIPS to compute and with which feature-network weights (names or paths)."""

    metrics: tuple[str, ...] = ()
    inception: str = INCEPTION
    lpips: str = LPIPS_BACKBONE
    kid_subsets: int = ops.KID_SUBSETS
    kid_subset_size: int = ops.KID_SUBSET_SIZE
    batch_size: int = 16

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise UsageError(f"unknown metric '{unknown[0]}'; choose from {', '.join(METRICS)}")


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """`"fid,kid"` -> ("fid", "kid"); `all` is every metric; empty is none."""
    names = [n.strip().lower() for n in (text or "").split(",") if n.strip()]
    return METRICS if names == ["all"] else tuple(dict.fromkeys(names))


def feature_weights(weights: str) -> Path:
    """A feature network's weights file: a path, or a catalogue name downloaded on first use."""
    from i2i.hub.resolve import resolve_weights

    path, _ = resolve_weights(weights)
    return path


@functools.lru_cache(maxsize=2)
def _inception(path: Path, device: str) -> torch.nn.Module:
    return ops.inception(path, device)


@functools.lru_cache(maxsize=2)
def _lpips(path: Path, device: str) -> torch.nn.Module:
    return ops.lpips_net(path, device)


class Quality:
    """Collects Inception features of real and generated images and LPIPS of (output, target) pairs,
    batch by batch, so no image set is kept in memory; `report()` gives the metrics asked for."""

    def __init__(self, options: QualityOptions, device: str | torch.device = "cpu") -> None:
        self.options = options
        self.device = str(device)
        self._real: list[torch.Tensor] = []
        self._fake: list[torch.Tensor] = []
        self._lpips: list[float] = []

    @property
    def wants_features(self) -> bool:
        return "fid" in self.options.metrics or "kid" in self.options.metrics

    def _features(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        net = _inception(feature_weights(self.options.inception), self.device)
        return ops.features(net, images, batch_size=self.options.batch_size)

    def add_real(self, images: Sequence[np.ndarray]) -> None:
        """Real images (the distribution the outputs are compared with), [0, 1] H x W x C."""
        if self.wants_features and images:
            self._real.append(self._features(images))

    def add_fake(self, images: Sequence[np.ndarray]) -> None:
        """Generated images, [0, 1] H x W x C."""
        if self.wants_features and images:
            self._fake.append(self._features(images))

    def real_from(self, other: Quality) -> Quality:
        """This accumulator with the real features `other` collected (one real set, several comparisons)."""
        self._real = list(other._real)
        return self

    def add_pairs(self, outputs: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> None:
        """LPIPS of each output against its target (same size)."""
        if "lpips" not in self.options.metrics:
            return
        net = _lpips(feature_weights(self.options.lpips), self.device)
        self._lpips.extend(ops.lpips_distance(net, o, t) for o, t in zip(outputs, targets, strict=True))

    def report(self) -> dict[str, float]:
        """{"fid", "kid_mean", "kid_std", "lpips"}: those asked for and measurable."""
        out: dict[str, float] = {}
        if self.wants_features:
            real, fake = (torch.cat(f) if f else torch.zeros(0, 2048) for f in (self._real, self._fake))
            if "fid" in self.options.metrics:
                out["fid"] = ops.fid(real, fake)
            if "kid" in self.options.metrics:
                out["kid_mean"], out["kid_std"] = ops.kid(
                    real, fake, subsets=self.options.kid_subsets, subset_size=self.options.kid_subset_size
                )
        if "lpips" in self.options.metrics and self._lpips:
            out["lpips"] = float(np.mean(self._lpips))
        return out


def quality_line(report: dict) -> str:
    """The metrics of a report as text, e.g. `FID 12.34, KID 0.0123 ± 0.0010, LPIPS 0.2100`; empty if none."""
    parts = []
    if "fid" in report:
        parts.append(f"FID {report['fid']:.2f}")
    if "kid_mean" in report:
        parts.append(f"KID {report['kid_mean']:.4f} ± {report['kid_std']:.4f}")
    if "lpips" in report:
        parts.append(f"LPIPS {report['lpips']:.4f}")
    return ", ".join(parts)
