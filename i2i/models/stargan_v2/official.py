"""Official StarGAN v2 files of clovaai/stargan-v2: `*_nets_ema.ckpt` / `*_nets.ckpt` (networks by name,
maybe with the FAN), single networks, and upstream's `wing.ckpt` FAN weights; every size setting is read from
the shapes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import nn

from i2i.errors import I2IError
from i2i.hub.resolve import resolve_weights
from i2i.model import StateDict


def detect(cls: type, states: dict[str, StateDict]) -> float:
    """Sure of G, F or E; less of a lone discriminator; a lone FAN only to say what a wing.ckpt is for."""
    kinds = {network_kind(state) for state in states.values()}
    if kinds & {"generator", "mapping_network", "style_encoder"}:
        return 0.95
    if "discriminator" in kinds:
        return 0.6
    return 0.5 if kinds == {"fan"} else 0.0  # only to say what a wing.ckpt is for


def import_official(
    cls: type, states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """A `*_nets_ema.ckpt` (generator, mapping_network, style_encoder, maybe fan), a `*_nets.ckpt` (also
    the discriminator) or single networks; every size setting is read from the shapes. A `fan` entry is
    kept for w_hpf > 0 and skipped otherwise (the released AFHQ file carries one it never uses)."""
    networks: dict[str, StateDict] = {}
    for role, state in states.items():
        kind = network_kind(state)
        if kind is None:
            raise I2IError(
                f"{role or 'checkpoint'}: keys match no StarGAN v2 network (first keys: "
                f"{', '.join(list(state)[:3])}); expected a generator (from_rgb, encode.N, decode.N), "
                "mapping network (shared.N, unshared.D.N), style encoder, discriminator (main.N) or FAN"
            )
        if kind in networks:
            raise I2IError(f"two StarGAN v2 {kind} networks given ({role or 'unnamed'})")
        networks[kind] = state
    if set(networks) <= {"fan"}:
        raise I2IError(
            "this file holds only FAN landmark weights: load the StarGAN v2 checkpoint and give this "
            "file with --set fan_weights=PATH"
        )
    settings = detect_settings(networks)
    if settings.get("w_hpf", 1.0) == 0:
        networks.pop("fan", None)
    return settings, networks


def network_kind(state: StateDict) -> str | None:
    """Which StarGAN v2 network a state dict belongs to, from its keys (None: none of them)."""
    keys = state.keys()
    if "from_rgb.weight" in keys and "encode.0.conv1.weight" in keys:
        return "generator"
    if "shared.0.weight" in keys and "unshared.0.6.weight" in keys:
        return "mapping_network"
    if "shared.0.weight" in keys and "unshared.0.weight" in keys:
        return "style_encoder"
    if "main.0.weight" in keys and "main.1.conv1.weight" in keys:
        return "discriminator"
    if "conv1.conv.weight" in keys and "m0.coordconv.conv.weight" in keys:
        return "fan"
    return None


def _indices(state: StateDict, prefix: str, suffix: str) -> list[int]:
    """Sorted N of the keys `<prefix>N<suffix>`."""
    found = set()
    for key in state:
        if key.startswith(prefix) and key.endswith(suffix):
            middle = key[len(prefix) : len(key) - len(suffix)]
            if middle.isdigit():
                found.add(int(middle))
    return sorted(found)


def detect_settings(networks: dict[str, StateDict]) -> dict[str, Any]:
    """Config settings read from the shapes of official networks (keys as `network_kind` names them)."""
    settings: dict[str, Any] = {}
    domains: dict[str, int] = {}
    widths: list[int] = []
    sizes: dict[str, int] = {}
    first: int | None = None
    G, F_map = networks.get("generator"), networks.get("mapping_network")
    if F_map is not None:
        settings["latent_dim"] = int(F_map["shared.0.weight"].shape[1])
        settings["hidden_dim"] = int(F_map["shared.0.weight"].shape[0])
        settings["style_dim"] = int(F_map["unshared.0.6.weight"].shape[0])
        domains["mapping network"] = len(_indices(F_map, "unshared.", ".6.weight"))
    for name, prefix in (("style_encoder", "shared."), ("discriminator", "main.")):
        state = networks.get(name)
        if state is None:
            continue
        blocks = _indices(state, prefix, ".conv1.weight")
        sizes[name] = 2 ** (len(blocks) + 2)
        widths += [int(state[f"{prefix}{i}.conv2.weight"].shape[0]) for i in blocks]
        first = int(state[f"{prefix}0.weight"].shape[0])
        if name == "style_encoder":
            settings["style_dim"] = int(state["unshared.0.weight"].shape[0])
            domains["style encoder"] = len(_indices(state, "unshared.", ".weight"))
        else:
            domains["discriminator"] = int(state[f"{prefix}{len(blocks) + 4}.weight"].shape[0])
    if len(set(domains.values())) > 1:
        counts = ", ".join(f"the {k} {v}" for k, v in domains.items())
        raise I2IError(f"the networks disagree on the number of domains ({counts}); not one checkpoint")
    if domains:
        settings["num_domains"] = next(iter(domains.values()))
    encode = _indices(G, "encode.", ".conv1.weight") if G is not None else []
    if G is not None:
        first = int(G["from_rgb.weight"].shape[0])
        settings["style_dim"] = int(G["decode.0.norm1.fc.weight"].shape[1])
        widths += [int(G[f"encode.{i}.conv2.weight"].shape[0]) for i in encode]
    if len(set(sizes.values())) > 1:
        raise I2IError(f"the style encoder and discriminator are made for different image sizes ({sizes})")
    img_size = next(iter(sizes.values()), None)
    if img_size is None and first:
        img_size = 2**14 // first
    if img_size is not None:
        settings["img_size"] = img_size
        settings["dim_in"] = None if first == 2**14 // img_size else first
    if widths:
        settings["max_conv_dim"] = max(widths)
    if G is not None and img_size is not None:
        settings["w_hpf"] = _detect_w_hpf(G, len(encode) - 2, img_size)  # the last two are the bottleneck
    return settings


def _detect_w_hpf(G: StateDict, down: int, img_size: int) -> float:
    if "hpf.filter" in G:
        return float(8.0 / G["hpf.filter"][1, 1])
    plain = int(math.log2(img_size)) - 4
    if down == plain:
        return 0.0
    if down == plain + 1:
        return 1.0
    raise I2IError(
        f"the generator has {down} down-sampling blocks, which fits no StarGAN v2 generator of img_size "
        f"{img_size} ({plain} with w_hpf=0, {plain + 1} with w_hpf>0)"
    )


def read_fan_weights(path: Path) -> StateDict:
    """FAN tensors from upstream's wing.ckpt (`{'state_dict': ...}`), a `*_nets*.ckpt` (its `fan` entry), an
    i2i checkpoint (its `fan` network) or a plain FAN state dict."""
    from i2i.io import checkpoint, official

    content = official.read_any(path)
    if isinstance(content, checkpoint.Checkpoint):
        content = content.network_tensors().get("fan", {}) if content.is_i2i else content.tensors
    if isinstance(content, dict) and not official.is_state_dict(content):
        content = content.get("fan", {})
    if not official.is_state_dict(content):
        raise I2IError(f"{path}: holds no FAN weights (no 'fan' entry or FAN state dict)")
    return content


def load_fan_file(fan: nn.Module, name: str) -> None:
    """Load the FAN weights named by `fan_weights` (a path or catalogue name) into `fan`."""
    path, _ = resolve_weights(name)
    state = read_fan_weights(path)
    expected = fan.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise I2IError(
            f"{path}: not FAN weights: {len(missing)} FAN tensors are missing (e.g. {missing[0]}); "
            "expected upstream's wing.ckpt or a checkpoint with a 'fan' entry"
        )
    # upstream loads wing.ckpt non-strictly (the keys it shares with the FAN)
    fan.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
