"""Paired data layouts, their error messages, PairedDataset and the synthetic labels2shapes task."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from i2i.data.paired import PairedDataset, find_paired, make_paired, render_pair
from i2i.data.unaligned import find_unaligned
from i2i.errors import I2IError

SMALL = {"load_size": 36, "crop_size": 32}


@pytest.fixture(scope="module")
def aligned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_paired(tmp_path_factory.mktemp("aligned"), size=32, split_counts={"train": 6, "test": 2})


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("folders")
    return make_paired(out, size=32, split_counts={"train": 6, "test": 2}, layout="folders")


def _png(path: Path, w: int = 8, h: int = 8, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------------------------------ synth


def test_render_pair_is_deterministic_and_well_formed() -> None:
    a1, b1 = render_pair(np.random.default_rng(5), 48)
    a2, b2 = render_pair(np.random.default_rng(5), 48)
    assert a1.shape == b1.shape == (48, 48, 3) and a1.dtype == b1.dtype == np.uint8
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert 3 <= len(np.unique(a1.reshape(-1, 3), axis=0)) <= 4  # background + 2-3 classes at most here
    assert len(np.unique(b1.reshape(-1, 3), axis=0)) > 100  # shaded, textured rendering


def test_make_paired_default_split_is_reproducible(tmp_path: Path) -> None:
    first = make_paired(tmp_path / "one")
    counts = {s: len(list((first / s).glob("*.png"))) for s in ("train", "val", "test")}
    assert counts == {"train": 160, "val": 20, "test": 20}
    second = make_paired(tmp_path / "two", split_counts={"train": 3})
    for name in ("00001.png", "00003.png"):
        assert (first / "train" / name).read_bytes() == (second / "train" / name).read_bytes()
    assert Image.open(first / "val" / "00161.png").size == (128, 64)


# ----------------------------------------------------------------------------------------------- layouts


def test_find_paired_aligned(aligned: Path) -> None:
    found = find_paired(aligned)
    assert found.layout == "aligned" and len(found) == 6
    assert [p.name for p in found.files] == [f"{i:05d}.png" for i in range(1, 7)]
    assert len(find_paired(aligned, "test")) == 2


def test_find_paired_folders_with_and_without_phase(folders: Path, tmp_path: Path) -> None:
    found = find_paired(folders, "test")
    assert found.layout == "folders" and len(found) == 2
    assert all(a.parent == folders / "A" / "test" and a.name == b.name for a, b in found.pairs)
    flat = tmp_path / "flat"
    _png(flat / "A" / "x.png")
    _png(flat / "B" / "x.jpg")
    assert find_paired(flat).pairs == [(flat / "A" / "x.png", flat / "B" / "x.jpg")]
    nested = tmp_path / "nested"
    _png(nested / "train" / "A" / "x.png")
    _png(nested / "train" / "B" / "x.png")
    assert find_paired(nested).layout == "folders"


def test_scan_skips_hidden_and_accepts_upper_case_suffixes(tmp_path: Path) -> None:
    _png(tmp_path / "train" / "b.PNG")
    _png(tmp_path / "train" / "sub" / "a.png")
    _png(tmp_path / "train" / ".hidden.png")
    _png(tmp_path / "train" / ".cache" / "c.png")
    (tmp_path / "train" / "notes.txt").write_text("x")
    assert [p.name for p in find_paired(tmp_path).files] == ["b.PNG", "a.png"]


def test_error_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(I2IError, match="found 0 images") as err:
        find_paired(tmp_path)
    message = str(err.value)
    assert "expected one of:" in message.lower() and f"{tmp_path}/train/0001.jpg" in message
    assert f"{tmp_path}/A/train/0001.jpg + {tmp_path}/B/train/0001.jpg" in message


def test_error_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(I2IError, match="does not exist"):
        find_paired(tmp_path / "nope")


def test_error_cyclegan_layout_given_to_find_paired(tmp_path: Path) -> None:
    for name in ("trainA", "trainB", "testA"):
        _png(tmp_path / name / "x.png")
    with pytest.raises(
        I2IError, match=r"found folders: testA, trainA, trainB \(an unpaired CycleGAN layout\)"
    ):
        find_paired(tmp_path)


def test_error_a_without_b(tmp_path: Path) -> None:
    _png(tmp_path / "A" / "x.png")
    with pytest.raises(I2IError, match=r"found .*A but no .*B"):
        find_paired(tmp_path)


def test_error_missing_phase_in_folders(folders: Path) -> None:
    with pytest.raises(I2IError, match="found phase folders test, train in .* but no val"):
        find_paired(folders, "val")


def test_error_images_not_in_phase_folder(tmp_path: Path) -> None:
    _png(tmp_path / "0001.png")
    with pytest.raises(I2IError, match="found 1 images directly in"):
        find_paired(tmp_path)


def test_unmatched_names_warn_and_use_matched(tmp_path: Path) -> None:
    for name in ("1", "2", "3"):
        _png(tmp_path / "A" / f"{name}.png")
    for name in ("2", "3", *(f"b{i}" for i in range(6))):
        _png(tmp_path / "B" / f"{name}.png")
    with pytest.warns(
        UserWarning, match=r"7 images .* A/1, B/b0, B/b1, B/b2, B/b3 \(and 2 more\).* 2 matched"
    ):
        found = find_paired(tmp_path)
    assert [a.stem for a, _ in found.pairs] == ["2", "3"]


def test_error_no_names_match(tmp_path: Path) -> None:
    _png(tmp_path / "A" / "0001.png")
    _png(tmp_path / "B" / "img_0001.png")
    with pytest.raises(I2IError, match="no file names match .*e.g. 0001.*e.g. img_0001"):
        find_paired(tmp_path)


def test_error_ambiguous_names(tmp_path: Path) -> None:
    _png(tmp_path / "A" / "x.png")
    _png(tmp_path / "A" / "x.jpg")
    _png(tmp_path / "B" / "x.png")
    with pytest.raises(I2IError, match="same name"):
        find_paired(tmp_path)


def test_error_only_text_files(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "readme.txt").write_text("x")
    (tmp_path / "train" / "labels.csv").write_text("x")
    with pytest.raises(
        I2IError, match=r"found 0 images in .*train, only non-image files: labels.csv, readme.txt"
    ):
        find_paired(tmp_path)
    (tmp_path / "train" / "readme.txt").rename(tmp_path / "readme.txt")
    shutil.rmtree(tmp_path / "train")
    with pytest.raises(I2IError, match="only non-image files: readme.txt"):
        find_paired(tmp_path)


def test_find_unaligned(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    _png(tmp_path / "trainB" / "b1.png")
    _png(tmp_path / "trainB" / "b2.png")
    a, b = find_unaligned(tmp_path)
    assert [p.name for p in a] == ["a.png"] and [p.name for p in b] == ["b1.png", "b2.png"]
    (tmp_path / "testA").mkdir()
    (tmp_path / "testB").mkdir()
    with pytest.raises(I2IError, match=r"testA is empty") as err:
        find_unaligned(tmp_path, "test")
    assert f"{tmp_path}/testB/0001.jpg" in str(err.value)


def test_find_unaligned_given_paired_data(aligned: Path) -> None:
    with pytest.raises(I2IError, match=r"trainA does not exist; found folders: test, train"):
        find_unaligned(aligned)


# ----------------------------------------------------------------------------------------------- dataset


def test_aligned_dataset_halves_match_the_file(aligned: Path) -> None:
    ds = PairedDataset(aligned, preprocess="none", no_flip=True, **SMALL)
    sample = ds[0]
    ab = np.asarray(Image.open(ds.items[0]).convert("RGB"), np.float32) / 127.5 - 1
    assert sample["path"] == str(aligned / "train" / "00001.png")
    torch.testing.assert_close(sample["A"], torch.from_numpy(ab[:, :32]).permute(2, 0, 1))
    torch.testing.assert_close(sample["B"], torch.from_numpy(ab[:, 32:]).permute(2, 0, 1))


def test_folder_dataset_matches_aligned(aligned: Path, folders: Path) -> None:
    one, two = PairedDataset(aligned, **SMALL), PairedDataset(folders, **SMALL)
    assert len(one) == len(two) == 6
    for i in range(len(one)):
        assert one[i]["A"].shape == (3, 32, 32)
        torch.testing.assert_close(one[i]["A"], two[i]["A"], atol=0, rtol=0)
        torch.testing.assert_close(one[i]["B"], two[i]["B"], atol=0, rtol=0)
    assert two[0]["path"] == str(folders / "A" / "train" / "00001.png")


def test_direction_btoa_swaps(aligned: Path, folders: Path) -> None:
    for root in (aligned, folders):
        ab, ba = PairedDataset(root, **SMALL), PairedDataset(root, direction="BtoA", **SMALL)
        torch.testing.assert_close(ab[2]["A"], ba[2]["B"], atol=0, rtol=0)
        torch.testing.assert_close(ab[2]["B"], ba[2]["A"], atol=0, rtol=0)
    assert PairedDataset(folders, direction="BtoA", **SMALL)[0]["path"].endswith("B/train/00001.png")


def test_grayscale_follows_nc_and_direction(aligned: Path) -> None:
    sample = PairedDataset(aligned, input_nc=1, **SMALL)[0]
    assert sample["A"].shape == (1, 32, 32) and sample["B"].shape == (3, 32, 32)
    sample = PairedDataset(aligned, input_nc=1, direction="BtoA", **SMALL)[0]
    assert sample["A"].shape == (1, 32, 32) and sample["B"].shape == (3, 32, 32)
    assert sample["A"].min() >= -1 and sample["A"].max() <= 1


def test_randomness_is_a_function_of_seed_epoch_index(aligned: Path) -> None:
    one, two = PairedDataset(aligned, seed=3, **SMALL), PairedDataset(aligned, seed=3, **SMALL)
    forward = [one[i]["A"] for i in range(len(one))]
    backward = {i: two[i]["A"] for i in reversed(range(len(two)))}
    for i, tensor in enumerate(forward):
        torch.testing.assert_close(tensor, backward[i], atol=0, rtol=0)
    one.set_epoch(1)
    assert any(not torch.equal(one[i]["A"], forward[i]) for i in range(len(one)))
    other_seed = PairedDataset(aligned, seed=4, **SMALL)
    assert any(not torch.equal(other_seed[i]["A"], forward[i]) for i in range(len(one)))


def test_dataloader_workers_do_not_change_samples(aligned: Path) -> None:
    ds = PairedDataset(aligned, seed=1, **SMALL)
    batches = [
        torch.cat([batch["A"] for batch in DataLoader(ds, batch_size=2, num_workers=workers)])
        for workers in (0, 2)
    ]
    torch.testing.assert_close(batches[0], batches[1], atol=0, rtol=0)


def test_shared_crop_and_flip(tmp_path: Path) -> None:
    # A and B identical: any divergence in crop or flip between them would show up.
    ramp = np.tile(np.arange(40, dtype=np.uint8)[None, :, None] * 6, (40, 1, 3))
    Image.fromarray(np.concatenate([ramp, ramp], axis=1)).save(_png(tmp_path / "train" / "r.png"))
    ds = PairedDataset(tmp_path, preprocess="crop", load_size=40, crop_size=24)
    for epoch in range(6):
        ds.set_epoch(epoch)
        torch.testing.assert_close(ds[0]["A"], ds[0]["B"], atol=0, rtol=0)


def test_max_dataset_size(aligned: Path) -> None:
    assert len(PairedDataset(aligned, max_dataset_size=4, **SMALL)) == 4


def test_load_size_below_crop_size(aligned: Path) -> None:
    with pytest.raises(I2IError, match=r"load_size \(16\) must be >= crop_size \(32\)"):
        PairedDataset(aligned, load_size=16, crop_size=32)


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    bad = tmp_path / "train" / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(I2IError, match=r"cannot read image .*broken\.png"):
        PairedDataset(tmp_path, **SMALL)[0]


def test_too_narrow_aligned_image_names_the_file(tmp_path: Path) -> None:
    _png(tmp_path / "train" / "thin.png", w=1, h=8)
    with pytest.raises(I2IError, match=r"thin\.png is 1 px wide"):
        PairedDataset(tmp_path, **SMALL)[0]


def test_odd_width_uses_int_half(tmp_path: Path) -> None:
    _png(tmp_path / "train" / "odd.png", w=9, h=4)
    sample = PairedDataset(tmp_path, preprocess="none", no_flip=True, load_size=4, crop_size=4)[0]
    assert sample["A"].shape == (3, 4, 4) and sample["B"].shape == (3, 4, 4)  # 4 and 5 wide, both -> 4


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    wide = np.zeros((8, 16, 3), np.uint8)
    wide[:, 8:] = 255  # A black, B white; rotated 90 degrees on disk with an EXIF tag to undo it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    Image.fromarray(np.rot90(wide, 1).copy()).save(tmp_path / "r.png")
    _png(tmp_path / "train" / "x.png")
    Image.open(tmp_path / "r.png").save(tmp_path / "train" / "x.png", exif=exif)
    sample = PairedDataset(tmp_path, preprocess="none", no_flip=True, load_size=8, crop_size=8)[0]
    assert sample["A"].shape == (3, 8, 8) and sample["A"].max() == -1 and sample["B"].min() == 1


def test_mismatched_sizes_in_folders_is_a_clear_error(tmp_path: Path) -> None:
    _png(tmp_path / "A" / "x.png", w=8, h=8)
    _png(tmp_path / "B" / "x.png", w=16, h=16)
    with pytest.raises(I2IError, match="differ in size"):
        PairedDataset(tmp_path, preprocess="none", load_size=8, crop_size=8)[0]
    assert PairedDataset(tmp_path, load_size=8, crop_size=8)[0]["B"].shape == (3, 8, 8)
