"""Finding paired (pix2pix) and unpaired (CycleGAN) image files on disk, and explaining wrong layouts.

Paired data comes in two layouts:

* aligned (the official pix2pix datasets): `ROOT/<phase>/x.jpg`, each file A|B side by side;
* folders: `ROOT/A/x.jpg` + `ROOT/B/x.jpg`, matched by file name, optionally with phase folders
  (`ROOT/A/train/x.jpg`, the input of upstream `combine_A_and_B.py`) or `ROOT/<phase>/A/x.jpg`.

Unpaired data lives in `ROOT/<phase>A` and `ROOT/<phase>B`. Multi-domain data (StarGAN v2) has one
sub-folder per domain, `ROOT/<domain>/x.jpg` or `ROOT/<phase>/<domain>/x.jpg`; the index of a domain is its
position among the sorted folder names. A wrong layout raises one `I2IError` that says what was found, what
was expected and shows an example tree. `check_layout` lists every problem of a dataset at once, without
raising, for `i2i data check`.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError

from i2i.errors import I2IError, unknown_name

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})
PHASES = ("train", "val", "test")
LAYOUTS = ("paired", "unaligned", "images", "domains", "attributes")
#: `check_layout` decodes at most this many images per folder
CHECK_LIMIT = 2000
_SHOWN = 5
_SHOWN_IN_CHECK = 3
_UNREADABLE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass
class PairedFiles:
    """Paired images found under a root: `files` (A|B side by side) or `pairs` of (A, B) files."""

    layout: Literal["aligned", "folders"]
    files: list[Path] = field(default_factory=list)
    pairs: list[tuple[Path, Path]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) if self.layout == "aligned" else len(self.pairs)


@dataclass
class DomainFiles:
    """Multi-domain images: the domain names (sorted folder names) and the images of each, by index."""

    names: tuple[str, ...]
    files: tuple[list[Path], ...]


@dataclass
class LayoutReport:
    """What `check_layout` found. `problems` make the dataset unusable, `notes` are merely worth knowing;
    `summary` is one line such as "unaligned dataset: trainA 1067 images, trainB 1334 images"."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        """True when the dataset is usable (no problems; notes allowed)."""
        return not self.problems


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
    """The images of `root/<phase>A` and `root/<phase>B` (CycleGAN layout); each must hold at least one.

    Raises one `I2IError` naming every missing or empty folder, with the expected tree.
    """
    root = _existing_dir(root)
    folders = [root / f"{phase}{side}" for side in "AB"]
    missing = [folder for folder in folders if not folder.is_dir()]
    # The folder listing shows whether the other side is missing too, so one missing folder is named.
    problems = [f"{missing[0]} does not exist; {_describe(root, 'unaligned')}"] if missing else []
    found = []
    for folder in folders:
        if folder.is_dir():
            images, others = scan(folder)
            if not images:
                problems.append(_empty(folder, others))
            found.append(images)
    if problems:
        raise _unaligned_error(root, phase, problems)
    return found[0], found[1]


def find_domains(root: Path, phase: str = "train") -> DomainFiles:
    """The domains of a multi-domain dataset: the sub-folders of `root/<phase>` (or of `root` when it has no
    `<phase>` folder), sorted by name, with their images (recursive). Raises one `I2IError` naming every
    problem (fewer than two domains, empty domains) with the expected tree.
    """
    root = _existing_dir(root)
    base = root / phase if (root / phase).is_dir() else root
    folders = _domain_folders(base)
    problems = [] if len(folders) >= 2 else [_too_few_domains(base, folders)]
    files = []
    for folder in folders:
        images, others = scan(folder)
        if not images:
            problems.append(_empty(folder, others))
        files.append(images)
    if problems:
        raise I2IError(f"{'; '.join(problems)}. {_domains_tree(root, phase)}")
    return DomainFiles(tuple(f.name for f in folders), tuple(files))


def check_layout(root: str | Path, layout: str, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem that would stop training on `root` with `layout` ("paired", "unaligned", "images" or
    "domains"), one message each, plus notes (ignored non-image files, partial checks) and a one-line summary.

    Required: `train` data (`train/`, `A/` + `B/` or `train/A` + `train/B` for paired; `trainA/` + `trainB/`
    for unaligned; at least two non-empty domain folders in `ROOT/` or `ROOT/train/` for domains); `val` and
    `test` splits are checked when present. Images are decoded to find unreadable or truncated files, for
    at most `max_checked` images per folder. Raises `UsageError` for an unknown `layout`.
    """
    if layout not in LAYOUTS:
        raise unknown_name("dataset layout", layout, LAYOUTS)
    report = LayoutReport()
    try:
        root = _existing_dir(Path(root))
    except I2IError as err:
        report.problems.append(str(err))
        report.summary = f"{layout} dataset: no usable images in {root}"
        return report
    if layout == "paired":
        kind, counts = _check_paired(root, report, max_checked)
    elif layout == "images":
        # super-resolution: any folder of high-resolution images (sub-folders included)
        kind, counts = "image folder", [_count(_check_folder(root, report, max_checked), "image")]
    elif layout == "domains":
        kind, counts = "multi-domain dataset", _check_domains(root, report, max_checked)
    elif layout == "attributes":
        from i2i.data.attributes import check_attributes  # it builds on this module

        report.problems += check_attributes(root)
        kind, counts = "StarGAN attribute dataset", [_count(len(scan(root)[0]), "image")]
    else:
        kind, counts = "unaligned dataset", _check_unaligned(root, report, max_checked)
    report.summary = (
        f"{kind}: {', '.join(counts)}" if counts else f"{layout} dataset: no usable images in {root}"
    )
    return report


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
    (a_images, a_others), (b_images, b_others) = scan(a_dir), scan(b_dir)
    for folder, images, others in ((a_dir, a_images, a_others), (b_dir, b_images, b_others)):
        if not images:
            raise _paired_error(root, phase, f"found 0 images in {folder}{_others_note(others)}")
    a, b = _by_name(a_dir, a_images), _by_name(b_dir, b_images)
    common = sorted(a.keys() & b.keys())
    if not common:
        raise I2IError(_no_match(a_dir, a, b_dir, b))
    only = _unmatched(a, b)
    if only:
        warnings.warn(
            f"{len(only)} images in {a_dir} and {b_dir} have no partner and are skipped: {_names(only)}; "
            f"using the {len(common)} matched pairs",
            stacklevel=3,
        )
    return [(a[n], b[n]) for n in common]


