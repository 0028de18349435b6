"""bf16 on CPU for the upscalers: only the convolutions run in bf16; RRDBNet's residual stream and its
output layers stay in fp32 (`i2i.runtime.float32_between_convolutions`), so bf16 lands within 50 dB and 8
levels of fp32 on photos; `auto` is fp32 for RRDBNet on CPU. Timings are in benchmarks/cases_precision.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import i2i
from i2i.runtime import autocast, float32_between_convolutions

FIXTURES = Path(__file__).parents[1] / "fixtures" / "esrgan"
WEIGHTS = FIXTURES / "rrdb_x4_public.basicsr.safetensors"  # RRDBNet nf 8, nb 2, gc 4
SAMPLE = Path(i2i.__file__).parent / "models" / "esrgan" / "samples" / "coffee.png"


pytestmark = pytest.mark.usefixtures("one_thread")


def _photo() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"))[20:52, 30:62].copy()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("weights", [WEIGHTS, FIXTURES / "srvgg_x4_prelu_public.safetensors"])
def test_bf16_is_within_50_db_and_8_levels_of_fp32(weights):
    photo = _photo()
    fp32 = i2i.load(weights=weights, device="cpu", precision="fp32")
    bf16 = i2i.load(weights=weights, device="cpu", precision="bf16")
    assert bf16.precision == "bf16"
    ref = fp32.translate(photo, as_array=True)
    out = bf16.translate(photo, as_array=True)
    assert ref.std() > 20  # a picture, not a flat output
    assert _psnr(out, ref) >= 50 and np.abs(out.astype(int) - ref).max() <= 8


def test_plain_bf16_autocast_lands_further_off():
    photo = _photo()
    ref = i2i.load(weights=WEIGHTS, device="cpu", precision="fp32").translate(photo, as_array=True)
    out = i2i.load(weights=WEIGHTS, device="cpu", precision="bf16").translate(photo, as_array=True)
    # all of it in bf16 (plain autocast): pixels and the residual stream rounded at every step
    G = i2i.load(weights=WEIGHTS, device="cpu", precision="fp32").networks["G"].eval()
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode(), autocast(torch.device("cpu"), "bf16"):
        plain = (G(x).float().clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy()
    assert _psnr(out, ref) > _psnr(plain, ref) + 2


def test_only_the_convolutions_run_in_bf16():
    G = i2i.load(weights=WEIGHTS, device="cpu", precision="fp32").networks["G"].eval()
    float32_between_convolutions(G, float32_last=4, float32_first=1)
    float32_between_convolutions(G, float32_last=4, float32_first=1)  # once: no second set of hooks
    seen: dict[str, torch.dtype] = {}

    def record(name):
        def hook(module, inputs, output=None) -> None:
            seen.setdefault(name, (inputs[0] if output is None else output).dtype)

        return hook

    G.body[0].register_forward_hook(record("residual"))
    G.body[0].rdb1.conv1.register_forward_hook(record("conv1"))
    G.conv_last.register_forward_pre_hook(record("into conv_last"))
    with torch.inference_mode(), autocast(torch.device("cpu"), "bf16"):
        y = G(torch.rand(1, 3, 8, 8))
    assert seen["residual"] == seen["conv1"] == seen["into conv_last"] == torch.float32
    assert y.dtype == torch.float32
    assert [k for k in G.state_dict() if "hook" in k] == []
    pixels = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        exact, body = G.conv_first(pixels), G.conv_body(G.conv_first(pixels))
        with autocast(torch.device("cpu"), "bf16"):
            torch.testing.assert_close(G.conv_first(pixels), exact, rtol=0, atol=0)  # wholly fp32
            rounded = G.conv_body(exact)  # bf16 inside, fp32 out
    assert rounded.dtype == torch.float32 and not torch.equal(rounded, body)
    fp32 = i2i.load(weights=WEIGHTS, device="cpu", precision="fp32").networks["G"].eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():  # outside autocast nothing changes
        torch.testing.assert_close(G(x), fp32(x), rtol=0, atol=0)


def test_auto_is_fp32_for_rrdb_on_cpu(monkeypatch):
    monkeypatch.setattr("i2i.runtime.cpu_has_fast_bf16", lambda: True)
    assert i2i.load("esrgan", device="cpu", precision="auto", num_feat=8, num_block=1).precision == "fp32"
    compact = i2i.load("esrgan", device="cpu", precision="auto", arch="srvgg", num_feat=8, num_conv=2)
    assert compact.precision == "bf16"
    assert i2i.load("esrgan", device="cpu", precision="bf16", num_feat=8, num_block=1).precision == "bf16"
