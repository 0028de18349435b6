"""The parallel PNG encoder: every channel count and bit depth decodes to the same pixels (by Pillow and by
i2i's reader), across band boundaries, the same bytes whatever the thread count, levels checked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from i2i.io.image_read import read_image
from i2i.io.pixels import to_array
from i2i.io.png_encode import BAND_ROWS, encode_png


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip(tmp_path, channels, dtype):
    rng = np.random.default_rng(channels)
    array = rng.integers(0, np.iinfo(dtype).max + 1, (BAND_ROWS * 2 + 5, 7, channels), dtype=dtype)
    path = tmp_path / "x.png"
    path.write_bytes(encode_png(array, {"i2i": '{"a": 1}'}, level=1, threads=3))
    back = to_array(read_image(path))
    assert np.array_equal(back.reshape(array.shape), array)
    with Image.open(path) as image:
        assert image.text == {"i2i": '{"a": 1}'}
        if dtype == np.uint8:
            assert np.array_equal(np.asarray(image).reshape(array.shape), array)


def test_threads_do_not_change_the_bytes_and_levels_are_checked():
    array = np.random.default_rng(0).integers(0, 256, (BAND_ROWS * 3, 11, 3), dtype=np.uint8)
    assert encode_png(array, threads=1) == encode_png(array, threads=4)
    smooth = np.repeat(np.arange(BAND_ROWS * 3, dtype=np.uint8)[:, None, None], 33, axis=1).repeat(3, axis=2)
    assert len(encode_png(smooth, level=9)) <= len(encode_png(smooth, level=0))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(smooth, level=0)))), smooth)
    with pytest.raises(ValueError, match="0 \\(none\\) to 9"):
        encode_png(array, level=10)
