"""Tiled translation (`i2i.ops.tiled_translate`, `i2i.ops.norm_stats`): tiles with whole-image normalisation
statistics match the untiled output (>= 40 dB; exactly with a context wider than the receptive field), for
instance norm (CycleGAN) and per-image batch norm (pix2pix, ResNet and U-Net); images that fit run untiled;
models that opt out refuse tiles; the CLI flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from i2i.cli import app
from i2i.errors import UsageError
from i2i.io.imageio import ImageData, read_image, write_image
from i2i.ops import layerwise, tiled_translate
from tests.conftest import tiny_checkpoint, tiny_model


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Noise at several scales, normalised to [0, 1]: a photo-like spread of frequencies."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for s in (2, 8, 32):
        n = torch.from_numpy(rng.random((height // s + 2, width // s + 2, 3)).astype(np.float32))
        up = torch.nn.functional.interpolate(n.permute(2, 0, 1)[None], size=(height, width), mode="bicubic")
        image += up[0].permute(1, 2, 0).numpy() * s
    return np.clip(image / image.max(), 0.0, 1.0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def translate(model, pixels: np.ndarray, tile: int | None, overlap: int | None = None, **conditions):
    tiled_translate.configure(model, tile, overlap)
    return model.translate_images([ImageData(pixels, None, 8)], **conditions)[0].pixels


def raw(model, pixels: np.ndarray, **tiling) -> torch.Tensor:
    """The network's output for `pixels`, tiled (`tiling`: `tiled_forward`'s arguments) or whole."""
    x = model.to_input_tensor(ImageData(pixels, None, 8))
    run = model.forward_tensor
    with torch.inference_mode():
        if not tiling:
            return run(x).float()
        networks = tiling.pop("networks", list(model.networks.values()))
        return tiled_translate.tiled_forward(run, x, networks, multiple=model.size_multiple(), **tiling)


#: one ResNet block keeps the statistics passes (one per normalisation layer: 7 here) quick
SHORT = {"netG": "resnet_1blocks"}


@pytest.fixture(scope="module")
def cyclegan():
    torch.manual_seed(0)
    return tiny_model("cyclegan", **SHORT)


def test_instance_norm_tiles_match_untiled(cyclegan):
    image = photo(64, 96)
    whole = translate(cyclegan, image, 0)
    tiled = translate(cyclegan, image, 32, 8)
    assert psnr(tiled, whole) >= 40.0
    # the same tiles, each normalised with its own statistics (no statistics pass), are far off
    x = cyclegan.to_input_tensor(ImageData(image, None, 8))
    naive = raw(cyclegan, image, tile=32, context=8, networks=[])
    stats = raw(cyclegan, image, tile=32, context=8)
    untiled = raw(cyclegan, image)
    assert x.shape == untiled.shape
    assert (
        psnr(naive.numpy() / 2, untiled.numpy() / 2)
        < 30.0
        < 40.0
        <= psnr(stats.numpy() / 2, untiled.numpy() / 2)
    )


def test_statistics_are_exact_with_context_beyond_the_receptive_field(cyclegan):
    image = photo(64, 96, seed=1)
    # resnet_1blocks: a receptive-field radius of 3 + 2 + 4 + 2 * 4 + 4 + 2 + 3 = 26 input pixels
    tiled = raw(cyclegan, image, tile=32, context=28)
    assert torch.allclose(tiled, raw(cyclegan, image), atol=2e-5)


@pytest.mark.parametrize(
    ("settings", "size", "tile"),
    [(SHORT, (64, 96), 32), ({"netG": "unet_32"}, (64, 64), 32)],
    ids=["resnet_batch_norm", "unet_32"],
)
def test_pix2pix_per_image_batch_norm(settings, size, tile):
    torch.manual_seed(0)
    model = tiny_model("pix2pix", **settings)
    assert model.config.test_mode == "train_dropout_off" and model.config.norm == "batch"
    image = photo(*size, seed=2)
    assert psnr(translate(model, image, tile), translate(model, image, 0)) >= 40.0


def test_images_that_fit_run_untiled_and_big_ones_in_tiles(cyclegan, monkeypatch):
    image = photo(64, 96, seed=3)
    whole = translate(cyclegan, image, 0)
    assert np.array_equal(translate(cyclegan, image, None), whole)  # the default: fits, so whole
    calls = []
    forward = tiled_translate.tiled_forward
    monkeypatch.setattr(tiled_translate, "tiled_forward", lambda *a, **k: calls.append(k) or forward(*a, **k))
    monkeypatch.setattr(tiled_translate, "available_memory", lambda device: 100_000)  # ~40x40 pixels

    def unsupported(*args, **kwargs):
        raise layerwise.Unsupported("as for a network it cannot trace")

    monkeypatch.setattr(layerwise, "forward", unsupported)  # tiles are the fallback of layer-by-layer
    tiled = translate(cyclegan, image, None, 8)
    assert calls and 0 < calls[0]["tile"] < 96
    assert psnr(tiled, whole) >= 40.0


@pytest.mark.slow
def test_batches_are_tiled_image_by_image(cyclegan):
    images = [ImageData(photo(64, 64, seed=s), None, 8) for s in (4, 5)]
    tiled_translate.configure(cyclegan, 32, 8)
    together = cyclegan.translate_images(images, batch_size=2)
    alone = [cyclegan.translate_images([im])[0] for im in images]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.pixels, b.pixels, atol=1e-5)


def test_models_that_opt_out_refuse_tiles():
    model = tiny_model("stargan-v2")
    assert model.tile_context is None
    with pytest.raises(UsageError, match="not tiled"):
        tiled_translate.configure(model, 64, None)
    tiled_translate.configure(model, None, None)  # the default: runs whole, as before
    image = photo(32, 32, seed=6)
    assert model.translate_images([ImageData(image, None, 8)])[0].pixels.shape == (32, 32, 3)


def test_cli_tile_flags(tmp_path):
    weights = tiny_checkpoint("cyclegan", tmp_path, **SHORT)
    source = tmp_path / "in.png"
    write_image(source, ImageData(photo(64, 96, seed=7), None, 8))
    runner = CliRunner()
    common = [
        "translate",
        "--weights",
        str(weights),
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--no-progress",
    ]
    whole = runner.invoke(app, [*common, "--tile", "0", str(source), str(tmp_path / "whole.png")])
    tiled = runner.invoke(
        app, [*common, "--tile", "32", "--tile-overlap", "8", str(source), str(tmp_path / "tiled.png")]
    )
    assert whole.exit_code == 0 and tiled.exit_code == 0, whole.output + tiled.output
    a, b = (read_image(tmp_path / f"{n}.png").pixels for n in ("whole", "tiled"))
    assert psnr(a, b) >= 40.0
    bad = runner.invoke(app, [*common, "--tile", "-1", str(source), str(tmp_path / "bad.png")])
    assert bad.exit_code != 0 and "must not be negative" in bad.output
