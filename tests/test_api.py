"""The Python API: `i2i.load` (typed overrides, checkpoints), `Model.translate` and `Model.save`."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from torch import nn

import i2i
from i2i.models.pix2pix.model import Pix2Pix

TINY = {"netG": "unet_128", "ngf": 4, "ndf": 4}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = i2i.load("pix2pix", device="cpu", precision="fp32", **TINY)
    m.step = 7
    return m


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("ckpt") / "pix2pix.safetensors")


def rgb(height: int, width: int, dtype=np.uint8, channels: int = 3, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    shape = (height, width, channels) if channels else (height, width)
    return np.random.default_rng(seed).integers(0, top, shape, endpoint=True).astype(dtype)


# ------------------------------------------------------------------------------------------- load


def test_load_builds_with_typed_overrides(model):
    assert isinstance(model, i2i.Model) and isinstance(model, Pix2Pix)
    assert model.config.netG == "unet_128" and model.config.ngf == 4
    assert model.device == torch.device("cpu") and model.precision == "fp32"

    parsed = i2i.load("pix2pix", netG="unet_128", ngf="8", no_dropout="true", init_gain="0.5", device="cpu")
    assert parsed.config.ngf == 8 and isinstance(parsed.config.ngf, int)
    assert parsed.config.no_dropout is True
    assert parsed.config.init_gain == 0.5
    first_conv = next(m for m in parsed.networks["G"].modules() if isinstance(m, nn.Conv2d))
    assert first_conv.out_channels == 8


def test_config_is_a_dataclass_with_reference_names(model):
    assert dataclasses.is_dataclass(model.config)
    names = {f.name for f in dataclasses.fields(model.config)}
    reference = {
        "input_nc", "output_nc", "ngf", "ndf", "netG", "netD", "n_layers_D", "norm", "no_dropout",
        "init_type", "init_gain", "gan_mode", "lambda_L1", "lr", "beta1", "lr_policy", "n_epochs",
        "n_epochs_decay", "preprocess", "load_size", "crop_size", "direction",
    }  # fmt: skip
    assert reference <= names
    assert set(model.networks) == {"G", "D"}
    assert all(isinstance(net, nn.Module) for net in model.networks.values())


def test_unknown_override_suggests_the_setting():
    with pytest.raises(i2i.UsageError, match="did you mean 'ngf'"):
        i2i.load("pix2pix", nfg=4, device="cpu")


@pytest.mark.parametrize("netG", ["unet_100", "unet_16", "vgg"])
def test_bad_choice_lists_the_choices(netG):
    with pytest.raises(i2i.UsageError) as info:
        i2i.load("pix2pix", netG=netG, device="cpu")
    for choice in ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks"):
        assert choice in str(info.value)


def test_bad_type_is_a_usage_error():
    with pytest.raises(i2i.UsageError, match="ngf"):
        i2i.load("pix2pix", ngf="abc", device="cpu")


def test_unknown_model_suggests_the_name():
    with pytest.raises(i2i.UsageError, match="did you mean 'pix2pix'"):
        i2i.load("pix2px")


def test_list_models_has_pix2pix():
    rows = {row["name"]: row for row in i2i.list_models()}
    row = rows["pix2pix"]
    assert row["status"] == "ok" and row["error"] is None
    assert (row["task"], row["license"], row["description"]) == (
        Pix2Pix.task,
        Pix2Pix.license,
        Pix2Pix.description,
    )
    assert row["task"] and row["license"] and row["description"]


# ------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_header_describes_the_model(model, saved):
    with safe_open(str(saved), framework="pt") as fh:
        meta = fh.metadata()
        keys = set(fh.keys())
    for key in ("model", "config", "i2i_version", "step", "license", "source", "networks"):
        assert key in meta, key
    assert meta["model"] == "pix2pix"
    assert json.loads(meta["config"]) == dataclasses.asdict(model.config)
    assert meta["i2i_version"] == i2i.__version__
    assert json.loads(meta["step"]) == 7
    assert json.loads(meta["networks"]) == ["D", "G"]
    assert {k.split(".")[0] for k in keys} == {"G", "D"}


def test_save_load_round_trip(model, saved):
    without_name = i2i.load(weights=saved, device="cpu", precision="fp32")
    with_name = i2i.load("pix2pix", weights=str(saved), device="cpu", precision="fp32")
    for loaded in (without_name, with_name):
        assert loaded.name == "pix2pix"
        assert loaded.config == model.config
        assert loaded.step == 7
        assert loaded.loaded == {"G", "D"}
        for net in ("G", "D"):
            want, got = model.networks[net].state_dict(), loaded.networks[net].state_dict()
            assert want.keys() == got.keys()
            for key in want:
                assert torch.equal(want[key], got[key]), (net, key)
        image = rgb(23, 37)
        assert np.array_equal(loaded.translate(image, as_array=True), model.translate(image, as_array=True))


def test_load_with_the_wrong_model_name(saved):
    with pytest.raises(i2i.I2IError, match="pix2pix checkpoint"):
        i2i.load("cyclegan", weights=saved, device="cpu")


def test_save_generator_only_in_fp16(model, tmp_path):
    path = model.save(tmp_path / "g16.safetensors", networks=["G"], dtype=torch.float16)
    with safe_open(str(path), framework="pt") as fh:
        assert json.loads(fh.metadata()["networks"]) == ["G"]
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is no dict)
    assert tensors and all(k.startswith("G.") for k in tensors)
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    assert any(t.is_floating_point() for t in tensors.values())

    loaded = i2i.load(weights=path, device="cpu", precision="fp32")
    assert loaded.loaded == {"G"}
    for key, value in model.networks["G"].state_dict().items():
        got = loaded.networks["G"].state_dict()[key]
        want = value.half().to(value.dtype) if value.is_floating_point() else value
        assert torch.equal(got, want), key
    out = loaded.translate(rgb(23, 37), as_array=True)
    assert out.shape == (23, 37, 3) and out.dtype == np.uint8


def test_save_unknown_network_is_refused(model, tmp_path):
    with pytest.raises(i2i.UsageError, match="no loaded network"):
        model.save(tmp_path / "x.safetensors", networks=["X"])


# -------------------------------------------------------------------------------------- translate


@pytest.mark.parametrize("netG", ["unet_128", "resnet_6blocks"])
def test_translate_odd_sizes(netG):
    m = i2i.load("pix2pix", netG=netG, ngf=4, ndf=4, device="cpu", precision="fp32")
    for height, width in ((23, 37), (37, 23), (5, 9)):
        out = m.translate(Image.fromarray(rgb(height, width)))
        assert isinstance(out, Image.Image) and out.mode == "RGB"
        assert out.size == (width, height)


def test_translate_pil_and_arrays(model):
    pil = model.translate(Image.fromarray(rgb(23, 37)))
    assert isinstance(pil, Image.Image) and pil.size == (37, 23) and pil.mode == "RGB"

    out = model.translate(rgb(23, 37), as_array=True)
    assert out.shape == (23, 37, 3) and out.dtype == np.uint8
    assert isinstance(model.translate(rgb(23, 37)), Image.Image)

    grey = model.translate(rgb(23, 37, channels=0), as_array=True)
    assert grey.shape == (23, 37) and grey.dtype == np.uint8
    grey_pil = model.translate(Image.fromarray(rgb(23, 37, channels=0)))
    assert grey_pil.mode == "L" and grey_pil.size == (37, 23)


def test_translate_16_bit(model):
    deep = rgb(23, 37, dtype=np.uint16)
    out = model.translate(deep, as_array=True)
    assert out.shape == (23, 37, 3) and out.dtype == np.uint16
    assert np.unique(out % 257).size > 1  # real 16-bit levels, not 8-bit ones scaled up

    grey = model.translate(rgb(23, 37, dtype=np.uint16, channels=0), as_array=True)
    assert grey.shape == (23, 37) and grey.dtype == np.uint16
    assert isinstance(model.translate(deep), Image.Image)


def test_translate_keeps_alpha_exactly(model):
    rgba = rgb(23, 37, channels=4, seed=3)
    out = model.translate(rgba, as_array=True)
    assert out.shape == (23, 37, 4) and out.dtype == np.uint8
    assert np.array_equal(out[..., 3], rgba[..., 3])

    pil = model.translate(Image.fromarray(rgba, "RGBA"))
    assert pil.mode == "RGBA" and pil.size == (37, 23)
    assert np.array_equal(np.asarray(pil)[..., 3], rgba[..., 3])

    deep = rgb(23, 37, dtype=np.uint16, channels=4, seed=4)
    out16 = model.translate(deep, as_array=True)
    assert out16.dtype == np.uint16 and np.array_equal(out16[..., 3], deep[..., 3])


def test_translate_paths_and_lists(model, tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(rgb(23, 37)).save(path)
    from_path = model.translate(path)
    assert isinstance(from_path, Image.Image) and from_path.size == (37, 23)
    assert np.array_equal(np.asarray(model.translate(str(path))), np.asarray(from_path))
    # the same pixels give the same output, whichever way they come in
    assert np.array_equal(np.asarray(from_path), model.translate(rgb(23, 37), as_array=True))

    inputs = [Image.fromarray(rgb(8, 12)), rgb(23, 37), path, rgb(9, 5, channels=0)]
    outputs = model.translate(inputs, batch_size=2)
    assert isinstance(outputs, list) and len(outputs) == 4
    assert [o.size for o in outputs] == [(12, 8), (37, 23), (37, 23), (5, 9)]
    assert [o.mode for o in outputs] == ["RGB", "RGB", "RGB", "L"]
    arrays = model.translate(inputs, as_array=True)
    assert [a.shape for a in arrays] == [(8, 12, 3), (23, 37, 3), (23, 37, 3), (9, 5)]
