"""`i2i upscale`: output naming (never over an input), alpha, grey, 16-bit, EXIF, outscale, per-file errors,
provenance, through the CLI with the tiny fixture weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.io import imageio
from i2i.ops import tiling
from tests.conftest import FIXTURES

WEIGHTS = FIXTURES / "esrgan" / "rrdb_x4_public.basicsr.safetensors"
H, W = 12, 10


def rgb(channels: int = 3, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    return np.random.default_rng(seed).integers(0, top + 1, (H, W, channels), dtype=dtype)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.write_array(path, array)
    return path


def upscale(*args: str | Path):
    """`i2i upscale ARGS` with the tiny fixture weights, on the CPU in fp32 (auto would pick bf16 on some CPUs)."""
    return CliRunner().invoke(
        app,
        [
            "upscale",
            *map(str, args),
            "--weights",
            str(WEIGHTS),
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--no-progress",
        ],
    )


def read(path: Path) -> np.ndarray:
    return imageio.to_array(imageio.read_image(path))


# --------------------------------------------------------------------------------------------- naming


def test_writes_next_to_the_input_with_the_scale_suffix(tmp_path):
    save(tmp_path / "photo.png", rgb())
    save(tmp_path / "sub" / "deeper.png", rgb(seed=1))
    result = upscale(tmp_path)
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "photo_x4.png").shape == (4 * H, 4 * W, 3)
    assert read(tmp_path / "sub" / "deeper_x4.png").shape == (4 * H, 4 * W, 3)
    assert "upscaled 2 of 2 image(s) x4" in result.output
    again = upscale(tmp_path)  # the earlier results are left out, and replaced
    assert again.exit_code == 0, again.output
    assert "left out 2 earlier output(s)" in again.output and "upscaled 2 of 2" in again.output
    assert not list(tmp_path.rglob("*_x4_x4.png"))


def test_output_folder_mirrors_the_inputs(tmp_path):
    save(tmp_path / "in" / "a.png", rgb())
    save(tmp_path / "in" / "sub" / "b.png", rgb(seed=1))
    result = upscale(tmp_path / "in", "-o", tmp_path / "out", "--format", "jpeg")
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "out" / "a.jpg").shape == (4 * H, 4 * W, 3)
    assert (tmp_path / "out" / "sub" / "b.jpg").is_file()


def test_output_folder_that_is_the_inputs_own_keeps_the_suffix(tmp_path):
    source = save(tmp_path / "a.png", rgb())
    before = source.read_bytes()
    result = upscale(source, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == before and (tmp_path / "a_x4.png").is_file()


def test_output_folder_inside_the_input_folder_is_not_read_again(tmp_path):
    save(tmp_path / "a.png", rgb())
    assert upscale(tmp_path, "-o", tmp_path / "big").exit_code == 0
    result = upscale(tmp_path, "-o", tmp_path / "big")
    assert result.exit_code == 0, result.output
    assert "left out 1 earlier output(s)" in result.output
    assert sorted(p.name for p in (tmp_path / "big").rglob("*")) == ["a.png"]


def test_one_input_to_an_output_file(tmp_path):
    source = save(tmp_path / "a.png", rgb())
    result = upscale(source, "-o", tmp_path / "result.tif")
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "result.tif").shape == (4 * H, 4 * W, 3)


def test_never_overwrites_an_input(tmp_path):
    source = save(tmp_path / "a.png", rgb())
    before = source.read_bytes()
    result = upscale(source, "-o", source)
    assert result.exit_code == 1
    assert "would overwrite an input" in result.output and source.read_bytes() == before


def test_two_inputs_with_the_same_output(tmp_path):
    save(tmp_path / "a.png", rgb())
    save(tmp_path / "a.webp", rgb(seed=1))
    result = upscale(tmp_path / "a.png", tmp_path / "a.webp", "--format", "png", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "also the output of" in result.output and (tmp_path / "out" / "a.png").is_file()


# ------------------------------------------------------------------------------------ image properties


@pytest.mark.parametrize("alpha_upsampler", tiling.ALPHA_UPSAMPLERS)
def test_rgba_keeps_its_alpha(tmp_path, alpha_upsampler):
    source = rgb(4)
    save(tmp_path / "a.png", source)
    result = upscale(tmp_path / "a.png", "--alpha-upsampler", alpha_upsampler)
    assert result.exit_code == 0, result.output
    out = read(tmp_path / "a_x4.png")
    model = i2i.load("esrgan", weights=WEIGHTS, device="cpu", precision="fp32")
    image = imageio.read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(out, tiling.enhance(model, image, alpha_upsampler=alpha_upsampler))
    assert out.shape == (4 * H, 4 * W, 4)


def test_grey_stays_grey_and_16_bit_stays_16_bit(tmp_path):
    save(tmp_path / "grey.png", rgb(1)[..., 0])
    save(tmp_path / "deep.png", rgb(3, dtype=np.uint16))
    save(tmp_path / "deep-grey-alpha.tif", rgb(2, dtype=np.uint16))
    result = upscale(tmp_path)
    assert result.exit_code == 0, result.output
    grey = imageio.read_image(tmp_path / "grey_x4.png")
    assert grey.is_grey and grey.bit_depth == 8 and grey.size == (4 * W, 4 * H)
    deep = imageio.read_image(tmp_path / "deep_x4.png")
    assert deep.bit_depth == 16 and deep.pixels.shape == (4 * H, 4 * W, 3)
    deep_grey = imageio.read_image(tmp_path / "deep-grey-alpha_x4.tif")
    assert deep_grey.bit_depth == 16 and deep_grey.is_grey and deep_grey.alpha is not None


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    Image.fromarray(rgb()).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    result = upscale(tmp_path / "phone.jpg")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "phone_x4.jpg") as out:
        assert out.size == (4 * H, 4 * W) and out.getexif().get(0x0112, 1) == 1


@pytest.mark.parametrize("outscale, suffix, size", [("2", "_x2", (2 * W, 2 * H)), ("1.5", "_x1.5", (15, 18))])
def test_outscale_sets_the_size_and_the_name(tmp_path, outscale, suffix, size):
    save(tmp_path / "a.png", rgb())
    result = upscale(tmp_path / "a.png", "--outscale", outscale)
    assert result.exit_code == 0, result.output
    assert imageio.read_image(tmp_path / f"a{suffix}.png").size == size
    assert imageio.read_provenance(tmp_path / f"a{suffix}.png")["outscale"] == outscale


def test_reference_tiles_match_the_python_api(tmp_path):
    save(tmp_path / "a.png", rgb())
    result = upscale(
        tmp_path / "a.png", "--tile-mode", "reference", "--tile", "4", "--tile-pad", "2", "--pre-pad", "1"
    )
    assert result.exit_code == 0, result.output
    model = i2i.load("esrgan", weights=WEIGHTS, device="cpu", precision="fp32")
    expected = tiling.enhance_array(model, rgb(), tile=4, tile_pad=2, pre_pad=1, mode="reference")
    np.testing.assert_array_equal(read(tmp_path / "a_x4.png"), expected)


# ----------------------------------------------------------------------------------- errors, provenance


def test_a_broken_file_among_good_ones(tmp_path):
    save(tmp_path / "a.png", rgb())
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    save(tmp_path / "c.png", rgb(seed=2))
    result = upscale(tmp_path)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "b.png" in errors[0]
    assert (tmp_path / "a_x4.png").is_file() and (tmp_path / "c_x4.png").is_file()
    assert "upscaled 2 of 3 image(s)" in result.output and "1 failed" in result.output


def test_provenance_tag(tmp_path):
    save(tmp_path / "a.png", rgb())
    assert upscale(tmp_path / "a.png").exit_code == 0
    tag = imageio.read_provenance(tmp_path / "a_x4.png")
    assert tag["model"] == "esrgan" and tag["weights"] == WEIGHTS.name and tag["outscale"] == "4"
    assert upscale(tmp_path / "a.png", "--no-provenance", "-o", tmp_path / "plain.png").exit_code == 0
    assert imageio.read_provenance(tmp_path / "plain.png") is None


@pytest.mark.parametrize(
    "option, message",
    [
        (["--tile-mode", "fancy"], "--tile-mode must be blend or reference"),
        (["--alpha-upsampler", "bicubic"], "--alpha-upsampler must be model or resize"),
        (["--outscale", "0"], "--outscale must be a finite number above 0"),
        (["--tile", "-1"], "must not be negative"),
    ],
)
def test_bad_options(tmp_path, option, message):
    save(tmp_path / "a.png", rgb())
    result = upscale(tmp_path / "a.png", *option)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "a_x4.png").exists()


def test_max_pixels(tmp_path):
    save(tmp_path / "a.png", rgb())
    result = upscale(tmp_path / "a.png", "--max-pixels", "50")
    assert result.exit_code == 1 and "over the limit" in result.output
