"""Tiled inference for super-resolution models: bounded device and host memory at any image size.

Only one tile (with its context) is on the device at a time. Each tile's output goes into a
preallocated uint8/uint16 image as it comes off the device, rounded; only where tiles overlap is output
summed in float (a few rows across the image, a few columns beside the current tile), so host memory
stays near the size of the output image.

Two ways to cut an image:

- `blend` (default): neighbouring tiles share a band `2 * tile_pad` input pixels wide across which their
  outputs are blended with a raised-cosine ramp (the weights sum to 1), and each tile reads `tile_pad`
  pixels of context beyond that band, so every output pixel has at least `tile_pad` pixels of context
  (as in `reference`) and no seam: the output changes smoothly from one tile to the next.
- `reference`: exactly Real-ESRGAN's `RealESRGANer` (reflect pre-pad and mod pad on the right and bottom,
  tiles of `tile` pixels with `tile_pad` of context clipped at the border, only each tile's core kept). It
  reproduces upstream outputs, seams included.

Both pad the right and bottom edges by reflection: `pre_pad` pixels, then up to the model's
`size_multiple()` (pixel-unshuffle x2/x1 networks need even / multiple-of-4 sizes), and tile boundaries
lie on multiples of that size multiple (upstream fails for x2/x1 models when `tile` or `tile_pad` is not
one; here `tile` is rounded down and `tile_pad` up to one).

`tile=None` sizes tiles from the free memory of the device and the network's activation memory per
pixel (measured once per model with a small probe); `tile=0` runs the whole image at once. On an
out-of-memory error the tile side is halved and the image retried, down to `MIN_TILE`.

`resize` is OpenCV's `cv2.resize` with `INTER_LANCZOS4` or `INTER_LINEAR` (what upstream uses for
`outscale` and for alpha), reimplemented in numpy, bit-exact for uint8 (fixed point, as OpenCV).
"""

from __future__ import annotations

import math
import os
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from i2i.errors import I2IError, UsageError
from i2i.io.imageio import ImageData, luma, quantize
from i2i.model import Model
from i2i.runtime import autocast, uses_channels_last

MODES: tuple[str, ...] = ("blend", "reference")
ALPHA_UPSAMPLERS: tuple[str, ...] = ("model", "resize")
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
_FLUSH_ROWS = 64

Progress = Callable[[int, int], None]
Notify = Callable[[str], None]


# -------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Span:
    """One tile along one axis, in padded input pixels: the core it is responsible for, the window it
    reads (core plus context, clipped) and the half-widths of its blending ramps at either end."""

    start: int
    stop: int
    window_start: int
    window_stop: int
    ramp_start: int
    ramp_stop: int

    def output_range(self, scale: int) -> tuple[int, int]:
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


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _spans(length: int, tile: int, pad: int, multiple: int, mode: str) -> list[_Span]:
    """Tiles along an axis of `length` padded pixels (a multiple of `multiple`)."""
    if tile <= 0 or tile >= length:
        return [_Span(0, length, 0, length, 0, 0)]
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
        spans.append(_Span(a, b, max(a - before - pad, 0), min(b + after + pad, length), before, after))
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


# ---------------------------------------------------------------------------------------------- memory


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


