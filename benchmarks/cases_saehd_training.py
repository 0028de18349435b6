"""SAEHD training benchmark cases: one sample of the generator (align, jitter, random warp, masks) and one
training step (forward, DSSIM + MSE + mask losses, backward, DeepFaceLab's AdaBelief) at DFL's defaults
(liae-ud 128, batch 8) on the run's device; on the CPU, quick runs take a small df-ud 64 instead."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from timing import median_ms

import i2i
from i2i.data.faces import synth
from i2i.models.saehd import sampler
from i2i.train.context import StepContext


def _row(ms: float, note: str, items: int = 1) -> dict:
    return {"median_ms": ms, "images_per_s": 1000 * items / ms, "note": note}


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` takes fewer repeats."""
    repeats = 3 if quick else 10
    cuda = str(device).startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    image, landmarks = synth.render_face(synth.IDENTITIES["src"], np.random.default_rng(0), 256)
    face = sampler.FaceImage(image, landmarks)

    def sample() -> dict:
        rng = np.random.default_rng(0)
        ms = median_ms(lambda: sampler.make_sample(face, rng, resolution=128, face_type="f"), repeats * 3)
        return _row(ms, "256 px frame -> 128 px warped, target, masks (one identity)")

    def step(settings: dict, batch: int, note: str) -> Callable[[], dict]:
        def run() -> dict:
            torch.manual_seed(0)
            model = i2i.load("saehd", device=device, precision="fp32", **settings)
            model.setup_training()
            size = model.config.resolution
            rng = np.random.default_rng(1)
            items = [sampler.make_sample(face, rng, resolution=size, face_type="f") for _ in range(2 * batch)]
            tensors = [
                sampler.to_tensors(s, side) for s, side in zip(items, ["src", "dst"] * batch, strict=True)
            ]
            keys = {k for t in tensors for k in t}
            data = {k: torch.stack([t[k] for t in tensors if k in t]) for k in keys}
            ctx = StepContext(model.device, "fp32")

            def once() -> None:
                model.training_step(data, ctx)
                sync()

            return _row(median_ms(once, max(2, repeats // 2)), f"{note}, fp32, batch {batch}", batch)

        return run

    small = not cuda and quick
    settings = {"archi": "df-ud", "resolution": 64, "ae_dims": 128, "e_dims": 32, "d_dims": 32}
    default = {"archi": "liae-ud", "resolution": 128}
    return [
        ("saehd training", "sample one face (128 px, random warp)", sample),
        (
            "saehd training",
            "training step df-ud 64, batch 8" if small else "training step liae-ud 128, batch 8",
            step(settings, 8, "small df-ud 64") if small else step(default, 8, "DFL defaults (82 M params)"),
        ),
    ]
