"""The unaligned layout (CycleGAN): finding and checking unpaired images, the synthetic "day2night" task and
the dataset (the upstream unpaired pipeline, randomness fixed by (seed, epoch, index)).

Unpaired data lives in `ROOT/<phase>A` and `ROOT/<phase>B`, any names and counts.

day2night (`make_unpaired`): one scene generator (2-5 shapes, a brightness per shape) rendered in two
domains. A, "day": a light warm gradient background and flat, warm, saturated shape colours per class.
B, "night": a dark blue gradient background, cool desaturated colours per class and a soft glow around each
shape. Both add mild noise. Everything else is a function of the scene and the scene can be read off either
rendering, so A -> B and B -> A are deterministic mappings a CycleGAN learns quickly. The training folders
hold independently drawn scenes (unpaired); the test scenes' other renderings are kept as ground truth:

    out_dir/trainA/a00001.png ...             day scenes 1..n_train
    out_dir/trainB/b00001.png ...             night scenes, drawn independently of trainA
    out_dir/testA/a<k>.png                    day scenes n_train+1..count
    out_dir/testB/b<k>.png                    night scenes, independent of testA
    out_dir/truth/testA_to_B/a<k>.png         the night rendering of testA/a<k>.png (same name and size)
    out_dir/truth/testB_to_A/b<k>.png         the day rendering of testB/b<k>.png (same name and size)
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i.data import synth
from i2i.data.base import PipelineDataset
from i2i.data.files import (
    CHECK_LIMIT,
    PHASES,
    LayoutReport,
    check_folder,
    checked,
    counted,
    describe,
    empty,
    existing_dir,
    open_rgb,
    scan,
)
from i2i.data.transforms import check_network_size
from i2i.errors import I2IError

# day2night: (top, bottom) background colours and one shape colour per class, per domain
_DAY_SKY = np.array([[250, 236, 200], [240, 206, 150]], np.float32)
_DAY_COLOURS = np.array([[225, 55, 30], [240, 150, 20], [195, 30, 105]], np.float32)
_NIGHT_SKY = np.array([[8, 12, 38], [24, 34, 76]], np.float32)
_NIGHT_COLOURS = np.array([[120, 150, 190], [140, 178, 172], [150, 132, 188]], np.float32)
UNPAIRED_TEST_FRACTION = 0.2


# ------------------------------------------------------------------------------------------- finding


def find_unaligned(root: Path, phase: str = "train") -> tuple[list[Path], list[Path]]:
    """The images of `root/<phase>A` and `root/<phase>B` (CycleGAN layout); each must hold at least one.

    Raises one `I2IError` naming every missing or empty folder, with the expected tree.
    """
    root = existing_dir(root)
    folders = [root / f"{phase}{side}" for side in "AB"]
    missing = [folder for folder in folders if not folder.is_dir()]
    # The folder listing shows whether the other side is missing too, so one missing folder is named.
    problems = [f"{missing[0]} does not exist; {describe(root, 'unaligned')}"] if missing else []
    found = []
    for folder in folders:
        if folder.is_dir():
            images, others = scan(folder)
            if not images:
                problems.append(empty(folder, others))
            found.append(images)
    if problems:
        raise _unaligned_error(root, phase, problems)
    return found[0], found[1]


def _unaligned_error(root: Path, phase: str, problems: list[str]) -> I2IError:
    return I2IError(
        f"{'; '.join(problems)}. Expected an unpaired (CycleGAN) dataset:\n"
        f"  {root}/{phase}A/0001.jpg   (domain A)\n"
        f"  {root}/{phase}B/0001.jpg   (domain B, any names and count)"
    )


# ------------------------------------------------------------------------------------------ checking


def check(root: str | Path, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem that would stop training on an unaligned dataset, plus notes and a one-line summary.

    Required: `trainA/` + `trainB/`; the `val` and `test` folders are checked when present. Images are
    decoded (at most `max_checked` per folder) to find unreadable ones.
    """
    return checked("unaligned", root, max_checked, _inspect)


