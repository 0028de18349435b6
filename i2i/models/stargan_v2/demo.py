"""StarGAN v2's part of `i2i demo`: the reference-guided grid of the paper, from the bundled palette weights,
a row per source and a column per reference (each reference's folder name is its domain)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from i2i.io import imageio
from i2i.models._shared.demo import write_grid

SAMPLES = Path(__file__).parent / "samples"


def run(cls: type, out_dir: Path, device: str = "auto", *, load: Callable) -> Iterator[str]:
    """Every source in the style of every reference, into the reference's domain."""
    model = load(cls.name, "stargan-v2-synth-palettes", device=device)
    tag = model.provenance_tag()
    source_files = sorted((SAMPLES / "sources").glob("*.png"))
    sources = [imageio.read_image(p) for p in source_files]
    references = sorted((SAMPLES / "references").glob("*/*.png"))
    columns = []
    for reference in references:
        domain = reference.parent.name
        (styles,) = zip(
            *model.translate_styles(sources, target_domain=domain, reference=reference), strict=True
        )
        for source_path, result in zip(source_files, styles, strict=True):
            imageio.write_image(
                out_dir / "stargan-v2" / f"{source_path.stem}_to_{domain}.png", result, provenance=tag
            )
        columns.append((imageio.read_image(reference).pixels, [r.pixels for r in styles]))
    blank = np.ones_like(sources[0].pixels)
    rows = [[blank, *(ref for ref, _ in columns)]]
    rows += [[source.pixels, *(outs[i] for _, outs in columns)] for i, source in enumerate(sources)]
    grid = write_grid(out_dir / "stargan_v2_reference_grid.png", rows, tag)
    domains = ", ".join(r.parent.name for r in references)
    yield (
        f"stargan-v2 ({model.weights_name}): {len(sources)} sources x {len(references)} references "
        f"({domains}) -> {out_dir / 'stargan-v2'}/; reference-guided grid: {grid}"
    )