def activation_bytes_per_pixel(model: Model) -> float:
    """Device bytes one input pixel costs in a forward pass, from a probe on a small tile (cached).

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
    side = _round_up(_PROBE_SIDE, model.size_multiple())
    try:
        _forward(model, torch.zeros(1, model.input_channels, side, side))
    finally:
        for handle in handles:
            handle.remove()
    _PER_PIXEL[model] = ACTIVATION_SAFETY * peak[0] / (side * side)
    return _PER_PIXEL[model]


def auto_tile(model: Model, tile_pad: int = DEFAULT_TILE_PAD) -> int:
    """The tile side (input pixels, without the ramps and context: `4 * tile_pad` more) that fits the
    device's free memory."""
    side = math.isqrt(int(available_memory(model.device) / activation_bytes_per_pixel(model))) - 4 * tile_pad
    if model.device.type == "cpu":
        side = min(side, CPU_MAX_TILE)
    side = min(side, _TILE_CAP.get(model, side))
    m = model.size_multiple()
    return max(side // m * m, _round_up(MIN_TILE, m))


# ---------------------------------------------------------------------------------------------- engine


def check_model(model: Model) -> None:
    """Raise `I2IError` unless the model can upscale: its inference networks loaded, 1 or 3 channels in and
    out (grey networks see the luma of colour images; a grey output fills every channel)."""
    missing = [n for n in model.required_networks({}) if n not in model.loaded]
    if missing:
        raise I2IError(
            f"{model.name} needs network {', '.join(missing)} to upscale, but these weights hold only "
            f"{', '.join(sorted(model.loaded)) or 'none'}"
        )
    if model.input_channels not in (1, 3) or model.output_channels not in (1, 3):
        raise I2IError(
            f"tiled upscaling needs a network with 1 or 3 input and output channels (grey or colour); this "
            f"{model.name} has {model.input_channels} and {model.output_channels}"
        )


def _ready(model: Model) -> None:
    check_model(model)
    model._prepare_inference()


def _forward(model: Model, x: torch.Tensor) -> torch.Tensor:
    """1x3xhxw in [0, 1] on the host -> the network's output as float32 in [0, 1] terms, on the device."""
    lo, hi = model.value_range
    x = x.to(model.device)
    if (lo, hi) != (0.0, 1.0):
        x = x * (hi - lo) + lo
    if uses_channels_last(model.device):
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(model.device, model.precision):
        y = model.forward_tensor(x)
    y = y.float()
    return y if (lo, hi) == (0.0, 1.0) else (y - lo) / (hi - lo)


@dataclass(frozen=True)
class _Plan:
    rows: list[_Span]
    cols: list[_Span]
    row_index: np.ndarray
    col_index: np.ndarray

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)


