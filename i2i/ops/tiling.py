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

`tile=None` sizes tiles from the free memory of the device (`i2i.ops.tile_memory`); `tile=0` runs the
whole image at once. On an out-of-memory error the tile side is halved and the image retried, down to
`MIN_TILE`. How an image is cut is `i2i.ops.tile_plan`; `outscale` and alpha are resized with OpenCV's
filters (`i2i.ops.resize.resize`), as upstream. The model is duck-typed: anything with the attributes of
an `i2i.model.Model` used here (`networks`, `scale`, `value_range`, `forward_tensor`, ...).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from i2i.errors import I2IError, UsageError
from i2i.io.pixels import ImageData, luma, quantize
from i2i.ops import tile_plan
from i2i.ops.metrics import psnr
from i2i.ops.resize import resize
from i2i.ops.tile_memory import DEFAULT_TILE_PAD, MIN_TILE, auto_tile, cap_tile, forward, is_out_of_memory
from i2i.ops.tile_plan import Plan, Span, round_up

if TYPE_CHECKING:
    from i2i.model import Model

MODES: tuple[str, ...] = ("blend", "reference")
ALPHA_UPSAMPLERS: tuple[str, ...] = ("model", "resize")
_FLUSH_ROWS = 64

Progress = Callable[[int, int], None]
Notify = Callable[[str], None]


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
    if model.scale == 1 and model.task != "super-resolution":
        raise I2IError(
            f"{model.name} is a {model.task} model, not an upscaler: use `i2i translate` for it, and "
            "`i2i upscale` with a super-resolution model"
        )
    if model.input_channels not in (1, 3) or model.output_channels not in (1, 3):
        raise I2IError(
            f"tiled upscaling needs a network with 1 or 3 input and output channels (grey or colour); this "
            f"{model.name} has {model.input_channels} and {model.output_channels}"
        )


def _ready(model: Model) -> None:
    check_model(model)
    model._prepare_inference()


def _tile_output(model: Model, pixels: np.ndarray, plan: Plan, row: Span, col: Span) -> torch.Tensor:
    """One tile's output over its contribution region, weighted by its ramps: 3 x h x w on the device."""
    s = model.scale
    rows = plan.row_index[row.window_start : row.window_stop]
    cols = plan.col_index[col.window_start : col.window_stop]
    x = torch.from_numpy(pixels[np.ix_(rows, cols)]).permute(2, 0, 1)[None]
    if model.input_channels == 1 and x.shape[1] == 3:
        x = torch.from_numpy(luma(pixels[np.ix_(rows, cols)]).astype(np.float32)).permute(2, 0, 1)[None]
    y = forward(model, x.expand(-1, model.input_channels, -1, -1))
    (r0, r1), (c0, c1) = row.output_range(s), col.output_range(s)
    oy, ox = row.window_start * s, col.window_start * s
    y = y[0, :, r0 - oy : r1 - oy, c0 - ox : c1 - ox]
    wy, wx = row.weights(s), col.weights(s)
    if wy is not None:
        y.mul_(torch.from_numpy(wy).to(y.device)[:, None])
    if wx is not None:
        y.mul_(torch.from_numpy(wx).to(y.device))
    return y


def _run(model: Model, pixels: np.ndarray, out: np.ndarray, plan: Plan, progress: Progress | None) -> None:
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
                _flush_interior(y, origin, (mid0, mid1), (in0, in1), out, host)
                right = host(y, origin, (mid0, mid1), (in1, c1)).copy()
            if above is not None:
                _flush(above[:, flushed:in1], out, r0, flushed)
                flushed = in1
            done += 1
            if progress is not None:
                progress(done, plan.count)
        above = below


def _flush_interior(y: torch.Tensor, origin: tuple[int, int], rows: tuple[int, int], cols: tuple[int, int],
                    out: np.ndarray, host: Callable[..., np.ndarray]) -> None:  # fmt: skip
    """A tile's final part (no neighbour overlaps it) into `out`: rounded on the device and copied back
    in `out`'s dtype at once where it can be (colour output into uint8/uint16), else through `_flush`."""
    (top, bottom), (left, right), (r0, c0) = rows, cols, origin
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(out.dtype)
    if bits is None or out.shape[2] != y.shape[0] or bottom <= top or right <= left:
        for start in range(top, bottom, _FLUSH_ROWS):
            stop = min(start + _FLUSH_ROWS, bottom)
            _flush(host(y, origin, (start, stop), cols), out, start, left)
        return
    part = y[:, top - r0 : bottom - r0, left - c0 : right - c0].float().clamp(0.0, 1.0).nan_to_num(0.0)
    levels = part.mul_((1 << bits) - 1).round_().to(torch.uint8 if bits == 8 else torch.int32)
    out[top:bottom, left:right] = levels.permute(1, 2, 0).cpu().numpy()  # as `quantize` rounds on the host


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
        cut = tile_plan.plan(
            height, width, model.size_multiple(), tile=size, tile_pad=tile_pad, pre_pad=pre_pad, mode=mode
        )
        try:
            _run(model, pixels, out, cut, progress)
            return out
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            longest = max(cut.rows[-1].stop, cut.cols[-1].stop)
            smaller = round_up(min(size or longest, longest) // 2, model.size_multiple())
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
            cap_tile(model, smaller)
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
    progress: Progress | None = None,
    **tiling: Any,
) -> ImageData:
    """`ImageData` in, `ImageData` out (float pixels clamped to [0, 1], same bit depth): what
    `ESRGAN.translate_images` runs. `alpha_upsampler` and `progress`: see `enhance`; the tiling arguments
    (`tile`, `tile_pad`, `pre_pad`, `mode`, `notify`): see `upscale_array`."""
    height, width, channels = image.pixels.shape
    s = model.scale
    colour = np.empty((height * s, width * s, channels), np.float32)
    alpha = np.empty((height * s, width * s, 1), np.float32) if image.alpha is not None else None
    _upscale_planes(model, image, colour, alpha, alpha_upsampler=alpha_upsampler, progress=progress, **tiling)
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
    return {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()), "psnr_db": psnr(tiled, whole)}
