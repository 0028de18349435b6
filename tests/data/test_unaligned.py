"""UnalignedDataset (CycleGAN) and the synthetic day2night task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from i2i.data.layouts import check_layout
from i2i.data.unaligned import UnalignedDataset, make_unpaired, render_unpaired_scene
from i2i.errors import I2IError, UsageError

SMALL = {"load_size": 36, "crop_size": 32}
EXACT = {"preprocess": "none", "no_flip": True, "load_size": 8, "crop_size": 8}


def _png(path: Path, value: int = 0, w: int = 8, h: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 A images and 5 B images, each one flat grey level that identifies it."""
    root = tmp_path_factory.mktemp("flat")
    for i in range(3):
        _png(root / "trainA" / f"a{i}.png", value=10 * i)
    for i in range(5):
        _png(root / "trainB" / f"b{i}.png", value=100 + 10 * i)
    return root


@pytest.fixture(scope="module")
def day2night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_unpaired(tmp_path_factory.mktemp("d2n"), count=10, size=40)


def _value(tensor: torch.Tensor) -> int:
    return round((float(tensor.mean()) + 1) * 127.5)


# ----------------------------------------------------------------------------------------------- dataset


def test_length_and_modulo_indexing(flat: Path) -> None:
    ds = UnalignedDataset(flat, serial_batches=True, **EXACT)
    assert len(ds) == 5
    for i in range(len(ds)):
        sample = ds[i]
        assert sample["A_path"] == str(flat / "trainA" / f"a{i % 3}.png")
        assert sample["B_path"] == str(flat / "trainB" / f"b{i}.png")
        assert sample["A"].shape == sample["B"].shape == (3, 8, 8)
        assert _value(sample["A"]) == 10 * (i % 3) and _value(sample["B"]) == 100 + 10 * i


def test_random_b_differs_from_serial_and_loads_that_file(flat: Path) -> None:
    ds = UnalignedDataset(flat, **EXACT)
    picks = []
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            sample = ds[i]
            assert sample["A_path"].endswith(f"a{i % 3}.png")  # A stays serial
            b = int(Path(sample["B_path"]).stem[1:])
            assert _value(sample["B"]) == 100 + 10 * b
            picks.append(b)
    assert picks != [i for _ in range(4) for i in range(5)]
    assert set(picks) == set(range(5))


def test_randomness_is_a_function_of_seed_epoch_index(day2night: Path) -> None:
    one, two = UnalignedDataset(day2night, seed=3, **SMALL), UnalignedDataset(day2night, seed=3, **SMALL)
    forward = [one[i] for i in range(len(one))]
    backward = {i: two[i] for i in reversed(range(len(two)))}
    for i, sample in enumerate(forward):
        assert sample["B_path"] == backward[i]["B_path"]
        for key in ("A", "B"):
            torch.testing.assert_close(sample[key], backward[i][key], atol=0, rtol=0)
    one.set_epoch(1)
    assert any(not torch.equal(one[i]["A"], forward[i]["A"]) for i in range(len(one)))
    other_seed = UnalignedDataset(day2night, seed=4, **SMALL)
    assert any(not torch.equal(other_seed[i]["B"], forward[i]["B"]) for i in range(len(one)))


def test_dataloader_workers_do_not_change_samples(day2night: Path) -> None:
    ds = UnalignedDataset(day2night, seed=1, **SMALL)
    runs = []
    for workers in (0, 2):
        batches = list(DataLoader(ds, batch_size=3, num_workers=workers))
        runs.append(
            (
                torch.cat([b["A"] for b in batches]),
                torch.cat([b["B"] for b in batches]),
                [p for b in batches for p in b["B_path"]],
            )
        )
    torch.testing.assert_close(runs[0][0], runs[1][0], atol=0, rtol=0)
    torch.testing.assert_close(runs[0][1], runs[1][1], atol=0, rtol=0)
    assert runs[0][2] == runs[1][2]


def test_a_and_b_get_independent_crops_and_flips(tmp_path: Path) -> None:
    # The same ramp in A and B: a shared crop and flip (as in the paired dataset) would make them equal.
    ramp = np.tile((np.arange(40, dtype=np.uint8) * 6)[None, :, None], (40, 1, 3))
    for side in "AB":
        (tmp_path / f"train{side}").mkdir()
        Image.fromarray(ramp).save(tmp_path / f"train{side}" / "r.png")
    ds = UnalignedDataset(tmp_path, preprocess="crop", load_size=40, crop_size=24)
    differ = 0
    for epoch in range(8):
        ds.set_epoch(epoch)
        sample = ds[0]
        assert sample["A"].shape == sample["B"].shape == (3, 24, 24)
        differ += not torch.equal(sample["A"], sample["B"])
    assert differ >= 4


def test_serial_batches_does_not_change_the_crops(day2night: Path) -> None:
    serial = UnalignedDataset(day2night, serial_batches=True, **SMALL)
    shuffled = UnalignedDataset(day2night, **SMALL)
    torch.testing.assert_close(serial[2]["A"], shuffled[2]["A"], atol=0, rtol=0)


def test_direction_btoa_swaps_folders(flat: Path) -> None:
    ds = UnalignedDataset(flat, direction="BtoA", serial_batches=True, **EXACT)
    assert len(ds) == 5
    sample = ds[3]
    assert sample["A_path"] == str(flat / "trainB" / "b3.png") and _value(sample["A"]) == 130
    assert sample["B_path"] == str(flat / "trainA" / "a0.png") and _value(sample["B"]) == 0
    assert ds[4]["B_path"].endswith("a1.png")


