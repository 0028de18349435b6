"""What every dataset layout shares: finding image files, opening them, pairing them by name, and the
report that `i2i data check` prints (`LayoutReport`) with the helpers that word its lines."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from i2i.errors import I2IError
from i2i.io.imageio import IMAGE_SUFFIXES

PHASES = ("train", "val", "test")
#: a layout's check decodes at most this many images per folder
CHECK_LIMIT = 2000
SHOWN = 5
SHOWN_IN_CHECK = 3
_UNREADABLE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass
class LayoutReport:
    """What a layout's check found. `problems` make the dataset unusable, `notes` are merely worth knowing;
    `summary` is one line such as "unaligned dataset: trainA 1067 images, trainB 1334 images"."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        """True when the dataset is usable (no problems; notes allowed)."""
        return not self.problems


# ------------------------------------------------------------------------------------------- finding


def is_image(path: Path) -> bool:
    """True for a file whose suffix is a supported image type (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def scan(folder: Path) -> tuple[list[Path], list[Path]]:
    """(images, other files) under `folder`, recursive and sorted; hidden files and folders are skipped."""
    images, others = [], []
    for path in sorted(folder.rglob("*"), key=lambda p: p.parts):
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        (images if is_image(path) else others).append(path)
    return images, others


def subfolders(root: Path) -> list[Path]:
    """The visible sub-folders of `root`, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def existing_dir(root: str | Path) -> Path:
    """`root` as a Path; `I2IError` when it does not exist or is a file."""
    root = Path(root)
    if not root.exists():
        raise I2IError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise I2IError(f"dataset path {root} is a file; expected a folder of images")
    return root


def open_rgb(path: Path) -> Image.Image:
    """Open an image as RGB, turned upright by its EXIF orientation (an A|B file is split as displayed);
    I2IError naming an unreadable file."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I"):  # 16-bit grey: Pillow's convert would clip it, not scale it
                levels = np.asarray(image, dtype=np.float64) / 257.0
                image = Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8), "L")
            return image.convert("RGB")
    except _UNREADABLE_ERRORS as err:
        raise I2IError(f"cannot read image {path}: {err}") from err


# ------------------------------------------------------------------------------------ pairing by name


def by_name(folder: Path, images: list[Path]) -> dict[str, Path]:
    """`images` (found under `folder`) by relative path without suffix; an error for clashing names."""
    named: dict[str, Path] = {}
    for path in images:
        # NFC: macOS writes names decomposed, other systems composed; "café" must pair with "café"
        key = unicodedata.normalize("NFC", path.relative_to(folder).with_suffix("").as_posix())
        if key in named:
            raise I2IError(f"{named[key]} and {path} have the same name; the A/B pairing is ambiguous")
        named[key] = path
    return named


def no_match(a_dir: Path, a: dict[str, Path], b_dir: Path, b: dict[str, Path]) -> str:
    """The message for two folders whose file names pair none of their images."""
    return (
        f"no file names match between {a_dir} ({len(a)} images, e.g. {min(a)}) and {b_dir} ({len(b)} "
        f"images, e.g. {min(b)}); A and B images are paired by file name, extension aside"
    )


def unmatched(a: dict[str, Path], b: dict[str, Path]) -> list[str]:
    """`A/<name>` and `B/<name>` of the images without a partner of the same name."""
    return [f"A/{n}" for n in sorted(a.keys() - b.keys())] + [f"B/{n}" for n in sorted(b.keys() - a.keys())]


# ------------------------------------------------------------------------------------------- wording


