"""An official-layout `latest_net_G.pth` of any generator kind loads with no flags.

State dicts are built with i2i's own network classes (their keys are identical to the reference's,
checked against the golden fixtures elsewhere), perturbed so that biases and BatchNorm statistics matter,
and saved the way the reference saves them (`torch.save(net.state_dict())`).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from torch import nn
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.errors import I2IError
from i2i.io import imageio
from i2i.io.official import read_any
from i2i.models._shared.cyclegan_pix2pix.networks import define_D, define_G
from i2i.models.pix2pix.model import Pix2PixConfig

RUNNER = CliRunner()


# ------------------------------------------------------------------------------------------- helpers


def perturbed(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random biases, affine parameters and BatchNorm statistics (PyTorch's init leaves them 0/1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in net.state_dict().items():
            if key.endswith("num_batches_tracked"):
                value.fill_(7)
            elif key.endswith("running_var") or (key.endswith("weight") and value.ndim == 1):
                value.copy_(torch.rand(value.shape, generator=gen) + 0.5)
            else:
                value.add_(torch.randn(value.shape, generator=gen) * 0.05)
    return net.eval()


def side(netG: str) -> int:
    return {"unet_256": 256, "unet_128": 128}.get(netG, 12)


def load(weights, model: str | None = "pix2pix", **overrides):
    return i2i.load(model, weights=weights, device="cpu", precision="fp32", **overrides)


def assert_same_output(model, net: nn.Module, input_nc: int, size: int, seed: int = 1) -> None:
    x = torch.randn(1, input_nc, size, size, generator=torch.Generator().manual_seed(seed))
    generator = model.networks["G" if "G" in model.networks else "G_A"]
    with torch.no_grad():
        expected = net.eval()(x)
        got = generator.eval()(x)
    assert torch.equal(got, expected)


def assert_nearly_equal(produced: np.ndarray, expected: np.ndarray) -> None:
    """Truncation to 8 bits turns last-bit float differences (translate runs channels_last, the check NCHW)
    into one-level steps at a few pixels; anything more is a real difference."""
    diff = np.abs(produced.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def detected_model(netG: str, norm: str) -> str:
    """Without --model or a train_opt.txt, a ResNet generator with InstanceNorm (CycleGAN's architecture and
    its model zoo's) is read as CycleGAN, every other generator as pix2pix."""
    return "cyclegan" if netG.startswith("resnet") and norm.startswith("instance") else "pix2pix"


SHARED_FIELDS = ("input_nc", "output_nc", "ngf", "netG", "norm", "no_dropout", "padding_type")


def write_train_opt(folder: Path, options: dict[str, object]) -> None:
    """A `train_opt.txt` in the reference's format (`BaseOptions.print_options`)."""
    lines = ["----------------- Options ---------------"]
    for key, value in options.items():
        lines.append(f"{key:>25}: {str(value):<30}\t[default: {value}]")
    lines.append("----------------- End -------------------")
    (folder / "train_opt.txt").write_text("\n".join(lines) + "\n")


# (netG, norm, dropout, padding_type, input/output channels, ngf): every generator kind with every norm
# and dropout setting; the ResNets with both a visible (zero) and an invisible (reflect) padding.
CASES = []
for netG in ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks"):
    for norm in ("batch", "instance", "none"):
        for dropout in (False, True):
            for padding in ("reflect", "zero") if netG.startswith("resnet") else ("reflect",):
                i = len(CASES)
                ngf = 4 if netG == "unet_256" else (4, 8, 16)[i % 3]
                CASES.append((netG, norm, dropout, padding, (1, 3)[i % 2], ngf))


def case_id(case) -> str:
    netG, norm, dropout, padding, nc, ngf = case
    return f"{netG}-{norm}-{'drop' if dropout else 'nodrop'}-{padding}-nc{nc}-ngf{ngf}"


# ------------------------------------------------------------------------------- every generator kind


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_official_generator_loads_without_flags(tmp_path, case):
    netG, norm, dropout, padding, nc, ngf = case
    net = perturbed(define_G(nc, nc, ngf, netG, norm, dropout, padding), seed=len(netG) + ngf)
    path = tmp_path / "latest_net_G.pth"
    torch.save(net.state_dict(), path)
    expected = Pix2PixConfig(
        input_nc=nc,
        output_nc=nc,
        ngf=ngf,
        netG=netG,
        norm=norm,
        # U-Net dropout adds no keys (unlike ResNet's conv_block shift): the default (on) stays
        no_dropout=not dropout if netG.startswith("resnet") else False,
        padding_type=padding,
    )
    model = load(path, "pix2pix")
    assert model.config == expected
    assert model.loaded == {"G"}
    assert_same_output(model, net, nc, side(netG))
    detected = load(path, None)
    assert detected.name == detected_model(netG, norm)
    for field in SHARED_FIELDS:
        assert getattr(detected.config, field) == getattr(expected, field), field
    assert_same_output(detected, net, nc, side(netG))


@pytest.mark.parametrize("netG", ["resnet_6blocks", "unet_128"])
def test_legacy_instance_norm_running_stats_are_dropped(tmp_path, netG):
    """2018-era InstanceNorm checkpoints carry running_mean/var and num_batches_tracked (#318, #461)."""
    net = perturbed(define_G(3, 3, 4, netG, "instance", False))
    state = net.state_dict()
    legacy = dict(state)
    for name, module in net.named_modules():
        if isinstance(module, nn.InstanceNorm2d):
            c = module.num_features
            legacy[f"{name}.running_mean"] = torch.randn(c)
            legacy[f"{name}.running_var"] = torch.rand(c) + 0.5
            legacy[f"{name}.num_batches_tracked"] = torch.tensor(123)
    if netG.startswith("resnet"):
        assert {"model.2.running_mean", "model.10.conv_block.6.num_batches_tracked"} <= set(legacy)
    assert len(legacy) > len(state)
    path = tmp_path / "latest_net_G.pth"
    torch.save(legacy, path)
    for model_name in ("pix2pix", None):
        model = load(path, model_name)
        assert model.name == (model_name or detected_model(netG, "instance"))
        assert model.config.norm == "instance"
        assert model.config.netG == netG
        assert_same_output(model, net, 3, side(netG))


def test_batchnorm_checkpoints_without_num_batches_tracked(tmp_path):
    """PyTorch < 0.4 BatchNorm had no num_batches_tracked; the reference fills it in (it drops _metadata)."""
    net = perturbed(define_G(3, 3, 4, "unet_128", "batch", True))
    state = net.state_dict()
    old = type(state)((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    old._metadata = state._metadata  # as torch.save keeps it: BatchNorm version 2 would demand the key
    assert len(old) < len(state)
    torch.save(old, tmp_path / "latest_net_G.pth")
    model = load(tmp_path / "latest_net_G.pth", None)
    assert (model.config.netG, model.config.norm) == ("unet_128", "batch")
    assert_same_output(model, net, 3, 128)


# ------------------------------------------------------------------------------------------ wrappers


def _wrap_state_dict(state, path):
    torch.save({"state_dict": state}, path.with_suffix(".pth"))
    return path.with_suffix(".pth")


def _prefix(prefix):
    def wrap(state, path):
        torch.save({prefix + k: v for k, v in state.items()}, path.with_suffix(".pth"))
        return path.with_suffix(".pth")

    return wrap


def _bare_safetensors(state, path):
    save_file({k: v.contiguous() for k, v in state.items()}, str(path.with_suffix(".safetensors")))
    return path.with_suffix(".safetensors")


WRAPPERS = {
    "state_dict": _wrap_state_dict,
    "module": _prefix("module."),
    "orig_mod": _prefix("_orig_mod."),
    "module_orig_mod": _prefix("module._orig_mod."),
    "bare_safetensors": _bare_safetensors,
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_wrapped_state_dicts_load(tmp_path, wrapper):
    net = perturbed(define_G(3, 3, 4, "resnet_6blocks", "batch", True))
    path = WRAPPERS[wrapper](net.state_dict(), tmp_path / "latest_net_G")
    for model_name in ("pix2pix", None):
        model = load(path, model_name)
        assert (model.config.netG, model.config.norm, model.config.no_dropout) == (
            "resnet_6blocks",
            "batch",
            False,
        )
        assert_same_output(model, net, 3, 12)


# --------------------------------------------------------------------------------------- run folders


@pytest.mark.parametrize(
    ("netD", "n_layers_D", "norm"),
    [("basic", 3, "batch"), ("n_layers", 2, "batch"), ("n_layers", 4, "instance"), ("pixel", 3, "none")],
)
def test_run_folder_imports_G_and_D_and_train_opt(tmp_path, netD, n_layers_D, norm):
    netG = "unet_128" if norm == "batch" else "resnet_6blocks"
    G = perturbed(define_G(3, 3, 4, netG, norm, False), seed=1)
    D = perturbed(define_D(6, 8, netD, n_layers_D, norm), seed=2)
    torch.save(G.state_dict(), tmp_path / "latest_net_G.pth")
    torch.save(D.state_dict(), tmp_path / "latest_net_D.pth")
    write_train_opt(
        tmp_path,
        {
            "batch_size": 1,
            "crop_size": 128,
            "dataroot": "./datasets/facades",
            "direction": "BtoA",
            "gpu_ids": "0",
            "load_size": 143,
            "max_dataset_size": "inf",  # the reference's default: float('inf')
            "n_layers_D": n_layers_D,
            "name": "facades_pix2pix",
            "ndf": 8,
            "netD": netD,
            "netG": netG,
            "ngf": 4,
            "no_dropout": True,
            "norm": norm,
            "preprocess": "resize_and_crop",
        },
    )
    for model_name in ("pix2pix", None):
        model = load(tmp_path, model_name)
        c = model.config
        assert model.loaded == {"G", "D"}
        assert (c.netG, c.ngf, c.norm, c.input_nc, c.output_nc) == (netG, 4, norm, 3, 3)
        assert (c.netD, c.ndf) == (netD, 8)
        if netD == "n_layers":
            assert c.n_layers_D == n_layers_D
        # settings only the options file knows
        assert (c.direction, c.crop_size, c.load_size, c.max_dataset_size) == ("BtoA", 128, 143, None)
        assert c.no_dropout is True  # invisible in U-Net keys: taken from train_opt.txt
        assert_same_output(model, G, 3, side(netG))
        x = torch.randn(1, 6, 64, 64)
        with torch.no_grad():
            assert torch.equal(model.networks["D"].eval()(x), D(x))


def test_run_folder_without_latest_picks_the_newest_epoch(tmp_path):
    nets = {}
    for epoch in (5, 10, 15):
        nets[epoch] = perturbed(define_G(3, 3, 4, "resnet_6blocks", "instance", False), seed=epoch)
        torch.save(nets[epoch].state_dict(), tmp_path / f"{epoch}_net_G.pth")
        torch.save(
            perturbed(define_D(6, 4, "pixel", norm="instance")).state_dict(), tmp_path / f"{epoch}_net_D.pth"
        )
    model = load(tmp_path, None)
    assert model.loaded == {"G", "D"} and model.config.netD == "pixel"
    assert_same_output(model, nets[15], 3, 12)
    # one epoch file on its own
    single = load(tmp_path / "5_net_G.pth")
    assert single.loaded == {"G"}
    assert_same_output(single, nets[5], 3, 12)


# ------------------------------------------------------------------------------------------- convert


def test_convert_writes_a_self_describing_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = perturbed(define_G(1, 3, 8, "resnet_6blocks", "batch", True, "zero"))
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    result = RUNNER.invoke(app, ["convert", "latest_net_G.pth", "out.safetensors"])
    assert result.exit_code == 0, result.output
    assert "out.safetensors" in result.stdout
    converted = i2i.load(weights=tmp_path / "out.safetensors", device="cpu", precision="fp32")
    direct = load(tmp_path / "latest_net_G.pth")
    assert converted.config == direct.config
    assert (converted.config.input_nc, converted.config.output_nc, converted.config.padding_type) == (
        1,
        3,
        "zero",
    )
    assert_same_output(converted, net, 1, 12)

    net = perturbed(define_G(3, 3, 4, "resnet_6blocks", "instance", False))
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    result = RUNNER.invoke(
        app, ["convert", "latest_net_G.pth", "replicate.safetensors", "--set", "padding_type=replicate"]
    )
    assert result.exit_code == 0, result.output
    assert read_any(tmp_path / "replicate.safetensors").meta["config"]["padding_type"] == "replicate"
    converted = i2i.load(weights=tmp_path / "replicate.safetensors", device="cpu", precision="fp32")
    assert converted.config.padding_type == "replicate"
    replicate = perturbed(define_G(3, 3, 4, "resnet_6blocks", "instance", False, "replicate"))
    replicate.load_state_dict(net.state_dict())
    assert_same_output(converted, replicate, 3, 12)


def test_convert_a_run_folder_keeps_G_and_D(tmp_path):
    G = perturbed(define_G(3, 3, 4, "resnet_6blocks", "instance", False), seed=3)
    D = perturbed(define_D(6, 4, "n_layers", 2, "instance"), seed=4)
    run = tmp_path / "facades_pix2pix"
    run.mkdir()
    torch.save(G.state_dict(), run / "latest_net_G.pth")
    torch.save(D.state_dict(), run / "latest_net_D.pth")
    result = RUNNER.invoke(app, ["convert", str(run), str(tmp_path / "run.safetensors")])
    assert result.exit_code == 0, result.output
    converted = i2i.load(weights=tmp_path / "run.safetensors", device="cpu", precision="fp32")
    assert converted.loaded == {"G", "D"}
    assert (converted.config.netD, converted.config.n_layers_D, converted.config.ndf) == ("n_layers", 2, 4)
    assert_same_output(converted, G, 3, 12)


# ------------------------------------------------------------------------------------- unknown keys


def test_keys_of_no_known_variant_are_one_line_errors(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save({"encoder.conv1.weight": torch.zeros(4, 3, 3, 3), "encoder.conv1.bias": torch.zeros(4)}, path)
    with pytest.raises(I2IError) as info:
        load(path, None)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(I2IError) as info:
        load(path, "pix2pix")
    assert "\n" not in str(info.value) and "encoder.conv1.weight" in str(info.value)
    # a U-Net of a depth the reference does not define (6 levels) is unet_64, as forks call it
    from i2i.models._shared.cyclegan_pix2pix.networks import UnetGenerator

    torch.save(UnetGenerator(3, 3, 6, 4, "batch").state_dict(), path)
    for model_name in ("pix2pix", None):
        assert load(path, model_name).config.netG == "unet_64"


# ------------------------------------------------------------------------------- awkward image folder


def _ihdr(path: Path) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) straight from a PNG header."""
    head = path.read_bytes()[:26]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height, head[24], head[25]


def _png16(path: Path, array: np.ndarray) -> None:
    """A 16-bit PNG written independently of i2i (grey via Pillow, RGB via a minimal encoder)."""
    import zlib

    if array.ndim == 2:
        Image.fromarray(array).save(path)
        return
    h, w, _ = array.shape
    rows = np.ascontiguousarray(array, dtype=">u2").view(np.uint8).reshape(h, -1)
    raw = np.pad(rows, ((0, 0), (1, 0))).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def awkward_folder(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    (src / "sub" / "deeper").mkdir(parents=True)
    rgba = rng.integers(0, 256, (23, 37, 4), dtype=np.uint8)
    rgba[..., 3] = rng.integers(0, 256, (23, 37), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(src / "rgba.png")
    _png16(src / "sub" / "rgb16.png", rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16))
    _png16(src / "sub" / "grey16.png", rng.integers(0, 65536, (21, 19), dtype=np.uint16))
    rotated = Image.fromarray(rng.integers(0, 256, (20, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show upright: 40x20 stored, 20x40 seen
    rotated.save(src / "sub" / "deeper" / "rotated.jpg", exif=exif)
    Image.fromarray(rng.integers(0, 256, (157, 301, 3), dtype=np.uint8)).save(src / "odd.png")
    Image.fromarray(rng.integers(0, 256, (30, 29), dtype=np.uint8), "L").save(src / "grey.png")
    Image.fromarray(rng.integers(0, 256, (17, 33, 3), dtype=np.uint8)).save(src / "photo.webp", lossless=True)
    Image.fromarray(rng.integers(0, 256, (18, 31, 3), dtype=np.uint8)).save(src / "scan.tif")
    (src / ".hidden.png").write_bytes(b"not looked at")
    (src / "notes.txt").write_text("not an image")
    upright_sizes = {
        "rgba.png": (37, 23),
        "sub/rgb16.png": (30, 20),
        "sub/grey16.png": (19, 21),
        "sub/deeper/rotated.jpg": (20, 40),
        "odd.png": (301, 157),
        "grey.png": (29, 30),
        "photo.webp": (33, 17),
        "scan.tif": (31, 18),
    }
    return src, upright_sizes


def test_translates_a_folder_of_awkward_images_correctly(tmp_path, monkeypatch, awkward_folder):
    src, sizes = awkward_folder
    monkeypatch.chdir(tmp_path)
    net = perturbed(define_G(3, 3, 4, "unet_128", "batch", True))
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    base = ["translate", "--model", "pix2pix", "--weights", "latest_net_G.pth", "--no-progress"]
    base += ["--device", "cpu", "--precision", "fp32"]  # 'auto' may pick bf16 on CPUs that have it
    base += ["--mode", "eval"]  # the running statistics: the check below runs net.eval()

    result = RUNNER.invoke(app, [*base, "in", "out"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(sizes)
    for rel, size in sizes.items():
        produced = imageio.read_image(out / rel)
        assert produced.size == size, rel
        tag = imageio.read_provenance(out / rel)
        assert tag is not None and tag["model"] == "pix2pix" and tag["weights"] == "latest_net_G.pth", rel
        assert len(tag["weights_sha256"]) == 64

    # alpha kept exactly
    with Image.open(src / "rgba.png") as a, Image.open(out / "rgba.png") as b:
        assert b.mode == "RGBA"
        assert np.array_equal(np.asarray(a)[..., 3], np.asarray(b)[..., 3])
    # 16-bit stays 16-bit, grey stays grey (PNG colour type 0 = grey, 2 = RGB)
    assert _ihdr(out / "sub" / "rgb16.png")[2:] == (16, 2)
    assert _ihdr(out / "sub" / "grey16.png")[2:] == (16, 0)
    assert _ihdr(out / "grey.png")[2:] == (8, 0)
    assert _ihdr(out / "odd.png")[2:] == (8, 2)
    with Image.open(out / "sub" / "deeper" / "rotated.jpg") as im:
        assert im.format == "JPEG" and im.size == (20, 40)
    with Image.open(out / "photo.webp") as im:
        assert im.format == "WEBP"
    with Image.open(out / "scan.tif") as im:
        assert im.format == "TIFF"

    # pixels: what the network gives on the reflect-padded input, cropped, tensor2im-truncated
    rgb = np.asarray(Image.open(src / "odd.png").convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None] * 2 - 1
    h, w = rgb.shape[:2]
    dh, dw = -h % 128, -w % 128
    padded = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="reflect")
    with torch.no_grad():
        y = net.eval()(padded)[:, :, dh // 2 : dh // 2 + h, dw // 2 : dw // 2 + w]
    expected = ((y[0].permute(1, 2, 0).numpy() + 1) / 2.0 * 255.0).clip(0, 255).astype(np.uint8)
    produced = np.asarray(Image.open(out / "odd.png"))
    assert produced.shape == expected.shape
    assert_nearly_equal(produced, expected)

    # --format png: every suffix becomes .png; --no-provenance: no tag at all
    result = RUNNER.invoke(app, [*base, "--format", "png", "--no-provenance", "in", "out_png"])
    assert result.exit_code == 0, result.output
    out_png = tmp_path / "out_png"
    png_sizes = {str(Path(rel).with_suffix(".png")): size for rel, size in sizes.items()}
    written = sorted(str(p.relative_to(out_png)) for p in out_png.rglob("*") if p.is_file())
    assert written == sorted(png_sizes)
    for rel, size in png_sizes.items():
        assert imageio.read_provenance(out_png / rel) is None, rel
        assert imageio.read_image(out_png / rel).size == size, rel
    assert_nearly_equal(np.asarray(Image.open(out_png / "odd.png")), expected)
