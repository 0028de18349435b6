"""The paired layout (pix2pix): finding and checking paired images, the synthetic "labels2shapes" task and
the dataset (the upstream aligned pipeline, randomness fixed by (seed, epoch, index)).

Paired data comes in two layouts:

* aligned (the official pix2pix datasets): `ROOT/<phase>/x.jpg`, each file A|B side by side;
* folders: `ROOT/A/x.jpg` + `ROOT/B/x.jpg`, matched by file name, optionally with phase folders
  (`ROOT/A/train/x.jpg`, the input of upstream `combine_A_and_B.py`) or `ROOT/<phase>/A/x.jpg`.

A wrong layout raises one `I2IError` that says what was found, what was expected and shows an example tree.

labels2shapes (`make_paired`): A is a flat label map: a black background and 2-5 shapes (circles,
rectangles, triangles), one flat colour per shape class. B is the same scene rendered: a fixed gradient
background, a soft drop shadow, a lit material per class with a radial highlight and a dark outline, and mild
noise. Everything but the noise is a function of A, so A -> B is learnable.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from i2i.data import synth
from i2i.data.base import PipelineDataset
from i2i.data.files import (
    CHECK_LIMIT,
    PHASES,
    SHOWN_IN_CHECK,
    LayoutReport,
    by_name,
    check_folder,
    check_images,
    checked,
    counted,
    describe,
    existing_dir,
    names,
    no_match,
    open_rgb,
    others_note,
    scan,
    unmatched,
)
from i2i.data.transforms import check_network_size, get_params
from i2i.errors import I2IError, unknown_name

LABEL_COLOURS = np.array([[0, 0, 0], [255, 64, 64], [64, 255, 64], [64, 64, 255]], dtype=np.uint8)
MATERIALS = np.array([[200, 60, 40], [70, 150, 60], [60, 90, 190]], dtype=np.float32)
_SKY, _FLOOR = np.array([150, 190, 230], np.float32), np.array([235, 225, 200], np.float32)
FOLDER_LAYOUTS = ("aligned", "folders")


@dataclass
class PairedFiles:
    """Paired images found under a root: `files` (A|B side by side) or `pairs` of (A, B) files."""

    layout: Literal["aligned", "folders"]
    files: list[Path] = field(default_factory=list)
    pairs: list[tuple[Path, Path]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) if self.layout == "aligned" else len(self.pairs)


# ------------------------------------------------------------------------------------------- finding


def find_paired(root: Path, phase: str = "train") -> PairedFiles:
    """Find the paired `phase` images under `root`, in the aligned or the folders layout.

    Raises `I2IError` explaining the layout found when neither applies. Files present in only one of A/B
    are left out with a warning.
    """
    root = existing_dir(root)
    folders = _folder_pair(root, phase)
    if folders is not None:
        return PairedFiles("folders", pairs=_match(root, phase, *folders))
    phase_dir = root / phase
    if not phase_dir.is_dir():
        raise _paired_error(root, phase, describe(root))
    images, others = scan(phase_dir)
    if not images:
        raise _paired_error(root, phase, f"found 0 images in {phase_dir}{others_note(others)}")
    return PairedFiles("aligned", files=images)


def split_aligned(image: Image.Image, path: Path) -> tuple[Image.Image, Image.Image]:
    """Cut an A|B side-by-side image into A (left half) and B (right half), as upstream."""
    w, h = image.size
    if w < 2:
        raise I2IError(f"{path} is {w} px wide; an aligned image holds A and B side by side (width >= 2)")
    half = int(w / 2)
    return image.crop((0, 0, half, h)), image.crop((half, 0, w, h))


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
            raise _paired_error(root, phase, f"found 0 images in {folder}{others_note(others)}")
    a, b = by_name(a_dir, a_images), by_name(b_dir, b_images)
    common = sorted(a.keys() & b.keys())
    if not common:
        raise I2IError(no_match(a_dir, a, b_dir, b))
    only = unmatched(a, b)
    if only:
        warnings.warn(
            f"{len(only)} images in {a_dir} and {b_dir} have no partner and are skipped: {names(only)}; "
            f"using the {len(common)} matched pairs",
            stacklevel=3,
        )
    return [(a[n], b[n]) for n in common]


def _paired_error(root: Path, phase: str, found: str) -> I2IError:
    return I2IError(
        f"no paired '{phase}' data in {root}: {found}. Expected one of:\n"
        f"  {root}/{phase}/0001.jpg   (A|B side by side, as the official pix2pix datasets)\n"
        f"  {root}/A/{phase}/0001.jpg + {root}/B/{phase}/0001.jpg   (paired by file name; "
        f"the {phase}/ level is optional)"
    )


# ------------------------------------------------------------------------------------------ checking


def check(root: str | Path, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem that would stop training on a paired dataset, plus notes and a one-line summary.

    Required: `train` data (`train/`, `A/` + `B/` or `train/A` + `train/B`); `val` and `test` splits are
    checked when present. Images are decoded (at most `max_checked` per folder) to find unreadable ones.
    """
    return checked("paired", root, max_checked, _inspect)


