"""Official ESRGAN files: the old ESRGAN (`model.*`), new ESRGAN (`RRDB_trunk.*`) and BasicSR (`body.*`)
RRDBNet layouts, converted to BasicSR's (the one i2i stores), SRVGGNetCompact, and the two discriminators;
their settings read from keys and shapes."""

from __future__ import annotations

import math
import re
from typing import Any

from i2i.errors import I2IError
from i2i.model import StateDict


def detect(cls: type, states: dict[str, StateDict]) -> float:
    """0.95 when any of `states` has an ESRGAN network's layout."""
    return 0.95 if any(layout_of(s) for s in states.values()) else 0.0


def import_official(
    cls: type, states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """A generator in any of the three RRDBNet layouts or SRVGG, and/or a discriminator."""
    settings: dict[str, Any] = {}
    networks: dict[str, StateDict] = {}
    for role, state in states.items():
        found = detect_generator(state)
        if found is not None:
            settings.update(found[0])
            networks["G"] = found[1]
            continue
        found = detect_discriminator(state)
        if found is None:
            raise I2IError(
                f"{role or 'checkpoint'}: keys match no ESRGAN network (first keys: {', '.join(list(state)[:3])}); "
                "expected RRDBNet (model.0 / RRDB_trunk / body.N.rdbJ), SRVGGNetCompact (body.N), "
                "VGGStyleDiscriminator (conv0_0) or UNetDiscriminatorSN (conv0, convK.weight_orig)"
            )
        settings.update(found[0])
        networks["D"] = found[1]
    return settings, networks


_OLD_RDB = re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_OLD_PLAIN = re.compile(r"^model\.(\d+)\.(weight|bias)$")
_NEW_RENAMES = (
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\."), r"body.\1.rdb\2."),
    (re.compile(r"^trunk_conv\."), "conv_body."),
    (re.compile(r"^upconv(\d+)\."), r"conv_up\1."),
    (re.compile(r"^HRconv\."), "conv_hr."),
)


def old_to_basicsr(state: StateDict) -> tuple[StateDict, int]:
    """Old ESRGAN `RRDB_Net` keys (`model.*`) -> BasicSR keys; also returns the number of upsampling stages."""
    trunk_index = (
        max(int(m[1]) for k in state if (m := _OLD_RDB.match(k))) + 1
        if any(_OLD_RDB.match(k) for k in state)
        else 0
    )
    plain = sorted({int(m[1]) for k in state if (m := _OLD_PLAIN.match(k))})
    last = plain[-1]
    stages = (last - 4) // 3  # last conv at 3n + 4
    names = {0: "conv_first", 3 * stages + 2: "conv_hr", last: "conv_last"}
    names |= {3 * k: f"conv_up{k}" for k in range(1, stages + 1)}
    out: StateDict = {}
    for key, value in state.items():
        if m := _OLD_RDB.match(key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif key.startswith(f"model.1.sub.{trunk_index}."):
            out["conv_body." + key.rsplit(".", 1)[1]] = value
        elif (m := _OLD_PLAIN.match(key)) and int(m[1]) in names:
            out[f"{names[int(m[1])]}.{m[2]}"] = value
        else:
            raise I2IError(f"unexpected key '{key}' in an old-layout ESRGAN checkpoint")
    return out, stages


def new_to_basicsr(state: StateDict) -> StateDict:
    """New ESRGAN `RRDBNet_arch` keys (`RRDB_trunk.*`, `HRconv`, ...) -> BasicSR keys."""
    out = {}
    for key, value in state.items():
        for pattern, replacement in _NEW_RENAMES:
            key = pattern.sub(replacement, key)
        out[key] = value
    return out


def layout_of(state: StateDict) -> str | None:
    """`esrgan_old`, `esrgan_new`, `basicsr`, `srvgg`, `vggd`, `unetd`, or None."""
    keys = state.keys()
    if "model.0.weight" in keys and "model.1.sub.0.RDB1.conv1.0.weight" in keys:
        return "esrgan_old"
    if "RRDB_trunk.0.RDB1.conv1.weight" in keys:
        return "esrgan_new"
    if "body.0.rdb1.conv1.weight" in keys and "conv_body.weight" in keys:
        return "basicsr"
    if "body.0.weight" in keys and state["body.0.weight"].ndim == 4 and "conv_first.weight" not in keys:
        return "srvgg"
    if "conv0_0.weight" in keys and "linear1.weight" in keys:
        return "vggd"
    if "conv0.weight" in keys and (
        "conv1.weight_orig" in keys or "conv1.parametrizations.weight.original0" in keys
    ):
        return "unetd"
    return None


def detect_generator(state: StateDict) -> tuple[dict[str, Any], StateDict] | None:
    """Config settings read from the keys and shapes of a generator, and its state in BasicSR's layout."""
    layout = layout_of(state)
    if layout == "srvgg":
        return _detect_srvgg(state)
    if layout not in ("esrgan_old", "esrgan_new", "basicsr"):
        return None
    stages = None
    if layout == "esrgan_old":
        state, stages = old_to_basicsr(state)
    elif layout == "esrgan_new":
        state = new_to_basicsr(state)
    first = state["conv_first.weight"]
    in_ch = 3 if stages is not None else None
    num_in = int(first.shape[1])
    if stages is None:
        ups = sum(1 for k in state if re.fullmatch(r"conv_up\d+\.weight", k))
        if ups != 2:
            stages = ups  # a new-layout file of a non-x4 old-arch model
    if stages is None:
        # x2 / x1 models pixel-unshuffle their input (4x / 16x the channels). RGB models are the rule; for
        # others, an input as wide as the output (grey to grey, RGBA to RGBA) is the likely reading
        num_out = int(state["conv_last.weight"].shape[0])
        unshuffle = {3: 1, 12: 2, 48: 4}.get(num_in)
        if unshuffle is None:
            unshuffle = {num_out: 1, 4 * num_out: 2, 16 * num_out: 4}.get(num_in, 1)
        in_ch = num_in // unshuffle**2
        scale = {1: 4, 2: 2, 4: 1}[unshuffle]
    else:
        # One upsampling stage is x2 (2^1) or x3 (a single Upsample(3)); the weights cannot tell them apart,
        # so x2 is assumed and `--set scale=3` selects x3.
        in_ch = num_in
        scale = 2**stages
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("body.")}
    settings = {
        "arch": "rrdb",
        "num_in_ch": in_ch,
        "num_out_ch": int(state["conv_last.weight"].shape[0]),
        "num_feat": int(first.shape[0]),
        "num_block": len(blocks),
        "num_grow_ch": int(state["body.0.rdb1.conv1.weight"].shape[0]),
        "scale": scale,
        "upsample_stages": stages if stages is not None and not (stages == 2 and scale == 4) else None,
    }
    return settings, state


def _detect_srvgg(state: StateDict) -> tuple[dict[str, Any], StateDict]:
    convs = sorted(
        int(k.split(".")[1]) for k in state if re.fullmatch(r"body\.\d+\.weight", k) and state[k].ndim == 4
    )
    prelu = any(state[k].ndim == 1 for k in state if re.fullmatch(r"body\.\d+\.weight", k))
    first, last = state[f"body.{convs[0]}.weight"], state[f"body.{convs[-1]}.weight"]
    in_ch = int(first.shape[1])
    out_ch = in_ch
    upscale = math.isqrt(int(last.shape[0]) // out_ch)
    if upscale * upscale * out_ch != last.shape[0]:
        raise I2IError(
            f"cannot read the upscale of this SRVGG net: its last conv has {last.shape[0]} channels"
        )
    settings = {
        "arch": "srvgg",
        "num_in_ch": in_ch,
        "num_out_ch": out_ch,
        "num_feat": int(first.shape[0]),
        "num_conv": len(convs) - 2,
        "upscale": upscale,
    }
    if prelu:
        settings["act_type"] = "prelu"
    return settings, state


def detect_discriminator(state: StateDict) -> tuple[dict[str, Any], StateDict] | None:
    """Settings of a VGG-style or U-Net discriminator, and its state with spectral-norm keys as i2i names them."""
    layout = layout_of(state)
    if layout == "vggd":
        stages = 1 + sum(1 for k in state if re.fullmatch(r"conv\d+_0\.weight", k) and k != "conv0_0.weight")
        return (
            {
                "d_type": "vgg",
                "d_num_feat": int(state["conv0_0.weight"].shape[0]),
                "d_input_size": 128 if stages == 5 else 256,
            },
            state,
        )
    if layout == "unetd":
        state = {
            k.replace(".parametrizations.weight.original0", ".weight_orig").replace(
                ".parametrizations.weight.original", ".weight_orig"
            ): v
            for k, v in state.items()
        }
        return {"d_type": "unet", "d_num_feat": int(state["conv0.weight"].shape[0])}, state
    return None
