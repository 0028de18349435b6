"""The attributes layout (StarGAN): labelled face data, CelebA attributes or one folder per domain (RaFD
style); its checks, the synthetic task and the datasets.

CelebA (the reference's `data/celeba`):

    ROOT/list_attr_celeba.txt   line 1: the image count; line 2: the attribute names;
                                then one line per image: `000001.jpg -1  1 ...` (1 = has it)
    ROOT/images/000001.jpg ...

The label of an image is its `selected_attrs` as 1.0/0.0. The split is the reference's: the data lines
shuffled as by `random.seed(1234); random.shuffle(lines)`, the first 1999 for testing and the rest for
training (computed with a private generator; the global `random` state is left alone).

Domain folders (the reference's RaFD layout, `ImageFolder` semantics): `ROOT/<domain>/image.jpg`, or
`ROOT/train/<domain>/...`; the label is the domain's index in sorted folder order (or in the `domains` given).

Both pipelines apply the reference transform: horizontal flip (training) -> CenterCrop(crop_size) ->
Resize(image_size, bilinear) -> [-1, 1]. The flip of sample `i` depends only on (seed, epoch, i).
`check_attributes` lists every problem of such a dataset at once, for `i2i data check`. `make_attributes`
writes a small synthetic CelebA-format dataset whose attributes are visible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from i2i.data import synth
from i2i.data.base import SeededDataset
from i2i.data.files import (
    CHECK_LIMIT,
    LayoutReport,
    checked,
    counted,
    is_image,
    names,
    open_rgb,
    scan,
    subfolders,
)
from i2i.errors import I2IError, UsageError, did_you_mean, unknown_name
from i2i.io.files import atomic_path

ATTRIBUTE_FILE = "list_attr_celeba.txt"
IMAGE_FOLDER = "images"
DEFAULT_ATTRS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
#: one-hot among themselves at test time, as the reference's `create_labels`
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
#: the reference split: lines shuffled with this seed, the first `REFERENCE_TEST_SIZE` held out
SPLIT_SEED = 1234
REFERENCE_TEST_SIZE = 1999
DATASETS = ("celeba", "rafd")
#: the attributes of `make_attributes`
ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male", "Young")
_HAIR_BACKGROUNDS = np.array([[20, 20, 20], [235, 210, 90], [120, 70, 30], [160, 160, 160]], np.float32)
_NO_HAIR = np.array([230, 230, 240], np.float32)


# ------------------------------------------------------------------------------------------- CelebA


@dataclass(frozen=True)
class AttributeFile:
    """A parsed `list_attr_celeba.txt`: the stated count, the attribute names and the data lines."""

    path: Path
    count: int | None
    names: list[str]
    lines: list[str]

    @classmethod
    def read(cls, path: str | Path) -> AttributeFile:
        """Read the official format; `I2IError` when the file is missing or has no header line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise I2IError(f"cannot read the attribute list {path}: {err.strerror or err}") from None
        lines = [line.rstrip() for line in text.splitlines()]
        if len(lines) < 2 or not lines[1].split():
            raise I2IError(
                f"{path} is not an attribute list: expected the image count on line 1, the attribute names "
                "on line 2, then `image.jpg 1 -1 ...` lines (the official list_attr_celeba.txt format)"
            )
        first = lines[0].split()
        count = int(first[0]) if len(first) == 1 and first[0].isdigit() else None
        return cls(path, count, lines[1].split(), [line for line in lines[2:] if line.strip()])

    def columns(self, selected_attrs: Sequence[str]) -> list[int]:
        """Column index of each selected attribute; `UsageError` (with a suggestion) for unknown names."""
        index = {name: i for i, name in enumerate(self.names)}
        for name in selected_attrs:
            if name not in index:
                raise UsageError(
                    f"attribute '{name}' is not in {self.path}{did_you_mean(name, self.names)}; "
                    f"it lists: {', '.join(self.names)}"
                )
        return [index[name] for name in selected_attrs]


def reference_split(
    lines: Sequence[str], test_size: int = REFERENCE_TEST_SIZE
) -> tuple[list[str], list[str]]:
    """(train, test) lines as the reference splits them: shuffled with seed 1234, the first `test_size`
    (1999 upstream) for testing. The global `random` state is not touched."""
    shuffled = list(lines)
    random.Random(SPLIT_SEED).shuffle(shuffled)
    return shuffled[test_size:], shuffled[:test_size]


def parse_labels(line: str, columns: Sequence[int], path: Path) -> tuple[str, list[float]]:
    """(file name, labels) of one data line: 1.0 where the column says `1`, else 0.0 (as upstream)."""
    fields = line.split()
    values = fields[1:]
    if not values or (columns and max(columns) >= len(values)):
        raise I2IError(f"{path}: the line '{line[:80]}' has {len(values)} values; the header names more")
    return fields[0], [1.0 if values[c] == "1" else 0.0 for c in columns]


