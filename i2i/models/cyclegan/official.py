"""Official CycleGAN files of junyanz/pytorch-CycleGAN-and-pix2pix (a model-zoo generator, or a training
run's `latest_net_G_A.pth`, `_G_B`, `_D_A`, `_D_B` and its `train_opt.txt`) and of eriklindernoren/PyTorch-GAN."""

from __future__ import annotations

from typing import Any

from i2i.errors import I2IError
from i2i.model import StateDict
from i2i.models._shared.cyclegan_pix2pix import official as reference


def detect(cls: type, states: dict[str, StateDict]) -> float:
    """How sure (0..1) it is that `states` are CycleGAN networks: named as such, or a ResNet with InstanceNorm."""
    score = 0.0
    for role, state in states.items():
        g = reference.detect_generator(state)
        if role in ("G_A", "G_B", "D_A", "D_B"):
            score = max(score, 0.95)
        elif g and "error" not in g:
            resnet_in = g["netG"].startswith("resnet") and g["norm"].startswith("instance")
            score = max(score, 0.8 if resnet_in else 0.3)
    return score


def import_official(
    cls: type, states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """Settings of `cls.Config` read from the networks (and `options`), and the networks by role: a single
    generator loads as G_A."""
    settings = reference.reference_options(cls.Config, options)
    networks: dict[str, StateDict] = {}
    generators: dict[str, dict] = {}
    discriminators: dict[str, dict] = {}
    for role, state in states.items():
        found = reference.detect_generator(state)
        if found is not None:
            if "error" in found:
                raise I2IError(f"unsupported CycleGAN generator: {found['error']}")
            name = role if role in ("G_A", "G_B") else _free(("G_A", "G_B"), networks, role)
            networks[name], generators[name] = reference.rename_resnet_blocks(state), found
            continue
        found = reference.detect_discriminator(state)
        if found is None:
            raise I2IError(
                f"{role or 'checkpoint'}: keys match no CycleGAN network (first keys: "
                f"{', '.join(list(state)[:3])}); expected a ResNet/U-Net generator (model.1.weight + "
                "model.N.conv_block..., or model.model.0.weight) or a PatchGAN (model.0.weight / net.0.weight)"
            )
        name = role if role in ("D_A", "D_B") else _free(("D_A", "D_B"), networks, role)
        networks[name], discriminators[name] = state, found
    first = generators.get("G_A") or generators.get("G_B")
    if first:
        settings.update({k: v for k, v in first.items() if k not in ("input_nc", "output_nc")})
        if "G_A" in generators:
            settings["input_nc"], settings["output_nc"] = (
                generators["G_A"]["input_nc"],
                generators["G_A"]["output_nc"],
            )
        else:
            settings["input_nc"], settings["output_nc"] = (
                generators["G_B"]["output_nc"],
                generators["G_B"]["input_nc"],
            )
    for name, found in discriminators.items():
        found = dict(found)
        channels = found.pop("d_input_nc")
        if first:
            found.pop("norm", None)  # the generators decide the shared `norm`
        settings.update(found)
        side = "output_nc" if name == "D_A" else "input_nc"  # D_A judges B images, D_B judges A images
        settings.setdefault(side, channels)
        if settings[side] != channels:
            raise I2IError(f"{name} takes {channels} channels but the generators make {settings[side]}")
    return settings, networks


def _free(names: tuple[str, str], taken: dict, role: str) -> str:
    for name in names:
        if name not in taken:
            return name
    raise I2IError(f"more than two networks of kind {names[0][0]} given ({role or 'unnamed'})")
