"""The marks: a visible corner badge, and the invisible watermark (best effort, measured here)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from i2i.io import imageio
from i2i.ops import marks
from tests.safeguards.conftest import textured

PAYLOAD = bytes.fromhex("0123456789abcdef")


def _jpeg(array: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


@pytest.mark.parametrize("level", [0, 255])
def test_badge_is_in_the_corner_and_legible_on_dark_and_light(level):
    image = np.full((240, 320, 3), level, np.uint8)
    badged = marks.add_badge(image)
    top, left, bottom, right = marks.badge_box(240, 320)
    assert bottom > 200 and right > 280  # bottom-right
    assert np.array_equal(badged[:top], image[:top]) and np.array_equal(badged[:, :left], image[:, :left])
    corner = badged[top:bottom, left:right].astype(int)
    # light text and rim on a dark box: both extremes present, whatever the picture behind
    assert (corner.max(axis=2) > 200).mean() > 0.05
    assert (corner.min(axis=2) < 60).mean() > 0.3
    assert (np.abs(corner - level).max(axis=2) > 100).mean() > 0.1  # box or text+rim stand out


def test_badge_scales_with_the_image():
    small, large = marks.badge_box(200, 200), marks.badge_box(1000, 1000)
    assert (large[2] - large[0]) > 3 * (small[2] - small[0])
    assert (large[3] - large[1]) > 3 * (small[3] - small[1])


def test_badge_keeps_the_type_and_layout():
    for array in (
        np.zeros((64, 96, 3), np.uint16),
        np.zeros((64, 96), np.uint8),
        np.zeros((64, 96, 4), np.float32),
        np.zeros((64, 96, 2), np.uint8),
    ):
        out = marks.add_badge(array)
        assert out.dtype == array.dtype and out.shape == array.shape and not np.array_equal(out, array)
    rgba = marks.add_badge(np.zeros((64, 96, 4), np.float32))
    top, left, bottom, right = marks.badge_box(64, 96)
    assert rgba[top + 2 : bottom - 2, left + 4 : right - 4, 3].min() > 0.8  # opaque where drawn
    data = imageio.ImageData(np.zeros((64, 96, 3), np.float32), None, 8)
    assert marks.add_badge(data).pixels.shape == (64, 96, 3)


def test_watermark_survives_png_and_jpeg_q90_on_a_textured_image(tmp_path):
    image = textured()
    marked = marks.embed_watermark(image, PAYLOAD)
    mse = np.mean((marked.astype(float) - image) ** 2)
    assert 10 * np.log10(255**2 / mse) > 45  # invisible: measured 49 dB
    path = imageio.write_array(tmp_path / "marked.png", marked)
    again = imageio.to_array(imageio.read_image(path))
    assert marks.read_watermark(again) == PAYLOAD
    expected = marks.expected_block_bits(image.shape[:2], PAYLOAD)
    assert np.mean(marks.block_bits(again) != expected) == 0.0  # lossless: no bit errors
    compressed = _jpeg(marked, 90)
    errors = np.mean(marks.block_bits(compressed) != expected)
    assert errors < 0.02  # measured 0.2 % of blocks before the vote; the vote corrects them
    assert marks.read_watermark(compressed) == PAYLOAD


def test_unmarked_and_damaged_images_read_as_none():
    image = textured(seed=4)
    assert marks.read_watermark(image) is None
    marked = marks.embed_watermark(image, PAYLOAD)
    assert marks.read_watermark(marked[8:, 8:]) is None  # a crop moves the block grid: lost
    resized = np.asarray(Image.fromarray(marked).resize((230, 230), Image.BICUBIC))
    assert marks.read_watermark(resized) is None  # so does rescaling
    assert marks.read_watermark(np.zeros((40, 40, 3), np.uint8)) is None  # too small to hold it


def test_watermark_on_other_layouts():
    grey = textured(128, 128)[..., 0]
    assert marks.read_watermark(marks.embed_watermark(grey, PAYLOAD)) == PAYLOAD
    floats = textured(128, 160).astype(np.float32) / 255
    assert marks.read_watermark(marks.embed_watermark(floats, PAYLOAD)) == PAYLOAD
    odd = textured(131, 203)  # sides that are no multiple of the 8-pixel blocks
    assert marks.read_watermark(marks.embed_watermark(odd, PAYLOAD)) == PAYLOAD
    rgba = np.dstack([odd, np.full(odd.shape[:2], 200, np.uint8)])
    assert marks.read_watermark(marks.embed_watermark(rgba, PAYLOAD)) == PAYLOAD
    flat = np.full((128, 128, 3), 128, np.uint8)
    assert marks.read_watermark(_jpeg(marks.embed_watermark(flat, PAYLOAD), 90)) == PAYLOAD
    with pytest.raises(ValueError, match="8 bytes"):
        marks.embed_watermark(flat, b"short")
