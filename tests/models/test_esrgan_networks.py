"""ESRGAN family: forward parity with the reference in every checkpoint layout, shapes of official files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import i2i
from i2i.api import interpolate_networks
from i2i.models.esrgan import model as esrgan
from tests.conftest import FIXTURES

GROUP = FIXTURES / "esrgan"
MANIFEST = json.loads((GROUP / "manifest.json").read_text())["fixtures"]
FORWARD = [
    ("rrdb_x4_public", "basicsr"),
    ("rrdb_x4_public", "esrgan_new"),
    ("rrdb_x4_public", "esrgan_old"),
    ("rrdb_x2_public", "basicsr"),
    ("rrdb_x1_public", "basicsr"),
    ("rrdb_oldarch_x8_public", "esrgan_old"),
    ("srvgg_x4_prelu_public", None),
]


def _outputs(io: dict) -> list[tuple[str, str]]:
    return [(k, "output" + k.removeprefix("input")) for k in io if k.startswith("input")]


@pytest.mark.parametrize("case, layout", FORWARD)
def test_generator_forward_in_every_layout(case, layout):
    weights = GROUP / (f"{case}.{layout}.safetensors" if layout else f"{case}.safetensors")
    model = i2i.load("esrgan", weights, device="cpu", precision="fp32")
    io = load_file(GROUP / f"{case}.io.safetensors")
    tol = MANIFEST[case]["tolerance"]
    G = model.networks["G"].eval()
    for inp, out in _outputs(io):
        with torch.no_grad():
            torch.testing.assert_close(G(io[inp]), io[out], atol=tol["atol"], rtol=tol["rtol"])


def test_detected_hyperparameters():
    model = i2i.load(weights=GROUP / "rrdb_x2_public.basicsr.safetensors", device="cpu")
    c = model.config
    assert (c.arch, c.scale, c.num_feat, c.num_block, c.num_grow_ch, c.upsample_stages) == (
        "rrdb",
        2,
        8,
        1,
        4,
        None,
    )
    x8 = i2i.load("esrgan", GROUP / "rrdb_oldarch_x8_public.esrgan_old.safetensors", device="cpu").config
    assert (x8.scale, x8.upsample_stages) == (8, 3)
    srvgg = i2i.load("esrgan", GROUP / "srvgg_x4_prelu_public.safetensors", device="cpu").config
    assert (srvgg.arch, srvgg.num_conv, srvgg.upscale, srvgg.act_type, srvgg.num_feat) == (
        "srvgg",
        4,
        4,
        "prelu",
        8,
    )


@pytest.mark.parametrize(
    "name", ["rrdb_x4_public.basicsr_params_ema.pth", "rrdb_x4_public.old_bare_module_prefix.pth"]
)
def test_wrapped_pth_files(name):
    model = i2i.load(weights=GROUP / name, device="cpu", precision="fp32")
    io = load_file(GROUP / "rrdb_x4_public.io.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(
            model.networks["G"].eval()(io["input_13x17"]), io["output_13x17"], atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize(
    "case, cls", [("vggd_public", "VGGStyleDiscriminator"), ("unetd_sn_public", "UNetDiscriminatorSN")]
)
def test_discriminators(case, cls):
    model = i2i.load("esrgan", GROUP / f"{case}.safetensors", device="cpu", precision="fp32")
    assert type(model.networks["D"]).__name__ == cls and "D" in model.loaded
    io = load_file(GROUP / f"{case}.io.safetensors")
    D = model.networks["D"].eval()
    (inp,) = [k for k in io if "input" in k]
    (out,) = [k for k in io if "output" in k]
    with torch.no_grad():
        torch.testing.assert_close(D(io[inp]), io[out], atol=1e-5, rtol=1e-5)


def test_network_interpolation():
    psnr = load_file(GROUP / "net_interp_public.psnr.safetensors")
    gan = load_file(GROUP / "net_interp_public.esrgan.safetensors")
    expected = load_file(GROUP / "net_interp_public.interp.safetensors")
    got = interpolate_networks(psnr, gan, 0.8)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-7, rtol=0)


def test_dni_blending_of_the_srvgg_twins():
    general = load_file(GROUP / "srvgg_x4_prelu_public.safetensors")
    wdn = load_file(GROUP / "srvgg_x4_prelu_public.wdn.safetensors")
    merged = load_file(GROUP / "srvgg_x4_prelu_public.dni_merged.safetensors")
    got = interpolate_networks(wdn, general, 0.5)  # dn * general + (1 - dn) * wdn
    for key in merged:
        torch.testing.assert_close(got[key], merged[key], atol=1e-7, rtol=0)


@pytest.mark.parametrize("keys_file", sorted(p.name for p in GROUP.glob("keys_default_*.json")))
def test_official_key_layouts_detect_and_load(keys_file):
    """Every full-size official configuration: detected from (key, shape) alone, loads strictly."""
    spec = json.loads((GROUP / keys_file).read_text())
    state = {k: torch.zeros(shape, dtype=getattr(torch, dtype)) for k, shape, dtype in spec["keys"]}
    settings, networks = esrgan.ESRGAN.import_official({"": state})
    model = esrgan.ESRGAN(i2i.config.replace(esrgan.ESRGAN.Config(), settings), device="cpu")
    model.load_networks(networks)
