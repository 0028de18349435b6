"""MaskGAN networks against the golden fixtures made by running the official classes (tolerance from the
manifest), and the official key layout of the full-size networks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from i2i.models.maskgan import networks as N

FIXTURES = Path(__file__).parents[2] / "fixtures" / "maskgan"
MANIFEST = {f["name"]: f for f in json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]}
ATOL, RTOL = 1e-5, 1e-4


def load(name: str) -> tuple[dict, dict, dict, dict]:
    """(weights, inputs, outputs, config) of a fixture."""
    parts: dict[str, dict] = {"sd": {}, "in": {}, "out": {}}
    with safe_open(FIXTURES / f"{name}.safetensors", "pt") as f:
        for key in f.keys():  # noqa: SIM118 (a safetensors handle is not iterable)
            prefix, _, rest = key.partition(".")
            parts[prefix][rest] = f.get_tensor(key)
    return parts["sd"], parts["in"], parts["out"], MANIFEST[name]["config"]


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a.float(), b.float(), atol=ATOL, rtol=RTOL)


def strict(net: torch.nn.Module, sd: dict) -> torch.nn.Module:
    net.load_state_dict(sd, strict=True)
    return net.eval()


@torch.no_grad()
def test_dmn_generator():
    sd, x, y, c = load("dmn_generator")
    G = strict(
        N.GlobalGenerator(19, 3, c["ngf"], c["n_downsampling"], c["n_blocks"], c["enc_n_downsample"]), sd
    )
    label, label_ref = N.onehot(x["label"]), N.onehot(x["label_ref"])
    fea1, fea2 = G.enc_label(label_ref)
    close(fea1, y["fea1"])
    close(fea2, y["fea2"])
    close(G.enc_style((x["image_ref"], fea1, fea2)).flatten(1), y["adain_params"])
    close(G(label, label_ref, x["image_ref"]), y["fake"])
    # the AdaIN buffers are dummies: the fixture randomised them, and they stay as loaded
    assert torch.equal(
        G.model[10].conv_block[0].norm.running_mean, sd["model.10.conv_block.0.norm.running_mean"]
    )


@torch.no_grad()
def test_release_size_encoders():
    sd, x, y, c = load("label_encoder_full")
    E = strict(N.LabelEncoder(c["n_downsample"], c["input_nc"], 16), sd)
    fea1, fea2 = E(N.onehot(x["label"]))
    close(fea1, y["fea1"])
    close(fea2, y["fea2"])
    sd, x, y, c = load("style_encoder_full")
    S = strict(N.StyleEncoder(c["n_downsample"], 3, 16, c["style_dim"]), sd)
    close(S((x["image"], x["fea1"], x["fea2"])), y["style"])


@torch.no_grad()
def test_mask_vae():
    sd, x, y, c = load("mask_vae")
    V = strict(N.VAE(c["nc"], c["ngf"], c["ndf"], c["latent"]), sd)
    recon, _, mu, logvar = V(N.onehot(x["label"]), eps=y["eps"])
    close(mu, y["mu"])
    close(logvar, y["logvar"])
    close(V.reparametrize(mu, logvar, y["eps"]), y["z"])
    close(recon[:, :, ::16, ::16], y["recon_sub"])
    close(recon[:, :, :16, :16], y["recon_tl16"])
    close(recon[:, :, -16:, -16:], y["recon_br16"])
    assert torch.equal(recon.argmax(1).to(torch.uint8), y["recon_argmax"])
    torch.testing.assert_close(recon.double().sum((2, 3)), y["recon_chsum"].double(), rtol=1e-4, atol=1e-2)
    with pytest.raises(ValueError, match="512x512"):
        V(torch.zeros(1, 19, 256, 256))


@torch.no_grad()
def test_alpha_blender():
    sd, x, y, c = load("alpha_blender")
    B = strict(N.BlendGenerator(6, 3, c["ngf"], c["n_downsampling"], c["n_blocks"]), sd)
    blend, alpha = B(x["input1"], x["input2"])
    close(blend, y["blend"])
    close(alpha, y["alpha"])


def test_discriminator_and_losses():
    from i2i.models.maskgan.losses import discriminator_losses, generator_gan_losses

    sd, x, y, c = load("discriminator")
    D = strict(
        N.MultiscaleDiscriminator(c["input_nc"], c["ndf"], c["n_layers"], c["use_sigmoid"], c["num_D"]), sd
    )
    label = N.onehot(x["label"])
    with torch.no_grad():
        real, fake = D(torch.cat([label, x["real"]], 1)), D(torch.cat([label, x["fake"]], 1))
    for name, preds in (("real", real), ("fake", fake)):
        for i, feats in enumerate(preds):
            for j, feat in enumerate(feats):
                close(feat, y[f"{name}.scale{i}.feat{j}"])
    d_real, d_fake = discriminator_losses(real, fake)
    g_gan, g_feat = generator_gan_losses(fake, real, c["n_layers"], c["lambda_feat"])
    for got, want in (
        (d_real, "loss_D_real"),
        (d_fake, "loss_D_fake"),
        (g_gan, "loss_G_GAN"),
        (g_feat, "loss_G_GAN_Feat"),
    ):
        close(got.reshape(1), y[want])


@torch.no_grad()
def test_face_parser():
    sd, x, y, c = load("face_parser_unet")
    U = strict(N.UNet(c["feature_scale"], c["n_classes"]), sd)
    logits = U(x["image"])
    close(logits, y["logits"])
    assert torch.equal(logits.argmax(1).to(torch.uint8), y["argmax"])


def _keys(net: torch.nn.Module) -> list[list]:
    return [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in net.state_dict().items()]


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("G", lambda: N.GlobalGenerator()),
        ("B", lambda: N.BlendGenerator()),
        ("D", lambda: N.MultiscaleDiscriminator()),
        ("unet", lambda: N.UNet()),
    ],
)
def test_full_size_keys_are_official(name, build):
    expected = json.loads((FIXTURES / f"keys_default_{name}.json").read_text())
    with torch.device("meta"):
        net = build()
    assert _keys(net) == expected["keys"]
    assert sum(p.numel() for p in net.parameters()) == expected["n_params"]


def test_full_size_vae_keys_are_official():
    expected = json.loads((FIXTURES / "keys_default_VAE.json").read_text())
    with torch.device("meta"):
        net = N.VAE(19, 32, 32, 1024)
    assert _keys(net) == expected["keys"]
    assert sum(p.numel() for p in net.parameters()) == expected["n_params"]
