"""Official pix2pix files of junyanz/pytorch-CycleGAN-and-pix2pix: `latest_net_G.pth` / `latest_net_D.pth`
(the generator, the discriminator of cat(A, B), or both) and the `train_opt.txt` beside them."""

from __future__ import annotations

from typing import Any

from i2i.errors import I2IError
from i2i.model import StateDict
from i2i.models._shared.cyclegan_pix2pix import official as reference


def detect(cls: type, states: dict[str, StateDict]) -> float:
    """How sure (0..1) it is that `states` are pix2pix networks: a U-Net, or a D of an even channel count."""
    score = 0.0
    for state in states.values():
        g = reference.detect_generator(state)
        if g and "error" not in g:
            score = max(score, 0.9 if g["netG"].startswith("unet") else 0.4)
        d = reference.detect_discriminator(state)
        if d:
            score = max(
                score, 0.9 if d["d_input_nc"] % 2 == 0 and d["d_input_nc"] >= 2 and g is None else 0.3
            )
    return score


def import_official(
    cls: type, states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """Settings of `cls.Config` read from the networks (and `options`), and the networks as `G` / `D`."""
    settings = reference.reference_options(cls.Config, options)
    networks: dict[str, StateDict] = {}
    d_info = None
    for role, state in states.items():
        found = reference.detect_generator(state)
        if found is not None:
            if "error" in found:
                raise I2IError(f"unsupported pix2pix generator: {found['error']}")
            settings.update(found)
            networks["G"] = reference.rename_resnet_blocks(state)
            continue
        d_info = reference.detect_discriminator(state)
        if d_info is None:
            raise I2IError(
                f"{role or 'checkpoint'}: keys match no pix2pix network (first keys: {', '.join(list(state)[:3])});"
                " expected a U-Net/ResNet generator (model.model.0.weight / model.1.weight) or a PatchGAN"
                " discriminator (model.0.weight / net.0.weight)"
            )
        networks["D"] = state
    if d_info is not None:
        d_input = d_info.pop("d_input_nc")
        # the generator decides the shared `norm` when both are given
        settings.update({k: v for k, v in d_info.items() if k != "norm" or "G" not in networks})
        expected = settings.get("input_nc", 3) + settings.get("output_nc", 3)
        if "G" in networks and d_input != expected:
            raise I2IError(
                f"the discriminator takes {d_input} channels but a pix2pix D sees cat(A, B) = {expected}"
            )
        if "G" not in networks:
            settings.setdefault("input_nc", d_input // 2)
            settings.setdefault("output_nc", d_input - d_input // 2)
    return settings, networks
