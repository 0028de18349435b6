"""Official StarGAN files of yunjey/stargan: `{iter}-G.ckpt` / `{iter}-D.ckpt`, their settings read from the
shapes of their tensors."""

from __future__ import annotations

import re
from typing import Any

from i2i.errors import I2IError
from i2i.model import StateDict


def detect(cls: type, states: dict[str, StateDict]) -> float:
    """0.95 when any of `states` is a StarGAN generator or discriminator."""
    found = any(detect_generator(s) or detect_discriminator(s) for s in states.values())
    return 0.95 if found else 0.0


def import_official(
    cls: type, states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """`{iter}-G.ckpt` / `{iter}-D.ckpt` state dicts (either or both): c_dim, conv dims, repeat counts
    and (from D's classifier kernel) image_size are read from the shapes."""
    settings: dict[str, Any] = {}
    networks: dict[str, StateDict] = {}
    labels: dict[str, int] = {}
    for role, state in states.items():
        found = detect_generator(state)
        name = "G"
        if found is None:
            found, name = detect_discriminator(state), "D"
        if found is None:
            raise I2IError(
                f"{role or 'checkpoint'}: keys match no StarGAN network (first keys: "
                f"{', '.join(list(state)[:3])}); expected a generator (main.0.weight 7x7, "
                "main.N.main.0.weight) or a discriminator (main.0.weight, conv1.weight, conv2.weight)"
            )
        if name in networks:
            raise I2IError(f"two StarGAN {'generators' if name == 'G' else 'discriminators'} given")
        labels[name] = found["c_dim"]
        if len(set(labels.values())) > 1:
            raise I2IError(
                f"the generator takes {labels['G']} labels but the discriminator classifies "
                f"{labels['D']}; they are not from the same model"
            )
        settings.update(found)
        networks[name] = state
    return settings, networks


_RESIDUAL_CONV = re.compile(r"^main\.(\d+)\.main\.0\.weight$")
_DISCRIMINATOR_CONV = re.compile(r"^main\.\d+\.weight$")


def detect_generator(state: StateDict) -> dict[str, int] | None:
    """Generator settings from an official `-G.ckpt` state dict, or None if it is not one."""
    first = state.get("main.0.weight")
    if first is None or first.ndim != 4 or first.shape[-1] != 7 or first.shape[1] < 3:
        return None
    blocks = {int(m[1]) for key in state if (m := _RESIDUAL_CONV.match(key))}
    if not blocks:
        return None
    return {"c_dim": int(first.shape[1]) - 3, "g_conv_dim": int(first.shape[0]), "g_repeat_num": len(blocks)}


def detect_discriminator(state: StateDict) -> dict[str, int] | None:
    """Discriminator settings from an official `-D.ckpt` state dict, or None if it is not one."""
    first, classifier = state.get("main.0.weight"), state.get("conv2.weight")
    if first is None or classifier is None or "conv1.weight" not in state or first.ndim != 4:
        return None
    repeat = sum(1 for key in state if _DISCRIMINATOR_CONV.match(key))
    return {
        "c_dim": int(classifier.shape[0]),
        "d_conv_dim": int(first.shape[0]),
        "d_repeat_num": repeat,
        "image_size": int(classifier.shape[-1]) * 2**repeat,
    }