def _plan(model: Model, height: int, width: int, tile: int, tile_pad: int, pre_pad: int, mode: str) -> _Plan:
    m = model.size_multiple()
    padded_h = _round_up(height + pre_pad, m)
    padded_w = _round_up(width + pre_pad, m)
    if tile > 0:
        tile = max(tile // m * m, m)
    pad = _round_up(tile_pad, m)
    return _Plan(
        _spans(padded_h, tile, pad, m, mode),
        _spans(padded_w, tile, pad, m, mode),
        _source_indices(height, pre_pad, padded_h),
        _source_indices(width, pre_pad, padded_w),
    )


def _tile_output(model: Model, pixels: np.ndarray, plan: _Plan, row: _Span, col: _Span) -> torch.Tensor:
    """One tile's output over its contribution region, weighted by its ramps: 3 x h x w on the device."""
    s = model.scale
    rows = plan.row_index[row.window_start : row.window_stop]
    cols = plan.col_index[col.window_start : col.window_stop]
    x = torch.from_numpy(pixels[np.ix_(rows, cols)]).permute(2, 0, 1)[None]
    if model.input_channels == 1 and x.shape[1] == 3:
        x = torch.from_numpy(luma(pixels[np.ix_(rows, cols)]).astype(np.float32)).permute(2, 0, 1)[None]
    y = _forward(model, x.expand(-1, model.input_channels, -1, -1))
    (r0, r1), (c0, c1) = row.output_range(s), col.output_range(s)
    oy, ox = row.window_start * s, col.window_start * s
    y = y[0, :, r0 - oy : r1 - oy, c0 - ox : c1 - ox]
    wy, wx = row.weights(s), col.weights(s)
    if wy is not None:
        y.mul_(torch.from_numpy(wy).to(y.device)[:, None])
    if wx is not None:
        y.mul_(torch.from_numpy(wx).to(y.device))
    return y


def _run(model: Model, pixels: np.ndarray, out: np.ndarray, plan: _Plan, progress: Progress | None) -> None:
    """All tiles into `out`. Only the ramps, where tiles overlap, are summed in float: the rows shared
    with the next tile row (`below`, all columns) and the columns shared with the next tile (`right`);
    the rest of each tile is final as it comes off the device and goes straight into `out`."""
    s = model.scale
    out_h, out_w = out.shape[:2]

    def host(
        y: torch.Tensor, origin: tuple[int, int], rows: tuple[int, int], cols: tuple[int, int]
    ) -> np.ndarray:
        (ra, rb), (ca, cb), (r0, c0) = rows, cols, origin
        return y[:, ra - r0 : rb - r0, ca - c0 : cb - c0].permute(1, 2, 0).cpu().numpy()

    above: np.ndarray | None = None  # the ramp rows this tile row shares with the one above
    done = 0
    for row in plan.rows:
        r0, r1 = (min(v, out_h) for v in row.output_range(s))
        mid0 = min(r0 + 2 * row.ramp_start * s, out_h)
        mid1 = min((row.stop - row.ramp_stop) * s, out_h)
        below = np.zeros((r1 - mid1, out_w, model.output_channels), np.float32)
        right: np.ndarray | None = None
        flushed = 0
        for col in plan.cols:
            c0, c1 = (min(v, out_w) for v in col.output_range(s))
            in0 = min(c0 + 2 * col.ramp_start * s, out_w)
            in1 = min((col.stop - col.ramp_stop) * s, out_w)
            with torch.inference_mode():
                y = _tile_output(model, pixels, plan, row, col)
                origin = (row.output_range(s)[0], col.output_range(s)[0])
                if above is not None:
                    above[:, c0:c1] += host(y, origin, (r0, mid0), (c0, c1))
                below[:, c0:c1] += host(y, origin, (mid1, r1), (c0, c1))
                if right is not None:
                    right += host(y, origin, (mid0, mid1), (c0, in0))
                    _flush(right, out, mid0, c0)
                for top in range(mid0, mid1, _FLUSH_ROWS):
                    bottom = min(top + _FLUSH_ROWS, mid1)
                    _flush(host(y, origin, (top, bottom), (in0, in1)), out, top, in0)
                right = host(y, origin, (mid0, mid1), (in1, c1)).copy()
            if above is not None:
                _flush(above[:, flushed:in1], out, r0, flushed)
                flushed = in1
            done += 1
            if progress is not None:
                progress(done, plan.count)
        above = below


def _flush(values: np.ndarray, out: np.ndarray, top: int, left: int) -> None:
    """Finished float colour (the network's output) -> `out` at (top, left), in out's channels and dtype."""
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(out.dtype)
    width = values.shape[1]
    for k in range(0, len(values), _FLUSH_ROWS):
        chunk = values[k : k + _FLUSH_ROWS]
        if out.shape[2] == 1 and chunk.shape[2] == 3:
            chunk = luma(np.clip(chunk, 0.0, 1.0))  # upstream: clamp, then BGR2GRAY
        target = out[top + k : top + k + len(chunk), left : left + width]
        target[...] = quantize(chunk, bits) if bits else chunk


def upscale_array(
    model: Model,
    pixels: np.ndarray,
    *,
    tile: int | None = None,
    tile_pad: int = DEFAULT_TILE_PAD,
    pre_pad: int = 0,
    mode: str = "blend",
    out_dtype: type | np.dtype = np.uint8,
    out: np.ndarray | None = None,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> np.ndarray:
    """Upscale float32 H x W x 3 (or x 1, grey) pixels in [0, 1] by `model.scale`, tile by tile.

    Returns H*s x W*s x C in `out_dtype` (or writes into `out`, which may be a view): uint8/uint16 are
    clamped and rounded; float32 is the network's output as is (colour: not clamped, like upstream's
    `tile_process`; grey: the luma of the clamped colour, like upstream's BGR2GRAY). Grey pixels run
    through the network as three equal channels. `tile`: the side of each tile's own part in input
    pixels (None: from free memory; 0: whole image); a tile reads `tile_pad` more on each side in
    `reference` mode, `2 * tile_pad` in `blend` mode (ramp and context). `pre_pad`: reflect-pad the right
    and bottom edges first. `progress(done, total)` is called after each tile; `notify` gets one-line
    notices (the out-of-memory fallback; default: a `RuntimeWarning`).
    """
    if mode not in MODES:
        raise UsageError(f"unknown tile mode '{mode}'; use {' or '.join(MODES)}")
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise I2IError(f"expected H x W x 3 or H x W x 1 pixels, got shape {pixels.shape}")
    pixels = np.asarray(pixels, dtype=np.float32)
    if min(tile or 0, tile_pad, pre_pad) < 0:
        raise UsageError("tile, tile_pad and pre_pad must not be negative")
    _ready(model)
    height, width, channels = pixels.shape
    shape = (height * model.scale, width * model.scale, channels)
    if out is None:
        out = np.empty(shape, out_dtype)
    elif out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    size = auto_tile(model, tile_pad) if tile is None else tile
    while True:
        plan = _plan(model, height, width, size, tile_pad, pre_pad, mode)
        try:
            _run(model, pixels, out, plan, progress)
            return out
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            longest = max(plan.rows[-1].stop, plan.cols[-1].stop)
            smaller = _round_up(min(size or longest, longest) // 2, model.size_multiple())
            if smaller < MIN_TILE:
                hint = (
                    "free some memory"
                    if model.device.type == "cpu"
                    else "free device memory or use --device cpu"
                )
                raise I2IError(f"out of memory on {model.device} even with {size}px tiles; {hint}") from None
            if model.device.type == "cuda":
                torch.cuda.empty_cache()
            (notify or _warn)(
                f"out of memory with {size or longest}px tiles on {model.device}; retrying with {smaller}px"
            )
            _TILE_CAP[model] = min(_TILE_CAP.get(model, smaller), smaller)
            size = smaller


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


# ----------------------------------------------------------------------------------------- whole images


def _upscale_planes(
    model: Model,
    image: ImageData,
    colour: np.ndarray,
    alpha: np.ndarray | None,
    *,
    alpha_upsampler: str,
    progress: Progress | None,
    **tiling: Any,
) -> None:
    """Colour (and alpha, if `alpha` is given) of `image` into the preallocated outputs."""
    if alpha_upsampler not in ALPHA_UPSAMPLERS:
        raise UsageError(f"unknown alpha upsampler '{alpha_upsampler}'; use {' or '.join(ALPHA_UPSAMPLERS)}")
    passes = 2 if alpha is not None and alpha_upsampler == "model" else 1

    def stage(index: int) -> Progress | None:
        if progress is None:
            return None
        return lambda done, total: progress(index * total + done, passes * total)

    upscale_array(model, image.pixels, out=colour, progress=stage(0), **tiling)
    if alpha is None or image.alpha is None:
        return
    if alpha_upsampler == "model":
        upscale_array(model, image.alpha[..., None], out=alpha, progress=stage(1), **tiling)
    else:
        resize(image.alpha, (alpha.shape[1], alpha.shape[0]), kernel="linear", out=alpha[..., 0])


def enhance(
    model: Model,
    image: ImageData,
    *,
    outscale: float | None = None,
    alpha_upsampler: str = "model",
    tile: int | None = None,
    tile_pad: int = DEFAULT_TILE_PAD,
    pre_pad: int = 0,
    mode: str = "blend",
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> np.ndarray:
    """Upscale an image as Real-ESRGAN's `RealESRGANer.enhance` does, into a uint8/uint16 array.

    The array has the image's bit depth and the layout of `i2i.imageio.to_array` (H x W x C with alpha
    last; H x W for grey without alpha). Alpha runs through the network as a grey image
    (`alpha_upsampler="model"`) or is resized bilinearly (`"resize"`, OpenCV's INTER_LINEAR as upstream).
    `outscale` resizes the rounded result to `outscale` x the input size with Lanczos4 (OpenCV's, as
    upstream); default: the model's scale. Tiling arguments: see `upscale_array`.
    """
    dtype = np.uint16 if image.bit_depth == 16 else np.uint8
    height, width, channels = image.pixels.shape
    s = model.scale
    result = np.empty((height * s, width * s, channels + (image.alpha is not None)), dtype)
    _upscale_planes(
        model,
        image,
        result[..., :channels],
        result[..., channels:] if image.alpha is not None else None,
        alpha_upsampler=alpha_upsampler,
        progress=progress,
        tile=tile,
        tile_pad=tile_pad,
        pre_pad=pre_pad,
        mode=mode,
        notify=notify,
    )
    if outscale is not None and outscale != s:
        size = (int(width * outscale), int(height * outscale))
        if min(size) < 1:
            raise UsageError(f"outscale {outscale:g} makes a {width}x{height} image empty")
        result = resize(result, size, kernel="lanczos4")
    return result[..., 0] if result.shape[2] == 1 else result


def enhance_array(model: Model, array: np.ndarray, **options: Any) -> np.ndarray:
    """`enhance` on an H x W (grey) or H x W x 3/4 (RGB, RGBA) uint8/uint16 array, exactly as upstream.

    Like upstream, the bit depth is told from the values: 16-bit when the maximum is above 256, else
    8-bit (a uint16 array with small values comes back as uint8). i2i's image reader knows the real bit
    depth of a file: for files use `enhance(model, i2i.imageio.read_image(path))`.
    """
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or array.dtype.kind not in "ui":
        raise I2IError(f"expected an integer H x W or H x W x 1-4 array, got {array.dtype} {array.shape}")
    bits = 16 if array.size and array.max() > 256 else 8
    values = array.astype(np.float32) / np.float32(65535 if bits == 16 else 255)
    has_alpha = array.shape[2] in (2, 4)
    colour = np.ascontiguousarray(values[..., :-1] if has_alpha else values)
    image = ImageData(colour, values[..., -1].copy() if has_alpha else None, bits)
    return enhance(model, image, **options)


def upscale_image(
    model: Model,
    image: ImageData,
    *,
    alpha_upsampler: str = "model",
    tile: int | None = None,
    tile_pad: int = DEFAULT_TILE_PAD,
    pre_pad: int = 0,
    mode: str = "blend",
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> ImageData:
    """`ImageData` in, `ImageData` out (float pixels clamped to [0, 1], same bit depth): what
    `ESRGAN.translate_images` runs. Arguments: see `enhance`."""
    height, width, channels = image.pixels.shape
    s = model.scale
    colour = np.empty((height * s, width * s, channels), np.float32)
    alpha = np.empty((height * s, width * s, 1), np.float32) if image.alpha is not None else None
    _upscale_planes(
        model,
        image,
        colour,
        alpha,
        alpha_upsampler=alpha_upsampler,
        progress=progress,
        tile=tile,
        tile_pad=tile_pad,
        pre_pad=pre_pad,
        mode=mode,
        notify=notify,
    )
    np.clip(colour, 0.0, 1.0, out=colour)
    return ImageData(
        colour,
        np.clip(alpha[..., 0], 0.0, 1.0) if alpha is not None else None,
        image.bit_depth,
        image.source,
        image.format,
    )


def seam_report(
    model: Model, pixels: np.ndarray, *, tile: int, tile_pad: int = DEFAULT_TILE_PAD, mode: str = "blend"
) -> dict[str, float]:
    """How far tiled output is from untiled output, in 8-bit levels: the maximum and mean absolute
    difference, and the PSNR in dB (inf when identical)."""
    whole = upscale_array(model, pixels, tile=0).astype(np.int16)
    tiled = upscale_array(model, pixels, tile=tile, tile_pad=tile_pad, mode=mode).astype(np.int16)
    diff = np.abs(tiled - whole)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    return {
        "max_abs": float(diff.max()),
        "mean_abs": float(diff.mean()),
        "psnr_db": math.inf if mse == 0 else 10 * math.log10(255**2 / mse),
    }


# ------------------------------------------------------------------------------------------------ resize


def _lanczos4(fx: np.ndarray) -> np.ndarray:
    """OpenCV's `interpolateLanczos4`: 8 float32 weights per fraction, normalised in float32 as OpenCV."""
    s45 = 0.70710678118654752440084436210485
    cs = np.array(
        [[1, 0], [-s45, -s45], [0, 1], [s45, -s45], [-1, 0], [s45, s45], [0, -1], [-s45, s45]], np.float64
    )
    x = fx.astype(np.float64)
    y0 = -(x + 3) * np.pi * 0.25
    s0, c0 = np.sin(y0), np.cos(y0)
    coeffs = np.empty((len(x), 8), np.float32)
    for i in range(8):
        t = x + 3 - i
        y = -t * np.pi * 0.25
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (cs[i, 0] * s0 + cs[i, 1] * c0) / (y * y)
        coeffs[:, i] = np.where(np.abs(t) >= np.float32(1e-6), value, 1e30).astype(np.float32)
    total = np.zeros(len(x), np.float32)
    for i in range(8):
        total += coeffs[:, i]
    return coeffs * (np.float32(1) / total)[:, None]


def _taps(src: int, dst: int, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (clamped: OpenCV's replicated border) and float32 weights of each output pixel."""
    scale = 1.0 / (dst / src)
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    start = np.floor(f).astype(np.int64)
    frac = f - start.astype(np.float32)
    if kernel == "linear":
        low, high = start < 0, start >= src - 1
        frac[low | high] = 0
        start = np.where(low, 0, np.where(high, src - 1, start))
        weights = np.stack([np.float32(1) - frac, frac], axis=1)
        offsets = np.arange(2)
    else:
        weights = _lanczos4(frac)
        offsets = np.arange(-3, 5)
    return np.clip(start[:, None] + offsets, 0, src - 1), weights


def resize(
    array: np.ndarray,
    size: tuple[int, int],
    *,
    kernel: Literal["lanczos4", "linear"] = "lanczos4",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """`cv2.resize(array, size, interpolation=INTER_LANCZOS4 or INTER_LINEAR)`, `size` = (width, height).

    uint8 runs in OpenCV's 11-bit fixed point (bit-exact); uint16 and float32 in float32, uint16
    rounded and saturated. `out` (H x W [x C]) receives the result: the array's dtype, or for float32
    arrays uint8/uint16 too (clamped to [0, 1] and rounded, like `quantize`). Works in bands of rows.
    """
    if kernel not in ("lanczos4", "linear"):
        raise ValueError(f"kernel must be lanczos4 or linear, not {kernel!r}")
    width, height = size
    squeeze = array.ndim == 2
    src = array[..., None] if squeeze else array
    if out is None:
        out = np.empty((height, width, src.shape[2]), array.dtype)
    dest = out[..., None] if out.ndim == 2 else out
    if array.dtype != np.float32 and out.dtype != array.dtype:
        raise ValueError(f"a {array.dtype} image resizes into {array.dtype}, not {out.dtype}")
    fixed = array.dtype == np.uint8
    col_idx, col_w = _taps(src.shape[1], width, kernel)
    row_idx, row_w = _taps(src.shape[0], height, kernel)
    if fixed:
        col_w = np.rint(col_w * 2048).astype(np.int64)
        row_w = np.rint(row_w * 2048).astype(np.int64)
    for y0 in range(0, height, _FLUSH_ROWS):
        idx = row_idx[y0 : y0 + _FLUSH_ROWS]
        first, last = int(idx.min()), int(idx.max()) + 1
        rows = src[first:last].astype(np.int64 if fixed else np.float32)
        horizontal = np.zeros((last - first, width, src.shape[2]), rows.dtype)
        for k in range(col_idx.shape[1]):
            horizontal += rows[:, col_idx[:, k]] * col_w[:, k, None]
        band = np.zeros((len(idx), width, src.shape[2]), rows.dtype)
        for k in range(idx.shape[1]):
            band += horizontal[idx[:, k] - first] * row_w[y0 : y0 + len(idx), k, None, None]
        target = dest[y0 : y0 + len(idx)]
        if fixed:
            target[...] = np.clip((band + (1 << 21)) >> 22, 0, 255)
        elif target.dtype == np.float32:
            target[...] = band
        elif array.dtype == np.uint16:
            target[...] = np.clip(np.rint(band), 0, 65535)
        else:
            target[...] = quantize(band, 16 if target.dtype == np.uint16 else 8)
    return out[..., 0] if squeeze and out.ndim == 3 else out