class CelebADataset(SeededDataset):
    """CelebA images and their `selected_attrs` as `{"image", "label", "path"}` samples.

    `image` is (3, image_size, image_size) in [-1, 1], `label` a float tensor of 1.0/0.0 per selected
    attribute. `split` picks the reference's train or test lines; `test_size` is the number held out
    (1999 upstream; 0 trains on every image). `flip` defaults to True for training.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        selected_attrs: Sequence[str] = DEFAULT_ATTRS,
        split: Literal["train", "test"] = "train",
        test_size: int = REFERENCE_TEST_SIZE,
        crop_size: int = 178,
        image_size: int = 128,
        flip: bool | None = None,
        seed: int = 0,
    ) -> None:
        if split not in ("train", "test"):
            raise unknown_name("split", split, ("train", "test"))
        root = _existing_dir(Path(root))
        if not (root / ATTRIBUTE_FILE).is_file():
            raise I2IError(
                f"{root / ATTRIBUTE_FILE} is missing: CelebA data is {root}/{ATTRIBUTE_FILE} (the official "
                f"attribute list) + {root}/{IMAGE_FOLDER}/000001.jpg ...; for one folder per domain set "
                "dataset=rafd"
            )
        table = AttributeFile.read(root / ATTRIBUTE_FILE)
        columns = table.columns(selected_attrs)
        train, test = reference_split(table.lines, test_size)
        chosen = train if split == "train" else test
        if not chosen:
            raise I2IError(
                f"{root}: no {split} images: {len(table.lines)} are listed and the split holds out the first "
                f"{test_size} (after the reference shuffle) for testing; lower test_size (e.g. --set "
                "celeba_test_size=0)"
            )
        self.images = root / IMAGE_FOLDER
        self.items = [parse_labels(line, columns, table.path) for line in chosen]
        missing = missing_images(self.images, [name for name, _ in self.items])
        if missing:
            raise I2IError(_missing_message(self.images, missing, len(self.items)))
        self.selected_attrs = tuple(selected_attrs)
        self.crop_size, self.image_size = crop_size, image_size
        self.flip = split == "train" if flip is None else flip
        super().__init__(seed)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        name, labels = self.items[index]
        path = self.images / name
        flip = self.flip and self.rng(index).random() < 0.5
        image = face_transform(
            open_rgb(path), crop_size=self.crop_size, image_size=self.image_size, flip=flip
        )
        return {"image": image, "label": torch.tensor(labels), "path": str(path)}


def missing_images(folder: Path, names: Sequence[str]) -> list[str]:
    """The `names` that are not files in `folder` (one directory listing, not one stat per image)."""
    present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return [name for name in names if name not in present and not (folder / name).is_file()]


def attribute_vector(attrs: str | Sequence[str] | None, selected_attrs: Sequence[str]) -> list[float]:
    """The target label for `attrs`: 1.0 for each named attribute, 0.0 for every other one.

    `attrs` is a comma-separated string (`"Blond_Hair,Male"`) or a sequence of names, matched to
    `selected_attrs` case-insensitively; no names means every attribute off. Hair colours (`HAIR_COLOURS`)
    are one-hot, as in the reference's test labels, so at most one may be named. Raises `UsageError` with
    a suggestion for an unknown name.
    """
    if attrs is None:
        names: list[str] = []
    elif isinstance(attrs, str):
        names = [part.strip() for part in attrs.split(",") if part.strip()]
    else:
        names = [str(part).strip() for part in attrs]
    by_lower = {name.lower(): name for name in selected_attrs}
    chosen = []
    for name in names:
        if name.lower() not in by_lower:
            raise UsageError(
                f"unknown attribute '{name}'{did_you_mean(name, selected_attrs)}; this model knows: "
                f"{', '.join(selected_attrs)}"
            )
        chosen.append(by_lower[name.lower()])
    hair = sorted({name for name in chosen if name in HAIR_COLOURS})
    if len(hair) > 1:
        raise UsageError(f"hair colours are exclusive: name at most one of {', '.join(hair)}")
    return [1.0 if name in chosen else 0.0 for name in selected_attrs]


# ------------------------------------------------------------------------------------- domain folders


@dataclass(frozen=True)
class DomainFolders:
    """The images of each domain folder, in label order."""

    root: Path
    domains: list[str]
    files: list[list[Path]]


def find_domains(root: str | Path, domains: Sequence[str] | None = None) -> DomainFolders:
    """The domain folders under `root` (or `root/train`): every sub-folder in sorted order, as
    `ImageFolder`, or the `domains` named, in that order. Raises `I2IError` for a missing or empty one."""
    root = domain_root(_existing_dir(Path(root)))
    present = _subfolders(root)
    names = list(domains) if domains else present
    if not names:
        raise I2IError(
            f"no domain folders in {root}: expected one folder of images per domain, e.g. "
            f"{root}/happy/001.jpg and {root}/sad/002.jpg"
        )
    files = []
    for name in names:
        if name not in present:
            raise I2IError(f"no folder for domain '{name}' in {root}{did_you_mean(name, present)}")
        images, _ = scan(root / name)
        if not images:
            raise I2IError(f"{root / name} holds no images; every domain folder needs at least one")
        files.append(images)
    return DomainFolders(root, names, files)


def domain_root(root: Path) -> Path:
    """`root/train` when it holds the domain folders (the reference's `RaFD/train/<domain>`), else `root`."""
    train = root / "train"
    return train if train.is_dir() and _subfolders(train) else root


class DomainFolderDataset(SeededDataset):
    """One folder per domain as `{"image", "label", "path"}` samples; `label` is the domain index (int64).

    `domains` selects and orders the folders (default: all, sorted); `self.domains` holds the names used.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        domains: Sequence[str] | None = None,
        crop_size: int = 256,
        image_size: int = 128,
        flip: bool = True,
        seed: int = 0,
    ) -> None:
        found = find_domains(root, domains)
        self.domains = tuple(found.domains)
        self.items = [(path, label) for label, paths in enumerate(found.files) for path in paths]
        self.crop_size, self.image_size, self.flip = crop_size, image_size, flip
        super().__init__(seed)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path, label = self.items[index]
        flip = self.flip and self.rng(index).random() < 0.5
        image = face_transform(
            open_rgb(path), crop_size=self.crop_size, image_size=self.image_size, flip=flip
        )
        return {"image": image, "label": torch.tensor(label, dtype=torch.int64), "path": str(path)}


# ------------------------------------------------------------------------------------------ transform


def face_transform(image: Image.Image, *, crop_size: int, image_size: int, flip: bool) -> torch.Tensor:
    """The reference transform: [flip] -> CenterCrop(crop_size) -> Resize(image_size) -> [-1, 1].

    As torchvision's `CenterCrop`, an image smaller than `crop_size` is padded with black.
    """
    if flip:
        image = TF.hflip(image)
    image = TF.center_crop(image, [crop_size])
    image = TF.resize(image, [image_size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.normalize(TF.to_tensor(image), [0.5] * 3, [0.5] * 3)


# --------------------------------------------------------------------------------------------- checks


def check_attributes(
    root: str | Path,
    *,
    dataset: str | None = None,
    selected_attrs: Sequence[str] | None = None,
    domains: Sequence[str] | None = None,
) -> list[str]:
    """Every problem that would stop StarGAN training on `root`, one message each (empty: usable).

    `dataset` is "celeba" (`list_attr_celeba.txt` + `images/`) or "rafd" (one folder per domain); by
    default it is "celeba" when `root` holds either CelebA entry, else "rafd". CelebA checks: the list file
    (present, well formed, its count), the `selected_attrs` (default: the reference's five) against its
    header, the images folder and every listed image. Domain folders: the folders exist, the `domains`
    named are among them, none is empty, and there are at least two.
    """
    root = Path(root)
    if not root.is_dir():
        return [
            f"dataset folder {root} does not exist"
            if not root.exists()
            else f"{root} is a file, not a folder"
        ]
    if dataset is None:
        celeba = (root / ATTRIBUTE_FILE).exists() or (root / IMAGE_FOLDER).is_dir()
        dataset = "celeba" if celeba else "rafd"
    if dataset == "celeba":
        return _check_celeba(root, selected_attrs or DEFAULT_ATTRS)
    if dataset == "rafd":
        return _check_domains(domain_root(root), domains)
    raise unknown_name("dataset", dataset, DATASETS)


def _check_celeba(root: Path, selected_attrs: Sequence[str]) -> list[str]:
    problems = []
    images = root / IMAGE_FOLDER
    if not images.is_dir():
        problems.append(f"{images} does not exist: CelebA images go in {images}/000001.jpg ...")
    elif not any(is_image(p) for p in images.iterdir()):
        problems.append(f"{images} is empty: it holds no image files")
    path = root / ATTRIBUTE_FILE
    if not path.is_file():
        problems.append(
            f"{path} is missing: CelebA data needs the attribute list (the official {ATTRIBUTE_FILE}) "
            f"beside {IMAGE_FOLDER}/"
        )
        return problems
    try:
        table = AttributeFile.read(path)
    except I2IError as err:
        return [*problems, str(err)]
    if table.count is not None and table.count != len(table.lines):
        problems.append(
            f"{path} says {table.count} images on line 1 but lists {len(table.lines)}; is it complete?"
        )
    width = len(table.names)
    bad = [i for i, line in enumerate(table.lines) if not _well_formed(line, width)]
    if bad:
        first = bad[0]
        problems.append(
            f"{path}: {len(bad)} lines are not `name` + {width} values of 1/-1 (e.g. line {first + 3}: "
            f"'{table.lines[first][:60]}')"
        )
    for name in selected_attrs:
        if name not in table.names:
            problems.append(
                f"attribute '{name}' is not in {path}{did_you_mean(name, table.names)} (selected_attrs "
                f"must name columns of its header)"
            )
    if images.is_dir():
        listed = [line.split()[0] for line in table.lines]
        missing = missing_images(images, listed)
        if missing:
            problems.append(_missing_message(images, missing, len(listed)))
    return problems


def _well_formed(line: str, width: int) -> bool:
    values = line.split()[1:]
    return len(values) == width and all(v in ("1", "-1", "0") for v in values)


def _check_domains(root: Path, domains: Sequence[str] | None) -> list[str]:
    present = _subfolders(root)
    if not present:
        return [
            f"no domain folders in {root}: expected one folder of images per domain ({root}/<domain>/x.jpg), "
            f"or CelebA's {ATTRIBUTE_FILE} + {IMAGE_FOLDER}/"
        ]
    problems = [
        f"no folder for domain '{name}' in {root}{did_you_mean(name, present)}"
        for name in domains or ()
        if name not in present
    ]
    used = [name for name in (domains or present) if name in present]
    for name in used:
        images, others = scan(root / name)
        if not images:
            kind = "only non-image files" if others else "no files"
            problems.append(f"{root / name} is empty: it holds {kind}; every domain folder needs images")
    if len(used) < 2:
        problems.append(f"{root}: StarGAN translates between at least two domain folders; found {len(used)}")
    return problems


# ---------------------------------------------------------------------------------------------- helpers


def _existing_dir(root: Path) -> Path:
    if not root.is_dir():
        raise I2IError(f"dataset folder {root} does not exist" if not root.exists() else f"{root} is a file")
    return root


def _subfolders(root: Path) -> list[str]:
    return [p.name for p in subfolders(root)]


def _missing_message(folder: Path, missing: list[str], listed: int) -> str:
    return f"{len(missing)} of the {listed} listed images are missing from {folder}: {names(missing)}"


# ------------------------------------------------------------------------------- layout and synthesis


def check(root: str | Path, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """The report of `check_attributes` on `root` (CelebA or domain folders), with a one-line summary;
    `max_checked` is accepted for the common signature (the images are not decoded)."""
    return checked("attributes", root, max_checked, _inspect)


def _inspect(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
    report.problems += check_attributes(root)
    return "StarGAN attribute dataset", [counted(len(scan(root)[0]), "image")]


def make_attributes(out_dir: Path, *, count: int = 20, size: int = 32, seed: int = 0) -> Path:
    """A CelebA-format dataset: `out_dir/images/000001.png ...` and `out_dir/list_attr_celeba.txt` (count
    line, header line, `name  1 -1 ...` rows) over `ATTRIBUTES`.

    The attributes are visible: the hair colour (at most one) is the background colour, Male draws a
    square instead of a disc, Young a bright instead of a dark shape; image i depends only on (seed, i)."""
    out_dir = Path(out_dir)
    yy, xx = synth.grid(size)
    lines = [str(count), " ".join(ATTRIBUTES)]
    for index in range(1, count + 1):
        rng = np.random.default_rng((seed, index))
        hair = int(rng.integers(len(_HAIR_BACKGROUNDS) + 1))  # the last value: no hair-colour attribute
        male, young = bool(rng.integers(2)), bool(rng.integers(2))
        image = np.broadcast_to(_HAIR_BACKGROUNDS[hair] if hair < 4 else _NO_HAIR, (size, size, 3)).copy()
        centre, radius = rng.uniform(0.35, 0.65, 2) * size, rng.uniform(0.18, 0.3) * size
        dx, dy = xx - centre[0], yy - centre[1]
        mask = (np.maximum(abs(dx), abs(dy)) <= radius) if male else (dx**2 + dy**2 <= radius**2)
        image[mask] = (240, 150, 120) if young else (110, 60, 50)
        image += rng.normal(0, 3, image.shape)
        name = f"{index:06d}.png"
        synth.write_png(out_dir / IMAGE_FOLDER / name, synth.to_uint8(image))
        values = [hair == i for i in range(4)] + [male, young]
        lines.append(name + " " + " ".join(" 1" if v else "-1" for v in values))
    with atomic_path(out_dir / ATTRIBUTE_FILE) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_dir


def synthesize(out_dir: Path, *, count: int, size: int, seed: int) -> tuple[Path, str]:
    """The `attributes` synthetic task; the root and what was written."""
    root = make_attributes(out_dir, count=count, size=size, seed=seed)
    return root, f"{count} {size}x{size} images with attributes"
