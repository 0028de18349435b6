"""Translation in bounded memory: any model's network over an image of any size (`i2i translate`).

Images whose activations fit the memory budget run whole. Above it (or with `--tile N`):

- A network that normalises with whole-image statistics (instance norm; batch norm with per-image
  statistics, as pix2pix's default test mode) runs layer by layer (`i2i.ops.layerwise`): each operation
  over the whole image in bands of rows, intermediate activations in temporary files, so each
  normalisation layer's statistics are exact and nothing runs twice; the output equals the untiled one up
  to float rounding.
- Any other network (and one layer-by-layer execution does not know: `layerwise.Unsupported`) runs in
  tiles. The image (already padded as the untiled path pads it) is cut as `i2i.ops.tiling` cuts it in
  `blend` mode (`i2i.ops.tile_plan`): tiles on multiples of the network's size multiple, each reading
  `context` pixels beyond a blending band `2 * context` wide that it shares with its neighbours, where the
  outputs are blended with raised-cosine weights that sum to 1. Only one tile's activations exist at a
  time; the input and the output are held whole (in the network's value range, float32).

  In tiles, normalisation with whole-image statistics is made global by `i2i.ops.norm_stats`, layer by
  layer: a statistics pass over all tiles per such layer k, in the order they run, in which layers 1..k-1
  normalise with the whole-image statistics already collected and layer k's input is accumulated over each
  tile's own part (the parts partition the image), after which the tile's forward pass stops; then the
  output pass with every layer's statistics frozen. That is exact up to what the tiles' limited context
  changes, and costs one partial forward pass per layer (for a ResNet generator with n blocks, about
  (2n + 5) / 2 more full passes): the fallback for networks layer-by-layer execution cannot run.

A model's `tile_context` (about its receptive-field radius) is the default context; a model whose
`tile_context` is None is never tiled nor run layer by layer (`Model.tile_context`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from i2i.errors import I2IError, UsageError
from i2i.ops import layerwise, tile_plan
from i2i.ops.norm_stats import GlobalStatistics, LayerCollected, hooked
from i2i.ops.tile_memory import MIN_TILE, activation_bytes_per_pixel, available_memory, probe_side
from i2i.ops.tile_plan import Plan

if TYPE_CHECKING:
    from i2i.model import Model

Run = Callable[[torch.Tensor], torch.Tensor]


def configure(model: Model, tile: int | None, overlap: int | None) -> None:
    """Set how `model` tiles translations (`Model.translate_tile`, `translate_tile_overlap`), checked:
    `tile` None (tiles only over the memory budget), 0 (never) or a side; `overlap` None (the model's
    `tile_context`) or pixels."""
    if (tile is not None and tile < 0) or (overlap is not None and overlap < 0):
        raise UsageError("--tile and --tile-overlap must not be negative")
    if model.tile_context is None and (tile or overlap is not None):
        raise UsageError(
            f"{model.name} is not tiled (its networks see the whole image at a fixed size, or tiles would "
            "change what it does): drop --tile and --tile-overlap"
        )
    model.translate_tile = tile
    model.translate_tile_overlap = overlap


def tile_side(model: Model, run: Run, x: torch.Tensor, tile: int | None, context: int) -> int:
    """The tile side for the (padded) batch `x`: 0 to run it whole. `tile` None: whole when its
    activations fit the memory budget (`i2i.ops.tile_memory.available_memory`), else the largest tile
    that fits with its context."""
    if tile is not None and tile < 0:
        raise UsageError(f"--tile must not be negative, not {tile}")
    height, width = x.shape[-2:]
    m = model.size_multiple()
    if tile is None:
        try:
            per_pixel = activation_bytes_per_pixel(model, run, x.shape[1])
        except (RuntimeError, ValueError, TypeError, I2IError):
            return 0  # the network takes no small probe (e.g. conditions sized like the image): run it whole
        budget = available_memory(model.device)
        if per_pixel * height * width * x.shape[0] <= budget:
            return 0
        tile = math.isqrt(int(budget / per_pixel)) - 4 * context
        tile = max(tile // m * m, tile_plan.round_up(MIN_TILE, m))
    if tile == 0 or (tile >= height and tile >= width):
        return 0
    return max(tile // m * m, m)


def _one_pass(run: Run, x: torch.Tensor, cut: Plan, statistics: GlobalStatistics) -> torch.Tensor | None:
    """Every tile of `x` through `run`, blended into a new float32 host tensor; None for a statistics pass
    (every tile stopped once its statistics were collected)."""
    height, width = x.shape[-2:]
    out: torch.Tensor | None = None
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1
    for row in cut.rows:
        for col in cut.cols:
            window = x[..., row.window_start : row.window_stop, col.window_start : col.window_stop]
            if channels_last:
                window = window.contiguous(memory_format=torch.channels_last)
            h, w = row.window_stop - row.window_start, col.window_stop - col.window_start
            statistics.start_tile(
                (
                    (row.start - row.window_start) / h,
                    (row.stop - row.window_start) / h,
                    (col.start - col.window_start) / w,
                    (col.stop - col.window_start) / w,
                )
            )
            try:
                y = run(window)
            except LayerCollected:
                continue  # a statistics pass: the tile's output is not needed
            if y.shape[-2:] != window.shape[-2:]:
                raise UsageError(
                    f"tiled translation needs a network whose output has its input's size; this one turns "
                    f"{tuple(window.shape[-2:])} into {tuple(y.shape[-2:])} (use --tile 0)"
                )
            if out is None:
                out = torch.zeros((x.shape[0], y.shape[1], height, width), dtype=torch.float32)
            (r0, r1), (c0, c1) = row.output_range(1), col.output_range(1)
            part = y[
                ...,
                r0 - row.window_start : r1 - row.window_start,
                c0 - col.window_start : c1 - col.window_start,
            ]
            part = part.float().cpu()
            wy, wx = row.weights(1), col.weights(1)
            if wy is not None:
                part = part * torch.from_numpy(wy)[:, None]
            if wx is not None:
                part = part * torch.from_numpy(wx)
            out[..., r0:r1, c0:c1] += part
    return out


def forward(model: Model, x: torch.Tensor, conditions: dict[str, Any]) -> torch.Tensor:
    """`model.forward_tensor(x, **conditions)` for a padded batch `x` (what `Model.translate_images`
    runs): tile by tile when `model.translate_tile` asks for it, or when the image is over the memory
    budget and `translate_tile` is None; whole otherwise, and always for a model whose `tile_context` is
    None."""
    overlap = model.translate_tile_overlap
    context = overlap if overlap is not None else model.tile_context
    if context is None or model.translate_tile == 0:
        return model.forward_tensor(x, **conditions)

    def run(t: torch.Tensor) -> torch.Tensor:
        return model.forward_tensor(t, **conditions)

    tile = tile_side(model, run, x, model.translate_tile, context)
    if tile == 0:
        return model.forward_tensor(x, **conditions)
    networks = [model.networks[n] for n in model.required_networks(conditions) if n in model.networks]
    try:  # exact, and each layer once, for networks that normalise with whole-image statistics
        return layerwise.forward(run, x, networks, budget=_band_budget(model, run, x, tile),
                                 probe_side=probe_side(model))  # fmt: skip
    except layerwise.Unsupported:
        pass  # no such layer (tiles cost nothing extra then), or an operation it does not know
    return tiled_forward(run, x, networks, tile=tile, context=context, multiple=model.size_multiple())


def _band_budget(model: Model, run: Run, x: torch.Tensor, tile: int) -> int:
    """Bytes for one band of layer-by-layer translation: what a tile of `tile` pixels would take when
    `--tile` is given, the memory budget otherwise."""
    if model.translate_tile:
        try:
            return int(tile * tile * activation_bytes_per_pixel(model, run, x.shape[1]))
        except (RuntimeError, ValueError, TypeError, I2IError):
            pass
    return available_memory(model.device)


def tiled_forward(
    run: Run,
    x: torch.Tensor,
    networks: list[nn.Module],
    *,
    tile: int,
    context: int,
    multiple: int = 1,
    notify: Callable[[str], None] | None = None,
) -> torch.Tensor:
    """`run(x)` computed tile by tile (see the module): `x` is N x C x H x W (H and W multiples of
    `multiple`) in the network's value range; `networks` are those `run` uses (their normalisation
    layers get whole-image statistics). Returns the output as float32 on the host. Each image of a batch
    is tiled on its own (statistics are per image)."""
    if x.shape[0] != 1:
        return torch.cat([tiled_forward(run, x[i : i + 1], networks, tile=tile, context=context,
                                        multiple=multiple, notify=notify)
                          for i in range(x.shape[0])])  # fmt: skip
    if context < 0:
        raise UsageError(f"--tile-overlap must not be negative, not {context}")
    height, width = x.shape[-2:]
    cut = tile_plan.plan(height, width, multiple, tile=tile, tile_pad=context, pre_pad=0, mode="blend")
    statistics = GlobalStatistics()
    with hooked(networks, statistics):
        while True:  # a statistics pass per layer; the pass whose tiles run to the end is the output pass
            statistics.collect = len(statistics.frozen)
            out = _one_pass(run, x, cut, statistics)
            if out is not None:
                break
            statistics.freeze()
    if notify is not None:
        notify(f"{cut.count} tiles, {len(statistics.frozen)} whole-image normalisation statistics")
    return out