def _by_name(folder: Path, images: list[Path]) -> dict[str, Path]:
    """`images` (found under `folder`) by relative path without suffix; an error for clashing names."""
    named: dict[str, Path] = {}
    for path in images:
        # NFC: macOS writes names decomposed, other systems composed; "café" must pair with "café"
        key = unicodedata.normalize("NFC", path.relative_to(folder).with_suffix("").as_posix())
        if key in named:
            raise I2IError(f"{named[key]} and {path} have the same name; the A/B pairing is ambiguous")
        named[key] = path
    return named


def _no_match(a_dir: Path, a: dict[str, Path], b_dir: Path, b: dict[str, Path]) -> str:
    return (
        f"no file names match between {a_dir} ({len(a)} images, e.g. {min(a)}) and {b_dir} ({len(b)} "
        f"images, e.g. {min(b)}); A and B images are paired by file name, extension aside"
    )


def _unmatched(a: dict[str, Path], b: dict[str, Path]) -> list[str]:
    return [f"A/{n}" for n in sorted(a.keys() - b.keys())] + [f"B/{n}" for n in sorted(b.keys() - a.keys())]


def _describe(root: Path, expected: str = "paired") -> str:
    """What `root` holds, in words: its sub-folders (naming a layout of the other kind than `expected`),
    else its images, else its other files."""
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if folders:
        unpaired = any(name[:-1] in PHASES and name[-1:] in "AB" for name in folders)
        paired = any(name in PHASES or name in ("A", "B") for name in folders)
        note = ""
        if expected == "paired" and unpaired:
            note = " (an unpaired CycleGAN layout)"
        elif expected == "unaligned" and paired and not unpaired:
            note = " (a paired pix2pix layout)"
        return f"found folders: {_names(folders)}{note}"
    images, others = scan(root)
    if images:
        return f"found {len(images)} images directly in {root}, not in a phase folder"
    return f"found 0 images in {root}{_others_note(others)}"


def _others_note(others: list[Path]) -> str:
    if not others:
        return ""
    return f", only non-image files: {_names(p.name for p in others)}"


