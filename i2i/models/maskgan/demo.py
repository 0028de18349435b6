"""MaskGAN's part of `i2i demo`: the bundled synthetic-faces weights edit each sample face by its edited
mask; a row per face: source | its mask | edited mask | result (the unedited reconstruction beside it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from i2i.io import imageio
from i2i.models._shared.demo import write_grid

SAMPLES = Path(__file__).parent / "samples"
WEIGHTS = "maskgan-synth-faces"


def run(cls: type, out_dir: Path, device: str = "auto", *, load: Callable) -> Iterator[str]:
    """Each sample face re-rendered with its edited mask, and the share of edited pixels whose colour moved
    towards the edit's class (its mean colour in the source) compared with the reconstruction."""
    from i2i.data.masks import colorize, read_mask

    model = load(cls.name, WEIGHTS, device=device)
    tag = model.provenance_tag()
    rows, followed, edited = [], 0, 0
    for face in sorted((SAMPLES / "faces").glob("*.png")):
        mask, target = read_mask(SAMPLES / "masks" / face.name), read_mask(SAMPLES / "edited" / face.name)
        style = model.encode_style(face, mask)
        result = imageio.read_image(model.render(target, style))
        baseline = imageio.read_image(model.render(mask, style))
        imageio.write_image(out_dir / "maskgan" / face.name, result, provenance=tag)
        source = imageio.read_image(face).pixels
        counts = follow_counts(source, mask, target, result.pixels, baseline.pixels)
        followed, edited = followed + counts[0], edited + counts[1]
        rows.append(
            [source, colorize(mask) / 255.0, colorize(target) / 255.0, result.pixels, baseline.pixels]
        )
    grid = write_grid(out_dir / "maskgan_edits.png", rows, tag)
    yield (
        f"maskgan ({model.weights_name}): {len(rows)} faces edited by mask -> {out_dir / 'maskgan'}/; grid "
        f"(source | mask | edited mask | result | reconstruction): {grid}"
    )
    yield f"  edited pixels whose colour moved towards the new class: {followed / max(1, edited):.0%}"


def follow_counts(
    source: np.ndarray, mask: np.ndarray, target: np.ndarray, result: np.ndarray, baseline: np.ndarray
) -> tuple[int, int]:
    """(pixels that follow the edit, edited pixels): per class painted by the edit, the edited pixels whose
    colour in `result` is nearer the class's mean colour in `source` than in `baseline` (the rendering of
    the unedited mask). Classes the source does not show have no colour to compare with and are skipped."""
    followed = edited = 0
    for label in np.unique(target[target != mask]):
        region, own = (target == label) & (target != mask), mask == label
        if not own.any():
            continue
        colour = source[own].mean(0)
        near_result = np.abs(result[region] - colour).sum(1)
        near_baseline = np.abs(baseline[region] - colour).sum(1)
        followed += int((near_result < near_baseline).sum())
        edited += int(region.sum())
    return followed, edited
