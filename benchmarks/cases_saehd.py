"""SAEHD network benchmark cases: `swap_faces` (the raw network on aligned crops) at DeepFaceLab's default
settings (liae-ud, 128 px, 82 M parameters) and with the Quick96 preset, and reading a DeepFaceLab model
folder of the default size (restricted unpickling + conversion) into a ready model. Random weights."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from timing import median_ms

import i2i
from i2i.models.saehd import official


def _row(ms: float, note: str, items: int = 1) -> dict:
    return {"median_ms": ms, "images_per_s": 1000 * items / ms, "note": note}


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` takes fewer repeats."""
    repeats = 3 if quick else 10
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)

    def swap(settings: dict, batch: int, note: str) -> Callable[[], dict]:
        def run() -> dict:
            model = i2i.load("saehd", device=device, precision="fp32", **settings)
            size = model.config.resolution
            crops = torch.rand(batch, 3, size, size, device=model.device)

            def once() -> None:
                model.swap_faces(crops)
                sync()

            return _row(median_ms(once, repeats), f"{note}, fp32, batch {batch}", batch)

        return run

    def import_folder() -> dict:
        made = i2i.load("saehd", device="cpu", precision="fp32")
        with tempfile.TemporaryDirectory() as tmp:
            official.write_model(
                Path(tmp), "bench", made.state_dicts(), {"archi": "liae-ud", "resolution": 128}
            )
            ms = median_ms(
                lambda: i2i.load(weights=tmp, device="cpu", precision="fp32"), max(1, repeats // 3)
            )
        return {
            "median_ms": ms,
            "note": "DeepFaceLab folder, liae-ud 128 (82 M params, 330 MB) -> ready model",
        }

    default = {"archi": "liae-ud", "resolution": 128}
    return [
        ("saehd", "swap_faces liae-ud 128, batch 1", swap(default, 1, "DFL defaults (82 M params)")),
        ("saehd", "swap_faces liae-ud 128, batch 8", swap(default, 8, "DFL defaults (82 M params)")),
        ("saehd", "swap_faces quick96, batch 8", swap({"preset": "quick96"}, 8, "Quick96 (38 M params)")),
        ("saehd", "read a DeepFaceLab model folder", import_folder),
    ]
