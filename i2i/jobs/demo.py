"""The offline demo (`make demo` / `i2i demo`): bundled weights on bundled sample images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from i2i.api import load
from i2i.hub.catalogue import bundled_path
from i2i.io import imageio
from i2i.jobs.translate import provenance_tag


def pix2pix_demo(out_dir: Path, device: str) -> Iterator[str]:
    model = load("pix2pix", "pix2pix-synth-shapes", device=device)
    samples = sorted((bundled_path("sample-images") / "pix2pix").glob("*.png"))
    tag = provenance_tag(model)
    rows, errors, baseline = [], [], []
    for sample in samples:
        pair = imageio.read_image(sample)
        half = pair.pixels.shape[1] // 2
        labels, target = pair.pixels[:, :half], pair.pixels[:, half:]
        (result,) = model.translate_images([imageio.ImageData(labels, None, pair.bit_depth, sample, "png")])
        imageio.write_image(out_dir / "pix2pix" / sample.name, result, provenance=tag)
        rows.append([labels, result.pixels, target])
        errors.append(float(np.abs(result.pixels - target).mean()))
        baseline.append(float(np.abs(labels - target).mean()))
    grid = out_dir / "pix2pix_side_by_side.png"
    imageio.write_image(grid, imageio.ImageData(imageio.montage(rows), None, 8), provenance=tag)
    yield (
        f"pix2pix ({model.weights_name}, {model.precision} on {model.device}): {len(samples)} label maps -> "
        f"{out_dir / 'pix2pix'}/; side by side (input | output | target): {grid}"
    )
    yield f"  mean |output - target| = {np.mean(errors):.4f} (the input itself: {np.mean(baseline):.4f})"


def cyclegan_demo(out_dir: Path, device: str) -> Iterator[str]:
    model = load("cyclegan", "cyclegan-synth-day2night", device=device)
    samples = bundled_path("sample-images") / "cyclegan"
    tag = provenance_tag(model)
    for direction, source, truth in (("AtoB", "testA", "testA_to_B"), ("BtoA", "testB", "testB_to_A")):
        files = sorted((samples / source).glob("*.png"))
        inputs = [imageio.read_image(f) for f in files]
        results = model.translate_images(inputs, batch_size=len(inputs), direction=direction)
        rows, errors, baseline = [], [], []
        for path, image, result in zip(files, inputs, results, strict=True):
            target = imageio.read_image(samples / "truth" / truth / path.name).pixels
            imageio.write_image(out_dir / "cyclegan" / direction / path.name, result, provenance=tag)
            rows.append([image.pixels, result.pixels, target])
            errors.append(float(np.abs(result.pixels - target).mean()))
            baseline.append(float(np.abs(image.pixels - target).mean()))
        grid = out_dir / f"cyclegan_{direction}_side_by_side.png"
        imageio.write_image(grid, imageio.ImageData(imageio.montage(rows), None, 8), provenance=tag)
        yield f"cyclegan {direction} ({model.weights_name}): {len(files)} images; input | output | truth: {grid}"
        yield f"  mean |output - truth| = {np.mean(errors):.4f} (the input itself: {np.mean(baseline):.4f})"


def esrgan_demo(out_dir: Path, device: str) -> Iterator[str]:
    from PIL import Image

    model = load("esrgan", "realesrgan-x4plus", device=device)  # embedded: converted once into the cache
    tag = provenance_tag(model)
    rows = []
    for path in sorted((bundled_path("sample-images") / "esrgan").glob("*.png")):
        image = imageio.read_image(path)
        (result,) = model.translate_images([image])
        imageio.write_image(out_dir / "esrgan" / f"{path.stem}_x4.png", result, provenance=tag)
        h, w = result.pixels.shape[:2]
        bicubic = Image.open(path).convert("RGB").resize((w, h), Image.BICUBIC)
        rows.append([np.asarray(bicubic, np.float32) / 255.0, result.pixels])
    grid = out_dir / "esrgan_side_by_side.png"
    imageio.write_image(grid, imageio.ImageData(imageio.montage(rows), None, 8), provenance=tag)
    yield (
        f"esrgan ({model.weights_name}, {model.precision} on {model.device}): {len(rows)} photos x4 -> "
        f"{out_dir / 'esrgan'}/; bicubic | Real-ESRGAN: {grid}"
    )


def stargan_v2_demo(out_dir: Path, device: str) -> Iterator[str]:
    """The reference-guided grid of the StarGAN v2 paper: a row per source, a column per reference (each
    reference's folder name is its domain)."""
    model = load("stargan-v2", "stargan-v2-synth-palettes", device=device)
    samples = bundled_path("sample-images") / "stargan-v2"
    tag = provenance_tag(model)
    sources = [imageio.read_image(p) for p in sorted((samples / "sources").glob("*.png"))]
    references = sorted((samples / "references").glob("*/*.png"))
    columns = []
    for reference in references:
        domain = reference.parent.name
        (styles,) = zip(
            *model.translate_styles(sources, target_domain=domain, reference=reference), strict=True
        )
        for source_path, result in zip(sorted((samples / "sources").glob("*.png")), styles, strict=True):
            imageio.write_image(
                out_dir / "stargan-v2" / f"{source_path.stem}_to_{domain}.png", result, provenance=tag
            )
        columns.append((imageio.read_image(reference).pixels, [r.pixels for r in styles]))
    blank = np.ones_like(sources[0].pixels)
    rows = [[blank, *(ref for ref, _ in columns)]]
    rows += [[source.pixels, *(outs[i] for _, outs in columns)] for i, source in enumerate(sources)]
    grid = out_dir / "stargan_v2_reference_grid.png"
    imageio.write_image(grid, imageio.ImageData(imageio.montage(rows), None, 8), provenance=tag)
    domains = ", ".join(r.parent.name for r in references)
    yield (
        f"stargan-v2 ({model.weights_name}): {len(sources)} sources x {len(references)} references "
        f"({domains}) -> {out_dir / 'stargan-v2'}/; reference-guided grid: {grid}"
    )


def run_demo(out_dir: Path, device: str = "auto") -> Iterator[str]:
    yield from pix2pix_demo(Path(out_dir), device)
    yield from cyclegan_demo(Path(out_dir), device)
    yield from esrgan_demo(Path(out_dir), device)
    yield from stargan_v2_demo(Path(out_dir), device)
