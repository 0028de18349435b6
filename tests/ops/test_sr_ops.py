"""Super-resolution operations (`i2i.ops.resize`, `i2i.ops.metrics`): MATLAB bicubic resize and the BasicSR
PSNR/SSIM protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from i2i.ops import metrics, resize
from tests.conftest import FIXTURES

ESRGAN = FIXTURES / "esrgan"


def _case(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    return json.loads((ESRGAN / f"{name}.json").read_text()), load_file(ESRGAN / f"{name}.safetensors")


def _smooth(h: int, w: int, c: int = 3) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [np.sin(x / 9 + k) * np.cos(y / 7 - k) for k in range(c)]
    return (0.5 + 0.4 * np.stack(planes, axis=2)).astype(np.float32)


# ------------------------------------------------------------------------------------- golden fixtures


@pytest.mark.parametrize("case", ["down4", "down4_odd", "up2"])
def test_imresize_matches_matlab_fixture(case):
    meta, data = _case("imresize_matlab_public")
    scale, atol = meta["cases"][case]["scale"], meta["tolerance"]["atol"]
    source, expected = data[f"{case}.input_hwc"], data[f"{case}.output_hwc"]

    out = resize.imresize(source, scale)
    assert out.shape == tuple(meta["cases"][case]["output_shape"]) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=atol)

    chw = torch.from_numpy(source).permute(2, 0, 1)
    batch = torch.stack([chw, chw.flip(-1)])
    out_batch = resize.imresize(batch, scale)
    np.testing.assert_allclose(out_batch[0].permute(1, 2, 0).numpy(), expected, rtol=0, atol=atol)
    np.testing.assert_allclose(
        resize.imresize(chw, scale).permute(1, 2, 0).numpy(), expected, rtol=0, atol=atol
    )


@pytest.mark.parametrize("case", ["a", "b"])
def test_metrics_match_basicsr_fixture(case):
    meta, data = _case("metrics_public")
    expected, tol = meta["cases"][case], meta["tolerance"]
    # The fixture stores uint8 RGB; BasicSR's metrics take [0, 255] images, as `metrics.psnr`/`metrics.ssim` do.
    a, b = data[f"{case}.img1_rgb"], data[f"{case}.img2_rgb"]
    for y in (0, 1):
        options = {"crop_border": expected["crop_border"], "test_y_channel": bool(y)}
        assert metrics.psnr(a, b, **options) == pytest.approx(expected[f"psnr_y{y}"], abs=tol["psnr_abs"])
        assert metrics.ssim(a, b, **options) == pytest.approx(expected[f"ssim_y{y}"], abs=tol["ssim_abs"])
        # Float input on the same scale gives the same numbers.
        assert metrics.psnr(a.astype(np.float64), b.astype(np.float64), **options) == pytest.approx(
            expected[f"psnr_y{y}"], abs=tol["psnr_abs"]
        )


# ------------------------------------------------------------------------------------------ properties


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2.0, 3.0])
def test_imresize_keeps_a_constant_image_constant(scale):
    flat = np.full((21, 17, 3), 0.3, np.float32)
    out = resize.imresize(flat, scale)
    np.testing.assert_allclose(out, 0.3, atol=1e-6)
    np.testing.assert_allclose(
        resize.imresize(torch.from_numpy(flat).permute(2, 0, 1), scale).numpy(), 0.3, atol=1e-6
    )


def test_imresize_down_then_up_stays_close_on_a_smooth_image():
    img = _smooth(64, 80)
    round_trip = resize.imresize(resize.imresize(img, 0.5), 2.0)
    assert round_trip.shape == img.shape
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(round_trip - img)[inner].max() < 0.02


def test_imresize_shapes_and_types():
    assert resize.imresize(np.zeros((33, 37, 3), np.float32), 0.25).shape == (9, 10, 3)
    assert resize.imresize(np.zeros((33, 37), np.float64), 0.25).dtype == np.float64
    assert resize.imresize(np.zeros((33, 37), np.float32), 0.25).shape == (9, 10)
    assert resize.imresize(torch.zeros(2, 1, 3, 8, 12, dtype=torch.float64), 0.5).shape == (2, 1, 3, 4, 6)
    # 15 * 0.2 is 3.0000000000000004 in floating point: still 3 pixels.
    assert resize.output_size(15, 0.2) == 3 and resize.imresize(
        np.zeros((15, 15), np.float32), 0.2
    ).shape == (3, 3)
    with pytest.raises(TypeError):
        resize.imresize(np.zeros((8, 8, 3), np.uint8), 0.5)
    with pytest.raises(ValueError):
        resize.imresize(np.zeros((8, 8, 3), np.float32), 0)


def test_imresize_without_antialiasing_samples_more_sharply():
    img = np.zeros((32, 48), np.float32)
    img[:, ::3] = 1.0  # stripes far above the new Nyquist frequency
    # Antialiasing removes them (a flat grey); point-sampling aliases them into strong low-frequency stripes.
    assert np.ptp(resize.imresize(img, 0.25)[2:-2, 2:-2]) < 0.05
    assert np.ptp(resize.imresize(img, 0.25, antialiasing=False)[2:-2, 2:-2]) > 0.1


def test_rgb_to_y_range_and_tensor_agreement():
    rgb = np.array([[[0, 0, 0], [1, 1, 1]]], np.float32)
    y = metrics.rgb_to_y(rgb)
    assert y.shape == (1, 2, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y[0, :, 0], [16 / 255, 235 / 255], atol=1e-6)
    img = _smooth(9, 11)
    tensor_y = metrics.rgb_to_y(torch.from_numpy(img).permute(2, 0, 1)[None])
    assert tensor_y.shape == (1, 1, 9, 11)
    np.testing.assert_allclose(tensor_y[0].permute(1, 2, 0).numpy(), metrics.rgb_to_y(img), atol=1e-7)
    with pytest.raises(ValueError):
        metrics.rgb_to_y(np.zeros((4, 4, 1), np.float32))


def test_mod_crop_numpy_and_tensor():
    assert resize.mod_crop(np.zeros((35, 50, 3)), 4).shape == (32, 48, 3)
    assert resize.mod_crop(np.zeros((35, 50)), 12).shape == (24, 48)
    assert resize.mod_crop(torch.zeros(2, 3, 35, 50), 4).shape == (2, 3, 32, 48)


def test_identical_images_give_infinite_psnr_and_unit_ssim():
    img = (np.random.default_rng(0).random((24, 20, 3)) * 255).astype(np.uint8)
    assert metrics.psnr(img, img, crop_border=2) == float("inf")
    assert metrics.psnr(img, img, test_y_channel=True) == float("inf")
    assert metrics.ssim(img, img, crop_border=2, test_y_channel=True) == pytest.approx(1.0, abs=1e-12)


def test_grey_images_are_compared_on_their_one_channel():
    rng = np.random.default_rng(1)
    a = (rng.random((20, 20)) * 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    assert metrics.psnr(a, b, test_y_channel=True) == metrics.psnr(a[..., None], b[..., None])
    assert metrics.ssim(a, b, test_y_channel=True) == metrics.ssim(a, b)


def test_metric_argument_checks():
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(a, a[:8])
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(a, a, crop_border=3)
