"""Tests for i2i.io.imageio: every image is made in tmp_path."""

from __future__ import annotations

import importlib.util
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFile, ImageOps

from i2i.errors import I2IError, UsageError
from i2i.io import image_write, imageio
from i2i.io.imageio import (
    DEFAULT_MAX_PIXELS,
    FORMATS,
    ImageData,
    LossyWriteWarning,
    find_images,
    luma,
    normalise_format,
    output_path,
    quantize,
    read_image,
    read_provenance,
    resize_alpha,
    to_array,
    to_pil,
    write_image,
)

# torchvision 0.29 deprecates its image codecs (still the only 16-bit PNG decoder at hand); keep the noise out.

W, H = 37, 23  # odd on purpose
PROVENANCE = {"made_by": "i2i 0.1.0", "model": "pix2pix", "weights_sha256": "ab" * 32}


def rgb8(width: int = W, height: int = H, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def rgb16(width: int = W, height: int = H, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (height, width, channels), dtype=np.uint16)


def smooth_rgb8(width: int = 64, height: int = 48) -> np.ndarray:
    """A gradient, so lossy codecs stay close to it."""
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    return np.broadcast_to(
        np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2), (height, width, 3)
    ).astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header_only_png(path: Path, width: int, height: int, bit_depth: int = 8) -> Path:
    """A PNG that claims a size but holds (almost) no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    body = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


# ------------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_writes_and_reads(tmp_path, fmt):
    source = smooth_rgb8()
    path = write_image(tmp_path / f"out.{fmt}", read_image(source))
    image = read_image(path)
    assert image.format == fmt and image.source == path
    assert image.size == (64, 48) and image.pixels.shape == (48, 64, 3) and image.pixels.dtype == np.float32
    error = np.abs(to_array(image).astype(int) - source).mean()
    assert error == 0 if fmt in ("png", "tiff", "bmp") else error < 3


def test_format_names_and_output_paths():
    assert (
        normalise_format("JPG") == "jpeg"
        and normalise_format("tif") == "tiff"
        and normalise_format(".png") == "png"
    )
    with pytest.raises(UsageError, match="unknown image format 'gif'"):
        normalise_format("gif")
    out = Path("out")
    assert output_path(out, Path("a/b.png"), None) == Path("out/a/b.png")
    assert output_path(out, Path("a/b.png"), "jpeg") == Path("out/a/b.jpg")
    assert output_path(out, Path("b.tiff"), "tiff") == Path("out/b.tif")
    assert output_path(out, Path("b.jpg"), "webp") == Path("out/b.webp")


def test_write_refuses_an_unknown_suffix(tmp_path):
    with pytest.raises(I2IError, match=r"out\.psd: cannot tell the image format"):
        write_image(tmp_path / "out.psd", read_image(rgb8()))
    with pytest.raises(UsageError, match=r"out\.gif: i2i reads \.gif images but does not write them"):
        write_image(tmp_path / "out.gif", read_image(rgb8()))
    assert (
        write_image(tmp_path / "out.gif", read_image(rgb8()), format="png")
        .read_bytes()
        .startswith(b"\x89PNG")
    )


# -------------------------------------------------------------------------------------------- pixels


def test_8bit_values_are_exactly_k_over_255(tmp_path):
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(levels).save(tmp_path / "levels.png")
    image = read_image(tmp_path / "levels.png")
    assert image.bit_depth == 8 and image.is_grey
    np.testing.assert_array_equal(image.pixels[..., 0], levels.astype(np.float32) / 255)


@pytest.mark.parametrize("mode, channels", [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)])
def test_8bit_png_round_trip_is_bit_exact(tmp_path, mode, channels):
    source = rgb8(channels=channels)
    Image.fromarray(source.squeeze(2) if channels == 1 else source).save(tmp_path / "in.png")
    written = write_image(tmp_path / "out.png", read_image(tmp_path / "in.png"))
    with Image.open(written) as im:
        assert im.mode == mode
        np.testing.assert_array_equal(np.asarray(im).reshape(source.shape), source)


def test_quantize_round_truncate_clip_and_nan():
    x = np.array([-0.5, 0.0, 0.5, 0.9999, 1.0, 2.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(quantize(x, 8), [0, 0, 128, 255, 255, 255, 0])
    np.testing.assert_array_equal(quantize(x, 8, "truncate"), [0, 0, 127, 254, 255, 255, 0])
    assert quantize(x, 16).dtype == np.uint16 and quantize(x, 16)[4] == 65535
    with pytest.raises(ValueError):
        quantize(x, 12)
    with pytest.raises(ValueError):
        quantize(x, 8, "floor")


def test_luma_matches_pillow():
    source = rgb8(seed=3)
    grey = luma(read_image(source).pixels)
    assert grey.shape == (H, W, 1)
    expected = np.asarray(Image.fromarray(source).convert("L")).astype(int)
    assert np.abs(quantize(grey[..., 0], 8).astype(int) - expected).max() <= 1


def test_resize_alpha():
    alpha = np.zeros((H, W), dtype=np.float32)
    alpha[:, W // 2 :] = 1.0
    big = resize_alpha(alpha, (W * 4, H * 4))
    assert big.shape == (H * 4, W * 4) and big.dtype == np.float32
    assert big.min() >= 0.0 and big.max() <= 1.0  # bicubic overshoots, clipped
    assert big[:, 0].max() == 0.0 and big[:, -1].min() == 1.0


def test_arrays_and_pil_images_in():
    assert read_image(rgb8()).bit_depth == 8
    assert read_image(rgb16()).bit_depth == 16
    grey = read_image(np.full((4, 5), 0.25, dtype=np.float64))
    assert grey.is_grey and grey.bit_depth == 8 and grey.pixels.dtype == np.float32 and grey.size == (5, 4)
    rgba = read_image(rgb8(channels=4))
    assert rgba.pixels.shape == (H, W, 3) and rgba.alpha.shape == (H, W)
    np.testing.assert_array_equal(to_array(rgba), rgb8(channels=4))
    assert read_image(Image.fromarray(rgb8())).pixels.shape == (H, W, 3)
    with pytest.raises(ValueError, match="shape"):
        read_image(np.zeros((4, 5, 6), dtype=np.uint8))
    with pytest.raises(ValueError, match="int64"):
        read_image(np.zeros((4, 5), dtype=np.int64))


def test_to_pil_modes():
    def pil(channels: int, depth: int) -> Image.Image:
        return to_pil(read_image(rgb16(channels=channels) if depth == 16 else rgb8(channels=channels)))

    assert [pil(c, 8).mode for c in (1, 2, 3, 4)] == ["L", "LA", "RGB", "RGBA"]
    assert [pil(c, 16).mode for c in (1, 2, 3, 4)] == ["I;16", "LA", "RGB", "RGBA"]
    source = rgb16(channels=1)
    np.testing.assert_array_equal(np.asarray(pil(1, 16)), source[..., 0])


def test_to_array_shapes():
    assert to_array(read_image(rgb8(channels=1))).shape == (H, W)
    assert to_array(read_image(rgb8(channels=2))).shape == (H, W, 2)
    assert to_array(read_image(rgb16(channels=4))).dtype == np.uint16


# --------------------------------------------------------------------------------------- orientation


def test_exif_rotated_jpeg_is_read_upright_and_written_without_orientation(tmp_path):
    source = np.zeros((20, 40, 3), dtype=np.uint8)
    source[:, :20] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(source).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "rotated.jpg")
    assert image.size == (20, 40)  # orientation 6: turned 90 degrees clockwise
    top, bottom = image.pixels[:10].mean(axis=(0, 1)), image.pixels[-10:].mean(axis=(0, 1))
    assert top[0] > 0.9 and bottom[0] < 0.1  # the red left half is now on top

    for fmt in ("jpeg", "png", "webp", "tiff"):
        written = write_image(tmp_path / f"out.{fmt}", image, provenance=PROVENANCE)
        with Image.open(written) as im:
            assert im.size == (20, 40) and 0x0112 not in im.getexif()
        assert read_image(written).size == (20, 40)


def _upright_reference(source: np.ndarray, orientation: int) -> np.ndarray:
    im = Image.fromarray(source)
    im.getexif()[0x0112] = orientation
    return np.asarray(ImageOps.exif_transpose(im))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_tiff_orientation_matches_pillow(tmp_path, orientation):
    source = rgb8(width=5, height=3, seed=orientation)
    tifffile.imwrite(
        tmp_path / "o.tif",
        source.astype(np.uint16) * 257,
        photometric="rgb",
        extratags=[(274, "H", 1, orientation, True)],
    )
    image = read_image(tmp_path / "o.tif")
    assert image.bit_depth == 16
    np.testing.assert_array_equal(to_array(image) // 257, _upright_reference(source, orientation))


def test_16bit_png_exif_orientation(tmp_path):
    source = rgb16(width=6, height=4)
    data = write_image(tmp_path / "plain.png", read_image(source)).read_bytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    chunk = png_chunk(b"eXIf", exif.tobytes()[len(b"Exif\0\0") :])
    (tmp_path / "rotated.png").write_bytes(data[:33] + chunk + data[33:])  # right after IHDR
    image = read_image(tmp_path / "rotated.png")
    np.testing.assert_array_equal(to_array(image), np.rot90(source, -1))


# ------------------------------------------------------------------------------------- alpha, greyscale


def test_rgba_png_keeps_alpha(tmp_path):
    source = rgb8(channels=4)
    Image.fromarray(source).save(tmp_path / "in.png")
    image = read_image(tmp_path / "in.png")
    assert image.pixels.shape == (H, W, 3)
    np.testing.assert_array_equal(image.alpha, source[..., 3].astype(np.float32) / 255)
    back = read_image(write_image(tmp_path / "out.png", image))
    np.testing.assert_array_equal(to_array(back), source)


def test_la_png_is_grey_with_alpha(tmp_path):
    source = rgb8(channels=2)
    Image.fromarray(source).save(tmp_path / "in.png")
    image = read_image(tmp_path / "in.png")
    assert image.is_grey and image.alpha is not None and image.bit_depth == 8


def test_palette_with_transparency(tmp_path):
    indices = np.tile(np.arange(4, dtype=np.uint8), (3, 2))
    im = Image.fromarray(indices, mode="P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    im.save(tmp_path / "p.png", transparency=1)
    image = read_image(tmp_path / "p.png")
    assert image.pixels.shape == (3, 8, 3)
    np.testing.assert_array_equal(image.alpha, (indices != 1).astype(np.float32))
    np.testing.assert_array_equal(image.pixels[0, 0], [1, 0, 0])
    opaque = tmp_path / "opaque.png"
    Image.fromarray(indices, mode="P").save(opaque)
    assert read_image(opaque).alpha is None


@pytest.mark.parametrize("fmt", ["jpeg", "bmp"])
def test_alpha_is_dropped_where_the_format_has_none(tmp_path, fmt):
    source = rgb8(channels=4)
    with pytest.warns(LossyWriteWarning, match="cannot hold alpha"):
        written = write_image(tmp_path / f"out.{fmt}", read_image(source))
    with Image.open(written) as im:
        assert im.mode == "RGB"
    assert read_image(written).alpha is None


def test_webp_keeps_alpha(tmp_path):
    source = np.dstack([smooth_rgb8(), np.full((48, 64), 128, np.uint8)])
    image = read_image(write_image(tmp_path / "out.webp", read_image(source)))
    assert image.alpha is not None and np.abs(image.alpha - 128 / 255).max() < 0.02


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff", "bmp"])
def test_grey_writes_a_grey_file(tmp_path, fmt):
    written = write_image(tmp_path / f"g.{fmt}", read_image(rgb8(channels=1)))
    with Image.open(written) as im:
        assert im.mode == "L"
    assert read_image(written).is_grey


# ------------------------------------------------------------------------------------------- 16-bit


def test_16bit_grey_png_from_pillow(tmp_path):
    source = rgb16(channels=1)[..., 0]
    Image.fromarray(source).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.bit_depth == 16 and image.is_grey and image.format == "png"
    back = read_image(write_image(tmp_path / "out.png", image))
    np.testing.assert_array_equal(to_array(back), source)
    with Image.open(tmp_path / "out.png") as im:
        assert im.mode == "I;16"


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_round_trip_is_bit_exact(tmp_path, channels):
    source = rgb16(channels=channels)
    first = write_image(tmp_path / "a.png", read_image(source))
    assert first.read_bytes()[24] == 16  # IHDR bit depth
    image = read_image(first)
    assert image.bit_depth == 16 and image.pixels.shape[2] == (1 if channels <= 2 else 3)
    back = read_image(write_image(tmp_path / "b.png", image))
    np.testing.assert_array_equal(to_array(back).reshape(source.shape), source)


def test_16bit_colour_png_decodes_in_pillow_too(tmp_path):
    source = rgb16(channels=4)
    written = write_image(tmp_path / "a.png", read_image(source))
    with Image.open(written) as im:  # an independent decoder, which keeps the high byte
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im), (source >> 8).astype(np.uint8))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_tiff_round_trip_is_bit_exact(tmp_path, channels):
    source = rgb16(channels=channels)
    tifffile.imwrite(
        tmp_path / "in.tif",
        source[..., 0] if channels == 1 else source,
        photometric="minisblack" if channels <= 2 else "rgb",
        extrasamples=("unassalpha",) if channels in (2, 4) else None,
    )
    image = read_image(tmp_path / "in.tif")
    assert image.bit_depth == 16 and image.format == "tiff"
    back = read_image(write_image(tmp_path / "out.tiff", image))
    np.testing.assert_array_equal(to_array(back).reshape(source.shape), source)


def test_16bit_tiff_needing_imagecodecs(tmp_path):
    if importlib.util.find_spec("imagecodecs") is not None:
        pytest.skip("imagecodecs is installed, so LZW decodes")
    path = tmp_path / "lzw.tif"
    tifffile.imwrite(path, rgb16(), photometric="rgb")
    entry = struct.pack("<HHIHH", 259, 3, 1, 1, 0)  # Compression = 1 (none) ...
    data = path.read_bytes()
    assert data.count(entry) == 1
    path.write_bytes(data.replace(entry, struct.pack("<HHIHH", 259, 3, 1, 5, 0)))  # ... claims LZW instead
    with pytest.raises(I2IError, match="LZW compression, which needs the imagecodecs package"):
        read_image(path)


def test_planar_16bit_tiff(tmp_path):
    source = rgb16()
    tifffile.imwrite(
        tmp_path / "planar.tif", np.moveaxis(source, -1, 0), photometric="rgb", planarconfig="separate"
    )
    np.testing.assert_array_equal(to_array(read_image(tmp_path / "planar.tif")), source)


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "bmp"])
def test_16bit_to_an_8bit_format(tmp_path, fmt):
    source = (smooth_rgb8().astype(np.uint16) * 257).astype(np.uint16)
    written = write_image(tmp_path / f"out.{fmt}", read_image(source))
    image = read_image(written)
    assert image.bit_depth == 8
    assert np.abs(to_array(image).astype(int) - source // 257).mean() < 3


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint16, st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 2, 3, 4]))))
def test_16bit_png_property(tmp_path_factory, source):
    path = write_image(tmp_path_factory.mktemp("prop") / "x.png", read_image(source))
    np.testing.assert_array_equal(to_array(read_image(path)).reshape(source.shape), source)
    np.testing.assert_array_equal(quantize(source / 65535.0, 16), source)


# ------------------------------------------------------------------------------------------ provenance


@pytest.mark.parametrize(
    "name, depth", [("a.png", 8), ("a.png", 16), ("a.jpg", 8), ("a.webp", 8), ("a.tif", 8), ("a.tif", 16)]
)
def test_provenance_round_trip(tmp_path, name, depth):
    source = read_image(rgb16(channels=4) if depth == 16 else rgb8())
    written = write_image(tmp_path / name, source, provenance=PROVENANCE)
    assert read_provenance(written) == PROVENANCE
    assert read_provenance(write_image(tmp_path / f"plain-{name}", source)) is None


@pytest.mark.parametrize("name", ["a.jpg", "a.webp", "a.tif"])
def test_provenance_sets_exif_software(tmp_path, name):
    written = write_image(tmp_path / name, read_image(rgb8()), provenance=PROVENANCE)
    with Image.open(written) as im:
        assert im.getexif().get(0x0131) == "i2i 0.1.0"


def test_bmp_carries_no_provenance(tmp_path):
    assert read_provenance(write_image(tmp_path / "a.bmp", read_image(rgb8()), provenance=PROVENANCE)) is None


def test_provenance_of_foreign_files(tmp_path):
    exif = Image.Exif()
    exif[0x010E] = "a holiday photo"
    Image.fromarray(rgb8()).save(tmp_path / "photo.jpg", exif=exif)
    assert read_provenance(tmp_path / "photo.jpg") is None
    tifffile.imwrite(
        tmp_path / "shaped.tif", rgb16(channels=2), photometric="minisblack", extrasamples=("unassalpha",)
    )
    assert read_provenance(tmp_path / "shaped.tif") is None  # tifffile's own JSON description is not ours


# ------------------------------------------------------------------------------------------ pixel limit


def test_pixel_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(rgb8(width=20, height=10)).save(path)
    with pytest.raises(
        I2IError, match=r"big\.png: 20x10 = 200 pixels is over the limit of 100 pixels; raise it"
    ):
        read_image(path, max_pixels=100)
    assert read_image(path, max_pixels=200).size == (20, 10)


def test_pixel_limit_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(rgb8(width=20, height=10)).save(path)
    monkeypatch.setenv("I2I_MAX_PIXELS", "150")
    with pytest.raises(I2IError, match="I2I_MAX_PIXELS"):
        read_image(path)
    monkeypatch.setenv("I2I_MAX_PIXELS", "lots")
    with pytest.raises(I2IError, match="positive whole number"):
        read_image(path)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_pixel_limit_is_checked_before_decoding(tmp_path, bit_depth):
    path = header_only_png(tmp_path / "bomb.png", 12000, 12000, bit_depth)
    expected = "bomb.png: 12000x12000 = 144.0 MP is over the limit of 100.0 MP; raise it with --max-pixels or I2I_MAX_PIXELS"
    with pytest.raises(I2IError, match=expected):
        read_image(path)
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_16bit_tiff_pixel_limit(tmp_path):
    tifffile.imwrite(tmp_path / "big.tif", rgb16(), photometric="rgb")
    with pytest.raises(I2IError, match="37x23 = 851 pixels is over the limit"):
        read_image(tmp_path / "big.tif", max_pixels=800)


def test_pillows_own_limit_does_not_fire_first(tmp_path):
    # 9500 x 9500 is under our default limit but over Pillow's, which would warn (and refuse at 2x).
    path = header_only_png(tmp_path / "large.png", 9500, 9500)
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(I2IError, match="cannot decode"):  # our check passed; the data is missing
            read_image(path)
    assert saved == Image.MAX_IMAGE_PIXELS


# ------------------------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(I2IError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(I2IError, match="is a folder"):
        read_image(tmp_path)


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(I2IError, match=r"empty\.png: the file is empty"):
        read_image(tmp_path / "empty.png")


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("hello, not an image\n")
    with pytest.raises(I2IError, match=r"notes\.png: not a PNG, JPEG, WebP, TIFF, BMP or GIF image"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(I2IError, match=r"notes\.png: not a PNG"):
        read_provenance(tmp_path / "notes.png")


@pytest.mark.parametrize("name, depth", [("cut.png", 8), ("cut.png", 16), ("cut.jpg", 8), ("cut.tif", 16)])
def test_truncated_files(tmp_path, name, depth):
    full = write_image(tmp_path / f"full-{name}", read_image(rgb16(64, 64) if depth == 16 else rgb8(64, 64)))
    data = full.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(I2IError, match=rf"{name}: cannot decode the image .*truncated") as info:
        read_image(tmp_path / name)
    assert "\n" not in str(info.value)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.fromarray(rgb8(channels=4), mode="CMYK").save(tmp_path / "cmyk.jpg")
    image = read_image(tmp_path / "cmyk.jpg")
    assert image.pixels.shape == (H, W, 3) and image.alpha is None


def test_32bit_modes():
    small = Image.fromarray(np.array([[0, 1000], [65535, 7]], dtype=np.int32))
    assert small.mode == "I"
    image = read_image(small)
    assert image.bit_depth == 16
    np.testing.assert_array_equal(to_array(image), [[0, 1000], [65535, 7]])
    with pytest.raises(I2IError, match="beyond 16 bits"):
        read_image(Image.fromarray(np.array([[0, 70000]], dtype=np.int32)))
    unit = read_image(Image.fromarray(np.array([[0.0, 0.5]], dtype=np.float32)))
    assert unit.bit_depth == 16 and unit.pixels[0, 1, 0] == 0.5
    with pytest.raises(I2IError, match=r"outside \[0, 1\]"):
        read_image(Image.fromarray(np.array([[0.0, 3.0]], dtype=np.float32)))


# ---------------------------------------------------------------------------------------- atomic writes


def test_failed_png_encode_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old content")

    real_write = Path.write_bytes

    def broken_write(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", broken_write)
    with pytest.raises(I2IError, match=r"out\.png: cannot write the image \(disk full\)"):
        write_image(target, read_image(rgb8()))
    assert target.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.parametrize("name, patched", [("out.png", "encode_png"), ("new/out.tif", "tifffile.imwrite")])
def test_failed_16bit_encode_leaves_nothing(tmp_path, monkeypatch, name, patched):
    def explode(*args, **kwargs):
        raise RuntimeError("encoder crashed")

    if patched == "tifffile.imwrite":
        monkeypatch.setattr(tifffile, "imwrite", explode)
    else:
        monkeypatch.setattr(image_write, patched, explode)
    with pytest.raises(RuntimeError):
        write_image(tmp_path / name, read_image(rgb16()))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


# ------------------------------------------------------------------------------------------ find_images


def test_find_images(tmp_path):
    root = tmp_path / "in"
    for rel in ["b.png", "a.jpg", "sub/c.PNG", "sub/deeper/e.tif", "z.webp"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb8(4, 4)).save(root / rel, format=imageio.format_from_suffix(rel).upper())
    (root / "sub/notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"")
    (root / ".git").mkdir()
    (root / ".git/d.png").write_bytes(b"")
    single = tmp_path / "single.bmp"
    Image.fromarray(rgb8(4, 4)).save(single)

    found = find_images([root, str(single)])
    assert [rel.as_posix() for _, rel in found] == [
        "a.jpg",
        "b.png",
        "sub/c.PNG",
        "sub/deeper/e.tif",
        "z.webp",
        "single.bmp",
    ]
    assert found[2][0] == root / "sub/c.PNG" and found[-1][0] == single
    assert output_path(tmp_path / "out", found[3][1], "png") == tmp_path / "out/sub/deeper/e.png"


def test_find_images_errors(tmp_path):
    with pytest.raises(I2IError, match=r"missing: no such file or folder"):
        find_images([tmp_path / "missing"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(I2IError, match=r"notes\.txt: not an image file name"):
        find_images([tmp_path / "notes.txt"])


def test_imagedata_properties():
    image = ImageData(np.zeros((2, 3, 1), np.float32), None, 8)
    assert image.size == (3, 2) and image.is_grey and image.source is None and image.format is None
