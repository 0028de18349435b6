"""SAEHD merge benchmark cases: what the merge costs around the network (crop, masks, colour transfer,
warp back, composite) on a 1280x720 frame with one face, each colour transfer alone on a crop, and whole
frames through `translate_images` with a random Quick96 model (marks on) as `i2i translate` runs them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from timing import median_ms

import i2i
from i2i.data.faces.align import MEAN_FACE
from i2i.io.consent import parse_attestation
from i2i.io.pixels import ImageData
from i2i.models.saehd import colour
from i2i.models.saehd.merge import MergeOptions, Merger, merge_frames

CONSENT = """\
subjects = ["synthetic face (random weights, a drawn frame)"]
use = "benchmarking i2i's face swap merge"
date = 2026-12-04

[consent]
given = true
statement = "No person is depicted: the frame is a pattern and the model's weights are random."
"""


def _frame(height: int = 720, width: int = 1280) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack(
        [0.5 + 0.4 * np.sin(f * yy + g * xx) for f, g in ((0.01, 0.02), (0.02, 0.01), (0.015, 0.015))], -1
    )


def _face(width: int = 1280, height: int = 720, side: float = 260) -> np.ndarray:
    return (MEAN_FACE - 0.5) * side + np.array([width / 2, height / 2])


def _identity(x: torch.Tensor):
    ones = torch.ones_like(x[:, :1])
    return x, ones * 0.9, ones


def _row(ms: float, note: str) -> dict:
    return {"median_ms": ms, "images_per_s": 1000 / ms, "note": note}


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` uses fewer repeats."""
    repeats = 3 if quick else 10
    frame, face = _frame(), _face()

    def merge_only(resolution: int, transfer: str) -> Callable[[], dict]:
        def run() -> dict:
            options = MergeOptions(erode=20, blur=100, color_transfer=transfer)
            ms = median_ms(
                lambda: merge_frames([frame], [[face]], _identity, resolution=resolution, face_type="f",
                                     options=options),
                repeats,
            )  # fmt: skip
            return _row(ms, f"identity network: the merge alone, {resolution}px crop, {transfer}, erode+blur")

        return run

    def transfer_only(name: str) -> Callable[[], dict]:
        def run() -> dict:
            rng = np.random.default_rng(0)
            crop, reference = rng.random((256, 256, 3), np.float32), rng.random((256, 256, 3), np.float32)
            mask = np.ones((256, 256), np.float32)
            ms = median_ms(lambda: colour.transfer(name, crop, reference, mask, mask), repeats)
            return _row(ms, f"{name} on a 256x256 crop")

        return run

    def translate() -> dict:
        model = i2i.load("saehd", device=device, precision="auto", preset="quick96")
        model.attest(parse_attestation(CONSENT.encode(), name="consent.toml"))
        image = ImageData(frame, None, 8)
        merger = Merger(model)
        merger.providers[("precomputed", "bench")] = _Fixed(face)
        ms = median_ms(lambda: merger.translate([image], landmarks="bench", color_transfer="rct"), repeats)
        return _row(
            ms, f"quick96 (random weights, {model.device}, {model.precision}), rct, badge + watermark"
        )

    group = "saehd merge, 1280x720 frame, one face"
    return [
        (group, "merge only, 128px, rct", merge_only(128, "rct")),
        (group, "merge only, 256px, rct", merge_only(256, "rct")),
        (group, "merge only, 256px, none", merge_only(256, "none")),
        (group, "rct, 256px crop", transfer_only("rct")),
        (group, "lct, 256px crop", transfer_only("lct")),
        (group, "idt, 256px crop", transfer_only("idt")),
        (group, "translate_images, quick96", translate),
    ]


class _Fixed:
    """A landmark provider with one fixed face (no file)."""

    name, license_note = "fixed", ""

    def __init__(self, landmarks: np.ndarray) -> None:
        from i2i.data.faces.providers import Face

        self.faces = [Face.from_landmarks(landmarks)]

    def detect(self, image: np.ndarray, *, name: str | None = None) -> list:
        return self.faces
