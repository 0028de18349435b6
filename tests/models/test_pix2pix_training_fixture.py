"""Two official pix2pix optimisation steps, reproduced (losses, visuals, every weight after)."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from i2i.models.pix2pix.model import Pix2Pix, Pix2PixConfig
from i2i.train.loop import StepContext
from tests.conftest import FIXTURES, manifest

CASE = "step_pix2pix_u128_ngf4_nodrop"


def test_two_reference_training_steps():
    m = manifest("cyclegan_pix2pix", CASE)
    o = m["options"]
    config = Pix2PixConfig(
        netG=o["netG"],
        netD=o["netD"],
        ngf=o["ngf"],
        ndf=o["ndf"],
        n_layers_D=o["n_layers_D"],
        norm=o["norm"],
        no_dropout=o["no_dropout"],
        gan_mode=o["gan_mode"],
        lr=o["lr"],
        beta1=o["beta1"],
        lambda_L1=o["lambda_L1"],
    )
    model = Pix2Pix(config, device="cpu", precision="fp32")
    init = load_file(FIXTURES / "cyclegan_pix2pix" / f"{CASE}.safetensors")
    model.load_networks(
        {
            net: {k[len(net) + 1 :]: v for k, v in init.items() if k.startswith(net + ".")}
            for net in ("G", "D")
        }
    )
    model.setup_training()
    io = load_file(FIXTURES / "cyclegan_pix2pix" / f"{CASE}.io.safetensors")
    ctx = StepContext(torch.device("cpu"), "fp32", channels_last=False)
    tol = m["tolerance"]
    for i, expected in enumerate(m["expected_losses"]):
        losses = model.training_step({"A": io[f"step{i}.A"], "B": io[f"step{i}.B"]}, ctx)
        ctx.end_step()
        for name, value in expected.items():
            assert abs(float(losses[name]) - value) <= tol["losses_rtol"] * abs(value), name
        torch.testing.assert_close(
            model.visuals()["fake_B"], io[f"step{i}.fake_B"], atol=tol["visuals_atol"], rtol=0
        )
    for key, value in io.items():
        if key.startswith("after."):
            net, _, name = key.removeprefix("after.").partition(".")
            got = model.networks[net].state_dict()[name]
            torch.testing.assert_close(got, value, atol=tol["weights_atol"], rtol=0, msg=key)
