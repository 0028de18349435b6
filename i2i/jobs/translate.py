"""Batch translation of image files: what `i2i translate` runs, for any model.

Each input gets `model.variant_count(conditions)` outputs: `NAME.ext`, or `NAME_s0.ext`, `NAME_s1.ext`, ...
when there are several (e.g. StarGAN v2 styles), mirrored under the output folder; with a grid, also
`grid.png`: a row per source, its outputs beside it. Per-file errors, claims and the summary come from
the shared loop (`i2i.jobs.batch`); outputs are written atomically and never replace an input.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from i2i.errors import I2IError, UsageError
from i2i.io import imageio
from i2i.io.png_encode import DEFAULT_PNG_LEVEL
from i2i.jobs.batch import FileLoop, Job, named_error
from i2i.model import Model
from i2i.ops import tiled_translate
from i2i.train.distributed import ProcessGroup

#: side of each cell of a grid, in pixels
GRID_CELL = 256


def plan_outputs(
    files: Sequence[tuple[Path, Path]],
    destination: Path,
    *,
    variants: int = 1,
    fmt: str | None = None,
    single_file_output: bool = False,
) -> list[Job]:
    """Each of `files` ((path, relative path) pairs) with its outputs under `destination`."""
    if single_file_output:
        return [(path, (destination,)) for path, _ in files]
    if variants == 1:
        return [(path, (imageio.output_path(destination, rel, fmt),)) for path, rel in files]
    return [
        (
            path,
            tuple(
                imageio.output_path(destination, rel.with_name(f"{rel.stem}_s{k}{rel.suffix}"), fmt)
                for k in range(variants)
            ),
        )
        for path, rel in files
    ]


def run_translation(
    model: Model,
    files: Sequence[tuple[Path, Path]],
    destination: Path,
    *,
    fmt: str | None = None,
    batch_size: int = 1,
    provenance: bool = True,
    max_pixels: int | None = None,
    conditions: dict[str, Any] | None = None,
    single_file_output: bool = False,
    grid: bool = False,
    header: Sequence[Path] = (),
    console: Console | None = None,
    progress: bool = True,
    group: ProcessGroup | None = None,
    skip_existing: bool = False,
    png_level: int = DEFAULT_PNG_LEVEL,
    tile: int | None = None,
    tile_overlap: int | None = None,
) -> list[tuple[Path, str]]:
    """Translate `files` ((path, relative path) pairs) into `destination`; returns the failures.

    `tile` and `tile_overlap`: tiled translation in bounded memory (`i2i.ops.tiled_translate`; tile None:
    only for images over the memory budget, 0: never; overlap None: the model's `tile_context`).

    `conditions` go to `model.translate_variants`; what is wrong with them is said once, before any work.
    With `grid`, `destination/grid.png` shows a row per source (the source, then its outputs), under a
    row of the `header` images (e.g. style references, one per output) if given.
    """
    model.require_consent()  # a safeguarded model without its attestation (`i2i.io.consent`): one line
    if model.scale != 1:
        raise UsageError(
            f"{model.name} is a x{model.scale} {model.task} model: `i2i translate` keeps the image size; "
            "use `i2i upscale` (tiled, any size)"
        )
    conditions = dict(conditions or {})
    tiled_translate.configure(model, tile, tile_overlap)
    variants = model.variant_count(conditions)
    if grid and group is not None and group.active:
        raise UsageError("--grid needs one process (it shows every input); run it without torchrun")
    if single_file_output and (variants > 1 or grid):
        raise UsageError(
            f"with {variants} outputs per input (NAME_s0, NAME_s1, ...) or --grid, the output must be a folder"
        )
    if model.needs_consent and not provenance:
        raise UsageError(f"{model.name} outputs always carry their provenance; it cannot be turned off")
    tag = model.provenance_tag() if provenance else None
    writing = {"format": fmt, "png_level": png_level}
    header_images = [imageio.read_image(p, max_pixels=max_pixels) for p in header] if grid else []
    rows: list[list[np.ndarray]] | None = [] if grid else None
    loop = FileLoop(
        f"[bold]{model.name}[/]", console=console, progress=progress, group=group, skip_existing=skip_existing
    )

    folders = per_file_folders(model, conditions)
    relative = dict(files)

    def process(chunk: list[Job]) -> None:
        decoded = []
        for path, targets in chunk:
            try:
                decoded.append((path, targets, imageio.read_image(path, max_pixels=max_pixels)))
            except I2IError as exc:
                loop.fail(path, named_error(path, exc))
        if not folders:
            _translate_and_write(model, decoded, writing, tag, batch_size, conditions, loop, rows)
            return
        for item in decoded:  # each file with its own files from the per-file folders
            try:
                own = {name: matching_file(folder, relative[item[0]]) for name, folder in folders.items()}
            except I2IError as exc:
                loop.fail(item[0], named_error(item[0], exc))
                continue
            _translate_and_write(model, [item], writing, tag, 1, conditions | own, loop, rows)

    each = f" ({variants} outputs each)" if variants > 1 else ""
    failures = loop.run(
        plan_outputs(files, destination, variants=variants, fmt=fmt, single_file_output=single_file_output),
        process,
        summary=lambda done, total: f"translated {done} of {total} image(s) into {destination}{each}",
        chunk=batch_size,
    )
    if rows:
        _write_grid(destination / "grid.png", rows, header_images, tag)
    return failures


def per_file_folders(model: Model, conditions: dict[str, Any]) -> dict[str, Path]:
    """The conditions of `per_file` path options (`i2i.config.Option`) given a folder, by name."""
    return {
        o.name: Path(conditions[o.name])
        for o in type(model).options
        if o.per_file and conditions.get(o.name) is not None and Path(conditions[o.name]).is_dir()
    }


def matching_file(folder: Path, relative: Path) -> Path:
    """The image in `folder` with the relative name of an input (any image suffix); `I2IError` if none."""
    stem = folder / relative.with_suffix("")
    found = [
        p
        for p in sorted(stem.parent.glob(glob.escape(stem.name) + ".*"))
        if p.suffix.lower() in imageio.IMAGE_SUFFIXES and p.is_file()
    ]
    if not found:
        raise I2IError(f"{folder} has no file for {relative} (looked for {stem}.*)")
    return found[0]


def _translate_and_write(model, decoded, writing, tag, batch_size, conditions, loop, rows) -> None:
    if not decoded:
        return
    try:
        results = model.translate_variants([d[2] for d in decoded], batch_size=batch_size, **conditions)
    except I2IError:
        raise  # wrong for every file: one line, and the run stops
    except (
        RuntimeError,
        ValueError,
    ) as exc:  # e.g. out of memory on one large image: report the files, go on
        if len(decoded) > 1:
            for item in decoded:
                _translate_and_write(model, [item], writing, tag, 1, conditions, loop, rows)
            return
        loop.fail(decoded[0][0], named_error(decoded[0][0], exc))
        return
    for (path, targets, image), outputs in zip(decoded, results, strict=True):
        target = targets[0]
        try:
            for target, result in zip(targets, outputs, strict=True):
                imageio.write_image(target, result, provenance=tag, **writing)
        except (I2IError, OSError) as exc:
            loop.write_failed(path, target, exc)  # a full disk stops the run
            continue
        if rows is not None:
            rows.append([_cell(image), *(_cell(result) for result in outputs)])


def _cell(image: imageio.ImageData) -> np.ndarray:
    """An image as a GRID_CELL-square RGB cell of a grid."""
    from PIL import Image

    pixels = np.repeat(image.pixels, 3, axis=2) if image.pixels.shape[2] == 1 else image.pixels
    resized = Image.fromarray(imageio.quantize(pixels, 8)).resize((GRID_CELL, GRID_CELL), Image.BICUBIC)
    return np.asarray(resized, np.float32) / 255.0


def _write_grid(path: Path, rows: list[list[np.ndarray]], header: list[Any], tag: dict | None) -> None:
    blank = np.ones((GRID_CELL, GRID_CELL, 3), np.float32)
    if header:
        rows = [[blank, *(_cell(image) for image in header)], *rows]
    width = max(len(r) for r in rows)
    rows = [r + [blank] * (width - len(r)) for r in rows]
    imageio.write_image(path, imageio.ImageData(imageio.montage(rows), None, 8), provenance=tag)
