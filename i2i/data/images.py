"""The images layout (super-resolution): any folder of high-resolution images, sub-folders included; its
finding, its check and the synthetic task (rendered scenes). The training dataset is `i2i.data.sr`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from i2i.data import synth
from i2i.data.files import CHECK_LIMIT, LayoutReport, check_folder, checked, counted, scan
from i2i.data.paired import render_pair
from i2i.errors import I2IError

EXPECTED_LAYOUT = "a folder of high-resolution images, e.g. DIV2K_train_HR/0001.png"


def find_image_folder(root: str | Path) -> list[Path]:
    """The images under `root` (recursive, sorted); `I2IError` naming what was found when there are none."""
    root = Path(root)
    if not root.is_dir():
        raise I2IError(f"{root}: no such folder; expected {EXPECTED_LAYOUT}")
    images, others = scan(root)
    if not images:
        found = f"only {len(others)} non-image files" if others else "nothing"
        raise I2IError(f"{root}: no images found ({found}); expected {EXPECTED_LAYOUT}")
    return images


def check(root: str | Path, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem of a folder of images (empty, unreadable files), plus notes and a one-line summary.
    Images are decoded (at most `max_checked`) to find unreadable ones."""
    return checked("images", root, max_checked, _inspect)


def _inspect(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
    return "image folder", [counted(check_folder(root, report, max_checked), "image")]


def make_images(out_dir: Path, *, count: int = 20, size: int = 128, seed: int = 0) -> Path:
    """A folder of `count` rendered scenes (the B side of labels2shapes): high-resolution images for
    super-resolution training tests."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        _, rendered = render_pair(rng, size)
        synth.write_png(out_dir / f"{i:05d}.png", rendered)
    return out_dir


def synthesize(out_dir: Path, *, count: int, size: int, seed: int) -> tuple[Path, str]:
    """The `images` synthetic task; the root and what was written."""
    return make_images(out_dir, count=count, size=size, seed=seed), f"{count} {size}x{size} images"
