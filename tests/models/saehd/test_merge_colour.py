"""Colour transfer and mask modifiers of the SAEHD merge (`i2i.models.saehd.colour`, `merge.modify_mask`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from i2i.errors import UsageError
from i2i.models.saehd import colour
from i2i.models.saehd.merge import MergeOptions, modifier_pixels, modify_mask, select_mask


def _images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = (0.2 + 0.6 * rng.random((16, 16, 3))).astype(np.float32)
    reference = (0.1 + 0.3 * rng.random((16, 16, 3)) * np.array([1.0, 0.5, 0.8])).astype(np.float32)
    return image, reference


def test_lab_conversion_matches_known_values():
    rgb = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    lab = colour.rgb_to_lab(rgb)
    expected = [[100.0, 0.0, 0.0], [53.24, 80.09, 67.20], [32.30, 79.19, -107.86], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(lab, expected, atol=0.02)
    grid = np.random.default_rng(1).random((50, 3))
    np.testing.assert_allclose(colour.lab_to_rgb(colour.rgb_to_lab(grid)), grid, atol=1e-5)


def test_rct_is_reinhard_in_lab_within_the_masks():
    image, reference = _images()
    image_mask = np.zeros((16, 16), np.float32)
    image_mask[2:12, 3:14] = 1.0
    reference_mask = np.zeros((16, 16), np.float32)
    reference_mask[5:16, 0:9] = 0.8
    out = colour.rct(image, reference, image_mask, reference_mask)

    # by hand: L*a*b* statistics of the selected pixels, per channel
    lab, ref_lab = colour.rgb_to_lab(image), colour.rgb_to_lab(reference)
    own = lab[image_mask >= 0.5]
    ref = ref_lab[reference_mask >= 0.5]
    expected = np.empty_like(lab)
    for c in range(3):
        expected[..., c] = (lab[..., c] - own[:, c].mean()) / own[:, c].std() * ref[:, c].std() + ref[
            :, c
        ].mean()
    expected = np.clip(colour.lab_to_rgb(expected), 0, 1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # the transferred selection has the reference's statistics (where nothing was clipped)
    moved = colour.rgb_to_lab(out)[image_mask >= 0.5]
    np.testing.assert_allclose(moved.mean(axis=0), ref.mean(axis=0), atol=0.5)
    assert out.dtype == np.float32 and out.shape == image.shape


def test_rct_onto_itself_is_the_identity_and_empty_masks_change_nothing():
    image, reference = _images(2)
    np.testing.assert_allclose(colour.rct(image, image), image, atol=1e-5)
    empty = np.zeros((16, 16), np.float32)
    np.testing.assert_array_equal(colour.rct(image, reference, empty, empty), image)


@pytest.mark.parametrize("name", ["lct", "idt"])
def test_other_transfers_move_the_statistics_towards_the_reference(name):
    image, reference = _images(3)
    out = colour.transfer(name, image, reference)
    before = np.abs(image.mean((0, 1)) - reference.mean((0, 1))).max()
    after = np.abs(out.mean((0, 1)) - reference.mean((0, 1))).max()
    assert after < before / 10
    assert np.abs(out.std((0, 1)) - reference.std((0, 1))).max() < 0.01


def test_lct_matches_the_reference_covariance():
    image, reference = _images(4)
    out = colour.lct(image, reference).astype(np.float64).reshape(-1, 3)
    np.testing.assert_allclose(
        np.cov(out.T), np.cov(reference.reshape(-1, 3).astype(np.float64).T), atol=2e-4
    )


def test_none_and_unknown_transfer():
    image, reference = _images(5)
    np.testing.assert_array_equal(colour.transfer("none", image, reference), image)
    with pytest.raises(ValueError, match="unknown colour transfer"):
        colour.transfer("mkl", image, reference)


def _disc(size: int = 64, radius: float = 20) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= radius**2).float()[None, None]


def test_erode_is_monotonic_and_negative_erode_dilates():
    mask = _disc()
    areas = [modify_mask(mask, erode=e).sum().item() for e in (-6, -3, 0, 3, 6, 12)]
    assert all(a > b for a, b in zip(areas, areas[1:], strict=False))
    assert torch.equal(modify_mask(mask), mask)
    grown = modify_mask(mask, erode=-3)
    assert torch.all(grown >= mask)


def test_blur_feathers_inwards_monotonically():
    mask = _disc(112, 44)
    previous_area, previous_soft = mask.sum().item(), 0
    for blur in (4, 8, 16, 24):
        blurred = modify_mask(mask, blur=blur)
        assert torch.all(blurred <= mask + 1e-6)  # never past the unblurred mask
        soft = int(((blurred > 0) & (blurred < 1)).sum())
        area = blurred.sum().item()
        assert soft > previous_soft and area < previous_area
        previous_area, previous_soft = area, soft
    assert float(modify_mask(mask, blur=8)[0, 0, 56, 56]) == 1.0  # the centre stays opaque


def test_modifiers_scale_with_the_resolution():
    assert modifier_pixels(50, 256) == pytest.approx(12.8)
    assert modifier_pixels(50, 128) == pytest.approx(6.4)


def test_mask_modes():
    prd, dst = torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.8)
    assert torch.allclose(select_mask("learned-prd*learned-dst", prd, dst), torch.full_like(prd, 0.4))
    assert torch.equal(select_mask("learned-prd+learned-dst", prd, dst), torch.ones_like(prd))
    assert torch.equal(select_mask("full", prd, dst), torch.ones_like(prd))
    assert torch.equal(select_mask("learned-dst", prd, dst), dst)
    hull = torch.zeros_like(prd)
    assert torch.equal(select_mask("dst", prd, dst, hull), hull)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"mask_mode": "xseg"}, "mask_mode='xseg' is not one of"),
        ({"erode": 401}, "erode=401 is outside -400..400"),
        ({"blur": -1}, "blur=-1 is outside 0..400"),
        ({"color_transfer": "mkl"}, "color_transfer='mkl' is not one of"),
    ],
)
def test_options_out_of_range_are_one_line(settings, message):
    with pytest.raises(UsageError, match=message):
        MergeOptions(**settings).check()
