"""How tiled inference cuts an image: tiles along each axis, the context each reads, the blending ramps
where neighbours overlap, and the reflection padding on the right and bottom edges (see `i2i.ops.tiling`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in padded input pixels: the core it is responsible for, the window it
    reads (core plus context, clipped) and the half-widths of its blending ramps at either end."""

    start: int
    stop: int
    window_start: int
    window_stop: int
    ramp_start: int
    ramp_stop: int

    def output_range(self, scale: int) -> tuple[int, int]:
        """The output pixels this tile contributes to (its core and ramps), at `scale`."""
        return (self.start - self.ramp_start) * scale, (self.stop + self.ramp_stop) * scale

    def weights(self, scale: int) -> np.ndarray | None:
        """Blending weight of each output pixel in `output_range`, None where all are 1."""
        if not (self.ramp_start or self.ramp_stop):
            return None
        lo, hi = self.output_range(scale)
        centres = np.arange(lo, hi, dtype=np.float64) + 0.5
        w = np.ones(hi - lo)
        if self.ramp_start:
            t = np.clip((centres - lo) / (2 * self.ramp_start * scale), 0.0, 1.0)
            w *= np.sin(0.5 * np.pi * t) ** 2
        if self.ramp_stop:
            edge = (self.stop - self.ramp_stop) * scale
            t = np.clip((centres - edge) / (2 * self.ramp_stop * scale), 0.0, 1.0)
            w *= np.cos(0.5 * np.pi * t) ** 2
        return w.astype(np.float32)


def round_up(value: int, multiple: int) -> int:
    """`value` rounded up to a multiple of `multiple`."""
    return -(-value // multiple) * multiple


def _spans(length: int, tile: int, pad: int, multiple: int, mode: str) -> list[Span]:
    """Tiles along an axis of `length` padded pixels (a multiple of `multiple`)."""
    if tile <= 0 or tile >= length:
        return [Span(0, length, 0, length, 0, 0)]
    if mode == "reference":
        bounds = [*range(0, length, tile), length]
    else:
        # Equal tiles rather than full ones and a sliver: the ramps need room on every tile.
        count = math.ceil(length / tile)
        bounds = sorted({round(k * length / count / multiple) * multiple for k in range(count + 1)})
    ramp = 0
    if mode == "blend":
        room = min(b - a for a, b in pairwise(bounds)) // 2 // multiple * multiple
        ramp = min(pad, room)
    last = len(bounds) - 2
    spans = []
    for k, (a, b) in enumerate(pairwise(bounds)):
        before, after = (ramp if k > 0 else 0), (ramp if k < last else 0)
        # The context lies beyond the ramps: every output kept has at least `pad` pixels of it.
        spans.append(Span(a, b, max(a - before - pad, 0), min(b + after + pad, length), before, after))
    return spans


def _reflect(index: np.ndarray, size: int) -> np.ndarray:
    """Indices past the end mirrored without repeating the edge (torch's "reflect"), for any overshoot."""
    if size == 1:
        return np.zeros_like(index)
    period = 2 * size - 2
    folded = index % period
    return np.where(folded < size, folded, period - folded)


def _source_indices(length: int, pre_pad: int, padded: int) -> np.ndarray:
    """Where each padded pixel comes from: reflect by `pre_pad`, then reflect that up to `padded`."""
    after_pre = _reflect(np.arange(padded), length + pre_pad)
    return _reflect(after_pre, length)


@dataclass(frozen=True)
class Plan:
    """The tiles of one image: spans along rows and columns, and where each padded pixel comes from."""

    rows: list[Span]
    cols: list[Span]
    row_index: np.ndarray
    col_index: np.ndarray

    @property
    def count(self) -> int:
        """The number of tiles."""
        return len(self.rows) * len(self.cols)


def plan(
    height: int, width: int, multiple: int, *, tile: int, tile_pad: int, pre_pad: int, mode: str
) -> Plan:
    """The tiles of a `height` x `width` image for a network whose input sides must be multiples of
    `multiple`: `tile` rounded down and `tile_pad` up to one (`tile` 0: one tile)."""
    m = multiple
    padded_h = round_up(height + pre_pad, m)
    padded_w = round_up(width + pre_pad, m)
    if tile > 0:
        tile = max(tile // m * m, m)
    pad = round_up(tile_pad, m)
    return Plan(
        _spans(padded_h, tile, pad, m, mode),
        _spans(padded_w, tile, pad, m, mode),
        _source_indices(height, pre_pad, padded_h),
        _source_indices(width, pre_pad, padded_w),
    )
