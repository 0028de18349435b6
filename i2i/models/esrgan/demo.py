"""ESRGAN's part of `i2i demo`: Real-ESRGAN x4plus (converted once from the ncnn files of its Python
package) on the bundled photos, next to a bicubic enlargement."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.io import imageio
from i2i.models._shared.demo import write_grid

SAMPLES = Path(__file__).parent / "samples"


def run(cls: type, out_dir: Path, device: str = "auto", *, load: Callable) -> Iterator[str]:
    """Each sample x4, and a grid of bicubic | Real-ESRGAN rows."""
    model = load(cls.name, "realesrgan-x4plus", device=device)  # embedded: converted once into the cache
    tag = model.provenance_tag()
    rows = []
    for path in sorted(SAMPLES.glob("*.png")):
        image = imageio.read_image(path)
        (result,) = model.translate_images([image])
        imageio.write_image(out_dir / "esrgan" / f"{path.stem}_x4.png", result, provenance=tag)
        h, w = result.pixels.shape[:2]
        bicubic = Image.open(path).convert("RGB").resize((w, h), Image.BICUBIC)
        rows.append([np.asarray(bicubic, np.float32) / 255.0, result.pixels])
    grid = write_grid(out_dir / "esrgan_side_by_side.png", rows, tag)
    yield (
        f"esrgan ({model.weights_name}, {model.precision} on {model.device}): {len(rows)} photos x4 -> "
        f"{out_dir / 'esrgan'}/; bicubic | Real-ESRGAN: {grid}"
    )
