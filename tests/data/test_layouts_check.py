"""check_layout (what `i2i data check` reports) and the errors of find_unaligned."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.data.layouts import LayoutReport, check_layout
from i2i.data.paired import find_paired, make_paired
from i2i.data.unaligned import find_unaligned
from i2i.errors import I2IError, UsageError


def _png(path: Path, w: int = 8, h: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)
    return path


def _unaligned(root: Path, a: int = 2, b: int = 2) -> Path:
    for i in range(a):
        _png(root / "trainA" / f"a{i}.png")
    for i in range(b):
        _png(root / "trainB" / f"b{i}.png")
    return root


def _one_problem(report: LayoutReport, *fragments: str) -> str:
    assert len(report.problems) == 1, report.problems
    for fragment in fragments:
        assert fragment in report.problems[0]
    return report.problems[0]


# ------------------------------------------------------------------------------------------------ general


def test_unknown_layout_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError,
        match="unknown dataset layout .pairs.*known: attributes, domains, faces, images, masks, paired, unaligned",
    ):
        check_layout(tmp_path, "pairs")


@pytest.mark.parametrize("layout", ["paired", "unaligned"])
def test_missing_root_and_file_root(tmp_path: Path, layout: str) -> None:
    report = check_layout(tmp_path / "nope", layout)
    _one_problem(report, f"{tmp_path / 'nope'} does not exist")
    assert not report.ok and report.summary == f"{layout} dataset: no usable images in {tmp_path / 'nope'}"
    _png(tmp_path / "x.png")
    _one_problem(check_layout(tmp_path / "x.png", layout), "is a file")


# ---------------------------------------------------------------------------------------------- unaligned


def test_unaligned_ok_with_summary(tmp_path: Path) -> None:
    root = _unaligned(tmp_path, a=3, b=2)
    _png(root / "testA" / "t.png")
    _png(root / "testB" / "t.png")
    report = check_layout(root, "unaligned")
    assert report == LayoutReport(
        [], [], "unaligned dataset: trainA 3 images, trainB 2 images, testA 1 image, testB 1 image"
    )
    assert report.ok


def test_unaligned_missing_train_b(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    report = check_layout(tmp_path, "unaligned")
    _one_problem(report, f"{tmp_path / 'trainB'} does not exist, but {tmp_path / 'trainA'} does")
    assert report.summary == "unaligned dataset: trainA 1 image"


def test_unaligned_empty_folders(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    (tmp_path / "trainB").mkdir()
    _one_problem(check_layout(tmp_path, "unaligned"), f"{tmp_path / 'trainB'} is empty")
    (tmp_path / "trainA" / "a.png").unlink()
    problems = check_layout(tmp_path, "unaligned").problems
    assert len(problems) == 2 and "trainA is empty" in problems[0] and "trainB is empty" in problems[1]


def test_unaligned_only_non_image_files_is_a_problem(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    (tmp_path / "trainB").mkdir()
    for name in ("a.psd", "b.txt", "c.csv", "d.json"):
        (tmp_path / "trainB" / name).write_text("x")
    problem = _one_problem(check_layout(tmp_path, "unaligned"), "trainB is empty", "only non-image files")
    assert "a.psd, b.txt, c.csv (and 1 more)" in problem and ".png" in problem


def test_mixed_folder_is_a_note_naming_up_to_three_files(tmp_path: Path) -> None:
    root = _unaligned(tmp_path)
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "e.txt"):
        (root / "trainA" / name).write_text("x")
    (root / "trainB" / "notes.md").write_text("x")
    (root / "trainB" / ".DS_Store").write_text("x")  # hidden files are not mentioned
    report = check_layout(root, "unaligned")
    assert report.ok
    assert report.notes == [
        f"{root / 'trainA'}: 5 non-image files ignored: a.txt, b.txt, c.txt (and 2 more)",
        f"{root / 'trainB'}: 1 non-image file ignored: notes.md",
    ]


def test_unreadable_images_are_problems_naming_each_file(tmp_path: Path) -> None:
    root = _unaligned(tmp_path)
    (root / "trainB" / "broken.png").write_bytes(b"not a png")
    good = io.BytesIO()
    Image.new("RGB", (8, 8)).save(good, format="JPEG")
    (root / "trainB" / "truncated.jpg").write_bytes(good.getvalue()[:4])
    report = check_layout(root, "unaligned")
    assert len(report.problems) == 2
    assert report.problems[0].startswith(f"{root / 'trainB' / 'broken.png'} is not a readable image")
    assert report.problems[1].startswith(f"{root / 'trainB' / 'truncated.jpg'} is not a readable image")


def test_many_unreadable_images_are_summarised(tmp_path: Path) -> None:
    root = _unaligned(tmp_path)
    for i in range(8):
        (root / "trainA" / f"bad{i}.png").write_bytes(b"")
    problems = check_layout(root, "unaligned").problems
    assert len(problems) == 6 and problems[-1] == f"{root / 'trainA'}: 3 more unreadable or too narrow images"


def test_test_a_without_test_b(tmp_path: Path) -> None:
    root = _unaligned(tmp_path)
    _png(root / "testA" / "t.png")
    _one_problem(check_layout(root, "unaligned"), f"{root / 'testB'} does not exist, but {root / 'testA'}")


def test_paired_layout_given_as_unaligned(tmp_path: Path) -> None:
    root = make_paired(tmp_path, size=16, split_counts={"train": 2, "test": 1})
    problem = _one_problem(
        check_layout(root, "unaligned"),
        f"{root / 'trainA'} does not exist; found folders: test, train (a paired pix2pix layout)",
        "Expected an unpaired (CycleGAN) dataset:",
        f"{root}/trainA/0001.jpg",
        f"{root}/trainB/0001.jpg",
    )
    assert problem == str(pytest.raises(I2IError, find_unaligned, root).value)


def test_many_files_are_capped(tmp_path: Path) -> None:
    root = _unaligned(tmp_path, a=0, b=1)
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    (root / "trainA").mkdir()
    for i in range(2500):
        (root / "trainA" / f"{i:05d}.png").write_bytes(png.getvalue())
    (root / "trainA" / "99999.png").write_bytes(b"broken, but past the cap")
    report = check_layout(root, "unaligned")
    assert report.ok
    assert report.notes == [f"{root / 'trainA'}: checked the first 2000 of 2501 images"]
    assert report.summary == "unaligned dataset: trainA 2501 images, trainB 1 image"
    assert len(check_layout(root, "unaligned", max_checked=3000).problems) == 1


# ------------------------------------------------------------------------------------------ find_unaligned


def test_find_unaligned_empty_train_b_is_one_error(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    (tmp_path / "trainB").mkdir()
    with pytest.raises(I2IError) as err:
        find_unaligned(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'trainB'} is empty: ")
    assert f"{tmp_path}/trainA/0001.jpg" in message and message.count("\n") == 2


def test_find_unaligned_missing_train_b(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    with pytest.raises(I2IError, match=r"trainB does not exist; found folders: trainA\. Expected"):
        find_unaligned(tmp_path)


def test_find_unaligned_only_non_image_files(tmp_path: Path) -> None:
    _png(tmp_path / "trainA" / "a.png")
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainB" / "b.psd").write_text("x")
    with pytest.raises(
        I2IError, match=r"trainB is empty: it holds only non-image files \(b\.psd\), which are ignored"
    ):
        find_unaligned(tmp_path)


def test_find_unaligned_names_both_empty_folders_at_once(tmp_path: Path) -> None:
    (tmp_path / "trainA").mkdir()
    (tmp_path / "trainB").mkdir()
    with pytest.raises(I2IError, match=r"trainA is empty: .*; .*trainB is empty: "):
        find_unaligned(tmp_path)


# ------------------------------------------------------------------------------------------------- paired


def test_paired_aligned_ok(tmp_path: Path) -> None:
    root = make_paired(tmp_path, size=16, split_counts={"train": 3, "val": 1, "test": 2})
    report = check_layout(root, "paired")
    assert report == LayoutReport(
        [], [], "paired dataset (A|B side by side): train 3 images, val 1 image, test 2 images"
    )


@pytest.mark.parametrize("style", ["A/train", "train/A", "A"])
def test_paired_folders_ok(tmp_path: Path, style: str) -> None:
    for side in "AB":
        folder = {"A/train": tmp_path / side / "train", "train/A": tmp_path / "train" / side}.get(
            style, tmp_path / side
        )
        for name in ("x", "y"):
            _png(folder / f"{name}.png")
    report = check_layout(tmp_path, "paired")
    assert report.ok and report.summary == "paired dataset (A/ + B/ by file name): train 2 pairs"
    assert len(find_paired(tmp_path)) == 2


def test_unaligned_layout_given_as_paired(tmp_path: Path) -> None:
    root = _unaligned(tmp_path)
    _png(root / "testA" / "t.png")
    report = check_layout(root, "paired")
    assert report.summary == f"paired dataset: no usable images in {root}"
    problem = _one_problem(
        report,
        "found folders: testA, trainA, trainB (an unpaired CycleGAN layout)",
        "Expected one of:",
        f"{root}/train/0001.jpg",
        f"{root}/A/train/0001.jpg + {root}/B/train/0001.jpg",
    )
    assert problem == str(pytest.raises(I2IError, find_paired, root).value)


def test_paired_empty_root_and_images_in_root(tmp_path: Path) -> None:
    _one_problem(check_layout(tmp_path, "paired"), "found 0 images", "Expected one of:")
    _png(tmp_path / "x.png")
    _one_problem(check_layout(tmp_path, "paired"), "found 1 images directly in")


def test_paired_without_train_split(tmp_path: Path) -> None:
    _png(tmp_path / "test" / "x.png", w=16)
    report = check_layout(tmp_path, "paired")
    _one_problem(report, "no paired 'train' data", "found folders: test")
    assert report.summary == "paired dataset (A|B side by side): test 1 image"
    for side in "AB":
        _png(tmp_path / "folders" / side / "test" / "x.png")
    _one_problem(
        check_layout(tmp_path / "folders", "paired"), "found phase folders test of A and B, but no train"
    )


def test_paired_narrow_images(tmp_path: Path) -> None:
    _png(tmp_path / "train" / "ok.png", w=2)
    _png(tmp_path / "train" / "thin.png", w=1)
    _one_problem(check_layout(tmp_path, "paired"), f"{tmp_path / 'train' / 'thin.png'} is 1 px wide")


def test_paired_empty_split_and_notes(tmp_path: Path) -> None:
    _png(tmp_path / "train" / "x.png", w=16)
    (tmp_path / "train" / "readme.txt").write_text("x")
    (tmp_path / "val").mkdir()
    report = check_layout(tmp_path, "paired")
    _one_problem(report, f"{tmp_path / 'val'} is empty")
    assert report.notes == [f"{tmp_path / 'train'}: 1 non-image file ignored: readme.txt"]


def test_paired_unmatched_names(tmp_path: Path) -> None:
    for name in ("1", "2", "3"):
        _png(tmp_path / "A" / f"{name}.png")
    for name in ("2", "3", "b0", "b1", "b2"):
        _png(tmp_path / "B" / f"{name}.png")
    report = check_layout(tmp_path, "paired")
    _one_problem(report, "4 images in", "have no partner", "A/1, B/b0, B/b1 (and 1 more)")
    assert report.summary == "paired dataset (A/ + B/ by file name): train 2 pairs"


def test_paired_no_names_match_and_ambiguous_names(tmp_path: Path) -> None:
    _png(tmp_path / "A" / "0001.png")
    _png(tmp_path / "B" / "img_0001.png")
    _one_problem(check_layout(tmp_path, "paired"), "no file names match")
    _png(tmp_path / "B" / "img_0001.jpg")
    _one_problem(check_layout(tmp_path, "paired"), "same name")


def test_paired_a_without_b(tmp_path: Path) -> None:
    _png(tmp_path / "A" / "x.png")
    _one_problem(check_layout(tmp_path, "paired"), f"found {tmp_path / 'A'} but no {tmp_path / 'B'}")
    _png(tmp_path / "B" / "x.png")
    (tmp_path / "A" / "x.png").unlink()
    _one_problem(check_layout(tmp_path, "paired"), f"{tmp_path / 'A'} is empty")