def counted(n: int, noun: str) -> str:
    """`n noun`, with the plural `s` unless n is 1."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def names(items: Iterable[str], shown: int = SHOWN) -> str:
    """The first `shown` items, comma-separated, then how many more there are."""
    items = list(items)
    more = f" (and {len(items) - shown} more)" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def others_note(others: list[Path]) -> str:
    """`, only non-image files: ...` for a folder without images, or nothing."""
    if not others:
        return ""
    return f", only non-image files: {names(p.name for p in others)}"


def empty(folder: Path, others: list[Path]) -> str:
    """The problem of a folder that holds no image."""
    if not others:
        return f"{folder} is empty: it holds no image files"
    return (
        f"{folder} is empty: it holds only non-image files ({names((p.name for p in others), SHOWN_IN_CHECK)}), "
        f"which are ignored; image types: {', '.join(sorted(IMAGE_SUFFIXES))}"
    )


def describe(root: Path, expected: str = "paired") -> str:
    """What `root` holds, in words: its sub-folders (naming a layout of the other kind than `expected`,
    "paired" or "unaligned"), else its images, else its other files."""
    folders = [p.name for p in subfolders(root)]
    if folders:
        unpaired = any(name[:-1] in PHASES and name[-1:] in "AB" for name in folders)
        paired = any(name in PHASES or name in ("A", "B") for name in folders)
        note = ""
        if expected == "paired" and unpaired:
            note = " (an unpaired CycleGAN layout)"
        elif expected == "unaligned" and paired and not unpaired:
            note = " (a paired pix2pix layout)"
        return f"found folders: {names(folders)}{note}"
    images, others = scan(root)
    if images:
        return f"found {len(images)} images directly in {root}, not in a phase folder"
    return f"found 0 images in {root}{others_note(others)}"


# -------------------------------------------------------------------------------------------- checks


def checked(
    name: str,
    root: str | Path,
    max_checked: int,
    inspect: Callable[[Path, LayoutReport, int], tuple[str, list[str]]],
) -> LayoutReport:
    """The report of layout `name` on `root`: a missing root is the one problem, else `inspect(root,
    report, max_checked)` adds problems and notes and returns the dataset kind and counts for the summary."""
    report = LayoutReport()
    try:
        root = existing_dir(root)
    except I2IError as err:
        report.problems.append(str(err))
        report.summary = f"{name} dataset: no usable images in {root}"
        return report
    kind, counts = inspect(root, report, max_checked)
    report.summary = (
        f"{kind}: {', '.join(counts)}" if counts else f"{name} dataset: no usable images in {root}"
    )
    return report


def check_folder(folder: Path, report: LayoutReport, max_checked: int, min_width: int = 1) -> int:
    """Check the images under `folder`; their number."""
    images, others = scan(folder)
    check_images(folder, images, others, report, max_checked, min_width)
    return len(images)


def check_images(
    folder: Path,
    images: list[Path],
    others: list[Path],
    report: LayoutReport,
    max_checked: int,
    min_width: int = 1,
) -> None:
    """Report an empty folder, ignored non-image files and images whose header is unreadable or that are
    narrower than `min_width` (decoded whole, so truncated files show; the first `max_checked` images)."""
    if not images:
        report.problems.append(empty(folder, others))
        return
    if others:
        report.notes.append(
            f"{folder}: {counted(len(others), 'non-image file')} ignored: "
            f"{names((p.name for p in others), SHOWN_IN_CHECK)}"
        )
    bad = []
    for path in images[:max_checked]:
        try:
            with Image.open(path) as image:
                width = image.size[0]
                image.load()
        except _UNREADABLE_ERRORS as err:
            # PIL's message for an unknown format repeats the path.
            reason = "unknown format or corrupt header" if isinstance(err, UnidentifiedImageError) else err
            bad.append(f"{path} is not a readable image: {reason}")
            continue
        if width < min_width:
            bad.append(f"{path} is {width} px wide; an aligned image holds A and B side by side (width >= 2)")
    report.problems.extend(bad[:SHOWN])
    if len(bad) > SHOWN:
        report.problems.append(f"{folder}: {len(bad) - SHOWN} more unreadable or too narrow images")
    if len(images) > max_checked:
        report.notes.append(f"{folder}: checked the first {max_checked} of {len(images)} images")
