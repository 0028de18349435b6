"""`i2i translate --model maskgan` with masks (files and folders of matching names), and `i2i mask ...`
round trips; bad masks are one line and a non-zero exit."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data import masks
from i2i.models.maskgan import networks as N

# `parse` detects the file's model: `sr` imports spandrel (and torch._dynamo), which fails under the
# conftest's monkeypatched torch.backends.mps.is_available; imported here first, before any test patches it.
if importlib.util.find_spec("spandrel") is not None:
    import spandrel  # noqa: F401

runner = CliRunner()
RNG = np.random.default_rng(0)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "latest_net_G.pth"
    torch.save(N.GlobalGenerator(19, 3, 4, 2, 1, 4).state_dict(), path)
    return path


def _face(path, size=(32, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _mask(path, ids):
    return masks.write_mask(path, ids)


def _ids(size=(32, 32)):
    return RNG.integers(0, 19, (size[1], size[0])).astype(np.uint8)


def _translate(weights, *args):
    return invoke(
        "translate",
        "--model",
        "maskgan",
        "--weights",
        weights,
        "--set",
        "loadSize=32",
        "--set",
        "ndf=4",
        "--set",
        "feature_scale=16",
        "--no-progress",
        *args,
    )


def test_translate_a_file_and_a_folder(tmp_path, weights):
    face, ids, edited = _face(tmp_path / "face.png"), _ids(), _ids()
    _mask(tmp_path / "m.png", ids)
    _mask(tmp_path / "t.png", edited)
    result = _translate(
        weights,
        tmp_path / "face.png",
        tmp_path / "out",
        "--mask",
        tmp_path / "m.png",
        "--target-mask",
        tmp_path / "t.png",
    )
    assert result.exit_code == 0, result.output
    single = np.asarray(Image.open(tmp_path / "out" / "face.png"))
    assert single.shape == (32, 32, 3)

    for name in ("a", "b"):
        _face(tmp_path / "faces" / f"{name}.jpg")
        _mask(tmp_path / "masks" / f"{name}.png", ids)
        _mask(tmp_path / "edits" / f"{name}.png", edited)
    Image.open(face).save(tmp_path / "faces" / "a.png")  # a.png and a.jpg: both take masks/a.png
    result = _translate(
        weights,
        tmp_path / "faces",
        tmp_path / "out2",
        "--mask",
        tmp_path / "masks",
        "--target-mask",
        tmp_path / "edits",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["a.jpg", "a.png", "b.jpg"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out2" / "a.png")), single)


def test_missing_and_bad_masks_fail_in_one_line(tmp_path, weights):
    _face(tmp_path / "faces" / "a.png")
    _face(tmp_path / "faces" / "b.png")
    _mask(tmp_path / "masks" / "a.png", _ids())
    _mask(tmp_path / "masks" / "b.png", _ids())
    _mask(tmp_path / "edits" / "a.png", _ids())
    result = _translate(
        weights,
        tmp_path / "faces",
        tmp_path / "out",
        "--mask",
        tmp_path / "masks",
        "--target-mask",
        tmp_path / "edits",
    )
    assert result.exit_code != 0
    assert "has no file for b.png" in result.output and (tmp_path / "out" / "a.png").is_file()
    _mask(tmp_path / "small.png", _ids((16, 32)))
    result = _translate(
        weights, tmp_path / "faces" / "a.png", tmp_path / "o.png", "--mask", tmp_path / "small.png"
    )
    assert result.exit_code != 0 and "the mask is 16x32 but the image is 32x32" in result.output
    result = _translate(
        weights,
        tmp_path / "faces" / "a.png",
        tmp_path / "o.png",
        "--mask",
        tmp_path / "masks" / "a.png",
        "--target-mask",
        tmp_path / "nope.png",
    )
    assert result.exit_code != 0 and "nope.png does not exist" in result.output
    result = _translate(weights, tmp_path / "faces" / "a.png", tmp_path / "o.png")
    assert result.exit_code != 0 and "parser" in result.output


def test_label_mode_is_a_setting(tmp_path, weights):
    _face(tmp_path / "a.png")
    ids = np.full((32, 32), 13, np.uint8)  # hair: the demo feeds it as l_lip
    _mask(tmp_path / "m.png", ids)
    outputs = []
    for mode in ("demo", "exact"):
        result = _translate(
            weights,
            tmp_path / "a.png",
            tmp_path / f"{mode}.png",
            "--mask",
            tmp_path / "m.png",
            "--label-mode",
            mode,
        )
        assert result.exit_code == 0, result.output
        outputs.append(np.asarray(Image.open(tmp_path / f"{mode}.png")))
    assert not np.array_equal(*outputs)


def test_colorize_decolorize_round_trip(tmp_path):
    ids = _ids((24, 16))
    _mask(tmp_path / "ids" / "x.png", ids)
    assert invoke("mask", "colorize", tmp_path / "ids", tmp_path / "colour").exit_code == 0
    coloured = np.asarray(Image.open(tmp_path / "colour" / "x.png"))
    assert np.array_equal(coloured, masks.PALETTE[ids])
    assert invoke("mask", "decolorize", tmp_path / "colour" / "x.png", tmp_path / "back.png").exit_code == 0
    back = Image.open(tmp_path / "back.png")
    assert back.mode == "L" and np.array_equal(np.asarray(back), ids)
    coloured = coloured.copy()
    coloured[3, 5] = (1, 2, 3)
    Image.fromarray(coloured).save(tmp_path / "painted.png")
    result = invoke("mask", "decolorize", tmp_path / "painted.png", tmp_path / "p.png")
    assert (
        result.exit_code != 0
        and "colour (1, 2, 3) at x=5, y=3 is not in the MaskGAN palette" in result.output
    )


def test_remap_from_bisenet(tmp_path):
    bisenet = np.arange(19, dtype=np.uint8).reshape(1, 19).repeat(2, 0)
    Image.fromarray(bisenet, "L").save(tmp_path / "b.png")
    assert invoke("mask", "remap", "--from", "bisenet", tmp_path / "b.png", tmp_path / "m.png").exit_code == 0
    mapped = np.asarray(Image.open(tmp_path / "m.png"))[0]
    assert [masks.LABELS[i] for i in mapped] == list(masks.BISENET_LABELS)


def test_merge_paints_in_the_official_order(tmp_path):
    anno = tmp_path / "anno" / "0"
    anno.mkdir(parents=True)
    skin = np.zeros((8, 8), np.uint8)
    skin[2:6, 2:6] = 255
    hair = np.zeros((8, 8), np.uint8)
    hair[:4] = 255
    Image.fromarray(hair).save(anno / "00000_hair.png")
    Image.fromarray(skin).save(anno / "00000_skin.png")
    Image.fromarray(skin).save(anno / "00001_nose.png")
    assert invoke("mask", "merge", tmp_path / "anno", tmp_path / "merged").exit_code == 0
    merged = np.asarray(Image.open(tmp_path / "merged" / "0.png"))
    assert merged[3, 3] == 13 and merged[5, 5] == 1 and merged[7, 7] == 0  # hair (13) wins over skin (1)
    assert np.asarray(Image.open(tmp_path / "merged" / "1.png"))[3, 3] == 2


def test_parse_with_parser_weights(tmp_path):
    torch.manual_seed(0)
    torch.save(N.UNet(16).state_dict(), tmp_path / "model.pth")
    _face(tmp_path / "p" / "a.png", (48, 32))
    result = invoke(
        "mask",
        "parse",
        "--weights",
        tmp_path / "model.pth",
        "--device",
        "cpu",
        tmp_path / "p",
        tmp_path / "m",
    )
    assert result.exit_code == 0, result.output
    ids = np.asarray(Image.open(tmp_path / "m" / "a.png"))
    assert ids.shape == (32, 48) and ids.max() < 19
