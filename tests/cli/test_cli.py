"""The `i2i` command line: every command end to end on tiny models and images."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.errors import I2IError
from i2i.io import imageio

RUNNER = CliRunner()
FAST = ["--no-progress", "--device", "cpu", "--precision", "fp32"]


def invoke(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "error" not in result.stderr.lower()
    return result


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A saved i2i pix2pix checkpoint: U-Net 128 with BatchNorm, 4 filters, 32-pixel crops."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    model = i2i.load(
        "pix2pix", netG="unet_128", ngf=4, ndf=4, load_size=32, crop_size=32, device="cpu", precision="fp32"
    )
    model.save(path)
    return path


@pytest.fixture
def picture(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "picture.png"
    Image.fromarray(rng.integers(0, 256, (14, 22, 3), dtype=np.uint8)).save(path)
    return path


def test_version():
    assert ok("--version").stdout.strip() == f"i2i {i2i.__version__}"


def test_models_table_and_json():
    assert "pix2pix" in ok("models").stdout
    rows = json.loads(ok("models", "--json").stdout)
    pix2pix = next(row for row in rows if row["name"] == "pix2pix")
    assert pix2pix["status"] == "ok" and pix2pix["task"]


def test_env_json():
    report = json.loads(ok("env", "--json").stdout)
    assert {"torch", "cpu", "cuda"} <= set(report)
    assert isinstance(report["cuda"], list)


def test_synth_data_then_eval_paired(tmp_path, tiny):
    result = ok("data", "synth", tmp_path / "shapes", "--count", "10", "--size", "32")
    assert "10" in result.stdout
    assert list((tmp_path / "shapes").rglob("*.png"))
    result = ok(
        "eval", "paired", tmp_path / "shapes", "--weights", tiny, "--device", "cpu", "--precision", "fp32"
    )
    assert re.search(r"L1 \d+\.\d+", result.stdout) and re.search(r"PSNR -?\d+\.\d+ dB", result.stdout)
    report = json.loads(
        ok("eval", "paired", tmp_path / "shapes", "--weights", tiny, "--device", "cpu", "--json").stdout
    )
    assert report["images"] >= 1 and report["l1"] >= 0 and "psnr_db" in report


def test_translate_one_file_to_a_file(tmp_path, tiny, picture):
    ok("translate", "--weights", tiny, *FAST, picture, tmp_path / "result.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture.png", "result.png"]
    assert Image.open(tmp_path / "result.png").size == (22, 14)
    ok("translate", "--weights", tiny, *FAST, picture, "-o", tmp_path / "result.jpg")
    with Image.open(tmp_path / "result.jpg") as im:
        assert im.format == "JPEG" and im.size == (22, 14)
    # the same as the Python API
    model = i2i.load(weights=tiny, device="cpu", precision="fp32")
    expected = model.translate(picture, as_array=True)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "result.png")), expected)


def test_translate_folder_with_batches(tmp_path, tiny):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(4)
    sizes = [(16, 16)] * 5 + [(12, 20)] * 2  # batches of one size only
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / f"{i}.png")
    ok("translate", "--weights", tiny, *FAST, "--batch-size", "4", src, "-o", tmp_path / "batched")
    ok("translate", "--weights", tiny, *FAST, src, tmp_path / "single")
    for i, (h, w) in enumerate(sizes):
        batched = np.asarray(Image.open(tmp_path / "batched" / f"{i}.png"))
        assert batched.shape == (h, w, 3)
        # eval mode: a batch gives what one image at a time gives
        assert (
            np.abs(batched.astype(int) - np.asarray(Image.open(tmp_path / "single" / f"{i}.png"))).max() <= 1
        )


def test_translate_mode_train_uses_batch_statistics(tmp_path, tiny, picture):
    for name, mode in (("eval.png", "eval"), ("train1.png", "train"), ("train2.png", "train")):
        ok("translate", "--weights", tiny, *FAST, "--mode", mode, "--seed", "7", picture, tmp_path / name)
    ok("translate", "--weights", tiny, *FAST, "--mode", "train_dropout_off", picture, tmp_path / "det.png")
    pixels = {
        name: np.asarray(Image.open(tmp_path / name)) for name in ("eval.png", "train1.png", "train2.png")
    }
    assert np.array_equal(pixels["train1.png"], pixels["train2.png"])  # seeded dropout repeats
    assert not np.array_equal(pixels["eval.png"], pixels["train1.png"])  # batch stats, not running stats
    model = i2i.load(weights=tiny, device="cpu", precision="fp32")
    expected = model.translate(picture, as_array=True, mode="train_dropout_off")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "det.png")), expected)
    tag = imageio.read_provenance(tmp_path / "det.png")
    assert tag["model"] == "pix2pix" and tag["weights"] == "tiny.safetensors"


def test_debug_shows_the_traceback(tmp_path, picture):
    result = invoke(
        "translate", "--model", "pix2pix", "--weights", tmp_path / "none.pth", picture, tmp_path / "o"
    )
    assert result.exit_code == 1 and "error:" in result.stderr and "Traceback" not in result.output
    result = invoke(
        "--debug",
        "translate",
        "--model",
        "pix2pix",
        "--weights",
        tmp_path / "none.pth",
        picture,
        tmp_path / "o",
    )
    assert isinstance(result.exception, I2IError)  # raised, so the traceback is shown


HELP_EXAMPLES = [
    ["translate"],
    ["convert"],
    ["models"],
    ["train"],
    ["data", "synth"],
    ["eval", "paired"],
    ["env"],
    ["demo"],
]


@pytest.mark.parametrize("command", HELP_EXAMPLES, ids=" ".join)
def test_help_mentions_an_example(command):
    text = ok(*command, "--help").stdout
    assert "Example" in text
    assert f"i2i {' '.join(command)}" in text


def test_grid_and_cond_for_any_model(tmp_path, tiny, picture):
    out = tmp_path / "out"
    ok("translate", "--weights", tiny, *FAST, "--grid", "--cond", "mode=train_dropout_off", picture, out)
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "picture.png"]  # one output: no _s0
    assert Image.open(out / "grid.png").size == (2 * 256 + 4, 256)  # the source and its output
    model = i2i.load(weights=tiny, device="cpu", precision="fp32")
    expected = model.translate(picture, as_array=True, mode="train_dropout_off")
    assert np.array_equal(np.asarray(Image.open(out / "picture.png")), expected)
    result = invoke("translate", "--weights", tiny, *FAST, "--grid", picture, tmp_path / "one.png")
    assert result.exit_code == 2 and "must be a folder" in result.stderr
    result = invoke("translate", "--weights", tiny, *FAST, "--cond", "psi=0.5", picture, tmp_path / "two.png")
    assert result.exit_code == 2 and "takes no option 'psi'" in result.stderr


def test_synth_data_for_a_model_then_check_it(tmp_path):
    result = ok("data", "synth", tmp_path / "d2n", "--model", "cyclegan", "--count", "6", "--size", "16")
    assert "(unaligned layout)" in result.stdout
    assert "fits cyclegan" in ok("data", "check", tmp_path / "d2n", "--model", "cyclegan").stdout