def _empty(folder: Path, others: list[Path]) -> str:
    if not others:
        return f"{folder} is empty: it holds no image files"
    return (
        f"{folder} is empty: it holds only non-image files ({_names((p.name for p in others), _SHOWN_IN_CHECK)}), "
        f"which are ignored; image types: {', '.join(sorted(IMAGE_SUFFIXES))}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _names(names: Iterable[str], shown: int = _SHOWN) -> str:
    names = list(names)
    more = f" (and {len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _paired_error(root: Path, phase: str, found: str) -> I2IError:
    return I2IError(
        f"no paired '{phase}' data in {root}: {found}. Expected one of:\n"
        f"  {root}/{phase}/0001.jpg   (A|B side by side, as the official pix2pix datasets)\n"
        f"  {root}/A/{phase}/0001.jpg + {root}/B/{phase}/0001.jpg   (paired by file name; "
        f"the {phase}/ level is optional)"
    )


def _unaligned_error(root: Path, phase: str, problems: list[str]) -> I2IError:
    return I2IError(
        f"{'; '.join(problems)}. Expected an unpaired (CycleGAN) dataset:\n"
        f"  {root}/{phase}A/0001.jpg   (domain A)\n"
        f"  {root}/{phase}B/0001.jpg   (domain B, any names and count)"
    )


def _domain_folders(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def _loose_images(base: Path) -> list[Path]:
    """Images directly in `base`, outside any domain folder."""
    return sorted(p for p in base.iterdir() if p.is_file() and is_image(p) and not p.name.startswith("."))


def _too_few_domains(base: Path, folders: list[Path]) -> str:
    found = f"only {folders[0].name}/" if folders else "no sub-folders"
    images = _loose_images(base)
    loose = f" and {_count(len(images), 'image')} directly in it" if images else ""
    return f"{base} has {found}{loose}; a multi-domain dataset needs at least two domain folders"


def _domains_tree(root: Path, phase: str) -> str:
    return (
        "Expected a multi-domain (StarGAN v2) dataset, one sub-folder per domain (at least two):\n"
        f"  {root}/{phase}/cat/0001.jpg\n"
        f"  {root}/{phase}/dog/0001.jpg   (the {phase}/ level is optional; domains are indexed in name order)"
    )


# ---------------------------------------------------------------------------------------- check_layout


def _check_domains(root: Path, report: LayoutReport, max_checked: int) -> list[str]:
    """Check the domain folders of `train` (or of the root) and of each other phase present; the counts."""
    phases = [p for p in PHASES if (root / p).is_dir()]
    if phases and "train" not in phases:
        report.problems.append(
            f"{root} has the phase folders {', '.join(phases)} but no train/. {_domains_tree(root, 'train')}"
        )
        return []
    counts = []
    train_names: list[str] = []
    for phase, base in [(p, root / p) for p in phases] or [("train", root)]:
        folders = _domain_folders(base)
        names = [f.name for f in folders]
        if len(folders) < 2 and phase == "train":
            report.problems.append(f"{_too_few_domains(base, folders)}. {_domains_tree(root, 'train')}")
            continue
        if phase == "train":
            train_names = names
        elif train_names and names != train_names:
            report.problems.append(
                f"{base} has the domains {', '.join(names) or 'none'} but train has "
                f"{', '.join(train_names)}; a domain's index is its position in the sorted names, so the folders must match"
            )
        loose = sorted(p for p in base.iterdir() if p.is_file() and not p.name.startswith("."))
        if loose:
            report.notes.append(
                f"{base}: {_count(len(loose), 'file')} outside the domain folders ignored: "
                f"{_names((p.name for p in loose), _SHOWN_IN_CHECK)}"
            )
        sizes = [f"{f.name} {_count(_check_folder(f, report, max_checked), 'image')}" for f in folders]
        counts.append(f"{phase} {_count(len(folders), 'domain')} ({', '.join(sizes)})")
    return counts


def _check_unaligned(root: Path, report: LayoutReport, max_checked: int) -> list[str]:
    """Check `<phase>A/` + `<phase>B/` for each phase present (train required); the summary counts."""
    if not any((root / f"train{side}").is_dir() for side in "AB"):
        problem = f"{root / 'trainA'} does not exist; {_describe(root, 'unaligned')}"
        report.problems.append(str(_unaligned_error(root, "train", [problem])))
        return []
    counts = []
    for phase in PHASES:
        folders = [root / f"{phase}{side}" for side in "AB"]
        present = [folder for folder in folders if folder.is_dir()]
        if phase != "train" and not present:
            continue
        for folder in folders:
            if folder not in present:
                report.problems.append(
                    f"{folder} does not exist, but {present[0]} does; "
                    f"an unpaired dataset needs both {phase}A/ and {phase}B/"
                )
                continue
            n = _check_folder(folder, report, max_checked)
            counts.append(f"{folder.name} {_count(n, 'image')}")
    return counts


def _check_paired(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
    """Check the aligned or the folders layout, as `find_paired` would read it; the kind and the counts."""
    folder_sets = _paired_folder_sets(root)
    if folder_sets is None:
        return "paired dataset (A|B side by side)", _check_aligned(root, report, max_checked)
    counts = []
    for phase, a_dir, b_dir in folder_sets:
        if a_dir.is_dir() != b_dir.is_dir():
            found, missing = (a_dir, b_dir) if a_dir.is_dir() else (b_dir, a_dir)
            report.problems.append(f"found {found} but no {missing}; A and B images are paired by file name")
            continue
        n = _check_pairs(a_dir, b_dir, report, max_checked)
        if n is not None:
            counts.append(f"{phase} {_count(n, 'pair')}")
    if "train" not in (phase for phase, _, _ in folder_sets):
        present = ", ".join(phase for phase, _, _ in folder_sets)
        report.problems.append(
            str(_paired_error(root, "train", f"found phase folders {present} of A and B, but no train"))
        )
    return "paired dataset (A/ + B/ by file name)", counts


def _paired_folder_sets(root: Path) -> list[tuple[str, Path, Path]] | None:
    """(phase, A folder, B folder) of the folders layout, in `find_paired`'s order; None if not that layout."""
    nested = [p for p in PHASES if (root / p / "A").is_dir() or (root / p / "B").is_dir()]
    if nested:
        return [(p, root / p / "A", root / p / "B") for p in nested]
    a, b = root / "A", root / "B"
    if not (a.is_dir() or b.is_dir()):
        return None
    phased = [p for p in PHASES if (a / p).is_dir() or (b / p).is_dir()]
    if phased:
        return [(p, a / p, b / p) for p in phased]
    return [("train", a, b)]


def _check_aligned(root: Path, report: LayoutReport, max_checked: int) -> list[str]:
    phases = [p for p in PHASES if (root / p).is_dir()]
    if "train" not in phases:
        report.problems.append(str(_paired_error(root, "train", _describe(root, "paired"))))
    counts = []
    for phase in phases:
        n = _check_folder(root / phase, report, max_checked, min_width=2)
        counts.append(f"{phase} {_count(n, 'image')}")
    return counts


def _check_pairs(a_dir: Path, b_dir: Path, report: LayoutReport, max_checked: int) -> int | None:
    """Check two folders paired by name; the number of pairs, None when the names cannot be paired."""
    scans = []
    for folder in (a_dir, b_dir):
        images, others = scan(folder)
        _check_images(folder, images, others, report, max_checked)
        scans.append(images)
    if not all(scans):
        return None
    try:
        a, b = _by_name(a_dir, scans[0]), _by_name(b_dir, scans[1])
    except I2IError as err:
        report.problems.append(str(err))
        return None
    common = a.keys() & b.keys()
    if not common:
        report.problems.append(_no_match(a_dir, a, b_dir, b))
        return None
    only = _unmatched(a, b)
    if only:
        report.problems.append(
            f"{len(only)} images in {a_dir} and {b_dir} have no partner of the same name and would be "
            f"skipped: {_names(only, _SHOWN_IN_CHECK)}"
        )
    return len(common)


def _check_folder(folder: Path, report: LayoutReport, max_checked: int, min_width: int = 1) -> int:
    """Check the images under `folder`; their number."""
    images, others = scan(folder)
    _check_images(folder, images, others, report, max_checked, min_width)
    return len(images)


def _check_images(
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
        report.problems.append(_empty(folder, others))
        return
    if others:
        report.notes.append(
            f"{folder}: {_count(len(others), 'non-image file')} ignored: "
            f"{_names((p.name for p in others), _SHOWN_IN_CHECK)}"
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
    report.problems.extend(bad[:_SHOWN])
    if len(bad) > _SHOWN:
        report.problems.append(f"{folder}: {len(bad) - _SHOWN} more unreadable or too narrow images")
    if len(images) > max_checked:
        report.notes.append(f"{folder}: checked the first {max_checked} of {len(images)} images")
