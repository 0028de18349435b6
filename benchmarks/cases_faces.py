"""Face pipeline benchmark cases (CPU: no network): the alignment matrix, the crop of a 1920x1080 frame at
DFL's extraction size (512, whole face), its inverse warp, the masks, drawing synthetic faces, and
`extract_faces` over synthetic frames (read, align, write JPEG with metadata), and MTCNN where
facenet-pytorch's weight files are installed."""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from timing import median_ms

from i2i.data.faces import align, synth
from i2i.data.faces.providers import get_provider
from i2i.jobs.faces import extract_faces


def _row(ms: float, note: str, items: int = 1) -> dict:
    return {"median_ms": ms, "images_per_s": 1000 * items / ms, "note": note}


def _frame() -> tuple[np.ndarray, np.ndarray]:
    """A 1920x1080 frame with a synthetic face of about 500 px pasted in, and its landmarks."""
    face, landmarks = synth.render_face(synth.IDENTITIES["src"], np.random.default_rng(0), 720)
    frame = np.random.default_rng(1).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    frame[200:920, 600:1320] = face
    return frame, landmarks + [600, 200]


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` takes fewer repeats and frames. CPU only."""
    repeats = 3 if quick else 10
    size = 512
    frame, landmarks = _frame()
    mat = align.transform_matrix(landmarks, size, "wf")
    crop = align.warp_to_crop(frame, mat, size)
    in_crop = align.transform_points(landmarks, mat)

    def matrix() -> dict:
        return _row(
            median_ms(lambda: align.transform_matrix(landmarks, size, "wf"), repeats * 10),
            "Umeyama + padding",
        )

    def warp(interpolation: str) -> Callable[[], dict]:
        def run() -> dict:
            ms = median_ms(lambda: align.warp_to_crop(frame, mat, size, interpolation=interpolation), repeats)
            return _row(ms, f"1920x1080 uint8 -> {size}x{size} wf crop, {interpolation}")

        return run

    def inverse() -> dict:
        ms = median_ms(lambda: align.warp_from_crop(crop, mat, frame.shape[:2]), repeats)
        return _row(ms, f"{size}x{size} crop back into 1920x1080 (bilinear)")

    def masks() -> dict:
        ms = median_ms(
            lambda: (align.hull_mask(in_crop, size), align.eyes_mouth_mask(in_crop, size)), repeats
        )
        return _row(ms, f"hull + eyes/mouth masks at {size}x{size}")

    def draw() -> dict:
        rng = np.random.default_rng(0)
        ms = median_ms(lambda: synth.render_face(synth.IDENTITIES["dst"], rng, 256), repeats)
        return _row(ms, "one 256x256 synthetic face with landmarks")

    def extract() -> dict:
        count = 4 if quick else 16
        with tempfile.TemporaryDirectory() as tmp:
            root = synth.make_faces(Path(tmp) / "ds", count=count, size=256, seed=0)
            provider = get_provider("precomputed", path=root / "src" / synth.LANDMARKS_FILE)
            out = Path(tmp) / "out"
            ms = median_ms(lambda: extract_faces(root / "src", out, provider, size=256), max(1, repeats // 3))
        return _row(ms, f"extract_faces: {count} PNG frames 256x256 -> wf 256 JPEG with metadata", count)

    def mtcnn5() -> dict:
        provider = get_provider("mtcnn5")
        picture = frame[::2, ::2].copy()  # 960x540
        return _row(
            median_ms(lambda: provider.detect(picture), repeats), "MTCNN on 960x540, facenet-pytorch weights"
        )

    group = "faces (CPU)"
    extra = [(group, "mtcnn5 detect", mtcnn5)] if importlib.util.find_spec("facenet_pytorch") else []
    return extra + [
        (group, "alignment matrix", matrix),
        (group, "crop, bilinear", warp("linear")),
        (group, "crop, cubic", warp("cubic")),
        (group, "inverse warp", inverse),
        (group, "masks", masks),
        (group, "synthetic face", draw),
        (group, "extract 256 px frames", extract),
    ]
