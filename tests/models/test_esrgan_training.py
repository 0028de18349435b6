"""ESRGAN training: GAN losses, the perceptual loss and one full reference training step."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import i2i
from i2i.models.esrgan import model as esrgan
from i2i.train.loop import StepContext
from tests.conftest import FIXTURES

GROUP = FIXTURES / "esrgan"
MANIFEST = json.loads((GROUP / "manifest.json").read_text())["fixtures"]


@pytest.mark.parametrize("gan_type", ["vanilla", "lsgan", "wgan", "wgan_softplus", "hinge"])
def test_gan_losses(gan_type):
    io = load_file(GROUP / "gan_loss_public.safetensors")
    for side in ("real", "fake"):
        for target in (1, 0):
            for disc in (1, 0):
                got = esrgan.gan_loss(io[f"{side}_logits"], bool(target), gan_type, is_disc=bool(disc))
                got = got if disc else got * 0.005
                expected = io[f"plain.{gan_type}.{side}.target_{target}.disc_{disc}"]
                torch.testing.assert_close(got.reshape(1), expected, atol=1e-6, rtol=1e-6)


def test_relativistic_losses():
    io = load_file(GROUP / "gan_loss_public.safetensors")
    real, fake = io["real_logits"], io["fake_logits"]
    l_g = 0.005 * (esrgan.gan_loss(real - fake.mean(), False, "vanilla", is_disc=False)
                   + esrgan.gan_loss(fake - real.mean(), True, "vanilla", is_disc=False)) / 2  # fmt: skip
    l_d_real = 0.5 * esrgan.gan_loss(real - fake.mean(), True, "vanilla", is_disc=True)
    l_d_fake = 0.5 * esrgan.gan_loss(fake - real.mean(), False, "vanilla", is_disc=True)
    for name, got in (("l_g_gan", l_g), ("l_d_real", l_d_real), ("l_d_fake", l_d_fake)):
        torch.testing.assert_close(got.reshape(1), io[f"relativistic.{name}"], atol=1e-6, rtol=1e-6)


def test_perceptual_loss():
    m = MANIFEST["perceptual_public"]
    io = load_file(GROUP / "perceptual_public.io.safetensors")
    layers = tuple(m["config"]["layer_weights"])
    vgg = esrgan.VGGFeatures(layers, load_file(GROUP / "perceptual_public.vgg19_features.safetensors"))
    features = vgg(io["x"])
    for name in layers:
        torch.testing.assert_close(features[name], io[f"feat_x_{name}"], atol=1e-5, rtol=1e-5)
    loss = esrgan.PerceptualLoss(m["config"]["layer_weights"], vgg, 1.0)(io["x"], io["gt"])
    torch.testing.assert_close(loss.reshape(1), io["percep_loss"], atol=1e-5, rtol=1e-5)


def test_one_reference_gan_step(tmp_path, monkeypatch):
    m = MANIFEST["esrgan_train_step_public"]
    cfg = m["config"]
    vgg = tmp_path / "vgg.safetensors"
    save_file(load_file(GROUP / "esrgan_train_step_public.vgg19_features.safetensors"), vgg)
    g_before = load_file(GROUP / "esrgan_train_step_public.g_before.safetensors")
    d_before = load_file(GROUP / "esrgan_train_step_public.d_before.safetensors")
    settings, networks = esrgan.ESRGAN.import_official({"G": g_before, "D": d_before})
    model = esrgan.ESRGAN(
        i2i.config.replace(
            esrgan.ESRGAN.Config(),
            settings
            | {
                "stage": "gan",
                "perceptual_layers": ("conv2_2",),
                "perceptual_layer_weights": (1.0,),
                "ema_decay": 0.0,
                "vgg19_weights": str(vgg),
                "lr": cfg["optim"]["lr"],
            },  # fmt: skip
        ),
        device="cpu",
        precision="fp32",
    )
    model.load_networks(networks)
    model.setup_training()
    io = load_file(GROUP / "esrgan_train_step_public.io.safetensors")
    tol = m["tolerance"]
    ctx = StepContext(torch.device("cpu"), "fp32", channels_last=False)
    losses = model.training_step({"lq": io["lq"], "gt": io["gt"]}, ctx)
    for name in ("l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake"):
        torch.testing.assert_close(losses[name].reshape(1), io[f"loss.{name}"], **tol["losses_and_grads"])
    grads = load_file(GROUP / "esrgan_train_step_public.grads.safetensors")
    for key, expected in grads.items():
        net, _, name = key.partition(".")
        module = model.networks["G" if net == "grad_g" else "D"]
        got = dict(module.named_parameters())[name].grad
        # a gradient sums many products whose order differs between CPUs (oneDNN kernels), so near-zero
        # elements carry the rounding of the large ones: the absolute floor scales with the tensor's size
        t = tol["losses_and_grads"]
        atol = t["atol"] + t["rtol"] * float(expected.abs().max())
        torch.testing.assert_close(got, expected, atol=atol, rtol=t["rtol"], msg=key)
    for net, file in (("G", "g_after"), ("D", "d_after")):
        expected = load_file(GROUP / f"esrgan_train_step_public.{file}.safetensors")
        _, converted = esrgan.ESRGAN.import_official({net: expected})
        state = model.networks[net].state_dict()
        w, lr = tol["weights_after"], cfg["optim"]["lr"]
        for key, value in converted[net].items():
            # Adam's first step is lr * g / (|g| + eps): where g is within the rounding noise above, its
            # sign (and so the step) is noise too; there up to 2 lr is allowed, elsewhere the manifest's
            grad = grads.get(f"grad_{net.lower()}.{key}")
            # (batch-norm running statistics carry the forward pass's float32 rounding: 1e-6 allowed)
            atol = torch.full_like(value, w["atol"] if grad is not None else 1e-6)
            if grad is not None:
                noise = t["atol"] + t["rtol"] * float(grad.abs().max())
                atol = torch.where(grad.abs() <= noise, 2 * lr, atol)
            diff = (state[key] - value).abs()
            assert bool((diff <= atol + w["rtol"] * value.abs()).all()), (f"{net}.{key}", float(diff.max()))


def test_vgg19_weights_are_never_downloaded(monkeypatch, tmp_path):
    monkeypatch.delenv("I2I_VGG19_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(i2i.I2IError, match="--vgg19-weights"):
        esrgan.vgg19_weights_path(None)
    monkeypatch.setenv("I2I_VGG19_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(i2i.I2IError, match="not found"):
        esrgan.vgg19_weights_path(None)


# -------------------------------------------------------------------------------------- through the loop

TINY = ["--set", "num_feat=8", "--set", "num_block=1", "--set", "num_grow_ch=4", "--set", "gt_size=32",
        "--set", "d_type=unet", "--set", "d_num_feat=2"]  # fmt: skip


@pytest.fixture(scope="module")
def hr_images(tmp_path_factory):
    from i2i.data.images import make_images

    return make_images(tmp_path_factory.mktemp("hr") / "hr", count=8, size=48, seed=1)


def _train(*args):
    from typer.testing import CliRunner

    from i2i.cli import app

    result = CliRunner().invoke(
        app, ["train", *args, "--workers", "0", "--no-progress", "--sample-every", "2"]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("degradation", ["bicubic", "realesrgan"])
def test_resume_is_exact(hr_images, tmp_path, degradation):
    common = [
        "--data",
        str(hr_images),
        "--batch-size",
        "2",
        "--seed",
        "4",
        "--set",
        f"degradation={degradation}",
        *TINY,
    ]
    _train("esrgan", *common, "--run-dir", str(tmp_path / "straight"), "--steps", "5")
    _train("esrgan", *common, "--run-dir", str(tmp_path / "resumed"), "--steps", "2")
    _train("--run-dir", str(tmp_path / "resumed"), "--resume", "--steps", "5")
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {k.split(".")[0] for k in a} == {"G", "D", "G_ema"}


def test_gan_stage_with_the_real_world_degradation(hr_images, tmp_path, monkeypatch):
    vgg = tmp_path / "vgg_head.safetensors"  # only conv1_1 and conv1_2: random, small, never downloaded
    torch.manual_seed(0)
    save_file({"features.0.weight": torch.randn(64, 3, 3, 3) * 0.1, "features.0.bias": torch.zeros(64),
               "features.2.weight": torch.randn(64, 64, 3, 3) * 0.05, "features.2.bias": torch.zeros(64)}, vgg)  # fmt: skip
    monkeypatch.setenv("I2I_VGG19_WEIGHTS", str(vgg))
    run = tmp_path / "gan"
    _train("esrgan", "--data", str(hr_images), "--run-dir", str(run), "--steps", "2", "--batch-size", "2",
           "--set", "stage=gan", "--set", "degradation=realesrgan", "--set", "perceptual_layers=conv1_2", *TINY)  # fmt: skip
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert {"l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake"} <= log[-1].keys()
    model = i2i.load(weights=run / "model.safetensors", device="cpu")
    assert model.required_networks({}) == ("G_ema",)
    assert (run / "samples" / "step_00000002.png").exists()
