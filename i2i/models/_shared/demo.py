"""What the models' demos (`Model.demo`, run by `i2i demo`) share: writing a side-by-side grid and scoring
outputs against their targets.

A demo loads bundled weights with the `load` it is given: `i2i.api.load`, passed by the runner
(`i2i.jobs.demo`), as the models layer imports nothing from the API above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from i2i.io import imageio


def write_grid(path: Path, rows: Sequence[Sequence[np.ndarray]], tag: dict[str, str]) -> Path:
    """Rows of equally tall images joined with white gutters into one 8-bit image at `path`."""
    imageio.write_image(path, imageio.ImageData(imageio.montage(rows), None, 8), provenance=tag)
    return path


def mean_errors(rows: Sequence[Sequence[np.ndarray]]) -> tuple[float, float]:
    """Mean |output - target| over rows of (input, output, target), and the same for the input itself."""
    errors = [float(np.abs(output - target).mean()) for _, output, target in rows]
    baseline = [float(np.abs(source - target).mean()) for source, _, target in rows]
    return float(np.mean(errors)), float(np.mean(baseline))


def score_line(rows: Sequence[Sequence[np.ndarray]], what: str = "target") -> str:
    """The demo's line on how close outputs come to their targets, next to the input itself."""
    error, baseline = mean_errors(rows)
    return f"  mean |output - {what}| = {error:.4f} (the input itself: {baseline:.4f})"
