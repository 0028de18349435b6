"""`i2i export`: every built-in model to ONNX and TorchScript, verified against PyTorch; exported `.onnx`
files run by `i2i translate` / `i2i upscale` through ONNX Runtime, within one level of the PyTorch path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i import registry
from i2i.cli import app
from i2i.data.images import make_images
from i2i.io import onnx_files
from tests.conftest import tiny_checkpoint

pytest.importorskip("onnxruntime")

RUNNER = CliRunner()
#: the built-in models issue 12 names (a model added later brings its own `export_graphs` if it needs one)
BUILT_IN = ("cyclegan", "esrgan", "pix2pix", "sr", "stargan", "stargan-v2")


def run(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def tiny(name, tmp_path):
    return tiny_checkpoint(name, tmp_path)


def test_the_models_are_registered():
    assert set(BUILT_IN) <= set(registry.model_names())


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
@pytest.mark.parametrize("name", BUILT_IN)
@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_export_matches_pytorch(name, suffix, tmp_path):
    weights = tiny(name, tmp_path)
    out = tmp_path / f"export{suffix}"
    rows = json.loads(ok("export", out, "--weights", weights, "--json").stdout)
    assert rows[0]["path"] == str(out) and out.is_file()
    for row in rows:
        assert row["precision"] == "fp32" and row["max_error"] <= row["tolerance"]
    if name in ("pix2pix", "cyclegan", "stargan"):  # tanh outputs in [-1, 1]: the plain fp32 tolerance
        assert rows[0]["tolerance"] == 1e-4
    graphs = [row["graph"] for row in rows]
    if name == "stargan-v2":
        assert graphs == ["translation", "mapping_network", "style_encoder"]
    if name == "cyclegan":
        assert graphs == ["G_A", "G_B"] and (tmp_path / f"export.G_B{suffix}").is_file()
    if suffix == ".onnx":
        meta = onnx_files.read_metadata(out)
        assert meta["model"] == name and meta["i2i_version"] == i2i.__version__ and meta["runnable"]
        assert {"value_range", "scale", "size_multiple", "conditions", "dynamic"} <= meta.keys()
    else:
        extra = {"i2i.json": ""}
        module = torch.jit.load(str(out), _extra_files=extra)
        assert json.loads(extra["i2i.json"])["model"] == name and module is not None


def test_fp16_export_within_its_tolerance(tmp_path):
    weights = tiny("esrgan", tmp_path)
    rows = json.loads(ok("export", tmp_path / "x.onnx", "--weights", weights, "--fp16", "--json").stdout)
    assert rows[0]["precision"] == "fp16" and 0 < rows[0]["max_error"] <= rows[0]["tolerance"]


def _pixels(folder):
    return {p.name: np.asarray(Image.open(p)).astype(int) for p in sorted(folder.glob("*.png"))}


def _assert_within_one_level(a, b):
    assert a.keys() == b.keys() and a
    for name in a:
        assert a[name].shape == b[name].shape and np.abs(a[name] - b[name]).max() <= 1, name


def test_onnx_weights_translate_a_folder_like_pytorch(tmp_path):
    weights = tiny("cyclegan", tmp_path)
    images = make_images(tmp_path / "in", count=3, size=36, seed=1)
    ok("export", tmp_path / "g.onnx", "--weights", weights, "--cond", "direction=BtoA")
    common = ("--precision", "fp32", "--no-progress")
    ok("translate", images, tmp_path / "torch", "--weights", weights, "--cond", "direction=BtoA", *common)
    ok("translate", images, tmp_path / "onnx", "--weights", tmp_path / "g.onnx", *common)
    _assert_within_one_level(_pixels(tmp_path / "torch"), _pixels(tmp_path / "onnx"))
    # the conditions are part of the file
    result = run(
        "translate", images, tmp_path / "o2", "--weights", tmp_path / "g.onnx", "--cond", "direction=AtoB"
    )
    assert result.exit_code != 0 and "exported with its conditions fixed (direction=BtoA)" in result.output


def test_onnx_weights_upscale_tile_by_tile_like_pytorch(tmp_path):
    weights = tiny("esrgan", tmp_path)
    images = make_images(tmp_path / "in", count=2, size=40, seed=2)
    ok("export", tmp_path / "sr.onnx", "--weights", weights)
    common = ("--precision", "fp32", "--no-progress", "--tile", "16")
    ok("upscale", images, "-o", tmp_path / "torch", "--weights", weights, *common)
    ok("upscale", images, "-o", tmp_path / "onnx", "--weights", tmp_path / "sr.onnx", *common)
    _assert_within_one_level(_pixels(tmp_path / "torch"), _pixels(tmp_path / "onnx"))
    loaded = i2i.load(weights=tmp_path / "sr.onnx")
    assert (
        loaded.name == "esrgan" and loaded.scale == 4 and loaded.provenance_tag()["runtime"] == "onnxruntime"
    )


def test_a_side_network_is_not_a_translation(tmp_path):
    weights = tiny("stargan-v2", tmp_path)
    ok("export", tmp_path / "s.onnx", "--weights", weights, "--cond", "target_domain=1")
    with pytest.raises(i2i.I2IError, match="not an image translation"):
        i2i.load(weights=tmp_path / "s.mapping_network.onnx")


def test_bad_requests_are_one_line(tmp_path):
    weights = tiny("esrgan", tmp_path)
    result = run("export", tmp_path / "x.bin", "--weights", weights)
    assert result.exit_code != 0 and "--format onnx or torchscript" in result.output
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    images = make_images(tmp_path / "in", count=1, size=16, seed=3)
    result = run("upscale", images, "--weights", tmp_path / "junk.onnx")
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1


def test_maskgan_exports_its_generator_and_parser_for_a_deployment_to_combine(tmp_path):
    weights = tiny("maskgan", tmp_path)
    out = tmp_path / "maskgan.onnx"
    rows = json.loads(ok("export", out, "--weights", weights, "--json").stdout)
    assert [row["graph"] for row in rows] == ["generator", "parser"]
    assert all(row["max_error"] <= row["tolerance"] == 1e-4 for row in rows)
    meta = onnx_files.read_metadata(out)
    assert meta["label_nc"] == 19 and len(meta["label_ids"]) == 19
    images = make_images(tmp_path / "in", count=1, size=32, seed=1)
    result = run("translate", images, "-o", tmp_path / "o", "--weights", out)
    assert result.exit_code != 0 and "not an image translation" in result.output
