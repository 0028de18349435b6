"""Tiled inference: upstream's RealESRGANer reproduced (reference mode), seam-free blending, tile geometry
for odd sizes and pixel-unshuffle models, the out-of-memory fallback, output buffers, OpenCV's resizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file

import i2i
from i2i.io.imageio import ImageData
from i2i.ops import tile_memory, tiling
from tests.conftest import FIXTURES

GROUP = FIXTURES / "esrgan"
MANIFEST = json.loads((GROUP / "manifest.json").read_text())["fixtures"]
ENHANCE = MANIFEST["enhance_public"]["cases"]


def load(name: str = "rrdb_x4_public") -> i2i.Model:
    return i2i.load("esrgan", weights=GROUP / f"{name}.basicsr.safetensors", device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def x4() -> i2i.Model:
    return load()


def smooth(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    return np.stack([0.5 + 0.4 * np.sin(2 * xx + c) * np.cos(3 * yy - c) for c in range(3)], -1).astype(
        np.float32
    )


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, channels), dtype=np.float32)


class Nearest(torch.nn.Module):
    """A local network (no receptive field beyond its pixel): tiling must not change its output at all."""

    def __init__(self, scale: int, seen: list[tuple[int, int]] | None = None, limit: int | None = None):
        super().__init__()
        self.scale, self.seen, self.limit = scale, seen, limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.seen is not None:
            self.seen.append(tuple(x.shape[-2:]))
        if self.limit is not None and max(x.shape[-2:]) > self.limit:
            raise RuntimeError(f"CUDA out of memory. Tried to allocate {x.numel()} bytes")
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


def with_network(net: torch.nn.Module) -> i2i.Model:
    """A fresh x4 model running `net`."""
    model = load()
    for name in model.required_networks({}):
        model.networks[name] = net
    return model


# ---------------------------------------------------------------------------------------- reference mode


def test_reference_mode_reproduces_realesrganer_tensor_path(x4):
    case = MANIFEST["tiled_rrdb_x4_public"]
    io = load_file(GROUP / "tiled_rrdb_x4_public.io.safetensors")
    pixels = np.ascontiguousarray(io["input"][0].transpose(1, 2, 0))
    params = {k: case["params"][k] for k in ("tile_pad", "pre_pad")}
    tol = case["tolerance"]
    for tile, key in [(case["params"]["tile"], "output_tiled"), (0, "output_untiled")]:
        out = tiling.upscale_array(x4, pixels, tile=tile, mode="reference", out_dtype=np.float32, **params)
        expected = io[key][0].transpose(1, 2, 0)
        np.testing.assert_allclose(out, expected, atol=tol["atol"], rtol=tol["rtol"])


def _bgr_to_rgb(array: np.ndarray) -> np.ndarray:
    return array if array.ndim == 2 else np.concatenate([array[..., 2::-1], array[..., 3:]], axis=2)


@pytest.mark.parametrize("name", sorted(ENHANCE))
def test_enhance_reproduces_upstream(x4, name):
    case = ENHANCE[name]
    io = load_file(GROUP / "enhance_public.safetensors")
    out = tiling.enhance_array(
        x4,
        _bgr_to_rgb(io[f"{name}.input"]),  # the fixture is in OpenCV's BGR(A) order
        outscale=case.get("outscale"),
        alpha_upsampler="model" if case.get("alpha_upsampler", "realesrgan") == "realesrgan" else "resize",
        tile=case["tile"],
        tile_pad=case["tile_pad"],
        pre_pad=case["pre_pad"],
        mode="reference",
    )
    expected = io[f"{name}.output"]
    assert out.dtype == expected.dtype and out.shape == expected.shape
    lsb = MANIFEST["enhance_public"]["tolerance"]["max_abs_lsb"]
    assert np.abs(_bgr_to_rgb(out).astype(np.int64) - expected).max() <= lsb


def test_bit_depth_by_value_only_for_arrays(x4):
    small = (np.arange(8 * 6 * 3).reshape(8, 6, 3) % 200).astype(np.uint16)
    assert tiling.enhance_array(x4, small, tile=0).dtype == np.uint8  # upstream: max <= 256 is 8-bit
    image = ImageData(small.astype(np.float32) / 65535, None, 16)  # what read_image gives for a 16-bit file
    assert tiling.enhance(x4, image, tile=0).dtype == np.uint16


# ------------------------------------------------------------------------------------------------ blend


def test_blend_is_seam_free_on_a_smooth_image(x4):
    report = tiling.seam_report(x4, smooth(40, 52), tile=16, tile_pad=10)
    assert report["max_abs"] <= 1 and report["psnr_db"] > 80  # measured: max 1 level, 98 dB


def test_blend_is_closer_to_untiled_than_reference_tiles(x4):
    pixels = smooth(40, 52)
    blend = tiling.seam_report(x4, pixels, tile=15, tile_pad=3, mode="blend")
    reference = tiling.seam_report(x4, pixels, tile=15, tile_pad=3, mode="reference")
    assert blend["max_abs"] < reference["max_abs"] and blend["psnr_db"] > reference["psnr_db"] + 10


@pytest.mark.parametrize("mode", tiling.MODES)
@pytest.mark.parametrize(
    "height, width, tile, pad, pre_pad",
    [(13, 29, 8, 3, 0), (40, 52, 16, 10, 2), (5, 3, 16, 10, 0), (17, 9, 4, 0, 5), (31, 33, 7, 20, 1)],
)
def test_tiles_cover_every_size(mode, height, width, tile, pad, pre_pad):
    model = with_network(Nearest(4))
    pixels = noise(height, width)
    whole = tiling.upscale_array(model, pixels, tile=0, out_dtype=np.float32)
    tiled = tiling.upscale_array(
        model, pixels, tile=tile, tile_pad=pad, pre_pad=pre_pad, mode=mode, out_dtype=np.float32
    )
    np.testing.assert_allclose(tiled, whole, atol=1e-6)  # the blending weights sum to one
    np.testing.assert_array_equal(whole, pixels.repeat(4, 0).repeat(4, 1))


@pytest.mark.parametrize("name, multiple", [("rrdb_x2_public", 2), ("rrdb_x1_public", 4)])
@pytest.mark.parametrize("mode", tiling.MODES)
def test_pixel_unshuffle_models_with_any_tile_and_pad(name, multiple, mode):
    model = load(name)
    seen: list[tuple[int, int]] = []
    hook = model.networks["G"].register_forward_pre_hook(
        lambda _, args: seen.append(tuple(args[0].shape[-2:]))
    )
    pixels = smooth(21, 27)
    out = tiling.upscale_array(
        model, pixels, tile=15, tile_pad=3, pre_pad=1, mode=mode
    )  # upstream fails here
    hook.remove()
    assert out.shape == (21 * model.scale, 27 * model.scale, 3) and len(seen) > 1
    assert all(h % multiple == 0 and w % multiple == 0 for h, w in seen)


def test_grey_runs_as_three_equal_channels(x4):
    grey = smooth(12, 10)[..., :1]
    out = tiling.upscale_array(x4, grey, tile=0)
    colour = tiling.upscale_array(x4, np.repeat(grey, 3, axis=2), tile=0, out_dtype=np.float32)
    expected = np.clip(colour, 0, 1) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert out.shape == (48, 40, 1)
    assert np.abs(out[..., 0].astype(int) - np.rint(expected * 255)).max() <= 1


# --------------------------------------------------------------------------------------- memory bounds


def test_the_network_only_sees_tiles():
    seen: list[tuple[int, int]] = []
    model = with_network(Nearest(4, seen))
    tiling.upscale_array(model, noise(70, 90), tile=24, tile_pad=6)
    assert len(seen) == 12 and max(max(s) for s in seen) <= 24 + 2 * (6 + 6)  # tile, ramps, context


def test_out_of_memory_halves_the_tile():
    seen: list[tuple[int, int]] = []
    notices: list[str] = []
    model = with_network(Nearest(4, seen, limit=64))
    pixels = noise(140, 180)
    out = tiling.upscale_array(model, pixels, tile=0, tile_pad=4, out_dtype=np.float32, notify=notices.append)
    np.testing.assert_allclose(out, pixels.repeat(4, 0).repeat(4, 1), atol=1e-6)
    assert notices == [
        "out of memory with 180px tiles on cpu; retrying with 90px",
        "out of memory with 90px tiles on cpu; retrying with 45px",
    ]
    assert len(seen) == 1 + 1 + 16 and max(max(s) for s in seen[2:]) <= 64
    assert tiling.auto_tile(model) == 45  # remembered for the next image


def test_out_of_memory_gives_up_at_the_smallest_tile():
    model = with_network(Nearest(4, limit=8))
    with pytest.raises(i2i.I2IError, match="out of memory on cpu even with 32px tiles"):
        tiling.upscale_array(model, noise(70, 90), tile=64, notify=lambda _: None)


def test_other_errors_propagate():
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("shapes do not match")

    with pytest.raises(RuntimeError, match="shapes do not match"):
        tiling.upscale_array(with_network(Broken()), noise(20, 20), tile=8)


def test_auto_tile_follows_free_memory(x4, monkeypatch):
    assert tile_memory.activation_bytes_per_pixel(x4) > 0
    assert tiling.auto_tile(x4) == tile_memory.CPU_MAX_TILE  # the tiny net fits any tile
    per_pixel = tile_memory.activation_bytes_per_pixel(x4)
    monkeypatch.setattr(tile_memory, "available_memory", lambda device: per_pixel * 100**2)
    assert tiling.auto_tile(x4, tile_pad=10) == 100 - 4 * 10
    monkeypatch.setattr(tile_memory, "available_memory", lambda device: 1)
    assert tiling.auto_tile(x4) == tiling.MIN_TILE
    x1 = load("rrdb_x1_public")
    assert tiling.auto_tile(x1) % 4 == 0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_output_buffer_dtype(x4, dtype):
    out = tiling.upscale_array(x4, smooth(9, 11), tile=4, tile_pad=2, out_dtype=dtype)
    assert out.dtype == dtype and out.shape == (36, 44, 3)
    buffer = np.zeros((36, 44, 4), dtype)
    tiling.upscale_array(x4, smooth(9, 11), tile=4, tile_pad=2, out=buffer[..., 1:])
    np.testing.assert_array_equal(buffer[..., 1:], out)
    assert not buffer[..., 0].any()


def test_translate_goes_through_the_tiles(x4):
    rgba = np.random.default_rng(3).integers(0, 256, (23, 37, 4), dtype=np.uint8)
    via_translate = x4.translate(rgba, as_array=True)
    np.testing.assert_array_equal(via_translate, tiling.enhance_array(x4, rgba))


# ------------------------------------------------------------------------------------------------ resize


def test_linear_resize_is_opencv_bilinear():
    plane = noise(7, 9, 1)[..., 0]
    ours = tiling.resize(plane, (36, 28), kernel="linear")
    theirs = F.interpolate(
        torch.from_numpy(plane)[None, None], size=(28, 36), mode="bilinear", align_corners=False
    )
    np.testing.assert_allclose(ours, theirs[0, 0].numpy(), atol=1e-6)


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535)])
def test_lanczos_keeps_flat_images_flat(dtype, top):
    flat = np.full((10, 12, 3), top // 3, dtype)
    for size in [(7, 5), (30, 25), (12, 10)]:
        out = tiling.resize(flat, size)
        assert out.dtype == dtype and out.shape == (size[1], size[0], 3)
        assert np.abs(out.astype(int) - top // 3).max() <= 1
