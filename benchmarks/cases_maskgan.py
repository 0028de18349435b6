"""MaskGAN benchmark cases: the full-size Dense Mapping Network (about 283 GFLOP per 512x512 edit) as the
released demo runs it (fp32, the encoders every time), through `translate` at the default precision, and an
edit re-rendered from the cached style code (the encoders skipped)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from timing import median_ms

import i2i
from i2i.models.maskgan import networks as N


def _inputs(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    edited = mask.copy()
    edited[: size // 4] = 13
    return image, mask, edited


def _row(ms: float, note: str) -> dict:
    return {"median_ms": ms, "images_per_s": 1000 / ms, "note": note}


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` runs at 256 px with fewer repeats."""
    size, repeats = (256, 2) if quick else (512, 5)
    settings = {"loadSize": size}

    def reference() -> dict:
        model = i2i.load("maskgan", device=device, precision="fp32", **settings)
        G = model.networks["G"].eval()
        image, mask, edited = _inputs(size)
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(model.device)
        src = N.onehot(torch.from_numpy(mask)[None, None].long()).to(model.device)
        tgt = N.onehot(torch.from_numpy(edited)[None, None].long()).to(model.device)
        with torch.no_grad():
            ms = median_ms(lambda: G(tgt, src, x), repeats)
        return _row(ms, "fp32 NCHW (reference path): demo.py's G(onehot(edit), onehot(mask), image)")

    def translate(precision: str) -> Callable[[], dict]:
        def run() -> dict:
            model = i2i.load("maskgan", device=device, precision=precision, **settings)
            image, mask, edited = _inputs(size)
            state = {"k": 0}

            def call() -> None:  # a new photo each call: the style cache never hits
                state["k"] += 1
                photo = image.copy()
                photo[0, 0, 0] = state["k"] % 256
                model.translate(photo, mask=mask, target_mask=edited)

            return _row(
                median_ms(call, repeats), f"translate, {model.precision}, pre/post-processing included"
            )

        return run

    def cached_edit() -> dict:
        model = i2i.load("maskgan", device=device, precision="auto", **settings)
        image, mask, edited = _inputs(size)
        style = model.encode_style(image, mask)
        ms = median_ms(lambda: model.render(edited, style), repeats)
        return _row(ms, f"render(edit, style): encoders skipped, {model.precision}")

    group = f"maskgan {size}x{size} (full-size G, random weights)"
    return [
        (group, "edit, reference path", reference),
        (group, "edit, translate fp32", translate("fp32")),
        (group, "edit, translate auto", translate("auto")),
        (group, "re-render with cached style", cached_edit),
    ]
