"""The domains layout (StarGAN v2): one sub-folder per domain, its checks, the synthetic "palettes" task
and the training dataset with class-balanced sampling.

Multi-domain data has one sub-folder per domain, `ROOT/<domain>/x.jpg` or `ROOT/<phase>/<domain>/x.jpg`;
the index of a domain is its position among the sorted folder names.

Upstream draws source images and reference pairs through `WeightedRandomSampler`s with weights
1 / class_count, so every domain is equally likely whatever its size. The i2i loop shuffles indices itself,
so the balance lives here: sample `i` picks its domains and images with a generator seeded by
(seed, epoch, i), which gives the same distribution and makes every draw independent of access order,
DataLoader workers and resuming.

Synthetic data (`make_domains`): 2-6 domains drawn by one scene generator (1-3 shapes with a brightness
each). A domain is a material: its own shape colours per class and finish (glossy highlight, flat with a
dark outline, or a soft glow). Independently of the domain, each image has a style a reference image can
carry: the hue of its background gradient and the frequency and phase of horizontal stripes on it.

    out_dir/train/<domain>/<domain>_00001.png ...   (80 %), out_dir/val/<domain>/... (20 %)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from i2i.data import synth
from i2i.data.base import SeededDataset
from i2i.data.files import (
    CHECK_LIMIT,
    PHASES,
    SHOWN_IN_CHECK,
    LayoutReport,
    check_folder,
    checked,
    counted,
    empty,
    existing_dir,
    is_image,
    names,
    open_rgb,
    scan,
    subfolders,
)
from i2i.errors import I2IError

# name, hue of the shape colours and finish (0 glossy, 1 outlined, 2 glowing)
DOMAINS = (("ember", 0.02, 0), ("moss", 0.30, 1), ("ice", 0.55, 2), ("plum", 0.80, 0), ("sand", 0.12, 1),
           ("slate", 0.62, 0))  # fmt: skip
DOMAIN_VAL_FRACTION = 0.2
#: the random resized crop of training images: area fraction and aspect ratio
CROP_SCALE = (0.8, 1.0)
CROP_RATIO = (0.9, 1.1)


@dataclass
class DomainFiles:
    """Multi-domain images: the domain names (sorted folder names) and the images of each, by index."""

    names: tuple[str, ...]
    files: tuple[list[Path], ...]


# ------------------------------------------------------------------------------------------- finding


def find_domains(root: Path, phase: str = "train") -> DomainFiles:
    """The domains of a multi-domain dataset: the sub-folders of `root/<phase>` (or of `root` when it has no
    `<phase>` folder), sorted by name, with their images (recursive). Raises one `I2IError` naming every
    problem (fewer than two domains, empty domains) with the expected tree.
    """
    root = existing_dir(root)
    base = root / phase if (root / phase).is_dir() else root
    folders = subfolders(base)
    problems = [] if len(folders) >= 2 else [_too_few_domains(base, folders)]
    files = []
    for folder in folders:
        images, others = scan(folder)
        if not images:
            problems.append(empty(folder, others))
        files.append(images)
    if problems:
        raise I2IError(f"{'; '.join(problems)}. {_domains_tree(root, phase)}")
    return DomainFiles(tuple(f.name for f in folders), tuple(files))


def _too_few_domains(base: Path, folders: list[Path]) -> str:
    found = f"only {folders[0].name}/" if folders else "no sub-folders"
    # images directly in `base`, outside any domain folder
    loose = [p for p in base.iterdir() if p.is_file() and is_image(p) and not p.name.startswith(".")]
    loose_note = f" and {counted(len(loose), 'image')} directly in it" if loose else ""
    return f"{base} has {found}{loose_note}; a multi-domain dataset needs at least two domain folders"


def _domains_tree(root: Path, phase: str) -> str:
    return (
        "Expected a multi-domain (StarGAN v2) dataset, one sub-folder per domain (at least two):\n"
        f"  {root}/{phase}/cat/0001.jpg\n"
        f"  {root}/{phase}/dog/0001.jpg   (the {phase}/ level is optional; domains are indexed in name order)"
    )


# ------------------------------------------------------------------------------------------ checking


def check(root: str | Path, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem that would stop training on a multi-domain dataset, plus notes and a one-line summary.

    Required: at least two non-empty domain folders in `ROOT/` or `ROOT/train/`; the domains of `val` and
    `test` must match train's. Images are decoded (at most `max_checked` per folder) to find unreadable ones.
    """
    return checked("domains", root, max_checked, _inspect)


