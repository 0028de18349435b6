"""The `faces` dataset layout (face swapping, two identities): `src/` and `dst/`, each either raw frames with
a `landmarks.json` (the `precomputed` provider's schema) or aligned faces (DFL's or i2i's format). Its check
and its synthetic task (`i2i data synth --task faces`, drawn by `i2i.data.faces.synth`)."""

from __future__ import annotations

from pathlib import Path

from i2i.data.faces.synth import LANDMARKS_FILE, synthesize
from i2i.data.files import CHECK_LIMIT, SHOWN, LayoutReport, checked, counted, scan
from i2i.errors import I2IError

SIDES = ("src", "dst")
EXPECTED_LAYOUT = "DIR/src/ and DIR/dst/: frames + landmarks.json, or aligned faces"

__all__ = ["EXPECTED_LAYOUT", "SIDES", "check", "synthesize"]


def check(root: str | Path, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem of a faces dataset (missing side, no images, unreadable landmarks, images that are no
    aligned faces), plus notes and a one-line summary."""
    return checked("faces", root, max_checked, _inspect)


def _inspect(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
    counts = []
    for side in SIDES:
        folder = root / side
        if not folder.is_dir():
            report.problems.append(f"{folder}: missing; expected {EXPECTED_LAYOUT}")
            continue
        images, _ = scan(folder)
        if not images:
            report.problems.append(f"{folder}: no images; expected {EXPECTED_LAYOUT}")
            continue
        if (folder / LANDMARKS_FILE).is_file():
            counts.append(_check_frames(folder, images, report))
        else:
            counts.append(_check_aligned(folder, images, report, max_checked))
    return "faces dataset", counts


def _check_frames(folder: Path, images: list[Path], report: LayoutReport) -> str:
    from i2i.data.faces.providers import Precomputed

    try:
        provider = Precomputed(folder / LANDMARKS_FILE)
    except I2IError as exc:
        report.problems.append(str(exc))
        return f"{folder.name} {counted(len(images), 'frame')}"
    with_face = [path for path in images if provider.lookup(path)]
    if not with_face:
        report.problems.append(
            f"{folder / LANDMARKS_FILE}: lists no face for any of the {len(images)} images"
        )
    elif len(with_face) < len(images):
        report.notes.append(
            f"{folder}: {len(images) - len(with_face)} image(s) have no face in {LANDMARKS_FILE}"
        )
    return f"{folder.name} {counted(len(with_face), 'frame')} with landmarks"


def _check_aligned(folder: Path, images: list[Path], report: LayoutReport, max_checked: int) -> str:
    from i2i.data.faces.faceset import read_aligned

    bad = []
    for path in images[:max_checked]:
        try:
            read_aligned(path)
        except I2IError as exc:
            bad.append(str(exc))
    report.problems.extend(bad[:SHOWN])
    if len(bad) > SHOWN:
        report.problems.append(f"{folder}: {len(bad) - SHOWN} more files that are no aligned faces")
    if len(images) > max_checked:
        report.notes.append(f"{folder}: checked the first {max_checked} of {len(images)} images")
    return f"{folder.name} {counted(len(images), 'aligned face')}"