def _inspect(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
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
            counts.append(f"{phase} {counted(n, 'pair')}")
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
        report.problems.append(str(_paired_error(root, "train", describe(root, "paired"))))
    counts = []
    for phase in phases:
        n = check_folder(root / phase, report, max_checked, min_width=2)
        counts.append(f"{phase} {counted(n, 'image')}")
    return counts


def _check_pairs(a_dir: Path, b_dir: Path, report: LayoutReport, max_checked: int) -> int | None:
    """Check two folders paired by name; the number of pairs, None when the names cannot be paired."""
    scans = []
    for folder in (a_dir, b_dir):
        images, others = scan(folder)
        check_images(folder, images, others, report, max_checked)
        scans.append(images)
    if not all(scans):
        return None
    try:
        a, b = by_name(a_dir, scans[0]), by_name(b_dir, scans[1])
    except I2IError as err:
        report.problems.append(str(err))
        return None
    common = a.keys() & b.keys()
    if not common:
        report.problems.append(no_match(a_dir, a, b_dir, b))
        return None
    only = unmatched(a, b)
    if only:
        report.problems.append(
            f"{len(only)} images in {a_dir} and {b_dir} have no partner of the same name and would be "
            f"skipped: {names(only, SHOWN_IN_CHECK)}"
        )
    return len(common)


# ---------------------------------------------------------------------------------- synthetic data


def render_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene as (A, B): (size, size, 3) uint8 arrays, the label map and its rendering."""
    yy, xx = synth.grid(size)
    labels = np.zeros((size, size), np.uint8)
    t = yy / size
    image = (1 - t)[..., None] * _SKY + t[..., None] * _FLOOR
    offset = max(1, size // 32)
    for _ in range(rng.integers(2, 6)):
        cls = int(rng.integers(len(synth.CLASSES)))
        centre = rng.uniform(0.2, 0.8, 2) * size
        radius = rng.uniform(0.1, 0.22) * size
        mask, extent = synth.shape_mask(synth.CLASSES[cls], xx, yy, centre, radius, rng)
        image *= 1 - 0.4 * synth.blur(synth.shift(mask, offset), offset)[..., None]
        labels[mask] = cls + 1
        material = np.clip(MATERIALS[cls] * synth.lighting(xx, yy, centre, extent)[..., None], 0, 255)
        image[mask] = material[mask]
        image[mask & ~synth.erode(mask)] *= 0.45
    image += rng.normal(0, 3, image.shape)
    return LABEL_COLOURS[labels], synth.to_uint8(image)


def make_paired(
    out_dir: Path,
    *,
    count: int = 200,
    size: int = 64,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val", "test"),
    split_counts: dict[str, int] | None = None,
    layout: str = "aligned",
) -> Path:
    """Write a labels2shapes dataset to `out_dir` and return it.

    `layout="aligned"` writes `out_dir/<split>/00001.png` with A|B side by side (the official pix2pix
    layout), `layout="folders"` writes `out_dir/A/<split>/00001.png` and `out_dir/B/<split>/00001.png`.
    Each split after the first gets 10 % of `count` and the first the rest (80/10/10 by default);
    `split_counts` gives the counts per split explicitly instead. Image i, numbered across splits, depends
    only on (seed, i).
    """
    if layout not in FOLDER_LAYOUTS:
        raise unknown_name("layout", layout, FOLDER_LAYOUTS)
    counts = split_counts if split_counts is not None else _split(count, splits)
    if any(n < 0 for n in counts.values()):
        raise I2IError(f"split counts must be >= 0, got {counts}")
    out_dir = Path(out_dir)
    index = 0
    for split, n in counts.items():
        for _ in range(n):
            index += 1
            a, b = render_pair(np.random.default_rng((seed, index)), size)
            name = f"{index:05d}.png"
            if layout == "aligned":
                synth.write_png(out_dir / split / name, np.concatenate([a, b], axis=1))
            else:
                synth.write_png(out_dir / "A" / split / name, a)
                synth.write_png(out_dir / "B" / split / name, b)
    return out_dir


def synthesize(
    out_dir: Path, *, count: int, size: int, seed: int, layout: str = "aligned"
) -> tuple[Path, str]:
    """The `paired` synthetic task: `make_paired` in the aligned or the folders `layout`; the root and
    what was written."""
    root = make_paired(out_dir, count=count, size=size, seed=seed, layout=layout)
    return root, f"{count} {size}x{size} pairs"


def _split(count: int, splits: tuple[str, ...]) -> dict[str, int]:
    rest = {split: round(count * 0.1) for split in splits[1:]}
    return {splits[0]: count - sum(rest.values()), **rest}


# ------------------------------------------------------------------------------------------- dataset


class PairedDataset(PipelineDataset):
    """Paired images (aligned A|B files or A/ + B/ folders) as `{"A", "B", "path"}` samples in [-1, 1].

    `A` is always the network input: with `direction="BtoA"` the halves swap, and A/B become grayscale when
    `input_nc`/`output_nc` is 1. A and B share one crop and flip. The random draws of sample `i` depend only
    on (seed, epoch, i), so results do not depend on access order, DataLoader workers or resuming.
    """

    def find(self, root: Path, phase: str, max_dataset_size: int | None) -> None:
        """The aligned files or the (A, B) pairs of `phase`."""
        found = find_paired(root, phase)
        self.layout = found.layout
        self.items: list[Path] | list[tuple[Path, Path]] = (found.files or found.pairs)[:max_dataset_size]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        a, b, a_path, b_path = self._load(index)
        if self.direction == "BtoA":
            a, b, a_path, b_path = b, a, b_path, a_path
        params = get_params(self.preprocess, self.load_size, self.crop_size, a.size, self.rng(index))
        tensors = [
            self.transform(image, nc, params=params)
            for image, nc in ((a, self.input_nc), (b, self.output_nc))
        ]
        if tensors[0].shape[1:] != tensors[1].shape[1:]:
            raise I2IError(
                f"A and B differ in size after preprocessing ({a_path}: {a.size[0]}x{a.size[1]}, {b_path}: "
                f"{b.size[0]}x{b.size[1]}); use images of one size or --set preprocess=resize_and_crop"
            )
        check_network_size(tensors[0], a_path, self.network, self.preprocess)
        return {"A": tensors[0], "B": tensors[1], "path": str(a_path)}

    def _load(self, index: int) -> tuple[Image.Image, Image.Image, Path, Path]:
        item = self.items[index]
        if isinstance(item, tuple):
            return open_rgb(item[0]), open_rgb(item[1]), item[0], item[1]
        return *split_aligned(open_rgb(item), item), item, item
