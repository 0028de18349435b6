"""Official MaskGAN files: `latest_net_G.pth` (the Dense Mapping Network), `latest_net_B.pth` (alpha
blender), `latest_net_D.pth` (discriminator), the face parser's `model.pth`, and MaskVAE state dicts; each
recognised by its keys (not its file name), its settings read from the shapes of its tensors."""

from __future__ import annotations

import re
from typing import Any

import torch

from i2i.errors import I2IError
from i2i.model import StateDict

_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.0\.conv\.weight$")
_MODEL_CONV = re.compile(r"^model\.(\d+)\.weight$")
_ADAIN = re.compile(r"^(model\.\d+\.conv_block\.\d)\.conv\.weight$")
_D_LAYER = re.compile(r"^scale(\d+)_layer(\d+)\.0\.weight$")

KINDS = {
    "G": "the Dense Mapping Network (latest_net_G.pth)",
    "B": "the alpha blender (latest_net_B.pth)",
    "D": "the discriminator (latest_net_D.pth)",
    "VAE": "the MaskVAE",
    "parser": "the face parser (face_parsing model.pth)",
}


def _global(state: StateDict) -> dict[str, int] | None:
    """ngf, input/output channels, downsamplings and residual blocks of a global generator's `model.*`."""
    first = state.get("model.1.weight")
    blocks = sorted(int(m[1]) for k in state if (m := _BLOCK.match(k)))
    convs = sorted(int(m[1]) for k in state if (m := _MODEL_CONV.match(k)))
    if first is None or first.ndim != 4 or not blocks or (blocks[0] - 4) % 3:
        return None
    return {
        "input_nc": int(first.shape[1]),
        "ngf": int(first.shape[0]),
        "n_downsampling": (blocks[0] - 4) // 3,
        "n_blocks": len(blocks),
        "output_nc": int(state[f"model.{convs[-1]}.weight"].shape[0]),
    }


def classify(state: StateDict) -> tuple[str, dict[str, Any]] | None:
    """(network name, settings) of one official state dict, or None when it is none of MaskGAN's."""
    if "enc_style.model_last.1.weight" in state and "enc_label.model.0.conv.weight" in state:
        found = _global(state)
        if found is None:
            return None
        middle = {k.split(".")[2] for k in state if k.startswith("enc_style.model_middle.")}
        settings = {
            "label_nc": found["input_nc"],
            "output_nc": found["output_nc"],
            "ngf": found["ngf"],
            "n_downsample_global": found["n_downsampling"],
            "n_blocks_global": found["n_blocks"],
            "enc_n_downsample": len(middle) + 2,
        }
        return "G", settings
    if "scale0_layer0.0.weight" in state:
        layers = [(int(m[1]), int(m[2])) for k in state if (m := _D_LAYER.match(k))]
        num_d = 1 + max(i for i, _ in layers)
        n_layers = max(j for i, j in layers if i == 0) - 1
        return "D", {
            "ndf": int(state["scale0_layer0.0.weight"].shape[0]),
            "n_layers_D": n_layers,
            "num_D": num_d,
        }
    if "conv1.conv1.0.weight" in state and "final.weight" in state:
        return "parser", {"feature_scale": 64 // int(state["conv1.conv1.0.weight"].shape[0])}
    if "e1.weight" in state and "fc1.weight" in state and "d8.weight" in state:
        return "VAE", {
            "mask_vae": True,
            "vae_ndf": int(state["e1.weight"].shape[0]),
            "vae_ngf": int(state["d8.weight"].shape[1]),
            "vae_latent": int(state["fc1.weight"].shape[0]),
        }
    found = _global(state) if "enc_style.model_last.1.weight" not in state else None
    if found is not None and found["output_nc"] == 3 and found["input_nc"] == 6:
        return "B", {
            "blender": True,
            "blend_ngf": found["ngf"],
            "blend_n_downsampling": found["n_downsampling"],
            "blend_n_blocks": found["n_blocks"],
        }
    return None


def detect(cls: type, states: dict[str, StateDict]) -> float:
    """0.99 when any of `states` is one of MaskGAN's networks (their key sets are distinctive)."""
    return 0.99 if any(classify(s) is not None for s in states.values()) else 0.0


def import_official(
    cls: type, states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """Settings and networks of official MaskGAN state dicts (any of G, B, D, VAE, parser; any sizes).
    The AdaIN layers' unused running statistics may be absent (they are filled with their initial values)."""
    settings: dict[str, Any] = {}
    networks: dict[str, StateDict] = {}
    for role, state in states.items():
        found = classify(state)
        if found is None:
            raise I2IError(
                f"{role or 'checkpoint'}: keys match no MaskGAN network (first keys: {', '.join(list(state)[:3])}); "
                f"expected {', '.join(KINDS.values())}"
            )
        name, found_settings = found
        if name in networks:
            raise I2IError(f"two MaskGAN {KINDS[name]} files given")
        if name == "G":
            state = _with_adain_buffers(state)
        settings.update(found_settings)
        networks[name] = state
    if "G" in networks and "D" in networks:
        d_in = int(networks["D"]["scale0_layer0.0.weight"].shape[1])
        if d_in != settings["label_nc"] + settings["output_nc"]:
            raise I2IError(
                f"the discriminator sees {d_in} channels, not the generator's label + image channels"
            )
    return settings, networks


def _with_adain_buffers(state: StateDict) -> StateDict:
    state = dict(state)
    for key in list(state):
        if m := _ADAIN.match(key):
            width = state[key].shape[0]
            state.setdefault(f"{m[1]}.norm.running_mean", torch.zeros(width))
            state.setdefault(f"{m[1]}.norm.running_var", torch.ones(width))
    return state
