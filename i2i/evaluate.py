"""Evaluation of translations against ground truth (`i2i eval ...`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .imageio import ImageData
from .model import Model


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two [0, 1] images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def evaluate_paired(
    model: Model, data: Path, *, phase: str = "test", batch_size: int = 8, **conditions: Any
) -> dict:
    """Mean L1 and PSNR (RGB, [0, 1]) of `model` on the `phase` split of a paired dataset, next to the
    same metrics for the input itself (the identity baseline). Images are prepared as the reference's
    test.py does: resized to crop_size, no flip."""
    from .data.paired import PairedDataset

    c = model.config
    dataset = PairedDataset(
        data,
        phase=phase,
        preprocess=c.preprocess,
        load_size=c.crop_size,
        crop_size=c.crop_size,
        no_flip=True,
        direction=c.direction,
        input_nc=c.input_nc,
        output_nc=c.output_nc,
    )
    l1, peak, base_l1, base_peak = [], [], [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        inputs = [_to_image(item["A"]) for item in items]
        outputs = model.translate_images(inputs, batch_size=batch_size, **conditions)
        for item, source, result in zip(items, inputs, outputs, strict=True):
            target = _to_image(item["B"]).pixels
            l1.append(float(np.abs(result.pixels - target).mean()))
            peak.append(psnr(result.pixels, target))
            if source.pixels.shape == target.shape:
                base_l1.append(float(np.abs(source.pixels - target).mean()))
                base_peak.append(psnr(source.pixels, target))
    report = {
        "images": len(dataset),
        "phase": phase,
        "l1": float(np.mean(l1)),
        "psnr_db": float(np.mean(peak)),
    }
    if base_l1:
        report["identity_l1"] = float(np.mean(base_l1))
        report["identity_psnr_db"] = float(np.mean(base_peak))
    return report


def _to_image(tensor) -> ImageData:
    pixels = ((tensor.float() + 1) / 2).clamp(0, 1).permute(1, 2, 0).numpy()
    return ImageData(np.ascontiguousarray(pixels, dtype=np.float32), None, 8)
