"""`i2i translate`: images or folders through any model, with the flags its options declare."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from i2i.cli import _common as common
from i2i.cli import _safeguards as safeguards
from i2i.cli._flags import Declared, header_paths, model_flags
from i2i.cli._video import video_flags
from i2i.errors import I2IError, UsageError
from i2i.io.png_encode import DEFAULT_PNG_LEVEL


def _split_paths(paths: list[Path], output: Path | None) -> tuple[list[Path], Path]:
    if output is not None:
        if not paths:
            raise UsageError("give at least one input file or folder")
        return paths, output
    if len(paths) < 2:
        raise UsageError("give inputs and an output: `i2i translate ... INPUT... OUTPUT` (or -o OUTPUT)")
    return paths[:-1], paths[-1]


@common.app.command()
@common.friendly_errors
@model_flags("translate")
@video_flags("translate")  # video files among the inputs: i2i.jobs.video
def translate(
    paths: Annotated[
        list[Path], typer.Argument(help="Input files/folders, then the output folder.", show_default=False)
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (optional with an i2i checkpoint).")
    ] = None,
    weights: common.Weights = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output folder (or file for one input).")
    ] = None,
    declared: Declared = None,
    cond: common.Conditions = None,
    grid: Annotated[
        bool,
        typer.Option(
            "--grid",
            help="Also write OUTPUT/grid.png: a row per source, its outputs (e.g. styles) beside it.",
        ),
    ] = False,
    fmt: common.Format = "same",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 1,
    device: common.Device = "auto",
    precision: common.Precision = "auto",
    tile: common.Tile = None,
    tile_overlap: Annotated[
        int | None,
        typer.Option(
            "--tile-overlap",
            help="Context each tile reads around its part, in input pixels (default: the model's); "
            "networks with instance norm run layer by layer, exactly, and need none.",
        ),
    ] = None,
    set_: common.Settings = None,
    no_provenance: common.NoProvenance = False,
    max_pixels: common.MaxPixels = None,
    no_progress: common.NoProgress = False,
    skip_existing: common.SkipExisting = False,
    png_level: common.PngLevel = DEFAULT_PNG_LEVEL,
    consent: safeguards.Consent = None,
    no_badge: safeguards.NoBadge = False,
    no_watermark: safeguards.NoWatermark = False,
) -> None:
    """Translate images or folders (recursively, mirroring sub-folders).

    Examples:
    - `i2i translate --model pix2pix --weights latest_net_G.pth photos/ out/`
    - `i2i translate --weights runs/facades/model.safetensors label.png result.png`
    - `i2i translate --model cyclegan --weights zebra2horse.pth --direction BtoA zebras/ out/`
    - `i2i translate --model stargan-v2 --weights afhq.ckpt --target-domain dog --seed 7 --num-styles 4 --psi 0.7 --grid in/ out/`
    - `i2i translate --model stargan-v2 --weights W --target-domain dog --reference ref.png in/ out/`
    - `i2i translate --weights 100000_nets_ema.ckpt --domains cat,dog,wild --target-domain wild in/ out/`
    - `i2i translate --model stargan --weights 200000-G.ckpt --attrs Blond_Hair,Male faces/ out/`
    - `i2i translate --model maskgan --weights latest_net_G.pth faces/ out/ --mask masks/ --target-mask edited/`
    - `i2i translate --weights W --cond target_domain=dog in/ out/` (any model's option, by name)
    - `i2i translate --model cyclegan --weights cyclegan-horse2zebra --tile 512 big-photo.jpg out/` (bounded memory)
    - `i2i translate --model saehd --weights runs/swap/model.safetensors --consent consent.toml frames/ out/`
    """
    from i2i import registry
    from i2i.api import load
    from i2i.io import imageio
    from i2i.jobs.batch import join_processes
    from i2i.jobs.translate import run_translation

    if model is not None:
        registry.entry(model)  # an unknown name fails before any file is touched
    safeguards.check_named(model, consent)
    inputs, destination = _split_paths(paths, output)
    common.check_counts(batch_size=batch_size, max_pixels=max_pixels)
    fmt_name = common.output_format(fmt)
    files = imageio.find_images(inputs, output=destination)
    if not files:
        raise I2IError(f"no images found in {', '.join(map(str, inputs))}")
    single_file = common.is_single_file(inputs, len(files), destination)
    common.check_destination(destination, single_file, len(files))
    group, device = join_processes(device)
    loaded = load(
        model,
        weights or common.default_weights(model),
        device=device,
        precision=precision,
        **common.overrides(set_, declared.settings),
    )
    safeguards.prepare(
        loaded, consent, no_badge=no_badge, no_watermark=no_watermark, no_provenance=no_provenance
    )
    options = type(loaded).options
    conditions = declared.with_conditions(cond, options)
    if note := loaded.default_note(conditions):
        common.note(note)
    failures = run_translation(
        loaded,
        files,
        destination,
        fmt=fmt_name,
        batch_size=batch_size,
        provenance=not no_provenance,
        max_pixels=max_pixels,
        conditions=conditions,
        single_file_output=single_file,
        grid=grid,
        header=header_paths(conditions, options),
        console=common.err,
        progress=not no_progress,
        group=group,
        skip_existing=skip_existing,
        png_level=common.check_png_level(png_level),
        tile=tile,
        tile_overlap=tile_overlap,
    )
    if failures:
        raise typer.Exit(1)
