"""Multi-domain data (StarGAN v2): the dataset, the "domains" layout check and the synthetic task."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.data.domains import (
    DOMAINS,
    DomainDataset,
    find_domains,
    make_domains,
    random_resized_crop_box,
    render_domain_scene,
)
from i2i.data.layouts import check_layout, make_for_layout
from i2i.errors import I2IError, UsageError


def _images(folder: Path, count: int, size: int = 12, value: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((size, size + 4, 3), (value + 7 * i) % 256, np.uint8)).save(
            folder / f"{i:03d}.png"
        )


# ---------------------------------------------------------------------------------------------- dataset


@pytest.fixture
def unbalanced(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _images(root / "train" / "big", 18, value=10)
    _images(root / "train" / "small", 2, value=200)
    return root


def test_domains_are_balanced_whatever_their_size(unbalanced: Path) -> None:
    dataset = DomainDataset(unbalanced, img_size=8, seed=3)
    assert dataset.domains == ("big", "small") and len(dataset) == 20
    sources, targets = Counter(), Counter()
    for epoch in range(15):
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            sample = dataset[i]
            sources[sample["y"]] += 1
            targets[sample["y_ref"]] += 1
    # upstream's WeightedRandomSampler(1 / class_count): each domain half the time, not 18:2
    for counts in (sources, targets):
        assert 120 < counts[1] < 180 and counts[0] + counts[1] == 300


def test_samples_are_a_function_of_seed_epoch_and_index(unbalanced: Path) -> None:
    a, b = DomainDataset(unbalanced, img_size=8, seed=1), DomainDataset(unbalanced, img_size=8, seed=1)
    b[5]  # access order does not matter
    for key in ("x", "x_ref", "x_ref2"):
        assert torch.equal(a[3][key], b[3][key])
    a.set_epoch(1)
    picks = {(a[i]["path"], a[i]["ref_path"], a[i]["y"]) for i in range(len(a))}
    b.set_epoch(2)
    assert picks != {(b[i]["path"], b[i]["ref_path"], b[i]["y"]) for i in range(len(b))}


def test_references_come_from_the_target_domain(unbalanced: Path) -> None:
    dataset = DomainDataset(unbalanced, img_size=16, randcrop_prob=1.0, seed=0)
    for i in range(len(dataset)):
        sample = dataset[i]
        assert Path(sample["path"]).parent.name == dataset.domains[sample["y"]]
        assert Path(sample["ref_path"]).parent.name == dataset.domains[sample["y_ref"]]
        for key in ("x", "x_ref", "x_ref2"):
            assert sample[key].shape == (3, 16, 16) and -1 <= sample[key].min() <= sample[key].max() <= 1


def test_random_resized_crop_box_keeps_scale_and_ratio() -> None:
    rng = random.Random(0)
    for _ in range(200):
        top, left, h, w = random_resized_crop_box(120, 100, rng)
        assert 0 <= top <= 100 - h and 0 <= left <= 120 - w
        assert 0.78 <= h * w / 12000 <= 1.0 and 0.88 <= w / h <= 1.12
    # nothing fits a 100:10 image: the largest central crop within the ratio range
    assert random_resized_crop_box(100, 10, rng) == (0, 44, 10, 11)


# ------------------------------------------------------------------------------------------ layout check


def test_a_good_dataset_and_its_summary(tmp_path: Path) -> None:
    root = make_domains(tmp_path / "d", count=5, size=16, domains=3)
    report = check_layout(root, "domains")
    assert report.ok and not report.notes
    assert report.summary == (
        "multi-domain dataset: train 3 domains (ember 4 images, ice 4 images, moss 4 images), "
        "val 3 domains (ember 1 image, ice 1 image, moss 1 image)"
    )
    assert find_domains(root).names == ("ember", "ice", "moss")


def test_domain_folders_without_a_train_level(tmp_path: Path) -> None:
    _images(tmp_path / "cat", 2)
    _images(tmp_path / "dog", 3)
    _images(tmp_path, 1)
    report = check_layout(tmp_path, "domains")
    assert (
        report.ok and report.summary == "multi-domain dataset: train 2 domains (cat 2 images, dog 3 images)"
    )
    assert report.notes == [f"{tmp_path}: 1 file outside the domain folders ignored: 000.png"]
    assert [len(f) for f in find_domains(tmp_path).files] == [2, 3]


def test_one_domain_is_not_enough(tmp_path: Path) -> None:
    _images(tmp_path / "train" / "cat", 2)
    (problem,) = check_layout(tmp_path, "domains").problems
    assert f"{tmp_path / 'train'} has only cat/; a multi-domain dataset needs at least two" in problem
    assert f"{tmp_path}/train/dog/0001.jpg" in problem  # the expected tree
    with pytest.raises(I2IError, match="needs at least two domain folders"):
        find_domains(tmp_path)


def test_images_without_domain_folders(tmp_path: Path) -> None:
    _images(tmp_path, 3)
    (problem,) = check_layout(tmp_path, "domains").problems
    assert "has no sub-folders and 3 images directly in it" in problem


def test_every_problem_is_reported_once(tmp_path: Path) -> None:
    _images(tmp_path / "train" / "cat", 2)
    (tmp_path / "train" / "dog").mkdir()
    (tmp_path / "train" / "dog" / "notes.txt").write_text("x")
    _images(tmp_path / "val" / "cat", 1)
    _images(tmp_path / "val" / "wild", 1)
    problems = check_layout(tmp_path, "domains").problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{tmp_path / 'train' / 'dog'} is empty: it holds only non-image files")
    assert problems[1].startswith(f"{tmp_path / 'val'} has the domains cat, wild but train has cat, dog")
    with pytest.raises(I2IError, match=r"dog is empty.*Expected a multi-domain"):
        find_domains(tmp_path)


def test_phase_folders_without_train(tmp_path: Path) -> None:
    _images(tmp_path / "val" / "cat", 1)
    _images(tmp_path / "val" / "dog", 1)
    (problem,) = check_layout(tmp_path, "domains").problems
    assert problem.startswith(f"{tmp_path} has the phase folders val but no train/")


def test_unknown_layout_names_domains(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match="known: attributes, domains, faces, images, masks, paired, unaligned"
    ):
        check_layout(tmp_path, "domain")


# ------------------------------------------------------------------------------------------ synthetic data


def test_make_domains_writes_train_and_val_per_domain(tmp_path: Path) -> None:
    root = make_domains(tmp_path / "a", count=10, size=24, seed=4, domains=4)
    names = [d[0] for d in DOMAINS[:4]]
    for name in names:
        assert len(list((root / "train" / name).glob("*.png"))) == 8
        assert len(list((root / "val" / name).glob("*.png"))) == 2
    again = make_domains(tmp_path / "b", count=10, size=24, seed=4, domains=4)
    first = root / "val" / names[2] / f"{names[2]}_00009.png"
    assert first.read_bytes() == (again / "val" / names[2] / first.name).read_bytes()
    assert Image.open(first).size == (24, 24)
    with pytest.raises(I2IError, match="domains must be 2 to 6"):
        make_domains(tmp_path / "c", domains=7)


def test_a_domain_is_a_material_and_the_background_a_style() -> None:
    """The same scene drawn in two domains differs only in the shapes, which take the domain's colours;
    two scenes of one domain have different backgrounds (hue and stripes), which a reference can carry."""
    ember, moss = (render_domain_scene(np.random.default_rng(7), 48, d).astype(int) for d in (0, 1))
    changed = np.any(ember != moss, axis=2)
    assert 0.03 < changed.mean() < 0.6
    assert (ember[changed][:, 0] > ember[changed][:, 1]).mean() > 0.9  # ember: red over green
    assert (moss[changed][:, 1] > moss[changed][:, 0]).mean() > 0.9  # moss: green over red
    other = render_domain_scene(np.random.default_rng(8), 48, 0).astype(int)
    corner = (slice(0, 6), slice(0, 6))  # shapes stay in the middle of the image
    assert np.abs(other[corner].mean((0, 1)) - ember[corner].mean((0, 1))).max() > 10


def test_make_for_layout_domains(tmp_path: Path) -> None:
    root = make_for_layout("domains", tmp_path / "d", count=4, size=16)
    assert check_layout(root, "domains").ok and len(find_domains(root).names) == 3
