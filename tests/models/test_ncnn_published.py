"""ncnn files given by path are used as published: an x4 network whose graph ends in a resize to x2 or x3
upscales, converts and evaluates at x2/x3 (not only under its catalogue name), and `i2i convert` keeps the
file's fp16 weights unless told otherwise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.jobs.evaluate import evaluate_sr
from i2i.jobs.upscale import default_outscale
from i2i.models.esrgan import ncnn
from i2i.models.esrgan.networks import SRVGGNetCompact
from tests.models.test_ncnn import PACKAGE, _randomised, needs_package, write_srvgg


@pytest.fixture
def x2_pair(tmp_path) -> Path:
    """A tiny x4 SRVGG network written as an ncnn pair that ends in a resize by 0.5, all weights fp16."""
    net = _randomised(SRVGGNetCompact(3, 3, num_feat=8, num_conv=2), seed=3)
    param, _ = write_srvgg(net, tmp_path / "ncnn", "tiny-x2", final_resize=0.5, tags=[ncnn.FP16_TAG])
    return param


pytestmark = pytest.mark.usefixtures("one_thread")


def _image(path: Path, size: tuple[int, int] = (24, 20)) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _dtypes(path: Path) -> set[torch.dtype]:
    with safe_open(str(path), "pt") as fh:
        return {fh.get_tensor(k).dtype for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)


def test_a_file_that_ends_in_a_resize_knows_its_factor(x2_pair):
    model = i2i.load(weights=x2_pair, device="cpu", precision="fp32")
    assert model.scale == 4 and model.outscale == 2 and default_outscale(model) == 2
    assert model.weights_dtype == torch.float16
    plain, _ = write_srvgg(SRVGGNetCompact(3, 3, num_feat=8, num_conv=2), x2_pair.parent, "plain", tags=[0])
    other = i2i.load(weights=plain, device="cpu", precision="fp32")
    assert other.outscale is None and default_outscale(other) == 4 and other.weights_dtype == torch.float32


def test_upscale_by_path_writes_the_published_size(x2_pair, tmp_path):
    image = _image(tmp_path / "img.png")
    result = CliRunner().invoke(app, ["upscale", str(image), "--weights", str(x2_pair), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "img_x2.png") as out:
        assert out.size == (48, 40)
    assert not (tmp_path / "img_x4.png").exists()


def test_convert_keeps_fp16_and_the_factor(x2_pair, tmp_path):
    kept, wide = tmp_path / "kept.safetensors", tmp_path / "wide.safetensors"
    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(x2_pair), str(kept)])
    assert result.exit_code == 0, result.output
    assert "fp16" in result.output and _dtypes(kept) == {torch.float16}
    result = runner.invoke(app, ["convert", str(x2_pair), str(wide), "--dtype", "fp32"])
    assert result.exit_code == 0, result.output
    assert _dtypes(wide) == {torch.float32} and wide.stat().st_size > 1.8 * kept.stat().st_size
    for path in (kept, wide):
        model = i2i.load(weights=path, device="cpu", precision="fp32")
        assert model.outscale == 2 and default_outscale(model) == 2
    # a converted fp16 checkpoint converted again stays fp16
    again = tmp_path / "again.safetensors"
    assert runner.invoke(app, ["convert", str(kept), str(again)]).exit_code == 0
    assert _dtypes(again) == {torch.float16}
    image = _image(tmp_path / "img.png")
    result = runner.invoke(app, ["upscale", str(image), "--weights", str(kept), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "img_x2.png") as out:
        assert out.size == (48, 40)


def test_eval_sr_measures_at_the_published_factor(x2_pair, tmp_path):
    hr = tmp_path / "hr"
    hr.mkdir()
    _image(hr / "a.png", (40, 40))
    model = i2i.load(weights=x2_pair, device="cpu", precision="fp32")
    report = evaluate_sr(model, hr)
    assert report["scale"] == 2 and report["crop_border"] == 2 and np.isfinite(report["psnr_rgb"])


@needs_package
def test_the_package_x2_file_by_path():
    root = Path(next(iter(importlib.util.find_spec(PACKAGE).submodule_search_locations)))
    model = i2i.load(weights=root / "models" / "REALESRGAN_ANIMAVIDEOV3_UP2X.param", device="cpu")
    assert default_outscale(model) == 2 and model.weights_dtype == torch.float16
