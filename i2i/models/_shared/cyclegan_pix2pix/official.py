"""Official files of junyanz/pytorch-CycleGAN-and-pix2pix: generator and discriminator hyperparameters read
from state-dict keys and shapes (also PyTorch-GAN's CycleGAN layout), and the settings of a `train_opt.txt`."""

from __future__ import annotations

import re
from typing import Any

import torch

from i2i.config import _coerce, field_types
from i2i.errors import UsageError


def _has(state: dict, key: str) -> bool:
    return key in state


def detect_norm(state: dict[str, torch.Tensor], conv: str, norm: str) -> str:
    """Norm kind from a conv that the reference follows by a norm: IN convs carry a bias, BN convs don't."""
    if _has(state, f"{conv}.bias"):
        return "instance_affine" if _has(state, f"{norm}.weight") else "instance"
    if _has(state, f"{norm}.weight") or _has(state, f"{norm}.running_mean"):
        return "batch"
    return "none"


def detect_generator(state: dict[str, torch.Tensor]) -> dict | None:
    """Reference generator hyperparameters from keys and shapes, or None if `state` is not one."""
    if "model.model.0.weight" in state:
        return _detect_unet(state)
    state = rename_resnet_blocks(state)
    if "model.1.weight" in state and any(k.startswith("model.") and ".conv_block." in k for k in state):
        return _detect_resnet(state)
    return None


def _detect_unet(state: dict[str, torch.Tensor]) -> dict | None:
    first = state["model.model.0.weight"]
    ngf, input_nc = first.shape[0], first.shape[1]
    out = state.get("model.model.3.weight")
    if out is None:
        return None
    depth, prefix = 1, "model.model.1"
    while f"{prefix}.model.3.model.1.weight" in state:
        prefix += ".model.3"
        depth += 1
    num_downs = depth + 1  # the levels below the outermost, plus the outermost
    if num_downs < 5:
        return {"error": f"a U-Net with {num_downs} levels (a U-Net generator has at least 5)"}
    netG = f"unet_{2**num_downs}"
    norm = detect_norm(state, "model.model.1.model.1", "model.model.1.model.2")
    return {
        "netG": netG,
        "ngf": int(ngf),
        "input_nc": int(input_nc),
        "output_nc": int(out.shape[1]),
        "norm": norm,
    }


_BLOCK_CONV = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.weight$")
_BLOCK_ALIAS = re.compile(r"^(model\.\d+\.)block\.")


def rename_resnet_blocks(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """eriklindernoren/PyTorch-GAN names a residual block's Sequential `block`; the reference `conv_block`."""
    return {_BLOCK_ALIAS.sub(r"\1conv_block.", k): v for k, v in state.items()}


def _detect_resnet(state: dict[str, torch.Tensor]) -> dict | None:
    blocks: dict[int, list[int]] = {}
    for key, value in state.items():
        match = _BLOCK_CONV.match(key)
        if match and value.ndim == 4:
            blocks.setdefault(int(match[1]), []).append(int(match[2]))
    if not blocks:
        return None
    convs = sorted(next(iter(blocks.values())))
    first, second = convs[0], convs[-1]
    # Convs at 1 and 5 (reflect/replicate: a pad layer before each) or 0 and 3 (zero padding); dropout
    # between them shifts the second one by one more.
    padding_zero = first == 0
    dropout = second - first == (4 if padding_zero else 5)
    stem = state["model.1.weight"]
    last_index = max(int(k.split(".")[1]) for k in state if k.split(".")[1].isdigit())
    last = state[f"model.{last_index}.weight"]
    info = {
        "netG": f"resnet_{len(blocks)}blocks",
        "ngf": int(stem.shape[0]),
        "input_nc": int(stem.shape[1]),
        "output_nc": int(last.shape[0]),
        "norm": detect_norm(state, "model.1", "model.2"),
        "no_dropout": not dropout,
    }
    if padding_zero:
        info["padding_type"] = "zero"
    first_up = max(blocks) + 1  # a ConvTranspose2d here, or an Upsample (no weights) and then a conv
    if f"model.{first_up}.weight" not in state and f"model.{first_up + 1}.weight" in state:
        info["upsampling"] = "resize_conv"
    return info


def detect_discriminator(state: dict[str, torch.Tensor]) -> dict | None:
    """NLayer / pixel PatchGAN hyperparameters from keys and shapes, or None."""
    if "net.0.weight" in state and state["net.0.weight"].shape[-1] == 1:
        w = state["net.0.weight"]
        return {
            "netD": "pixel",
            "ndf": int(w.shape[0]),
            "d_input_nc": int(w.shape[1]),
            "norm": detect_norm(state, "net.2", "net.3"),
        }
    w = state.get("model.0.weight")
    if w is None or w.ndim != 4 or w.shape[-1] != 4 or any(".conv_block." in k for k in state):
        return None
    convs = sorted(
        int(k.split(".")[1]) for k in state if re.fullmatch(r"model\.\d+\.weight", k) and state[k].ndim == 4
    )
    n_layers = len(convs) - 2
    norm = detect_norm(state, f"model.{convs[1]}", f"model.{convs[1] + 1}") if n_layers >= 1 else "none"
    return {
        "netD": "basic" if n_layers == 3 else "n_layers",
        "n_layers_D": n_layers,
        "ndf": int(w.shape[0]),
        "d_input_nc": int(w.shape[1]),
        "norm": norm,
    }


def reference_options(config_cls: type, options: dict[str, str] | None) -> dict[str, Any]:
    """The settings of a reference `train_opt.txt` that are fields of `config_cls`, parsed by field type.

    The reference writes `max_dataset_size: inf` (i2i: None); values i2i cannot parse are left out."""
    fields = field_types(config_cls)
    settings: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key not in fields:
            continue
        if key == "max_dataset_size" and value.strip().lower() == "inf":
            value = "none"
        try:
            settings[key] = _coerce(value, fields[key], key)
        except UsageError:
            continue
    return settings