def _inspect(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
    """Check `<phase>A/` + `<phase>B/` for each phase present (train required); the kind and counts."""
    if not any((root / f"train{side}").is_dir() for side in "AB"):
        problem = f"{root / 'trainA'} does not exist; {describe(root, 'unaligned')}"
        report.problems.append(str(_unaligned_error(root, "train", [problem])))
        return "unaligned dataset", []
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
            n = check_folder(folder, report, max_checked)
            counts.append(f"{folder.name} {counted(n, 'image')}")
    return "unaligned dataset", counts


# ---------------------------------------------------------------------------------- synthetic data


def render_unpaired_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One day2night scene as (A, B): (size, size, 3) uint8 arrays, its day and its night rendering."""
    yy, xx = synth.grid(size)
    t = (yy / size)[..., None]
    day = (1 - t) * _DAY_SKY[0] + t * _DAY_SKY[1]
    night = (1 - t) * _NIGHT_SKY[0] + t * _NIGHT_SKY[1]
    glow_radius = max(1, size // 16)
    for _ in range(rng.integers(2, 6)):
        cls = int(rng.integers(len(synth.CLASSES)))
        centre = rng.uniform(0.2, 0.8, 2) * size
        radius = rng.uniform(0.1, 0.2) * size
        brightness = rng.uniform(0.8, 1.1)
        mask, _ = synth.shape_mask(synth.CLASSES[cls], xx, yy, centre, radius, rng)
        colour = _NIGHT_COLOURS[cls] * brightness
        night += synth.glow(night, mask, colour, glow_radius)
        day[mask] = _DAY_COLOURS[cls] * brightness
        night[mask] = colour
    images = []
    for image in (day, night):
        image += rng.normal(0, 2, image.shape)
        images.append(synth.to_uint8(image))
    return images[0], images[1]


def make_unpaired(out_dir: Path, *, count: int = 200, size: int = 64, seed: int = 0) -> Path:
    """Write a day2night dataset to `out_dir` and return it (layout in the module docstring).

    Each domain gets `count` images: 80 % in train, 20 % in test. Scene i of domain A (or B) depends only on
    (seed, domain, i), and trainA and trainB scenes are drawn independently.
    """
    synth.check_count(count)
    out_dir = Path(out_dir)
    n_train = count - round(count * UNPAIRED_TEST_FRACTION)
    for domain, (side, other) in enumerate((("A", "B"), ("B", "A"))):
        for index in range(1, count + 1):
            day, night = render_unpaired_scene(np.random.default_rng((seed, domain, index)), size)
            rendered = {"A": day, "B": night}
            name = f"{side.lower()}{index:05d}.png"
            split = "train" if index <= n_train else "test"
            synth.write_png(out_dir / f"{split}{side}" / name, rendered[side])
            if split == "test":
                synth.write_png(out_dir / "truth" / f"test{side}_to_{other}" / name, rendered[other])
    return out_dir


def synthesize(out_dir: Path, *, count: int, size: int, seed: int) -> tuple[Path, str]:
    """The `unaligned` synthetic task (day2night); the root and what was written."""
    root = make_unpaired(out_dir, count=count, size=size, seed=seed)
    return root, f"{count} {size}x{size} images per domain"


# ------------------------------------------------------------------------------------------- dataset


class UnalignedDataset(PipelineDataset):
    """Images of `ROOT/<phase>A` and `ROOT/<phase>B` as `{"A", "B", "A_path", "B_path"}` samples in [-1, 1].

    `A` is always the network input: with `direction="BtoA"` the folders swap roles, so `A` comes from
    `<phase>B`. `A` is grayscale when `input_nc` is 1, `B` when `output_nc` is 1 (the reference's channel swap
    for BtoA, applied after the folder swap). Sample `i` takes `A` image `i % |A|` and, as upstream, `B` image
    `i % |B|` with `serial_batches`, else a random one; the length is max(|A|, |B|). A and B get independent
    random crops and flips. All random draws of sample `i` depend only on (seed, epoch, i), so results do not
    depend on access order, DataLoader workers or resuming.
    """

    def __init__(self, root: str | Path, *, serial_batches: bool = False, **options: Any) -> None:
        """`options` are those of `PipelineDataset`: phase, preprocess, load_size, crop_size, no_flip,
        direction, input_nc, output_nc, seed, max_dataset_size and network."""
        self.serial_batches = serial_batches
        super().__init__(root, **options)

    def find(self, root: Path, phase: str, max_dataset_size: int | None) -> None:
        """The files of `<phase>A` and `<phase>B`, swapped for BtoA."""
        files_a, files_b = find_unaligned(root, phase)
        if self.direction == "BtoA":
            files_a, files_b = files_b, files_a
        self.files_A, self.files_B = files_a[:max_dataset_size], files_b[:max_dataset_size]

    def __len__(self) -> int:
        return max(len(self.files_A), len(self.files_B))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        a_path = self.files_A[index % len(self.files_A)]
        # One generator per stream, so e.g. serial_batches does not change the crops.
        if self.serial_batches:
            b_path = self.files_B[index % len(self.files_B)]
        else:
            b_path = self.files_B[self.rng(index, "pick").randrange(len(self.files_B))]
        return {
            "A": self._load(a_path, self.input_nc, self.rng(index, "A")),
            "B": self._load(b_path, self.output_nc, self.rng(index, "B")),
            "A_path": str(a_path),
            "B_path": str(b_path),
        }

    def _load(self, path: Path, nc: int, rng: random.Random) -> torch.Tensor:
        image = open_rgb(path)
        try:
            tensor = self.transform(image, nc, rng=rng)
        except I2IError as err:  # e.g. smaller than crop_size: name the file
            raise I2IError(f"{path}: {err}") from err
        check_network_size(tensor, path, self.network, self.preprocess)
        return tensor
