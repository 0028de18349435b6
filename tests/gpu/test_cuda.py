"""CUDA paths (marked `gpu`: skipped where there is no CUDA device, so in CI): training in bf16 and in fp16
with the loss scaler, translation and upscaling in every precision against fp32 on the CPU, compiled
against eager networks, and exact resume with `--deterministic`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.paired import make_paired
from i2i.io.imageio import ImageData
from i2i.ops.metrics import psnr
from i2i.ops.tiling import upscale_array
from i2i.runtime import compile_networks

pytestmark = pytest.mark.gpu

TINY = ["--set", "netG=resnet_6blocks", "--set", "ngf=8", "--set", "ndf=8", "--set", "load_size=36",
        "--set", "crop_size=32"]  # fmt: skip
AFHQ = {"num_domains": 3, "w_hpf": 0}


@pytest.fixture(autouse=True)
def _restore_backends():
    """`--deterministic` sets process-wide switches; every test starts and ends with PyTorch's defaults."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    yield
    torch.use_deterministic_algorithms(saved[0])
    (_, torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
     torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) = saved  # fmt: skip


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return make_paired(tmp_path_factory.mktemp("data") / "shapes", count=24, size=32, seed=3)


def _train(*args: str) -> None:
    result = CliRunner().invoke(app, ["train", *args, "--no-progress", "--workers", "0", "--device", "cuda"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_training_on_cuda_in_half_precision(shapes, tmp_path, precision):
    run = tmp_path / "run"
    _train("pix2pix", "--data", str(shapes), "--steps", "4", "--log-every", "1", "--precision", precision,
           "--run-dir", str(run), *TINY)  # fmt: skip
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4]
    assert all(np.isfinite(v) for entry in log for k, v in entry.items() if k.startswith(("G_", "D_")))
    model = i2i.load(weights=run / "model.safetensors", device="cuda")
    assert model.step == 4


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("pix2pix", {}),
        ("cyclegan", {}),
        pytest.param(
            "stargan-v2",
            AFHQ,
            marks=pytest.mark.xfail(
                reason="below 40 dB on an H200 in the first GPU run (2026-12-04, .ci/gpu-check); not yet explained"
            ),
        ),
        ("stargan", {}),
        ("esrgan", {}),
    ],
)
def test_translation_in_every_precision_is_within_40_db_of_fp32(name, settings):
    size = 64 if name == "esrgan" else 256
    rng = np.random.default_rng(0)
    images = [ImageData(rng.random((size, size, 3), dtype=np.float32), None, 8) for _ in range(2)]
    torch.manual_seed(0)
    reference = i2i.load(name, device="cpu", precision="fp32", **settings)
    expected = reference.translate_images(images, batch_size=2)
    states = reference.state_dicts()
    for precision in ("fp32", "bf16", "fp16"):
        model = i2i.load(name, device="cuda", precision=precision, **settings)
        model.load_networks(states)
        got = model.translate_images(images, batch_size=2)
        for a, b in zip(expected, got, strict=True):
            assert a.pixels.shape == b.pixels.shape
            score = psnr(a.pixels, b.pixels, data_range=1.0)
            assert score >= 40, f"{name} {precision}: {score:.1f} dB"


def test_upscaling_on_cuda_tiles_without_seams():
    torch.manual_seed(0)
    model = i2i.load("esrgan", device="cuda", precision="auto")
    pixels = np.random.default_rng(1).random((200, 260, 3), dtype=np.float32)
    whole = upscale_array(model, pixels, tile=0)
    tiled = upscale_array(model, pixels, tile=64, tile_pad=10)
    assert whole.shape == tiled.shape == (800, 1040, 3)
    assert psnr(whole, tiled) >= 40


def test_compiled_networks_match_eager_ones():
    torch.backends.cudnn.allow_tf32 = False  # both in true fp32: only the fused order of operations differs
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    eager = i2i.load("cyclegan", device="cuda", precision="fp32", ngf=16)
    compiled = i2i.load("cyclegan", device="cuda", precision="fp32", ngf=16)
    compiled.load_networks(eager.state_dicts())
    assert compile_networks(compiled.networks.values(), torch.device("cuda"), "on")
    assert compiled.state_dicts().keys() == eager.state_dicts().keys()  # keys unchanged by compilation
    x = torch.rand(2, 3, 128, 128, device="cuda") * 2 - 1
    with torch.no_grad():
        a, b = eager.networks["G_A"](x), compiled.networks["G_A"](x)
    assert (a - b).abs().max().item() < 1e-3


@pytest.mark.parametrize("deterministic", [True, False])
def test_resume_on_cuda(shapes, tmp_path, deterministic):
    flags = ["--deterministic"] if deterministic else []
    common = ["--data", str(shapes), "--batch-size", "3", "--seed", "5", "--precision", "fp32",
              "--sample-every", "0", "--save-every", "3", *TINY, *flags]  # fmt: skip
    _train("pix2pix", *common, "--run-dir", str(tmp_path / "straight"), "--steps", "6")
    _train("pix2pix", *common, "--run-dir", str(tmp_path / "resumed"), "--steps", "3")
    _train("--run-dir", str(tmp_path / "resumed"), "--resume", "--steps", "6")
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    if deterministic:
        assert worst == 0.0
    else:
        assert worst < 1e-3  # float noise of the autotuned, non-deterministic kernels


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_layer_by_layer_translation_on_cuda_matches_untiled(precision, monkeypatch):
    """`i2i.ops.layerwise` on the device: bands moved through files and held activations on the GPU give
    the untiled output (fp32 up to TF32 convolutions, bf16 within 40 dB)."""
    from i2i.ops import layerwise, tiled_translate

    torch.manual_seed(0)
    model = i2i.load("cyclegan", device="cuda", precision=precision, netG="resnet_6blocks", ngf=16)
    rng = np.random.default_rng(0)
    image = ImageData(rng.random((192, 256, 3), dtype=np.float32), None, 8)
    tiled_translate.configure(model, 0, None)
    whole = model.translate_images([image])[0].pixels
    calls = []
    forward = layerwise.forward
    monkeypatch.setattr(layerwise, "forward", lambda *a, **k: calls.append(k) or forward(*a, **k))
    tiled_translate.configure(model, 64, None)
    streamed = model.translate_images([image])[0].pixels
    assert calls
    assert psnr(streamed, whole, data_range=1.0) >= (50.0 if precision == "fp32" else 40.0)
