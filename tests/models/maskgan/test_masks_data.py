"""The `masks` layout (`i2i.data.masks`): synthetic faces, the check's problems, the training dataset, and
the label-map conventions (ids, palette, BiSeNet order)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from i2i.data import masks
from i2i.data.layouts import check_layout, make_for_layout
from i2i.errors import I2IError


def test_synthetic_faces_check_clean_and_load(tmp_path):
    root = make_for_layout("masks", tmp_path / "d", count=3, size=32)
    report = check_layout(root, "masks")
    assert report.ok and report.summary == "masks dataset: 3 images with masks"
    item = masks.MaskDataset(root, 16)[0]
    assert item["image"].shape == (3, 16, 16) and item["label"].shape == (1, 16, 16)
    assert item["image"].min() >= -1 and item["image"].max() <= 1 and item["label"].max() < 19
    ids = masks.read_mask(root / "masks" / "00001.png")
    assert {1, 13, 17, 18} <= set(np.unique(ids).tolist())  # skin, hair, neck, cloth


def test_check_lists_every_problem(tmp_path):
    root = make_for_layout("masks", tmp_path / "d", count=3, size=32)
    (root / "masks" / "00001.png").unlink()
    Image.fromarray(np.full((32, 32), 30, np.uint8), "L").save(root / "masks" / "00002.png")
    masks.write_mask(root / "masks" / "00003.png", np.zeros((32, 16), np.uint8))
    problems = "\n".join(check_layout(root, "masks").problems)
    assert "1 image without a mask" in problems and "00001" in problems
    assert "holds ids 30..30" in problems
    assert "00003.png is 16x32 but its image is 32x32" in problems
    assert "does not exist" in check_layout(tmp_path / "nowhere", "masks").problems[0]
    (root / "masks" / "00002.png").rename(root / "masks" / "other.png")
    (root / "masks" / "00003.png").unlink()
    with pytest.raises(I2IError, match="no image in .* has a mask of the same name"):
        masks.find_pairs(root)


def test_reading_ids_colours_and_grey_rgb(tmp_path):
    ids = np.arange(19, dtype=np.uint8).reshape(1, 19).repeat(3, 0)
    Image.fromarray(masks.colorize(ids)).save(tmp_path / "c.png")
    Image.fromarray(np.repeat(ids[..., None], 3, 2)).save(tmp_path / "g.png")  # cv2.imread's view
    Image.fromarray(ids, "L").save(tmp_path / "l.png")
    for name in ("c.png", "g.png", "l.png"):
        assert np.array_equal(masks.read_mask(tmp_path / name), ids)
    with pytest.raises(I2IError, match=r"must be whole class ids"):
        masks.to_ids(np.full((2, 2), 1.5))
    with pytest.raises(I2IError, match="does not exist"):
        masks.read_mask(tmp_path / "none.png")


def test_orders_and_merging():
    assert masks.BISENET_TO_MASKGAN == (0, 1, 6, 7, 4, 5, 3, 8, 9, 15, 2, 10, 11, 12, 17, 16, 18, 13, 14)
    assert masks.remap(np.array([[17, 2]]), "bisenet").tolist() == [[13, 6]]
    with pytest.raises(I2IError, match="unknown label order"):
        masks.remap(np.zeros((1, 1)), "segformer")
    with pytest.raises(I2IError, match="maps only ids 0..18"):
        masks.remap(np.array([[25]]), "bisenet")
    skin, cloth = np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)
    skin[:2], cloth[1:3] = 255, 255
    merged = masks.merge_attributes({"cloth": cloth, "skin": skin})
    assert merged[:, 0].tolist() == [1, 18, 18, 0]
    with pytest.raises(I2IError, match="unknown attribute"):
        masks.merge_attributes({"beard": skin})
