"""The `sr` model: checkpoints of spandrel's architectures (random weights, built with spandrel's own classes
in small settings) through `i2i upscale`, against spandrel's own forward; conversion to i2i checkpoints; the
precision fallback; the one-line error without the extra; ESRGAN keeping its own layouts."""

from __future__ import annotations

import builtins
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.errors import I2IError
from i2i.ops import tiling

spandrel = pytest.importorskip("spandrel", reason="the sr extra is not installed (pip install 'i2i[sr]')")

from spandrel.architectures.Compact import Compact  # noqa: E402
from spandrel.architectures.DITN import DITN  # noqa: E402
from spandrel.architectures.HAT import HAT  # noqa: E402
from spandrel.architectures.OmniSR import OmniSR  # noqa: E402
from spandrel.architectures.PLKSR import PLKSR  # noqa: E402
from spandrel.architectures.RCAN import RCAN  # noqa: E402
from spandrel.architectures.RealCUGAN import UpCunet2x  # noqa: E402
from spandrel.architectures.RGT import RGT  # noqa: E402
from spandrel.architectures.SAFMN import SAFMN  # noqa: E402
from spandrel.architectures.SPAN import SPAN  # noqa: E402
from spandrel.architectures.SwiftSRGAN import SwiftSRGAN  # noqa: E402
from spandrel.architectures.SwinIR import SwinIR  # noqa: E402

RUNNER = CliRunner()
# name -> (spandrel's architecture id, a small network of it)
ARCHS = {
    "SPAN": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2),
    "SwinIR": lambda: SwinIR(upscale=2, img_size=16, window_size=4, embed_dim=12, depths=[1], num_heads=[2],
                             mlp_ratio=1, upsampler="pixelshuffledirect"),
    "OmniSR": lambda: OmniSR(num_feat=8, up_scale=2, window_size=4, res_num=1, block_num=1),
    "RealCUGAN": lambda: UpCunet2x(in_channels=3, out_channels=3),
    "SAFMN": lambda: SAFMN(dim=8, n_blocks=1, upscaling_factor=2),
    "DITN": lambda: DITN(upscale=2, dim=12, UFONE_blocks=1, ITL_blocks=1, SAL_blocks=1, patch_size=8),
    "PLKSR": lambda: PLKSR(dim=8, n_blocks=2, upscaling_factor=2),
    "RGT": lambda: RGT(upscale=2, embed_dim=32, depth=[1], num_heads=[2], split_size=[2, 4], mlp_ratio=1,
                       img_size=16),
    "HAT": lambda: HAT(upscale=2, embed_dim=12, depths=[1], num_heads=[2], window_size=4, compress_ratio=3,
                       squeeze_factor=4, mlp_ratio=1, img_size=16),
    "RCAN": lambda: RCAN(scale=2, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4),
    "SwiftSRGAN": lambda: SwiftSRGAN(upscale_factor=2, num_channels=8, num_blocks=1),
}  # fmt: skip
SUFFIXES = {name: (".pth", ".safetensors")[i % 2] for i, name in enumerate(ARCHS)}


def network(name: str) -> torch.nn.Module:
    torch.manual_seed(sum(map(ord, name)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = ARCHS[name]()
        # spandrel's classes start some layers at zero (e.g. residual scales): give every tensor values
        with torch.no_grad():
            for value in net.state_dict().values():
                if value.is_floating_point() and value.numel() > 1 and not value.abs().sum():
                    value.normal_(0, 0.02)
    return net.eval()


def save(net: torch.nn.Module, path) -> None:
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)


def reference(net: torch.nn.Module, pixels: np.ndarray) -> np.ndarray:
    """spandrel's own forward (its descriptor's call: size padding, clamp) in float."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        descriptor = spandrel.ModelLoader().load_from_state_dict(dict(net.state_dict()))
        x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None]  # some networks scale it in place
        return descriptor(x)[0].permute(1, 2, 0).numpy()


def image(seed: int, size=(21, 27)) -> np.ndarray:
    """A smooth picture with some texture (random weights amplify pure noise into anything)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]] / max(size)
    base = np.stack([np.sin(3 * x + 1), np.cos(4 * y), np.sin(2 * (x + y))], axis=2) * 0.35 + 0.5
    return np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sr")
    nets = {}
    for name in ARCHS:
        nets[name] = network(name)
        save(nets[name], folder / f"2x-{name}{SUFFIXES[name]}")
    return folder, nets


@pytest.mark.parametrize("name", list(ARCHS))
def test_upscales_like_spandrel(files, name):
    folder, nets = files
    model = i2i.load(weights=folder / f"2x-{name}{SUFFIXES[name]}", device="cpu", precision="fp32")
    assert model.name == "sr" and model.config.arch == name and model.scale == 2
    pixels = image(1, (40, 48))
    expected = reference(nets[name], pixels)
    whole = tiling.upscale_array(model, pixels, tile=0, out_dtype=np.float32)
    assert np.abs(whole - expected).max() < 1e-4
    # 2 x 2 tiles with 16 pixels of context and ramps: attention windows and pooling see enough around
    tiled = tiling.upscale_array(model, pixels, tile=32, tile_pad=16, mode="blend")
    assert np.abs(tiled.astype(np.int16) - np.round(expected * 255)).max() <= 1


