"""`i2i upscale`: images or folders through a super-resolution model, tile by tile (any image size)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from i2i.cli import _common as common
from i2i.cli._flags import Declared, model_flags
from i2i.cli._video import video_flags
from i2i.errors import I2IError, UsageError
from i2i.io.png_encode import DEFAULT_PNG_LEVEL


@common.app.command()
@common.friendly_errors
@model_flags("upscale", conditions=False)
@video_flags("upscale")  # video files among the inputs: i2i.jobs.video
def upscale(
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files or folders (recursively).", show_default=False)
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model name. Default: detected from --weights (e.g. sr for spandrel's architectures), "
            f"else {common.default_model('upscale')}.",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights", "-w", help="Checkpoint path or catalogue name (default: the model's default)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output folder (mirrors the inputs' sub-folders), or file for one input. "
            "Default: next to each input as NAME_x4.EXT.",
        ),
    ] = None,
    outscale: Annotated[
        float | None,
        typer.Option(
            "--outscale",
            help="Output size / input size, any factor (Lanczos resize). Default: the weights' own (x2 for an x2 ncnn file).",
        ),
    ] = None,
    tile: common.Tile = None,
    tile_pad: Annotated[
        int, typer.Option("--tile-pad", help="Context around each tile, in input pixels.")
    ] = 10,
    pre_pad: Annotated[
        int, typer.Option("--pre-pad", help="Reflect-pad the right and bottom edges by this much first.")
    ] = 0,
    tile_mode: Annotated[
        str,
        typer.Option(
            "--tile-mode",
            help="blend (overlapping tiles blended, no seams) or reference (Real-ESRGAN's tiles).",
        ),
    ] = "blend",
    alpha_upsampler: Annotated[
        str,
        typer.Option("--alpha-upsampler", help="model (alpha through the network) or resize (bilinear)."),
    ] = "model",
    fmt: common.Format = "same",
    device: common.Device = "auto",
    precision: common.Precision = "auto",
    no_provenance: common.NoProvenance = False,
    max_pixels: common.MaxPixels = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Config override key=value, e.g. act_type=relu (repeatable)."),
    ] = None,
    denoise_strength: Annotated[
        float | None,
        typer.Option(
            "--denoise-strength",
            help="0..1, for weights with a weak-denoise twin (realesr-general-x4v3): blends the two networks.",
        ),
    ] = None,
    denoise_twin: Annotated[
        str | None,
        typer.Option(
            "--denoise-twin", help="The weak-denoise weights to blend with (default: from the catalogue)."
        ),
    ] = None,
    no_progress: common.NoProgress = False,
    skip_existing: common.SkipExisting = False,
    png_level: common.PngLevel = DEFAULT_PNG_LEVEL,
    declared: Declared = None,
) -> None:
    """Upscale images or folders with a super-resolution model, tile by tile (any image size).

    Alpha, greyscale, 16-bit and EXIF orientation are kept; outputs never overwrite an input.

    Examples:
    - `i2i upscale photo.jpg` (writes photo_x4.jpg beside it)
    - `i2i upscale photos/ -o large/ --outscale 2`
    - `i2i upscale scan.png -o scan-big.png --weights realesr-animevideov3 --tile 256 --device cpu`
    - `i2i upscale photo.png --weights 4x-SwinIR.pth` (any architecture spandrel knows: `pip install 'i2i[sr]'`)
    """
    from i2i import registry
    from i2i.api import load
    from i2i.io import imageio
    from i2i.jobs.batch import join_processes
    from i2i.jobs.upscale import UpscaleOptions, default_outscale, plan_outputs, run_upscale
    from i2i.ops import tiling

    if model is None and weights is None:
        model = common.default_model("upscale")
        if model is None:
            raise UsageError("give --model: no registered model is the default for upscaling")
    if model is not None:
        registry.entry(model)  # an unknown name fails before any file is touched
    if tile_mode not in tiling.MODES:
        raise UsageError(f"--tile-mode must be {' or '.join(tiling.MODES)}, not '{tile_mode}'")
    if alpha_upsampler not in tiling.ALPHA_UPSAMPLERS:
        raise UsageError(
            f"--alpha-upsampler must be {' or '.join(tiling.ALPHA_UPSAMPLERS)}, not '{alpha_upsampler}'"
        )
    if outscale is not None and not 0 < outscale < math.inf:
        raise UsageError(f"--outscale must be a finite number above 0, not {outscale:g}")
    if min(tile or 0, tile_pad, pre_pad) < 0:
        raise UsageError("--tile, --tile-pad and --pre-pad must not be negative")
    common.check_counts(max_pixels=max_pixels)
    fmt_name = common.output_format(fmt)
    files = imageio.find_images(inputs)
    if not files:
        raise I2IError(f"no images found in {', '.join(map(str, inputs))}")
    if output is not None:
        common.check_destination(output, common.is_single_file(inputs, len(files), output), len(files))
    chosen = weights or common.default_weights(model)
    settings = common.overrides(set_, declared.settings)
    group, device = join_processes(device)
    if denoise_strength is None:
        loaded = load(model, chosen, device=device, precision=precision, **settings)
    else:
        loaded = _denoise_blend(model, chosen, denoise_twin, denoise_strength, device, precision, settings)
    options = UpscaleOptions(
        outscale=outscale,
        alpha_upsampler=alpha_upsampler,
        tile=tile,
        tile_pad=tile_pad,
        pre_pad=pre_pad,
        mode=tile_mode,
    )
    factor = outscale if outscale is not None else default_outscale(loaded)
    jobs, earlier = plan_outputs(inputs, files, output, factor, fmt_name)
    if earlier:
        common.err.print(
            f"note: left out {len(earlier)} earlier output(s) of this command, e.g. {earlier[0]}"
        )
    failures = run_upscale(
        loaded,
        jobs,
        options=options,
        fmt=fmt_name,
        provenance=not no_provenance,
        max_pixels=max_pixels,
        console=common.err,
        progress=not no_progress,
        group=group,
        skip_existing=skip_existing,
        png_level=common.check_png_level(png_level),
    )
    if failures:
        raise typer.Exit(1)


def _denoise_blend(
    model: str | None,
    weights: str,
    twin: str | None,
    strength: float,
    device: str,
    precision: str,
    settings: dict[str, Any],
):
    """Real-ESRGAN's `-dn`: strength x weights + (1 - strength) x their weak-denoise twin (weight blending)."""
    from i2i.api import interpolate
    from i2i.hub.catalogue import weights_entries

    if not 0.0 <= strength <= 1.0:
        raise UsageError(f"--denoise-strength must be between 0 and 1, not {strength:g}")
    twin = twin or weights_entries().get(weights, {}).get("denoise_twin")
    if twin is None:
        raise UsageError(
            "--denoise-strength needs weights with a weak-denoise twin, e.g. --weights realesr-general-x4v3-pth, "
            f"or --denoise-twin PATH; '{weights}' has none"
        )
    return interpolate(twin, weights, strength, model=model, device=device, precision=precision, **settings)
