"""pix2pix's part of `i2i demo`: the bundled labels-to-shapes weights on the bundled test pairs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from i2i.io import imageio
from i2i.models._shared.demo import score_line, write_grid

SAMPLES = Path(__file__).parent / "samples"


def run(cls: type, out_dir: Path, device: str = "auto", *, load: Callable) -> Iterator[str]:
    """Translate each sample's label map (its left half) and compare with its right half."""
    model = load(cls.name, "pix2pix-synth-shapes", device=device)
    samples = sorted(SAMPLES.glob("*.png"))
    tag = model.provenance_tag()
    rows = []
    for sample in samples:
        pair = imageio.read_image(sample)
        half = pair.pixels.shape[1] // 2
        labels, target = pair.pixels[:, :half], pair.pixels[:, half:]
        (result,) = model.translate_images([imageio.ImageData(labels, None, pair.bit_depth, sample, "png")])
        imageio.write_image(out_dir / "pix2pix" / sample.name, result, provenance=tag)
        rows.append([labels, result.pixels, target])
    grid = write_grid(out_dir / "pix2pix_side_by_side.png", rows, tag)
    yield (
        f"pix2pix ({model.weights_name}, {model.precision} on {model.device}): {len(samples)} label maps -> "
        f"{out_dir / 'pix2pix'}/; side by side (input | output | target): {grid}"
    )
    yield score_line(rows)
