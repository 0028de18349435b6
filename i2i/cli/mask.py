"""`i2i mask ...`: face label maps (CelebAMask-HQ's 19 classes, `i2i.data.masks`): palette colours and back,
merging per-attribute masks, remapping other parsers' orders, and masks of photos from a parser network."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from i2i.cli._common import Device, RequiredWeights, friendly_errors, group, out
from i2i.errors import I2IError, UsageError

mask_app = group(
    "mask",
    "Face label maps (class ids 0..18): colorize, decolorize, merge CelebAMask-HQ attributes, remap, parse.",
)

Inputs = Annotated[
    list[Path], typer.Argument(help="Mask files or folders, then the output (folder or file).")
]


def _jobs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(input, output) pairs: inputs mirrored as .png under the output folder, or one input to one file."""
    from i2i.io.imageio import find_images

    if len(paths) < 2:
        raise UsageError("give inputs and an output: INPUT... OUTPUT")
    inputs, destination = paths[:-1], paths[-1]
    files = find_images(inputs, output=destination)
    if not files:
        raise I2IError(f"no images found in {', '.join(map(str, inputs))}")
    if len(files) == 1 and inputs[0].is_file() and destination.suffix:
        return [(files[0][0], destination)]
    if destination.is_file():
        raise UsageError(f"{destination} is a file; give a folder for {len(files)} inputs")
    return [(path, destination / rel.with_suffix(".png")) for path, rel in files]


def _each(paths: list[Path], convert: Callable[[Path, Path], None], verb: str) -> None:
    jobs = _jobs(paths)
    for source, target in jobs:
        convert(source, target)
    out.print(f"{verb} {len(jobs)} mask(s) into {jobs[-1][1] if len(jobs) == 1 else paths[-1]}")


@mask_app.command("colorize")
@friendly_errors
def colorize(paths: Inputs) -> None:
    """Class-id masks to the official palette's colours (for viewing or painting).

    Example: `i2i mask colorize masks/ coloured/`
    """
    from i2i.data import masks
    from i2i.data.synth import write_png

    _each(paths, lambda s, t: write_png(t, masks.colorize(masks.read_mask(s))), "coloured")


@mask_app.command("decolorize")
@friendly_errors
def decolorize(paths: Inputs) -> None:
    """Palette-coloured masks (e.g. painted edits) back to class ids (8-bit grey PNG); a colour off the
    palette is an error naming the pixel.

    Example: `i2i mask decolorize edited_colour.png edited.png`
    """
    from i2i.data import masks

    _each(paths, lambda s, t: masks.write_mask(t, masks.read_mask(s)), "wrote")


@mask_app.command("remap")
@friendly_errors
def remap(
    paths: Inputs,
    order: Annotated[
        str, typer.Option("--from", help="The masks' label order: bisenet (zllrunning).")
    ] = "bisenet",
) -> None:
    """Masks of another parser's label order to MaskGAN's ids.

    Example: `i2i mask remap --from bisenet parsed/ masks/`
    """
    from PIL import Image

    from i2i.data import masks

    def convert(source: Path, target: Path) -> None:
        with Image.open(source) as image:
            ids = np.asarray(image.convert("L"))
        masks.write_mask(target, masks.remap(ids, order))

    _each(paths, convert, "remapped")


_ATTRIBUTE_FILE = re.compile(r"^(?P<index>\d+)_(?P<attr>[a-z_]+)$")


@mask_app.command("merge")
@friendly_errors
def merge(
    annotations: Annotated[Path, typer.Argument(help="CelebAMask-HQ-mask-anno (or one of its folders).")],
    destination: Annotated[Path, typer.Argument(help="Folder for the merged masks ({index}.png).")],
) -> None:
    """CelebAMask-HQ's per-attribute masks (`00000_hair.png`, ...) into one label map per image, painted in
    the official order (later ids win).

    Example: `i2i mask merge CelebAMask-HQ-mask-anno/ CelebAMaskHQ-mask/`
    """
    from i2i.data import masks

    if not annotations.is_dir():
        raise I2IError(f"{annotations} is not a folder of per-attribute masks (e.g. 00000_hair.png)")
    groups: dict[int, dict[str, Path]] = {}
    for path in sorted(annotations.rglob("*.png")):
        if m := _ATTRIBUTE_FILE.match(path.stem):
            groups.setdefault(int(m["index"]), {})[m["attr"]] = path
    if not groups:
        raise I2IError(f"{annotations} holds no per-attribute masks named like 00000_hair.png")
    for index, files in sorted(groups.items()):
        masks.write_mask(destination / f"{index}.png", masks.merge_attributes(files))
    out.print(f"merged {len(groups)} mask(s) into {destination}")


@mask_app.command("parse")
@friendly_errors
def parse(
    paths: Annotated[list[Path], typer.Argument(help="Photos or folders, then the output (folder or file).")],
    weights: RequiredWeights,
    colour: Annotated[bool, typer.Option("--colour", help="Write palette colours instead of ids.")] = False,
    device: Device = "auto",
) -> None:
    """Masks of aligned face photos from a face parser's weights (MaskGAN's U-Net `model.pth`, or any
    checkpoint holding one), at each photo's size.

    Example: `i2i mask parse --weights model.pth photos/ masks/`
    """
    from i2i.api import load
    from i2i.data import masks
    from i2i.data.synth import write_png

    jobs = _jobs(paths)
    model = load(None, weights, device=device, precision="fp32")
    if not callable(getattr(model, "parse", None)):
        raise I2IError(f"{weights}: {model.name} weights have no face parser")
    for source, target in jobs:
        ids = model.parse(source)
        if colour:
            write_png(target, masks.colorize(ids))
        else:
            masks.write_mask(target, ids)
    out.print(f"parsed {len(jobs)} photo(s) into {jobs[-1][1] if len(jobs) == 1 else paths[-1]}")
