"""Finding paired (pix2pix) and unpaired (CycleGAN) image files on disk, and explaining wrong layouts.

Paired data comes in two layouts:

* aligned (the official pix2pix datasets): `ROOT/<phase>/x.jpg`, each file A|B side by side;
* folders: `ROOT/A/x.jpg` + `ROOT/B/x.jpg`, matched by file name, optionally with phase folders
  (`ROOT/A/train/x.jpg`, the input of upstream `combine_A_and_B.py`) or `ROOT/<phase>/A/x.jpg`.

Unpaired data lives in `ROOT/<phase>A` and `ROOT/<phase>B`. A wrong layout raises one `I2IError` that says
what was found, what was expected and shows an example tree.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image

from ..errors import I2IError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})
PHASES = ("train", "val", "test")
_SHOWN = 5


@dataclass
class PairedFiles:
    """Paired images found under a root: `files` (A|B side by side) or `pairs` of (A, B) files."""

    layout: Literal["aligned", "folders"]
    files: list[Path] = field(default_factory=list)
    pairs: list[tuple[Path, Path]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) if self.layout == "aligned" else len(self.pairs)


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


def find_paired(root: Path, phase: str = "train") -> PairedFiles:
    """Find the paired `phase` images under `root`, in the aligned or the folders layout.

    Raises `I2IError` explaining the layout found when neither applies. Files present in only one of A/B
    are left out with a warning.
    """
    root = _existing_dir(root)
    folders = _folder_pair(root, phase)
    if folders is not None:
        return PairedFiles("folders", pairs=_match(root, phase, *folders))
    phase_dir = root / phase
    if not phase_dir.is_dir():
        raise _paired_error(root, phase, _describe(root))
    images, others = scan(phase_dir)
    if not images:
        raise _paired_error(root, phase, f"found 0 images in {phase_dir}{_others_note(others)}")
    return PairedFiles("aligned", files=images)


def find_unaligned(root: Path, phase: str = "train") -> tuple[list[Path], list[Path]]:
    """The images of `root/<phase>A` and `root/<phase>B` (CycleGAN layout); each must hold at least one."""
    root = _existing_dir(root)
    sides = []
    for side in "AB":
        folder = root / f"{phase}{side}"
        if not folder.is_dir():
            raise _unaligned_error(root, phase, f"{folder} does not exist; {_describe(root)}")
        images, others = scan(folder)
        if not images:
            raise _unaligned_error(root, phase, f"{folder} is empty{_others_note(others)}")
        sides.append(images)
    return sides[0], sides[1]


def split_aligned(image: Image.Image, path: Path) -> tuple[Image.Image, Image.Image]:
    """Cut an A|B side-by-side image into A (left half) and B (right half), as upstream."""
    w, h = image.size
    if w < 2:
        raise I2IError(f"{path} is {w} px wide; an aligned image holds A and B side by side (width >= 2)")
    half = int(w / 2)
    return image.crop((0, 0, half, h)), image.crop((half, 0, w, h))


def _existing_dir(root: Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise I2IError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise I2IError(f"dataset path {root} is a file; expected a folder of images")
    return root


def _folder_pair(root: Path, phase: str) -> tuple[Path, Path] | None:
    """The (A, B) folders of the folders layout for `phase`, None if `root` has no A/ and B/ folders."""
    for a, b in ((root / phase / "A", root / phase / "B"), (root / "A", root / "B")):
        if not _both_dirs(root, phase, a, b):
            continue
        if _both_dirs(root, phase, a / phase, b / phase):
            return a / phase, b / phase
        present = sorted(p for p in PHASES if (a / p).is_dir())
        if present:
            raise _paired_error(
                root, phase, f"found phase folders {', '.join(present)} in {a}, but no {phase}"
            )
        return a, b
    return None


def _both_dirs(root: Path, phase: str, a: Path, b: Path) -> bool:
    """True if `a` and `b` are both folders, False if neither is; an error if only one is."""
    if a.is_dir() != b.is_dir():
        found, missing = (a, b) if a.is_dir() else (b, a)
        raise _paired_error(root, phase, f"found {found} but no {missing}")
    return a.is_dir()


def _match(root: Path, phase: str, a_dir: Path, b_dir: Path) -> list[tuple[Path, Path]]:
    """Pair the images of two folders by relative path without suffix; warn about those without partner."""
    a, b = _by_name(a_dir), _by_name(b_dir)
    for folder, named in ((a_dir, a), (b_dir, b)):
        if not named:
            raise _paired_error(root, phase, f"found 0 images in {folder}{_others_note(scan(folder)[1])}")
    common = sorted(a.keys() & b.keys())
    if not common:
        raise I2IError(
            f"no file names match between {a_dir} ({len(a)} images, e.g. {min(a)}) and {b_dir} ({len(b)} "
            f"images, e.g. {min(b)}); A and B images are paired by file name, extension aside"
        )
    only = [f"A/{n}" for n in sorted(a.keys() - b.keys())] + [f"B/{n}" for n in sorted(b.keys() - a.keys())]
    if only:
        warnings.warn(
            f"{len(only)} images in {a_dir} and {b_dir} have no partner and are skipped: {_names(only)}; "
            f"using the {len(common)} matched pairs",
            stacklevel=3,
        )
    return [(a[n], b[n]) for n in common]


def _by_name(folder: Path) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for path in scan(folder)[0]:
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in named:
            raise I2IError(f"{named[key]} and {path} have the same name; the A/B pairing is ambiguous")
        named[key] = path
    return named


def _describe(root: Path) -> str:
    """What `root` holds, in words: its sub-folders, else its images, else its other files."""
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if folders:
        note = ""
        if any(name[:-1] in PHASES and name[-1:] in "AB" for name in folders):
            note = " (an unpaired CycleGAN layout)"
        return f"found folders: {_names(folders)}{note}"
    images, others = scan(root)
    if images:
        return f"found {len(images)} images directly in {root}, not in a phase folder"
    return f"found 0 images in {root}{_others_note(others)}"


def _others_note(others: list[Path]) -> str:
    if not others:
        return ""
    return f", only non-image files: {_names(p.name for p in others)}"


def _names(names: Iterable[str]) -> str:
    names = list(names)
    more = f" (and {len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _paired_error(root: Path, phase: str, found: str) -> I2IError:
    return I2IError(
        f"no paired '{phase}' data in {root}: {found}. Expected one of:\n"
        f"  {root}/{phase}/0001.jpg   (A|B side by side, as the official pix2pix datasets)\n"
        f"  {root}/A/{phase}/0001.jpg + {root}/B/{phase}/0001.jpg   (paired by file name; "
        f"the {phase}/ level is optional)"
    )


def _unaligned_error(root: Path, phase: str, found: str) -> I2IError:
    return I2IError(
        f"no unpaired '{phase}' data in {root}: {found}. Expected:\n"
        f"  {root}/{phase}A/0001.jpg   (domain A)\n"
        f"  {root}/{phase}B/0001.jpg   (domain B, any names and count)"
    )
