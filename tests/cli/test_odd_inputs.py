"""Inputs a new user has lying around: GIFs (read, first frame, in folders and by name; outputs in PNG;
`i2i data check` counts them as images) and 16-bit images written to 8-bit formats (a note, once a run,
as alpha gets)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.layouts import check_layout
from i2i.io import imageio
from tests.conftest import tiny_checkpoint

FAST = ["--no-progress", "--device", "cpu", "--precision", "fp32"]
RUNNER = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")


def invoke(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


def _picture(seed: int, size=(12, 16)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _gif(path, frames: int = 1, seed: int = 0) -> np.ndarray:
    """A GIF of `frames` frames (an adaptive palette of the first picture); returns frame 0 as decoded."""
    images = [Image.fromarray(_picture(seed + k)).quantize(64) for k in range(frames)]
    images[0].save(path, save_all=frames > 1, append_images=images[1:], duration=40, loop=0)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_a_gif_reads_as_its_first_frame(tmp_path):
    first = _gif(tmp_path / "still.gif")
    image = imageio.read_image(tmp_path / "still.gif")
    assert image.format == "gif" and image.bit_depth == 8 and image.pixels.shape == (12, 16, 3)
    assert np.array_equal(imageio.to_array(image), first)
    animated = _gif(tmp_path / "moving.gif", frames=3, seed=5)
    with pytest.warns(imageio.FirstFrameWarning, match="only the first frame is read"):
        moving = imageio.read_image(tmp_path / "moving.gif")
    assert np.array_equal(imageio.to_array(moving), animated)


def test_gifs_translate_in_folders_and_by_name(tmp_path):
    weights = tiny_checkpoint("cyclegan", tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(_picture(1)).save(folder / "a.png")
    _gif(folder / "b.gif")
    _gif(folder / "c.gif", frames=3)
    _gif(folder / "d.gif", frames=2, seed=9)
    result = invoke("translate", "--weights", weights, *FAST, folder, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png", "d.png"]
    assert result.stderr.count("only the first frame is read") == 1  # two animated GIFs, one note
    result = invoke("translate", "--weights", weights, *FAST, folder / "b.gif", "-o", tmp_path / "one")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["b.png"]
    assert "first frame" not in result.stderr  # a still GIF needs no note
    result = invoke("translate", "--weights", weights, *FAST, folder / "b.gif", "-o", tmp_path / "b2.gif")
    assert result.exit_code == 2 and "gif" in result.stderr


def test_data_check_counts_gifs_as_images(tmp_path):
    for side in ("trainA", "trainB"):
        (tmp_path / side).mkdir()
        _gif(tmp_path / side / "x.gif")
        Image.fromarray(_picture(2)).save(tmp_path / side / "y.png")
    report = check_layout(tmp_path, "unaligned")
    assert report.ok, report.problems
    assert not any("ignored" in note for note in report.notes)
    result = invoke("data", "check", tmp_path, "--model", "cyclegan")
    assert result.exit_code == 0, result.output
    assert "x.gif" not in result.output


def test_16_bit_into_jpeg_or_webp_is_noted_once(tmp_path):
    weights = tiny_checkpoint("cyclegan", tmp_path)
    deep = np.random.default_rng(3).integers(0, 65536, (12, 16, 3), dtype=np.uint16)
    for name in ("a.png", "b.png"):
        imageio.write_array(tmp_path / name, deep)
    for fmt, label in (("jpeg", "JPEG"), ("webp", "WebP")):
        result = invoke("translate", "--weights", weights, *FAST, "--format", fmt,
                        tmp_path / "a.png", tmp_path / "b.png", tmp_path / f"out-{fmt}")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert result.stderr.count(f"note: {label} cannot hold 16 bits per channel") == 1
    result = invoke("translate", "--weights", weights, *FAST, "--format", "png",
                    tmp_path / "a.png", tmp_path / "out-png")  # fmt: skip
    assert result.exit_code == 0 and "cannot hold" not in result.stderr
    assert imageio.read_image(tmp_path / "out-png" / "a.png").bit_depth == 16
