"""CycleGAN's part of `i2i demo`: the bundled day-to-night weights both ways on the bundled test images,
compared with their ground truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from i2i.io import imageio
from i2i.models._shared.demo import score_line, write_grid

SAMPLES = Path(__file__).parent / "samples"


def run(cls: type, out_dir: Path, device: str = "auto", *, load: Callable) -> Iterator[str]:
    """AtoB on `testA`, BtoA on `testB`; the truth of each is in `truth/`."""
    model = load(cls.name, "cyclegan-synth-day2night", device=device)
    tag = model.provenance_tag()
    for direction, source, truth in (("AtoB", "testA", "testA_to_B"), ("BtoA", "testB", "testB_to_A")):
        files = sorted((SAMPLES / source).glob("*.png"))
        inputs = [imageio.read_image(f) for f in files]
        results = model.translate_images(inputs, batch_size=len(inputs), direction=direction)
        rows = []
        for path, image, result in zip(files, inputs, results, strict=True):
            target = imageio.read_image(SAMPLES / "truth" / truth / path.name).pixels
            imageio.write_image(out_dir / "cyclegan" / direction / path.name, result, provenance=tag)
            rows.append([image.pixels, result.pixels, target])
        grid = write_grid(out_dir / f"cyclegan_{direction}_side_by_side.png", rows, tag)
        yield f"cyclegan {direction} ({model.weights_name}): {len(files)} images; input | output | truth: {grid}"
        yield score_line(rows, "truth")
