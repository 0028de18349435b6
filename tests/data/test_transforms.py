"""The reference preprocessing and tensor2im against the golden fixtures, plus params/rng behaviour."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import PIL
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from i2i.data.transforms import get_params, get_transform, tensor2im
from i2i.errors import I2IError, UsageError
from tests.conftest import FIXTURES as SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "cyclegan_pix2pix"


def _manifests(prefix: str) -> list[Path]:
    found = sorted(FIXTURES.glob(f"{prefix}*.json"))
    assert found, f"no {prefix}* fixtures in {FIXTURES}"
    return found


# The fixtures were computed with Pillow 13.0.0, whose bicubic resampling earlier Pillows do not match
# exactly (Pillow 12.3 is up to 10 levels off on prep_none_70x50): the exact comparison needs Pillow 13+.
OLD_PILLOW = int(PIL.__version__.split(".")[0]) < 13


@pytest.mark.skipif(OLD_PILLOW, reason=f"fixtures made with Pillow 13.0.0; this is Pillow {PIL.__version__}")
@pytest.mark.parametrize("manifest", _manifests("prep_"), ids=lambda p: p.stem)
def test_preprocess_fixture(manifest: Path) -> None:
    case = json.loads(manifest.read_text())
    io = load_file(manifest.with_name(f"{case['name']}.io.safetensors"))
    opt, params = case["opt"], case["params"]
    transform = get_transform(
        opt["preprocess"],
        opt["load_size"],
        opt["crop_size"],
        params=params and {"crop_pos": tuple(params["crop_pos"]), "flip": params["flip"]},
        grayscale=case["grayscale"],
        no_flip=opt["no_flip"],
    )
    out = transform(Image.fromarray(io["image_uint8_hwc"].numpy(), "RGB"))
    assert list(out.shape) == case["expected_shape"]
    torch.testing.assert_close(out, io["expected_tensor"], **case["tolerance"])


@pytest.mark.parametrize("manifest", _manifests("t2im_"), ids=lambda p: p.stem)
def test_tensor2im_fixture(manifest: Path) -> None:
    case = json.loads(manifest.read_text())
    io = load_file(manifest.with_name(f"{case['name']}.io.safetensors"))
    out = tensor2im(io["input"])
    assert out.dtype == np.uint8 and list(out.shape) == case["expected_shape"]
    np.testing.assert_array_equal(out, io["expected_uint8_hwc"].numpy())


def _image(w: int = 80, h: int = 60, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "crop", "scale_width_and_crop"])
def test_same_params_give_identical_crops(preprocess: str) -> None:
    image = _image()
    for seed in range(5):
        params = get_params(preprocess, 72, 48, image.size, random.Random(seed))
        a = get_transform(preprocess, 72, 48, params=params)(image)
        b = get_transform(preprocess, 72, 48, params=params)(image.copy())
        assert a.shape == (3, 48, 48)
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_get_params_ranges_and_draw_order() -> None:
    rng, ref = random.Random(7), random.Random(7)
    params = get_params("resize_and_crop", 286, 256, (600, 400), rng)
    assert params == {"crop_pos": (ref.randint(0, 30), ref.randint(0, 30)), "flip": ref.random() > 0.5}
    # scale_width_and_crop: new height = load_size * h // w = 64 * 40 // 80 = 32 < crop, so y is always 0.
    assert all(
        get_params("scale_width_and_crop", 64, 40, (80, 40), random.Random(s))["crop_pos"][1] == 0
        for s in range(20)
    )


def test_params_flip_mirrors_and_no_flip_overrides_it() -> None:
    image = _image(64, 64)
    params = {"crop_pos": (0, 0), "flip": True}
    plain = get_transform("crop", 64, 64, params={"crop_pos": (0, 0), "flip": False})(image)
    flipped = get_transform("crop", 64, 64, params=params)(image)
    torch.testing.assert_close(flipped, plain.flip(-1), atol=0, rtol=0)
    torch.testing.assert_close(get_transform("crop", 64, 64, params=params, no_flip=True)(image), plain)


def test_random_path_is_deterministic_per_seed() -> None:
    image = _image()
    outs = [get_transform("resize_and_crop", 72, 48, rng=random.Random(s))(image) for s in (3, 3, 4)]
    torch.testing.assert_close(outs[0], outs[1], atol=0, rtol=0)
    assert not torch.equal(outs[0], outs[2])
    many = {
        get_transform("resize_and_crop", 72, 48, rng=random.Random(s))(image).sum().item() for s in range(8)
    }
    assert len(many) > 1


def test_random_crop_smaller_than_crop_size_is_a_clear_error() -> None:
    with pytest.raises(I2IError, match="smaller than crop_size"):
        get_transform("crop", 64, 100, rng=random.Random(0))(_image())


def test_unknown_preprocess_suggests_a_mode() -> None:
    with pytest.raises(UsageError, match="did you mean 'resize_and_crop'"):
        get_transform("resize_and_crp", 64, 64)


def test_tensor2im_accepts_a_single_chw_image_and_truncates() -> None:
    t = torch.full((3, 2, 2), 0.999)
    assert tensor2im(t).shape == (2, 2, 3)
    assert tensor2im(t)[0, 0, 0] == 254  # (1.999 / 2) * 255 = 254.87 -> 254
