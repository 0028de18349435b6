"""The one PSNR/SSIM (`i2i.ops.metrics`) on both value ranges: [0, 255] (BasicSR's protocol) and [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

from i2i.ops import metrics


def test_the_value_range_is_a_parameter():
    rng = np.random.default_rng(3)
    a = rng.random((24, 24, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    assert metrics.psnr(a, b, data_range=1.0) == pytest.approx(10 * np.log10(1 / mse), abs=1e-9)
    assert metrics.psnr(a * 255, b * 255) == pytest.approx(metrics.psnr(a, b, data_range=1.0), abs=1e-4)
    assert metrics.ssim(a * 255, b * 255) == pytest.approx(metrics.ssim(a, b, data_range=1.0), abs=1e-6)
    y255 = metrics.psnr(a * 255, b * 255, test_y_channel=True)
    assert metrics.psnr(a, b, data_range=1.0, test_y_channel=True) == pytest.approx(y255, abs=1e-3)


def test_a_grey_image_is_compared_with_each_colour_channel():
    grey = np.full((12, 12, 1), 0.5, np.float32)
    colour = np.concatenate([grey, grey, grey + 0.1], axis=2)
    assert np.isfinite(metrics.psnr(grey, colour, data_range=1.0))
