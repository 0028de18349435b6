"""Safeguard benchmark cases (CPU): what the marks and the provenance add to each output of a safeguarded
model, on a 1920x1080 frame: the badge, embedding and reading the watermark, and writing a PNG with XMP
and a sidecar against a plain one."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from timing import median_ms

from i2i.io import imageio
from i2i.io import provenance as prov
from i2i.ops import marks

PAYLOAD = bytes.fromhex("0123456789abcdef")


def _row(ms: float, note: str) -> dict:
    return {"median_ms": ms, "images_per_s": 1000 / ms, "note": note}


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` takes fewer repeats. CPU only."""
    repeats = 3 if quick else 10
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    marked = marks.embed_watermark(frame, PAYLOAD)
    tag = {"made_by": "i2i", "model": "saehd", "weights_sha256": "ab" * 32}
    safeguarded = tag | prov.safeguard_fields("cd" * 32, {"badge": True, "watermark": True})

    def badge() -> dict:
        return _row(median_ms(lambda: marks.add_badge(frame), repeats), "1920x1080 uint8, bottom-right badge")

    def embed() -> dict:
        return _row(
            median_ms(lambda: marks.embed_watermark(frame, PAYLOAD), repeats), "1920x1080, 64+32 bits"
        )

    def read() -> dict:
        assert marks.read_watermark(marked) == PAYLOAD
        return _row(
            median_ms(lambda: marks.read_watermark(marked), repeats), "1920x1080, vote over 32400 blocks"
        )

    def write(with_record: bool) -> Callable[[], dict]:
        def run() -> dict:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "out.png"
                chosen = safeguarded if with_record else tag
                ms = median_ms(lambda: imageio.write_array(path, frame, provenance=chosen), repeats)
            note = "PNG + XMP iTXt + JSON sidecar" if with_record else "PNG with the plain i2i tag"
            return _row(ms, f"1920x1080, {note}")

        return run

    return [
        ("safeguards", "badge 1080p", badge),
        ("safeguards", "watermark embed 1080p", embed),
        ("safeguards", "watermark read 1080p", read),
        ("safeguards", "write PNG 1080p plain", write(False)),
        ("safeguards", "write PNG 1080p with provenance", write(True)),
    ]
