"""What the GPU work changed that the CPU can check: the layout and backend rules, the batched pixel
transfer (the same values as converting image by image), the deterministic reflection padding, and the
`--compile` / `--deterministic` flags of `i2i train`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.paired import make_paired
from i2i.io.pixels import ImageData, luma
from i2i.models._shared.layers import InstanceNorm2d, reflect_pad_by_slices
from i2i.ops.batch_pixels import from_device_batch, to_device_batch
from i2i.runtime import compile_networks, uses_channels_last

CPU = torch.device("cpu")
TINY = ["--set", "netG=resnet_6blocks", "--set", "ngf=4", "--set", "ndf=4", "--set", "load_size=36",
        "--set", "crop_size=32"]  # fmt: skip


def test_channels_last_rules():
    with_norm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), InstanceNorm2d(4))
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    assert uses_channels_last(CPU, [with_norm]) and uses_channels_last(CPU, [plain])
    assert not uses_channels_last(torch.device("cuda"), [with_norm])  # CUDA's instance norm wants NCHW
    assert uses_channels_last(torch.device("cuda"), [plain])
    assert not uses_channels_last(torch.device("mps"), [plain])


def test_compile_is_for_cuda_only():
    net = torch.nn.Conv2d(3, 3, 1)
    assert compile_networks([net], CPU, "auto") is None and compile_networks([net], CPU, "off") is None
    with pytest.raises(Exception, match="CUDA only"):
        compile_networks([net], CPU, "on")
    with pytest.raises(Exception, match="unknown --compile"):
        compile_networks([net], CPU, "fast")


def _image(rng, shape, alpha=False, depth=8) -> ImageData:
    return ImageData(rng.random(shape, dtype=np.float32), rng.random(shape[:2], dtype=np.float32) if alpha else None,
                     depth)  # fmt: skip


def _one_by_one(image: ImageData, channels: int, value_range) -> torch.Tensor:
    pixels = image.pixels
    if pixels.shape[2] == 1 and channels == 3:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] == 3 and channels == 1:
        pixels = luma(pixels)
    lo, hi = value_range
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None] * (hi - lo) + lo


@pytest.mark.parametrize(("in_channels", "net_channels"), [(3, 3), (1, 3), (3, 1), (1, 1)])
def test_a_batch_goes_over_as_each_image_would(in_channels, net_channels):
    rng = np.random.default_rng(0)
    images = [_image(rng, (10, 13, in_channels), alpha=i == 1, depth=8 + 8 * (i == 2)) for i in range(3)]
    x = to_device_batch(images, CPU, channels=net_channels, value_range=(-1.0, 1.0), padded=(16, 16))
    expected = torch.cat([_one_by_one(im, net_channels, (-1.0, 1.0)) for im in images])
    expected = F.pad(expected, (1, 2, 3, 3), mode="reflect")
    assert x.shape == (3, net_channels, 16, 16) and torch.equal(x, expected)
    y = x[:, :, 3:13, 1:14] * 1.5  # out of range on purpose: clamped on the way back
    back = from_device_batch(y, images, value_range=(-1.0, 1.0), input_channels=net_channels, truncate=True)
    for i, (out, image) in enumerate(zip(back, images, strict=True)):
        values = ((y[i].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)
        if in_channels == 1 and net_channels == 3:
            values = luma(values)
        if image.bit_depth == 8:
            values = np.floor(values * 255.0) / 255.0
        assert out.bit_depth == image.bit_depth and np.array_equal(out.pixels, values.astype(np.float32))
        assert (out.alpha is None) == (image.alpha is None)


def test_reflection_padding_by_slices_is_reflection_padding():
    x = torch.randn(2, 3, 7, 9, requires_grad=True)
    for pads in [(3, 2, 1, 4), (0, 0, 2, 2), (1, 1, 0, 0)]:
        a = reflect_pad_by_slices(x, pads)
        b = F.pad(x, pads, mode="reflect")
        assert torch.equal(a, b)
        weights = torch.randn_like(a)
        (ga,) = torch.autograd.grad((a * weights).sum(), x)
        (gb,) = torch.autograd.grad((b * weights).sum(), x)
        assert torch.allclose(ga, gb, atol=1e-6)


@pytest.fixture
def _restore_determinism():
    saved = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.deterministic = saved[1]


def test_train_flags_compile_and_deterministic(tmp_path, _restore_determinism):
    data = make_paired(tmp_path / "data", count=8, size=32, seed=3)
    base = ["train", "pix2pix", "--data", str(data), "--steps", "2", "--device", "cpu", "--no-progress",
            "--workers", "0", "--sample-every", "0", "--precision", "fp32", *TINY]  # fmt: skip
    refused = CliRunner().invoke(app, [*base, "--run-dir", str(tmp_path / "c"), "--compile", "on"])
    assert refused.exit_code != 0 and "CUDA only" in refused.output
    unknown = CliRunner().invoke(app, [*base, "--run-dir", str(tmp_path / "u"), "--compile", "fast"])
    assert unknown.exit_code != 0 and "--compile must be one of" in unknown.output
    for name in ("a", "b"):
        run = CliRunner().invoke(app, [*base, "--run-dir", str(tmp_path / name), "--deterministic"])
        assert run.exit_code == 0, run.output
    assert torch.are_deterministic_algorithms_enabled()
    a, b = (load_file(tmp_path / n / "model.safetensors") for n in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
