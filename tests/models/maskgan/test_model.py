"""MaskGAN behind the i2i contract: the demo pipeline fixture through i2i's own API, both label modes, the
split encode/render API, compositing, and one-line errors for bad masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import i2i
from i2i.errors import I2IError
from i2i.models.maskgan import pipeline
from tests.models.maskgan.test_networks import MANIFEST, close, load

DEMO = MANIFEST["dmn_demo_pipeline"]["config"]
SETTINGS = {
    "ngf": DEMO["ngf"],
    "n_downsample_global": DEMO["n_downsampling"],
    "n_blocks_global": DEMO["n_blocks"],
    "enc_n_downsample": DEMO["enc_n_downsample"],
    "loadSize": DEMO["loadSize"],
    "feature_scale": 16,
    "ndf": 4,
}


@pytest.fixture(scope="module")
def model():
    sd, _, _, _ = load("dmn_generator")
    m = i2i.load("maskgan", device="cpu", precision="fp32", **SETTINGS)
    m.load_networks({"G": sd})
    return m


@pytest.fixture(scope="module")
def demo():
    _, x, y, _ = load("dmn_demo_pipeline")
    return {k: v.numpy() for k, v in x.items()}, y


def test_demo_preprocessing(demo):
    x, y = demo
    assert tuple(y["pre.image"].shape[2:]) == (32, 32)
    close(pipeline.image_tensor(x["image_u8"], (32, 32)), y["pre.image"])
    for name in ("edit", "src"):
        ids = x[f"mask_{name}_u8"][..., 0]
        values = pipeline.demo_label_values(ids)
        assert torch.equal(values.expand(3, -1, -1), y[f"pre.label_{name}"][0])  # 12.999999 and all
        assert torch.equal(
            pipeline.label_ids(ids, "demo")[0, 0].to(torch.uint8), y[f"pre.label_{name}_ids"][0]
        )
    ids = x["mask_edit_u8"][..., 0]
    assert {7, 13, 14, 15} <= set(np.unique(ids).tolist())  # the fixture exercises the remap
    remapped = pipeline.label_ids(ids, "demo")[0, 0].numpy()
    assert (remapped[ids == 13] == 12).all() and (remapped[ids == 7] == 6).all()
    assert np.array_equal(pipeline.label_ids(ids, "exact")[0, 0].numpy(), ids)


def test_demo_pipeline_end_to_end(model, demo):
    x, y = demo
    style = model.encode_style(x["image_u8"], x["mask_src_u8"])
    result = model.render_work(x["mask_edit_u8"], style)
    assert result.shape == (32, 32, 3)
    assert np.abs(result.astype(int) - y["result_u8"].numpy().astype(int)).max() <= 1
    src, edit = x["mask_src_u8"][..., 0], x["mask_edit_u8"][..., 0]
    with torch.no_grad():
        fake = model.forward_tensor(y["pre.image"], mask=src, target_mask=edit)
        batch = model.forward_tensor(
            y["pre.image"].expand(2, -1, -1, -1),
            mask=torch.from_numpy(src)[None, None].expand(2, -1, -1, -1),
            target_mask=torch.from_numpy(edit)[None, None].expand(2, -1, -1, -1),
        )
    close(fake, y["fake"])
    close(batch, y["fake"].expand(2, -1, -1, -1))  # tensors of ids get the demo's label handling too


def test_translate_at_input_size_and_label_modes(model, demo):
    x, y = demo
    out = model.translate(x["image_u8"], mask=x["mask_src_u8"], target_mask=x["mask_edit_u8"], as_array=True)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    exact = i2i.load("maskgan", device="cpu", precision="fp32", label_mode="exact", **SETTINGS)
    exact.load_networks({"G": model.networks["G"].state_dict()})
    other = exact.translate(
        x["image_u8"], mask=x["mask_src_u8"], target_mask=x["mask_edit_u8"], as_array=True
    )
    assert not np.array_equal(out, other)  # ids 7/13/14/15 reach other channels


def test_encode_once_render_many(model, demo):
    x, _ = demo
    style = model.encode_style(x["image_u8"], x["mask_src_u8"])
    again = model.encode_style(x["image_u8"], x["mask_src_u8"])
    assert again.code is style.code  # cached: the encoders did not run again
    rendered = model.render(x["mask_edit_u8"], style, as_array=True)
    translated = model.translate(
        x["image_u8"], mask=x["mask_src_u8"], target_mask=x["mask_edit_u8"], as_array=True
    )
    assert np.array_equal(rendered, translated)
    reconstruction = model.translate(x["image_u8"], mask=x["mask_src_u8"], as_array=True)
    assert np.array_equal(reconstruction, model.render(x["mask_src_u8"], style, as_array=True))


def test_composite_keeps_the_unedited_pixels(model):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    source = np.zeros((32, 32), np.uint8)
    source[8:24, 8:24] = 1
    target = source.copy()
    target[12:16, 12:16] = 13
    out = model.translate(image, mask=source, target_mask=target, composite="changed", as_array=True)
    assert np.array_equal(out[:4], image[:4]) and np.array_equal(out[28:], image[28:])
    assert not np.array_equal(out[12:16, 12:16], image[12:16, 12:16])
    with pytest.raises(I2IError, match="composite"):
        model.translate(image, mask=source, composite="all")


def test_palette_masks_equal_id_masks(model):
    from i2i.data.masks import PALETTE

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ids = rng.integers(0, 19, (32, 32)).astype(np.uint8)
    a = model.translate(image, mask=ids, target_mask=ids, as_array=True)
    b = model.translate(image, mask=PALETTE[ids], target_mask=np.repeat(ids[..., None], 3, 2), as_array=True)
    assert np.array_equal(a, b)


def test_masks_of_half_size_and_non_square_photos(model):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ids = rng.integers(0, 19, (32, 32)).astype(np.uint8)  # CelebA-HQ: 1024 px photos, 512 px masks
    assert model.translate(image, mask=ids, as_array=True).shape == (64, 64, 3)
    wide = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert model.translate(wide, mask=np.zeros((40, 60), np.uint8), as_array=True).shape == (40, 60, 3)


@pytest.mark.parametrize(
    ("mask", "target", "message"),
    [
        (np.zeros((32, 48), np.uint8), None, "the mask is 48x32 but the image is 32x32"),
        (np.full((32, 32), 19, np.uint8), None, "ids 19..19"),
        (np.full((32, 32, 3), (1, 2, 3), np.uint8), None, r"colour \(1, 2, 3\) at x=0, y=0 is not in the"),
        (np.zeros((32, 32), np.uint8), "missing.png", "mask missing.png does not exist"),
        (np.zeros((32, 32), np.uint8), np.zeros((16, 32), np.uint8), "the target mask is 32x16"),
    ],
)
def test_bad_masks_are_one_line_errors(model, mask, target, message):
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(I2IError, match=message) as info:
        model.translate(image, mask=mask, target_mask=target)
    assert "\n" not in str(info.value)


def test_without_a_mask_the_parser_is_needed(model, tmp_path):
    g_only = i2i.load("maskgan", device="cpu", precision="fp32", **SETTINGS)
    g_only.load_networks({"G": model.networks["G"].state_dict()})
    with pytest.raises(I2IError, match="needs network G, parser.*give the photo's mask|needs network parser"):
        g_only.translate(np.zeros((32, 32, 3), np.uint8))
    parser_only = i2i.load("maskgan", device="cpu", precision="fp32", **SETTINGS)
    parser_only.load_networks({"parser": parser_only.networks["parser"].state_dict()})
    with pytest.raises(I2IError, match="needs network G"):
        parser_only.translate(np.zeros((32, 32, 3), np.uint8), mask=np.zeros((32, 32), np.uint8))
    ids = parser_only.parse(np.zeros((40, 60, 3), np.uint8))
    assert ids.shape == (40, 60) and ids.dtype == np.uint8 and ids.max() < 19
