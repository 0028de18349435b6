"""Parity with the reference networks (fixtures computed by junyanz/pytorch-CycleGAN-and-pix2pix)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from i2i.model import drop_legacy_instance_norm
from i2i.models._shared.cyclegan_pix2pix import networks as _blocks
from tests.conftest import FIXTURES, manifest

GROUP = FIXTURES / "cyclegan_pix2pix"
NETWORK_CASES = sorted(
    p.name.removesuffix(".json")
    for p in GROUP.glob("*.json")
    if json.loads(p.read_text()).get("kind") in ("network", "legacy_instancenorm_checkpoint")
)


def build(cls_name: str, args: dict) -> nn.Module:
    args = dict(args)
    cls = getattr(_blocks, cls_name)
    if cls_name == "NLayerDiscriminator":
        return cls(args["input_nc"], args["ndf"], args["n_layers"], args["norm"])
    if cls_name == "PixelDiscriminator":
        return cls(args["input_nc"], args["ndf"], args["norm"])
    return cls(**args)


@pytest.mark.parametrize("case", NETWORK_CASES)
def test_network_matches_reference(case):
    m = manifest("cyclegan_pix2pix", case)
    state = load_file(GROUP / f"{case}.safetensors")
    io = load_file(GROUP / f"{case}.io.safetensors")
    net = build(m["class"], m["constructor_args"])
    if m["kind"] == "legacy_instancenorm_checkpoint":
        patched = drop_legacy_instance_norm(net, state)
        assert sorted(set(state) - set(patched)) == sorted(m["legacy_keys_to_drop"])
        state = patched
    net.load_state_dict(state, strict=True)
    if m["mode"] == "eval":
        net.eval()
    else:
        net.train()
        if m["mode"] == "train_dropout_off":
            for mod in net.modules():
                if isinstance(mod, nn.Dropout):
                    mod.eval()
    with torch.no_grad():
        if m["mode"] == "train_dropout_seeded":
            torch.manual_seed(m["forward_seed"])
        out = net(io["input"])
    tol = m["tolerance"]
    torch.testing.assert_close(out, io["expected_output"], atol=tol["atol"], rtol=tol["rtol"])
    for key in m.get("after_keys", []):
        after = net.state_dict()[key.removeprefix("after.")]
        torch.testing.assert_close(after, io[key], atol=tol["atol"], rtol=tol["rtol"])


@pytest.mark.parametrize(
    "keys_file, factory",
    [
        ("keys_default_pix2pix_G.json", lambda: _blocks.define_G(3, 3, 64, "unet_256", "batch", True)),
        (
            "keys_default_cyclegan_G.json",
            lambda: _blocks.define_G(3, 3, 64, "resnet_9blocks", "instance", False),
        ),
    ],
)
def test_default_key_layouts(keys_file, factory):
    expected = json.loads((GROUP / keys_file).read_text())
    net = factory()
    got = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert [[k, s] for k, s, *_ in expected["keys"]] == got
    assert sum(p.numel() for p in net.parameters()) == expected["num_params"]


def test_default_discriminator_layouts():
    expected = json.loads((GROUP / "keys_default_D.json").read_text())
    for entry in expected.values() if isinstance(expected, dict) else expected:
        if not isinstance(entry, dict) or "keys" not in entry:
            continue
        in_nc = entry["keys"][0][1][1]
        norm = "batch" if any("running_mean" in k[0] for k in entry["keys"]) else "instance"
        net = _blocks.define_D(in_nc, 64, "basic", 3, norm)
        assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == [
            [k, s] for k, s, *_ in entry["keys"]
        ]


@pytest.mark.parametrize("norm", ["instance", "instance_affine", "batch"])
def test_gradients_do_not_depend_on_memory_format(norm):
    """PyTorch 2.14's CPU InstanceNorm returns wrong input gradients for channels_last batches of one;
    our layers must not (training runs channels_last)."""
    torch.manual_seed(0)
    net = _blocks.define_G(3, 3, 4, "resnet_6blocks", norm, False)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    grads = []
    for layout in (torch.contiguous_format, torch.channels_last):
        net.zero_grad()
        net.to(memory_format=layout)
        net(x.contiguous(memory_format=layout)).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-3)
