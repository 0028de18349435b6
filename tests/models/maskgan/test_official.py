"""Official MaskGAN files load with no flags through `i2i.load(path)`: every network, settings read from the
shapes (release and other sizes), legacy buffers tolerated, the wrong kind of file refused in one line."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

import i2i
from i2i.errors import I2IError
from i2i.models.maskgan import networks as N
from i2i.models.maskgan.official import classify
from tests.models.maskgan.test_networks import load

# Detection asks every model, `sr` imports spandrel (and so torch._dynamo), which fails under the conftest's
# monkeypatched torch.backends.mps.is_available; imported here first, before any test patches it.
if importlib.util.find_spec("spandrel") is not None:
    import spandrel  # noqa: F401

IMAGE = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
MASK = np.random.default_rng(1).integers(0, 19, (32, 32)).astype(np.uint8)


def _save(state: dict, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def test_official_generator_loads_with_no_flags(tmp_path):
    sd, _, _, c = load("dmn_generator")
    model = i2i.load(weights=_save(sd, tmp_path / "latest_net_G.pth"), device="cpu", precision="fp32")
    assert model.name == "maskgan" and model.loaded == {"G"}
    got = (model.config.ngf, model.config.n_downsample_global, model.config.n_blocks_global)
    assert got == (c["ngf"], c["n_downsampling"], c["n_blocks"])
    assert model.config.enc_n_downsample == c["enc_n_downsample"]
    out = model.translate(IMAGE, mask=MASK, as_array=True)
    # a torch < 0.4 file: InstanceNorm running stats; a re-saved one without the dummy AdaIN buffers
    legacy = dict(sd) | {"model.2.running_mean": torch.zeros(8), "model.2.running_var": torch.ones(8)}
    legacy = {k: v for k, v in legacy.items() if not k.endswith("norm.running_var")}
    again = i2i.load(
        weights=_save(legacy, tmp_path / "old" / "latest_net_G.pth"), device="cpu", precision="fp32"
    )
    assert np.array_equal(again.translate(IMAGE, mask=MASK, as_array=True), out)


@pytest.mark.parametrize(
    ("fixture", "network", "settings"),
    [
        (
            "alpha_blender",
            "B",
            {"blender": True, "blend_ngf": 4, "blend_n_downsampling": 2, "blend_n_blocks": 2},
        ),
        ("discriminator", "D", {"ndf": 4, "n_layers_D": 3, "num_D": 2}),
        ("face_parser_unet", "parser", {"feature_scale": 16}),
        ("mask_vae", "VAE", {"mask_vae": True, "vae_ngf": 2, "vae_ndf": 1, "vae_latent": 16}),
    ],
)
def test_other_official_networks_load(tmp_path, fixture, network, settings):
    sd, _, _, _ = load(fixture)
    path = tmp_path / ("model.pth" if network == "parser" else f"latest_net_{network}.pth")
    small = {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "enc_n_downsample": 4} | settings
    model = i2i.load(weights=_save(sd, path), device="cpu", precision="fp32", **small)  # a small unloaded G
    assert model.name == "maskgan" and model.loaded == {network}
    assert {k: getattr(model.config, k) for k in settings} == settings
    state = model.networks[network].state_dict()
    assert all(torch.equal(state[k], v) for k, v in sd.items())


def test_a_run_folder_gives_generator_and_discriminator(tmp_path):
    g, _, _, _ = load("dmn_generator")
    d = N.MultiscaleDiscriminator(22, 4, 2, False, 2).state_dict()
    _save(g, tmp_path / "latest_net_G.pth")
    _save(d, tmp_path / "latest_net_D.pth")
    model = i2i.load(weights=tmp_path, device="cpu", precision="fp32")
    assert model.loaded == {"G", "D"} and model.config.n_layers_D == 2
    _save(N.MultiscaleDiscriminator(10, 4, 2, False, 2).state_dict(), tmp_path / "latest_net_D.pth")
    with pytest.raises(I2IError, match="discriminator sees 10 channels"):
        i2i.load(weights=tmp_path, device="cpu", precision="fp32")


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            lambda: N.GlobalGenerator(),
            (
                "G",
                {
                    "label_nc": 19,
                    "output_nc": 3,
                    "ngf": 64,
                    "n_downsample_global": 4,
                    "n_blocks_global": 4,
                    "enc_n_downsample": 5,
                },
            ),
        ),
        (
            lambda: N.GlobalGenerator(19, 3, 32, 3, 6, 6),
            (
                "G",
                {
                    "label_nc": 19,
                    "output_nc": 3,
                    "ngf": 32,
                    "n_downsample_global": 3,
                    "n_blocks_global": 6,
                    "enc_n_downsample": 6,
                },
            ),
        ),
        (
            lambda: N.BlendGenerator(),
            ("B", {"blender": True, "blend_ngf": 32, "blend_n_downsampling": 3, "blend_n_blocks": 3}),
        ),
        (lambda: N.MultiscaleDiscriminator(), ("D", {"ndf": 64, "n_layers_D": 3, "num_D": 2})),
        (
            lambda: N.MultiscaleDiscriminator(22, 32, 4, False, 3),
            ("D", {"ndf": 32, "n_layers_D": 4, "num_D": 3}),
        ),
        (lambda: N.UNet(), ("parser", {"feature_scale": 4})),
        (lambda: N.UNet(8), ("parser", {"feature_scale": 8})),
    ],
)
def test_settings_are_read_from_shapes(build, expected):
    with torch.device("meta"):
        state = build().state_dict()
    assert classify(state) == expected


def test_wrong_kind_of_checkpoint_is_one_line(tmp_path):
    foreign = {"main.0.weight": torch.zeros(8, 3, 7, 7), "main.1.weight": torch.zeros(8)}
    path = _save(foreign, tmp_path / "latest_net_G.pth")
    with pytest.raises(I2IError, match="keys match no MaskGAN network") as info:
        i2i.load("maskgan", path, device="cpu", precision="fp32")
    assert "\n" not in str(info.value)
    sd, _, _, _ = load("face_parser_unet")
    parser = i2i.load(weights=_save(sd, tmp_path / "model.pth"), device="cpu", precision="fp32")
    with pytest.raises(I2IError, match="needs network G"):
        parser.translate(IMAGE, mask=MASK)