def _inspect(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
    """Check the domain folders of `train` (or of the root) and of each other phase present; the counts."""
    kind = "multi-domain dataset"
    phases = [p for p in PHASES if (root / p).is_dir()]
    if phases and "train" not in phases:
        report.problems.append(
            f"{root} has the phase folders {', '.join(phases)} but no train/. {_domains_tree(root, 'train')}"
        )
        return kind, []
    counts = []
    train_names: list[str] = []
    for phase, base in [(p, root / p) for p in phases] or [("train", root)]:
        folders = subfolders(base)
        found = [f.name for f in folders]
        if len(folders) < 2 and phase == "train":
            report.problems.append(f"{_too_few_domains(base, folders)}. {_domains_tree(root, 'train')}")
            continue
        if phase == "train":
            train_names = found
        elif train_names and found != train_names:
            report.problems.append(
                f"{base} has the domains {', '.join(found) or 'none'} but train has "
                f"{', '.join(train_names)}; a domain's index is its position in the sorted names, so the folders must match"
            )
        loose = sorted(p for p in base.iterdir() if p.is_file() and not p.name.startswith("."))
        if loose:
            report.notes.append(
                f"{base}: {counted(len(loose), 'file')} outside the domain folders ignored: "
                f"{names((p.name for p in loose), SHOWN_IN_CHECK)}"
            )
        sizes = [f"{f.name} {counted(check_folder(f, report, max_checked), 'image')}" for f in folders]
        counts.append(f"{phase} {counted(len(folders), 'domain')} ({', '.join(sizes)})")
    return kind, counts


# ---------------------------------------------------------------------------------- synthetic data


def render_domain_scene(rng: np.random.Generator, size: int, domain: int) -> np.ndarray:
    """One scene of `domain` (an index into `DOMAINS`) as a (size, size, 3) uint8 array."""
    _, hue, finish = DOMAINS[domain]
    yy, xx = synth.grid(size)
    t = (yy / size)[..., None]
    background = rng.uniform(0, 1)
    frequency, phase = rng.uniform(1.5, 5.0), rng.uniform(0, 2 * np.pi)
    image = (1 - t) * synth.hsv(background, 0.3, 0.95) + t * synth.hsv(background, 0.6, 0.55)
    image *= 1 + 0.15 * np.sin(2 * np.pi * frequency * t + phase)
    glow_radius = max(1, size // 16)
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.integers(len(synth.CLASSES)))
        centre = rng.uniform(0.25, 0.75, 2) * size
        radius = rng.uniform(0.12, 0.22) * size
        colour = synth.hsv(hue + 0.06 * (cls - 1), 0.8, 0.9) * rng.uniform(0.8, 1.1)
        mask, extent = synth.shape_mask(synth.CLASSES[cls], xx, yy, centre, radius, rng)
        if finish == 2:
            image += synth.glow(image, mask, colour, glow_radius)
        if finish == 0:
            image[mask] = np.clip(colour * synth.lighting(xx, yy, centre, extent)[..., None], 0, 255)[mask]
        else:
            image[mask] = colour
        if finish == 1:
            image[mask & ~synth.erode(synth.erode(mask))] *= 0.25
    image += rng.normal(0, 2, image.shape)
    return synth.to_uint8(image)


def make_domains(out_dir: Path, *, count: int = 60, size: int = 64, seed: int = 0, domains: int = 3) -> Path:
    """Write a multi-domain dataset of `domains` (2-6) domains to `out_dir` and return it (layout in the
    module docstring). Each domain gets `count` images, 80 % in train and 20 % in val; image i of domain d
    depends only on (seed, d, i)."""
    if not 2 <= domains <= len(DOMAINS):
        raise I2IError(f"domains must be 2 to {len(DOMAINS)}, not {domains}")
    synth.check_count(count)
    out_dir = Path(out_dir)
    n_train = count - round(count * DOMAIN_VAL_FRACTION)
    for domain in range(domains):
        name = DOMAINS[domain][0]
        for index in range(1, count + 1):
            image = render_domain_scene(np.random.default_rng((seed, domain, index)), size, domain)
            split = "train" if index <= n_train else "val"
            synth.write_png(out_dir / split / name / f"{name}_{index:05d}.png", image)
    return out_dir


def synthesize(out_dir: Path, *, count: int, size: int, seed: int, domains: int = 3) -> tuple[Path, str]:
    """The `domains` synthetic task with `domains` domains; the root and what was written."""
    root = make_domains(out_dir, count=count, size=size, seed=seed, domains=domains)
    return root, f"{count} {size}x{size} images in {domains} domains"


# ------------------------------------------------------------------------------------------- dataset


def random_resized_crop_box(
    width: int,
    height: int,
    rng: random.Random,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of torchvision's `RandomResizedCrop`: up to ten tries at a random area
    fraction and log-uniform aspect ratio, then the largest central crop within `ratio`."""
    area = width * height
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_low, log_high))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_transform(
    image: Image.Image, img_size: int, randcrop_prob: float, rng: random.Random
) -> torch.Tensor:
    """Upstream's training pipeline: with probability `randcrop_prob` a RandomResizedCrop (scale 0.8-1,
    ratio 0.9-1.1) to img_size, a resize to img_size x img_size, a horizontal flip with probability 0.5, then
    [-1, 1]. Draws come from `rng` in upstream's order."""
    bilinear = InterpolationMode.BILINEAR
    size = [img_size, img_size]
    if rng.random() < randcrop_prob:
        top, left, h, w = random_resized_crop_box(*image.size, rng)
        image = TF.resized_crop(image, top, left, h, w, size, interpolation=bilinear, antialias=True)
    image = TF.resize(image, size, interpolation=bilinear, antialias=True)
    if rng.random() < 0.5:
        image = TF.hflip(image)
    return TF.normalize(TF.to_tensor(image), [0.5] * 3, [0.5] * 3)


class DomainDataset(SeededDataset):
    """Images of `ROOT/<domain>/` (or `ROOT/<phase>/<domain>/`) as StarGAN v2 training samples:
    `{"x", "y", "x_ref", "x_ref2", "y_ref", "path", "ref_path"}`.

    `x` is a source image of domain `y`; `x_ref` and `x_ref2` are two images of the target domain `y_ref`
    (the reference branch's styles; the latent branch translates into `y_ref` too). Both domains are drawn
    uniformly (upstream's 1/class_count weights) and the images uniformly within them; each image gets its
    own crop and flip (`train_transform`). The length is the number of images, as upstream's epoch.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        img_size: int = 256,
        randcrop_prob: float = 0.5,
        seed: int = 0,
        phase: str = "train",
    ) -> None:
        found = find_domains(Path(root), phase)
        super().__init__(seed)
        self.domains: tuple[str, ...] = found.names
        self.files = found.files
        self.img_size, self.randcrop_prob = img_size, randcrop_prob

    def __len__(self) -> int:
        return sum(len(files) for files in self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        pick = self.rng(index, "pick")
        y = pick.randrange(len(self.files))
        source = self.files[y][pick.randrange(len(self.files[y]))]
        y_ref = pick.randrange(len(self.files))
        ref, ref2 = (self.files[y_ref][pick.randrange(len(self.files[y_ref]))] for _ in range(2))
        return {
            "x": self._load(source, self.rng(index, "x")),
            "y": y,
            "x_ref": self._load(ref, self.rng(index, "x_ref")),
            "x_ref2": self._load(ref2, self.rng(index, "x_ref2")),
            "y_ref": y_ref,
            "path": str(source),
            "ref_path": str(ref),
        }

    def _load(self, path: Path, rng: random.Random) -> torch.Tensor:
        return train_transform(open_rgb(path), self.img_size, self.randcrop_prob, rng)
