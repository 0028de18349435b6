"""Memory for tiled inference: how large a tile the device can take, and what an allocation failure is.

`auto_tile` sizes tiles from the free memory of the device and the network's activation memory per pixel,
measured once per model with a small probe; `cap_tile` lowers it for a model after an out-of-memory error.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from i2i.ops.tile_plan import round_up
from i2i.runtime import autocast, uses_channels_last

if TYPE_CHECKING:
    from i2i.model import Model

DEFAULT_TILE_PAD = 10
#: the smallest tile side the out-of-memory fallback goes down to
MIN_TILE = 32
#: CPU: larger tiles are slower per pixel (their activations fall out of the caches) and take more memory
CPU_MAX_TILE = 256
#: CPU: share of the available memory, and a ceiling, for one tile's activations
CPU_MEMORY_SHARE = 0.25
CPU_MEMORY_CEILING = 1 << 30
#: CUDA: share of the free memory (plus what torch has cached) for one tile's activations
CUDA_MEMORY_SHARE = 0.6
#: activation bytes per pixel = this x the largest (input + output) of one layer in the probe
ACTIVATION_SAFETY = 2.0
_PROBE_SIDE = 32


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the errors a smaller tile can avoid: device or host allocation failures."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate" in text)


def available_memory(device: torch.device) -> int:
    """Bytes one tile's activations may use on `device`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(CUDA_MEMORY_SHARE * (free + cached))
    if device.type == "mps":
        mps = torch.mps
        return int(CPU_MEMORY_SHARE * (mps.recommended_max_memory() - mps.driver_allocated_memory()))
    return int(min(CPU_MEMORY_SHARE * _host_available(), CPU_MEMORY_CEILING))


def _host_available() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


_PER_PIXEL: weakref.WeakKeyDictionary[Model, float] = weakref.WeakKeyDictionary()
_TILE_CAP: weakref.WeakKeyDictionary[Model, int] = weakref.WeakKeyDictionary()


def forward(model: Model, x: torch.Tensor) -> torch.Tensor:
    """1x3xhxw in [0, 1] on the host -> the network's output as float32 in [0, 1] terms, on the device."""
    lo, hi = model.value_range
    x = x.to(model.device)
    if (lo, hi) != (0.0, 1.0):
        x = x * (hi - lo) + lo
    if uses_channels_last(model.device, model.networks.values()):
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(model.device, model.precision):
        y = model.forward_tensor(x)
    y = y.float()
    return y if (lo, hi) == (0.0, 1.0) else (y - lo) / (hi - lo)


def activation_bytes_per_pixel(
    model: Model, run: Callable[[torch.Tensor], torch.Tensor] | None = None, channels: int | None = None
) -> float:
    """Device bytes one input pixel costs in a forward pass, from a probe on a small tile (cached per
    model). `run` is the forward to probe (default `forward`, upscaling's; translation passes its own with
    the conditions), `channels` its input's (default the model's).

    The probe records every layer's input and output sizes in the model's precision; the peak of a layer
    (what it reads plus what it writes, at most) times `ACTIVATION_SAFETY` covers the residuals and
    concatenations held beside it."""
    if model in _PER_PIXEL:
        return _PER_PIXEL[model]
    peak = [0]

    def record(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        peak[0] = max(peak[0], sum(t.numel() * t.element_size() for t in tensors))

    modules = [m for net in model.networks.values() for m in net.modules()]
    leaves = [m for m in modules if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(record) for m in leaves]
    side = probe_side(model)
    probe = torch.zeros(1, channels or model.input_channels, side, side)
    try:
        if run is None:
            forward(model, probe)
        else:
            run(probe.to(model.device))
    finally:
        for handle in handles:
            handle.remove()
    _PER_PIXEL[model] = ACTIVATION_SAFETY * peak[0] / (side * side)
    return _PER_PIXEL[model]


def probe_side(model: Model) -> int:
    """The side of a small probe image `model` takes (its size multiple and minimum size respected)."""
    return max(round_up(_PROBE_SIDE, model.size_multiple()), model.min_size())


def auto_tile(model: Model, tile_pad: int = DEFAULT_TILE_PAD) -> int:
    """The tile side (input pixels, without the ramps and context: `4 * tile_pad` more) that fits the
    device's free memory."""
    side = math.isqrt(int(available_memory(model.device) / activation_bytes_per_pixel(model))) - 4 * tile_pad
    if model.device.type == "cpu":
        side = min(side, CPU_MAX_TILE)
    side = min(side, _TILE_CAP.get(model, side))
    m = model.size_multiple()
    return max(side // m * m, round_up(MIN_TILE, m))


def cap_tile(model: Model, side: int) -> None:
    """Never size tiles above `side` for `model` again (after an out-of-memory error at a larger one)."""
    _TILE_CAP[model] = min(_TILE_CAP.get(model, side), side)