def test_the_cli_picks_sr_by_detection_and_tags_the_output(files, tmp_path):
    folder, nets = files
    pixels = image(2, (19, 24))
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(tmp_path / "in.png")
    weights = folder / f"2x-SwinIR{SUFFIXES['SwinIR']}"
    result = RUNNER.invoke(app, ["upscale", str(tmp_path / "in.png"), "--weights", str(weights), "-o",
                                 str(tmp_path / "out.png"), "--device", "cpu", "--precision", "fp32",
                                 "--tile", "0", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = np.asarray(Image.open(tmp_path / "out.png")).astype(np.int16)
    expected = reference(nets["SwinIR"], np.asarray(Image.open(tmp_path / "in.png")) / np.float32(255))
    assert written.shape == (38, 48, 3)
    assert np.abs(written - np.round(expected * 255)).max() <= 1
    tag = i2i.io.imageio.read_provenance(tmp_path / "out.png")
    assert tag["model"] == "sr" and tag["architecture"] == "SwinIR"


def test_alpha_grey_and_16_bit(files):
    folder, _ = files
    model = i2i.load(weights=folder / "2x-SPAN.pth", device="cpu", precision="fp32")
    rgba = np.random.default_rng(0).integers(0, 256, (9, 13, 4), dtype=np.uint8)
    assert model.translate(rgba, as_array=True).shape == (18, 26, 4)
    grey16 = np.random.default_rng(1).integers(0, 65536, (10, 7), dtype=np.uint16)
    out = model.translate(grey16, as_array=True)
    assert out.shape == (20, 14) and out.dtype == np.uint16


def test_minimum_size_and_multiples(files):
    folder, nets = files
    # RealCUGAN needs 32 pixels or more, DITN multiples of 8: a smaller, odd image is padded and cropped back
    for name in ("RealCUGAN", "DITN"):
        model = i2i.load(weights=folder / f"2x-{name}{SUFFIXES[name]}", device="cpu", precision="fp32")
        assert model.min_size() >= model.size_multiple() >= 1
        pixels = image(3, (11, 13))
        out = tiling.upscale_array(model, pixels, tile=0, out_dtype=np.float32)
        assert out.shape == (22, 26, 3)
        assert np.abs(out - reference(nets[name], pixels)).max() < 1e-4


def test_convert_round_trip(files, tmp_path):
    folder, _ = files
    source = folder / f"2x-HAT{SUFFIXES['HAT']}"
    result = RUNNER.invoke(app, ["convert", str(source), str(tmp_path / "hat.safetensors")])
    assert result.exit_code == 0, result.output
    meta = i2i.io.checkpoint.read_safetensors(tmp_path / "hat.safetensors").meta
    assert meta["model"] == "sr" and meta["config"]["arch"] == "HAT"
    assert json.loads(meta["config"]["hyperparameters"])["embed_dim"] == 12
    detected = i2i.load(weights=source, device="cpu", precision="fp32")
    calls = []
    original = spandrel.ArchRegistry.load
    spandrel.ArchRegistry.load = lambda self, state: calls.append(1) or original(self, state)
    try:
        again = i2i.load(weights=tmp_path / "hat.safetensors", device="cpu", precision="fp32")
    finally:
        spandrel.ArchRegistry.load = original
    assert not calls  # rebuilt from the config: no detection
    pixels = image(4)
    assert np.array_equal(
        tiling.upscale_array(detected, pixels, tile=0), tiling.upscale_array(again, pixels, tile=0)
    )


def test_unsupported_precision_falls_back_to_fp32_with_a_note(files):
    folder, _ = files
    model = i2i.load(weights=folder / f"2x-SwinIR{SUFFIXES['SwinIR']}", device="cpu", precision="fp32")
    with pytest.warns(UserWarning, match="does not support bf16; running in fp32"):
        again = type(model)(i2i.config.replace(model.config, {"supports_bfloat16": False}), precision="bf16")
    assert again.precision == "fp32"


def test_esrgan_keeps_its_own_layouts(tmp_path):
    torch.manual_seed(0)
    save(Compact(num_feat=8, num_conv=2, upscale=2), tmp_path / "compact.pth")
    assert i2i.load(weights=tmp_path / "compact.pth", device="cpu", precision="fp32").name == "esrgan"


def test_without_the_extra_one_line_names_it(files, monkeypatch, tmp_path):
    folder, _ = files
    real_import = builtins.__import__

    def no_spandrel(name, *args, **kwargs):
        if name == "spandrel" or name.startswith("spandrel."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spandrel)
    monkeypatch.setattr("importlib.import_module", lambda name, *a: no_spandrel(name))
    with pytest.raises(I2IError, match=r"pip install 'i2i\[sr\]'") as caught:
        i2i.load(weights=folder / "2x-SPAN.pth", device="cpu", precision="fp32")
    assert "\n" not in str(caught.value)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    result = RUNNER.invoke(app, ["upscale", str(tmp_path / "a.png"), "--weights", str(folder / "2x-SPAN.pth"),
                                 "--device", "cpu", "--no-progress"])  # fmt: skip
    assert result.exit_code == 1 and "pip install 'i2i[sr]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
