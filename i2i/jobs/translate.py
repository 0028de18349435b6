"""Batch translation of image files: what `i2i translate` runs (per-file errors, atomic outputs)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from i2i._version import __version__
from i2i.errors import I2IError, UsageError
from i2i.io import imageio
from i2i.model import Model


def provenance_tag(model: Model) -> dict[str, str]:
    tag = {"made_by": f"i2i {__version__}", "model": model.name}
    if model.weights_name:
        tag["weights"] = model.weights_name
    if model.weights_sha256:
        tag["weights_sha256"] = model.weights_sha256
    return tag


def named_error(path: Path, exc: Exception) -> str:
    """The first line of `exc`, prefixed by `path` unless it already names it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if str(path) in text else f"{path}: {text}"


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
    console: Console | None = None,
    progress: bool = True,
) -> list[tuple[Path, str]]:
    """Translate `files` ((path, relative path) pairs) into `destination`; returns the failures.

    A file that cannot be read, translated or written is reported in one line and skipped; the others
    are still written. Outputs are written atomically and never replace an input.
    """
    console = console or Console(stderr=True)
    conditions = conditions or {}
    model.check_conditions(conditions)
    tag = provenance_tag(model) if provenance else None
    inputs = {path.resolve() for path, _ in files}
    jobs = [
        (path, destination if single_file_output else imageio.output_path(destination, rel, fmt))
        for path, rel in files
    ]
    failures: list[tuple[Path, str]] = []
    claimed: dict[Path, Path] = {}  # output -> the input writing it (a.jpg and a.webp -> a.png clash)

    def fail(path: Path, message: str) -> None:
        failures.append((path, message))
        console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)

    start = time.perf_counter()
    bar = Progress(
        TextColumn(f"[bold]{model.name}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("translate", total=len(jobs))
        for i in range(0, len(jobs), max(1, batch_size)):
            chunk = jobs[i : i + max(1, batch_size)]
            decoded = []
            for path, target in chunk:
                if target.resolve() in inputs:
                    fail(
                        path,
                        f"{path}: the output {target} would overwrite an input; choose another output folder",
                    )
                    continue
                other = claimed.setdefault(target.resolve(), path)
                if other != path:
                    fail(
                        path,
                        f"{path}: its output {target} is also the output of {other}; "
                        "rename one of them or keep the formats (--format same)",
                    )
                    continue
                try:
                    decoded.append((path, target, imageio.read_image(path, max_pixels=max_pixels)))
                except I2IError as exc:
                    fail(path, named_error(path, exc))
            _translate_and_write(model, decoded, fmt, tag, batch_size, conditions, fail)
            bar.advance(task, len(chunk))
    elapsed = time.perf_counter() - start
    done = len(jobs) - len(failures)
    rate = done / elapsed if elapsed > 0 else 0.0
    summary = f"translated {done} of {len(jobs)} image(s) into {destination} in {elapsed:.1f}s ({rate:.2f} images/s)"
    if failures:
        summary += f"; [red]{len(failures)} failed[/]"
    console.print(summary, highlight=False, soft_wrap=True)
    return failures


def run_styles(
    model: Model,
    files: Sequence[tuple[Path, Path]],
    destination: Path,
    *,
    num_styles: int = 1,
    references: Sequence[Path] = (),
    conditions: dict[str, Any] | None = None,
    grid: bool = False,
    fmt: str | None = None,
    provenance: bool = True,
    max_pixels: int | None = None,
    console: Console | None = None,
) -> list[tuple[Path, str]]:
    """Each input in several styles (`model.translate_styles`): `NAME_s0.ext`, `NAME_s1.ext`, ... mirrored
    under `destination`, and with `grid` one `destination/grid.png`: a row per source (the source, then its
    styles; with references, a first row showing them). Per-file errors as in `run_translation`."""
    import numpy as np
    from PIL import Image

    console = console or Console(stderr=True)
    conditions = dict(conditions or {})
    # what is wrong with the request is wrong for every file: say it once, before any work
    if num_styles < 1:
        raise UsageError(f"--num-styles must be at least 1, not {num_styles}")
    if references and num_styles not in (1, len(references)):
        raise UsageError(
            f"--num-styles {num_styles} with {len(references)} reference image(s): reference-guided "
            "translation makes one style per reference"
        )
    model.check_conditions(conditions)
    tag = provenance_tag(model) if provenance else None
    refs = [imageio.read_image(r, max_pixels=max_pixels) for r in references] or None
    failures: list[tuple[Path, str]] = []
    rows: list[list[np.ndarray]] = []
    tile = 256

    def cell(image: Any) -> np.ndarray:
        pixels = np.repeat(image.pixels, 3, axis=2) if image.pixels.shape[2] == 1 else image.pixels
        resized = Image.fromarray(imageio.quantize(pixels, 8)).resize((tile, tile), Image.BICUBIC)
        return np.asarray(resized, np.float32) / 255.0

    for path, rel in files:
        try:
            image = imageio.read_image(path, max_pixels=max_pixels)
            (styles,) = model.translate_styles([image], num_styles=num_styles, reference=refs, **conditions)
            for k, result in enumerate(styles):
                target = imageio.output_path(destination, rel.with_name(f"{rel.stem}_s{k}{rel.suffix}"), fmt)
                imageio.write_image(target, result, format=fmt, provenance=tag)
            rows.append([cell(image), *(cell(s) for s in styles)])
        except UsageError:
            raise
        except (I2IError, OSError) as exc:
            failures.append((path, named_error(path, exc)))
            console.print(f"[red]error:[/] {escape(failures[-1][1])}", highlight=False, soft_wrap=True)
    if grid and rows:
        if refs:
            rows.insert(0, [np.ones((tile, tile, 3), np.float32), *(cell(r) for r in refs)])
        width = max(len(r) for r in rows)
        rows = [r + [np.ones((tile, tile, 3), np.float32)] * (width - len(r)) for r in rows]
        imageio.write_image(
            destination / "grid.png", imageio.ImageData(imageio.montage(rows), None, 8), provenance=tag
        )
    done = len(files) - len(failures)
    console.print(
        f"translated {done} of {len(files)} image(s) into {max(num_styles, len(references))} style(s) in {destination}"
        + (f"; [red]{len(failures)} failed[/]" if failures else ""),
        highlight=False,
    )
    return failures


def _translate_and_write(model, decoded, fmt, tag, batch_size, conditions, fail) -> None:
    if not decoded:
        return
    try:
        results = model.translate_images([d[2] for d in decoded], batch_size=batch_size, **conditions)
    except I2IError:
        raise
    except (
        RuntimeError,
        ValueError,
    ) as exc:  # e.g. out of memory on one large image: report the files, go on
        if len(decoded) > 1:
            for item in decoded:
                _translate_and_write(model, [item], fmt, tag, 1, conditions, fail)
            return
        fail(decoded[0][0], named_error(decoded[0][0], exc))
        return
    for (path, target, _), result in zip(decoded, results, strict=True):
        try:
            imageio.write_image(target, result, format=fmt, provenance=tag)
        except (I2IError, OSError) as exc:
            fail(path, named_error(target, exc))
