"""ESRGAN from the command line: evaluation, network interpolation, denoise strength, training flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.images import make_images
from tests.conftest import FIXTURES

GROUP = FIXTURES / "esrgan"
RUNNER = CliRunner()


def ok(*args):
    result = RUNNER.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_eval_sr_reports_y_and_rgb_against_bicubic(tmp_path):
    hr = make_images(tmp_path / "hr", count=2, size=48, seed=2)
    report = json.loads(ok("eval", "sr", hr, "--weights", GROUP / "rrdb_x4_public.basicsr.safetensors", "--json",
                           "--precision", "fp32").stdout)  # fmt: skip
    assert report["images"] == 2 and report["scale"] == 4 and report["crop_border"] == 4
    assert {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"} <= report.keys() <= report.keys() | {"bicubic"}
    assert report["bicubic"]["psnr_y"] > 15  # a sane baseline on smooth synthetic images


def test_weights_interp_matches_the_reference(tmp_path):
    out = tmp_path / "interp.safetensors"
    ok("weights", "interp", GROUP / "net_interp_public.psnr.safetensors", GROUP / "net_interp_public.esrgan.safetensors",
       out, "--alpha", "0.8", "--model", "esrgan")  # fmt: skip
    expected = load_file(GROUP / "net_interp_public.interp.safetensors")
    _, converted = i2i.models.esrgan.model.ESRGAN.import_official({"G": expected})
    model = i2i.load(weights=out, device="cpu")
    for key, value in converted["G"].items():
        torch.testing.assert_close(model.networks["G"].state_dict()[key], value, atol=1e-7, rtol=0)


def test_denoise_strength_blends_the_twins(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((12, 10, 3), 120, np.uint8)).save(tmp_path / "in.png")
    general, wdn = (
        GROUP / "srvgg_x4_prelu_public.safetensors",
        GROUP / "srvgg_x4_prelu_public.wdn.safetensors",
    )
    ok("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png", "--weights", general, "--denoise-strength", "0.5",
       "--denoise-twin", wdn, "--precision", "fp32", "--no-progress")  # fmt: skip
    assert Image.open(tmp_path / "out.png").size == (40, 48)
    result = RUNNER.invoke(app, ["upscale", str(tmp_path / "in.png"), "--weights", str(general),
                                 "--denoise-strength", "0.5", "--no-progress"])  # fmt: skip
    assert result.exit_code == 2 and "denoise" in result.output


@pytest.mark.parametrize("flag, value", [("--stage", "gan"), ("--degradation", "realesrgan")])
def test_train_shortcut_flags_reach_the_config(tmp_path, flag, value):
    result = RUNNER.invoke(app, ["train", "pix2pix", "--data", str(tmp_path), flag, value])
    assert result.exit_code == 2 and "not a setting" in result.output
