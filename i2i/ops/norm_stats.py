"""Whole-image statistics for normalisation layers run tile by tile (`i2i.ops.tiled_translate`).

Instance normalisation (and batch normalisation run with each image's own statistics, as pix2pix's test
mode does) normalises every channel by the mean and variance of the WHOLE image's activations: a tile
normalised with its own statistics differs from the untiled result. `GlobalStatistics` hooks every such
layer of a network (found by walking it: `nn.InstanceNorm*` and i2i's own instance norm, which subclasses
it, and `_BatchNorm` layers that use their input's statistics) and, while a tile runs:

- normalises with frozen whole-image statistics, in place of the tile's own, in the layers that have them;
- accumulates one layer's per-channel mean and variance over the tile's own part (its core, without the
  context around it), combined over the tiles exactly (Chan et al.'s parallel update, in float64), and
  stops the tile's forward pass there.

Layers are told apart by the order they run in within one forward pass, so a layer called twice is two
entries. Layer k's statistics depend on how the layers before it normalised, so `i2i.ops.tiled_translate`
collects them layer by layer: a pass over the tiles per layer, each with the layers before it frozen.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm


def uses_input_statistics(module: nn.Module) -> bool:
    """True for a normalisation layer that normalises with the statistics of its input, now: instance
    norm without running statistics (or told to use its input's, `instance_statistics`), and batch norm in
    training mode or with per-image statistics (`instance_statistics`, set by pix2pix's test mode)."""
    if isinstance(module, (_InstanceNorm, _BatchNorm)):
        own = getattr(module, "instance_statistics", False)
        return bool(module.training or not module.track_running_stats or own)
    return False


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of each channel, in float64."""

    count: float = 0.0
    mean: torch.Tensor | None = None
    m2: torch.Tensor | None = None

    def add(self, part: torch.Tensor) -> None:
        n = float(part.numel() // part.shape[1])
        if n == 0:
            return
        var, mean = torch.var_mean(part.float(), dim=(0, 2, 3), correction=0)
        mean, m2 = mean.double().cpu(), var.double().cpu() * n
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, biased variance) per channel."""
        assert self.mean is not None and self.m2 is not None
        return self.mean, self.m2 / self.count


class LayerCollected(Exception):
    """Raised by the hook once the statistics asked for are collected: the rest of the tile's forward
    pass is not needed in a statistics pass."""


@dataclass
class GlobalStatistics:
    """Per-layer statistics over whole images, collected and applied tile by tile (see the module).

    Layer `collect` (by call order) accumulates its input's statistics, after which the tile's forward pass
    stops (`LayerCollected`); layers before it normalise with `frozen`. `collect` None: every layer
    normalises with `frozen` (the output pass); a layer without frozen statistics uses the tile's own."""

    #: statistics normalised with, by call order: (mean, variance) per channel
    frozen: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    collect: int | None = None
    moments: Moments = field(default_factory=Moments)
    #: how many layers normalising with input statistics the last tile ran (all of them unless stopped)
    calls: int = 0
    #: the tile's own part, as fractions of its input window: (top, bottom, left, right)
    region: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)
    _device: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def start_tile(self, region: tuple[float, float, float, float]) -> None:
        """Before each tile: the part of its window the tile is responsible for."""
        self.region = region
        self.calls = 0

    def freeze(self) -> None:
        """Normalise layer `collect` with what was collected from now on."""
        assert self.collect is not None
        self.frozen[self.collect] = self.moments.result()
        self.moments = Moments()

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        if not uses_input_statistics(module) or not inputs or not isinstance(inputs[0], torch.Tensor):
            return None
        x = inputs[0]
        k = self.calls
        self.calls += 1
        if k == self.collect:
            h, w = x.shape[-2:]
            top, bottom, left, right = self.region
            self.moments.add(x[..., round(top * h) : round(bottom * h), round(left * w) : round(right * w)])
            raise LayerCollected
        if k not in self.frozen:
            return None
        if k not in self._device:
            mean, var = self.frozen[k]
            scale = (var + float(getattr(module, "eps", 1e-5))).rsqrt()
            self._device[k] = (mean.float().to(x.device), scale.float().to(x.device))
        mean, scale = self._device[k]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = x.float() - mean.view(shape)  # one new tensor, the rest in place: a layer's memory as before
        y.mul_(scale.view(shape))
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if weight is not None:
            y.mul_(weight.float().view(shape))
        if bias is not None:
            y.add_(bias.float().view(shape))
        return y.to(output.dtype if isinstance(output, torch.Tensor) else x.dtype)


def normalisation_layers(networks: list[nn.Module]) -> list[nn.Module]:
    """The layers of `networks` that may normalise with their input's statistics (instance and batch
    norm; which of them do is decided as each runs, `uses_input_statistics`)."""
    return [m for net in networks for m in net.modules() if isinstance(m, (_InstanceNorm, _BatchNorm))]


@contextmanager
def hooked(networks: list[nn.Module], statistics: GlobalStatistics):
    """`statistics` collecting from, and normalising, the normalisation layers of `networks`."""
    handles = [m.register_forward_hook(statistics._hook) for m in normalisation_layers(networks)]
    try:
        yield statistics
    finally:
        for handle in handles:
            handle.remove()
