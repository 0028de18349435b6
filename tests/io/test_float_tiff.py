"""Floating-point colour TIFFs (as scientific and HDR tools write them) are read, kept at 16 bits; values
outside [0, 1] are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from i2i.errors import I2IError
from i2i.io.image_read import read_image


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("channels", [3, 4])
def test_float_colour_tiff_is_read(tmp_path, dtype, channels):
    values = np.random.default_rng(0).random((5, 7, channels)).astype(dtype)
    tifffile.imwrite(tmp_path / "f.tif", values, photometric="rgb")
    image = read_image(tmp_path / "f.tif")
    assert image.bit_depth == 16 and image.pixels.shape == (5, 7, 3)
    np.testing.assert_allclose(image.pixels, values[..., :3].astype(np.float32), atol=1e-6)
    assert (image.alpha is not None) == (channels == 4)


def test_float_tiff_out_of_range_is_one_line(tmp_path):
    tifffile.imwrite(tmp_path / "hdr.tif", np.full((4, 4, 3), 2.5, np.float32), photometric="rgb")
    with pytest.raises(I2IError, match="outside \\[0, 1\\]"):
        read_image(tmp_path / "hdr.tif")
