"""Batch super-resolution of image files: what `i2i upscale` runs.

Output naming never overwrites an input: without an output, each result goes next to its input as
`<stem>_x<outscale>.<ext>`; with an output folder, the inputs' sub-folders are mirrored under it (still
with the suffix where the folder is an input's own); one input file may go to an output file. Each image
is upscaled tile by tile (`i2i.ops.tiling`) into an 8- or 16-bit array written atomically; a file that fails
is reported in one line and the others are still written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from i2i.errors import I2IError
from i2i.hub import catalogue
from i2i.io import imageio
from i2i.io.png_encode import DEFAULT_PNG_LEVEL
from i2i.jobs.batch import FileLoop, Job, named_error
from i2i.model import Model
from i2i.ops import tiling
from i2i.train.distributed import ProcessGroup


@dataclass(frozen=True)
class UpscaleOptions:
    """How each image is upscaled; see `i2i.ops.tiling.enhance`. `outscale` None: `default_outscale`."""

    outscale: float | None = None
    alpha_upsampler: str = "model"
    tile: int | None = None
    tile_pad: int = tiling.DEFAULT_TILE_PAD
    pre_pad: int = 0
    mode: str = "blend"


def default_outscale(model: Model) -> float:
    """The output factor of the model's weights: the one they were published for (an x4 network shipped
    as x2 or x3: an ncnn file ending in a resize, its catalogue entry, or a checkpoint converted from
    them), else the network's scale."""
    if getattr(model, "outscale", None) is not None:
        return float(model.outscale)
    entry = catalogue.weights_entries().get(getattr(model, "weights_name", None) or "", {})
    return float(entry.get("outscale", model.scale))


def scale_suffix(outscale: float) -> str:
    """`_x4`, `_x1.5`: what an output name gets after its input's stem."""
    return f"_x{outscale:g}"


def _suffixed(path: Path, outscale: float) -> Path:
    return path.with_name(f"{path.stem}{scale_suffix(outscale)}{path.suffix}")


#: outputs may have this many times the pixels that inputs may (a x4 upscale of the largest input)
OUTPUT_PIXEL_FACTOR = 16


def plan_outputs(
    inputs: Sequence[Path],
    files: Sequence[tuple[Path, Path]],
    output: Path | None,
    outscale: float,
    fmt: str | None = None,
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(input, output) for each of `files` (from `imageio.find_images(inputs)`), and the files left out
    as earlier results of this command: outputs of this very run (named as such and tagged by i2i), or files
    in the output folder when it lies inside an input folder (files named one by one are never left out).

    No `output`: next to the input, with the `_x<outscale>` suffix. An output file (a suffix, not a
    folder) for a single input file: that file. An output folder: the input's relative path under it,
    with the suffix when that lands in the input's own folder. `fmt` replaces the suffix."""
    single = output is not None and len(files) == 1 and inputs[0].is_file() and bool(output.suffix)
    single = single and not output.is_dir()
    jobs = []
    for path, rel in files:
        if output is None:
            target = _suffixed(imageio.output_path(path.parent, Path(path.name), fmt), outscale)
        elif single:
            target = output
        else:
            target = imageio.output_path(output, rel, fmt)
            if target.parent.resolve() == path.parent.resolve():
                target = _suffixed(target, outscale)
        jobs.append((path, target))
    named = {Path(item).resolve() for item in inputs if Path(item).is_file()}
    targets = {target.resolve() for _, target in jobs}
    inside = output.resolve() if output is not None and not single else None
    # a file named like another's output is an earlier result only if i2i made it (its provenance tag):
    # a user's own `photo_x4.png` stays an input, and the job that would replace it fails instead
    earlier = [
        path
        for path, _ in jobs
        if path.resolve() not in named
        and (
            (inside is not None and inside in path.resolve().parents)
            or (path.resolve() in targets and _made_by_i2i(path))
        )
    ]
    return [job for job in jobs if job[0] not in earlier], earlier


def _made_by_i2i(path: Path) -> bool:
    try:
        return imageio.read_provenance(path) is not None
    except (I2IError, OSError):
        return False


def run_upscale(
    model: Model,
    jobs: Sequence[tuple[Path, Path]],
    *,
    options: UpscaleOptions | None = None,
    fmt: str | None = None,
    provenance: bool = True,
    max_pixels: int | None = None,
    console: Console | None = None,
    progress: bool = True,
    group: ProcessGroup | None = None,
    skip_existing: bool = False,
    png_level: int = DEFAULT_PNG_LEVEL,
) -> list[tuple[Path, str]]:
    """Upscale each (input, output) of `jobs` (see `plan_outputs`); returns the failures.

    A file that cannot be read, upscaled or written is reported in one line and skipped; the others are
    still written. Outputs are written atomically and never replace an input."""
    options = options or UpscaleOptions()
    model.require_consent()  # a safeguarded model (`i2i.io.consent`) runs through `i2i translate --consent`
    tiling.check_model(model)
    outscale = options.outscale if options.outscale is not None else default_outscale(model)
    tag = (model.provenance_tag() | {"outscale": f"{outscale:g}"}) if provenance else None
    loop = FileLoop(
        f"[bold]{model.name}[/] x{outscale:g}",
        console=console,
        progress=progress,
        overwrite_advice="choose another output",
        clash_advice="rename one of them",
        group=group,
        skip_existing=skip_existing,
    )

    def upscale_one(chunk: list[Job]) -> None:
        ((path, (target,)),) = chunk
        try:
            image = imageio.read_image(path, max_pixels=max_pixels)
            height, width = image.pixels.shape[:2]
            if height * width * outscale**2 > OUTPUT_PIXEL_FACTOR * imageio.pixel_limit(max_pixels):
                raise I2IError(
                    f"the x{outscale:g} output would be {round(width * outscale)}x{round(height * outscale)}, "
                    f"over {OUTPUT_PIXEL_FACTOR}x the pixel limit; raise it with --max-pixels or use a smaller "
                    "--outscale"
                )
            array = tiling.enhance(
                model,
                image,
                outscale=outscale,
                alpha_upsampler=options.alpha_upsampler,
                tile=options.tile,
                tile_pad=options.tile_pad,
                pre_pad=options.pre_pad,
                mode=options.mode,
                progress=loop.detail,
                notify=loop.note,
            )
        except (I2IError, RuntimeError, MemoryError) as exc:  # e.g. out of memory on one huge image: go on
            loop.fail(path, named_error(path, exc))
            return
        try:
            imageio.write_array(target, array, format=fmt, provenance=tag, png_level=png_level)
        except (I2IError, OSError) as exc:
            loop.write_failed(path, target, exc)  # a full disk stops the run

    return loop.run(
        [(path, (target,)) for path, target in jobs],
        upscale_one,
        summary=lambda done, total: f"upscaled {done} of {total} image(s) x{outscale:g}",
    )