def test_grayscale_follows_nc_and_direction(flat: Path) -> None:
    sample = UnalignedDataset(flat, input_nc=1, **EXACT)[0]
    assert sample["A"].shape == (1, 8, 8) and sample["B"].shape == (3, 8, 8)
    sample = UnalignedDataset(flat, output_nc=1, **EXACT)[0]
    assert sample["A"].shape == (3, 8, 8) and sample["B"].shape == (1, 8, 8)
    # BtoA: the input (trainB) follows input_nc
    sample = UnalignedDataset(flat, input_nc=1, direction="BtoA", **EXACT)[0]
    assert "trainB" in sample["A_path"] and sample["A"].shape == (1, 8, 8) and sample["B"].shape == (3, 8, 8)
    assert sample["A"].min() >= -1 and sample["A"].max() <= 1


def test_max_dataset_size_caps_each_folder(flat: Path) -> None:
    ds = UnalignedDataset(flat, max_dataset_size=2, **EXACT)
    assert len(ds) == 2 and len(ds.files_A) == len(ds.files_B) == 2


def test_phase(flat: Path) -> None:
    with pytest.raises(I2IError, match=r"testA does not exist"):
        UnalignedDataset(flat, phase="test", **EXACT)


def test_bad_arguments(flat: Path) -> None:
    with pytest.raises(UsageError, match="unknown direction 'AB'"):
        UnalignedDataset(flat, direction="AB")
    with pytest.raises(UsageError, match="preprocess"):
        UnalignedDataset(flat, preprocess="squash")
    with pytest.raises(I2IError, match=r"load_size \(16\) must be >= crop_size \(32\)"):
        UnalignedDataset(flat, load_size=16, crop_size=32)


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainB" / "broken.png").write_bytes(b"not a png at all")
    ds = UnalignedDataset(tmp_path, **EXACT)
    with pytest.raises(I2IError, match=r"cannot read image .*trainB/broken\.png"):
        ds[0]


def test_image_smaller_than_the_crop_names_the_file(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png", w=40, h=40)
    _png(tmp_path / "trainB" / "small.png", w=16, h=16)
    ds = UnalignedDataset(tmp_path, preprocess="crop", load_size=32, crop_size=32)
    with pytest.raises(I2IError, match=r"small\.png: image of 16x16 is smaller than crop_size 32"):
        ds[0]


# ------------------------------------------------------------------------------------------------ synth


def test_render_unpaired_scene_is_deterministic_and_well_formed() -> None:
    a1, b1 = render_unpaired_scene(np.random.default_rng(5), 48)
    a2, b2 = render_unpaired_scene(np.random.default_rng(5), 48)
    assert a1.shape == b1.shape == (48, 48, 3) and a1.dtype == b1.dtype == np.uint8
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    # day: bright and warm (red > blue); night: dark and cool (blue > red)
    day, night = a1.reshape(-1, 3).mean(0), b1.reshape(-1, 3).mean(0)
    assert day.mean() > 150 and day[0] > day[2] + 40
    assert night.mean() < 90 and night[2] > night[0] + 20


def test_make_unpaired_layout_and_truth(tmp_path: Path) -> None:
    root = make_unpaired(tmp_path / "d2n")
    names = {
        folder: sorted(p.name for p in (root / folder).glob("*.png"))
        for folder in ("trainA", "trainB", "testA", "testB", "truth/testA_to_B", "truth/testB_to_A")
    }
    assert [len(names[f]) for f in ("trainA", "trainB", "testA", "testB")] == [160, 160, 40, 40]
    assert names["trainA"][0] == "a00001.png" and names["testB"][0] == "b00161.png"
    assert names["truth/testA_to_B"] == names["testA"]
    assert names["truth/testB_to_A"] == names["testB"]
    assert Image.open(root / "truth" / "testA_to_B" / "a00161.png").size == (64, 64)
    report = check_layout(root, "unaligned")
    assert report.ok and not report.notes
    assert report.summary == (
        "unaligned dataset: trainA 160 images, trainB 160 images, testA 40 images, testB 40 images"
    )


def test_make_unpaired_is_reproducible_and_unpaired(tmp_path: Path, day2night: Path) -> None:
    again = make_unpaired(tmp_path / "again", count=10, size=40)
    for name in ("trainA/a00001.png", "trainB/b00008.png", "testA/a00009.png", "truth/testB_to_A/b00010.png"):
        assert (day2night / name).read_bytes() == (again / name).read_bytes()
    other = make_unpaired(tmp_path / "other", count=10, size=40, seed=1)
    assert (other / "trainA/a00001.png").read_bytes() != (again / "trainA/a00001.png").read_bytes()

    def load(folder: str) -> np.ndarray:
        return np.stack([np.asarray(Image.open(p)) for p in sorted((day2night / folder).glob("*.png"))])

    train_a, train_b = load("trainA"), load("trainB")
    # independent scenes: trainB is not the night rendering of trainA's scenes
    _, night_of_a1 = render_unpaired_scene(np.random.default_rng((0, 0, 1)), 40)
    assert not np.array_equal(train_b[0], night_of_a1)
    # the domains differ clearly, and each truth folder is in the other domain
    assert train_a.mean() - train_b.mean() > 100
    assert abs(load("truth/testA_to_B").mean() - train_b.mean()) < 20
    assert abs(load("truth/testB_to_A").mean() - train_a.mean()) < 20
    test_a, truth_b = load("testA"), load("truth/testA_to_B")
    expected_a, expected_b = render_unpaired_scene(np.random.default_rng((0, 0, 9)), 40)
    np.testing.assert_array_equal(test_a[0], expected_a)
    np.testing.assert_array_equal(truth_b[0], expected_b)


def test_make_unpaired_rejects_negative_count(tmp_path: Path) -> None:
    with pytest.raises(I2IError, match="count must be >= 0"):
        make_unpaired(tmp_path, count=-1)
