"""ESRGAN and Real-ESRGAN: "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks" (Wang et al.,
ECCVW 2018) and "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data" (2021).

Generators `G`: RRDBNet (any nf/nb/gc; x4, and x2/x1 through pixel-unshuffle as BasicSR; old-arch files with
other numbers of upsampling stages) or SRVGGNetCompact. Discriminators `D`: VGGStyleDiscriminator (128/256)
or UNetDiscriminatorSN. Official checkpoints in the old ESRGAN (`model.*`), new ESRGAN (`RRDB_trunk.*`) and
BasicSR (`body.*`) layouts load into the BasicSR layout, which is the one i2i stores.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import I2IError
from ..model import Model, StateDict

# ------------------------------------------------------------------------------------------------ layers


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs with dense connections; the output is scaled by 0.2 and added to the input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block: three RDBs, scaled by 0.2, plus the input."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


def upsample_factors(scale: int, upsample_stages: int | None) -> tuple[int, tuple[int, ...]]:
    """(pixel-unshuffle factor, nearest-upsampling factors) of an RRDBNet.

    `upsample_stages=None` is BasicSR: two x2 stages, pixel-unshuffle by 2 / 4 for scale 2 / 1. An int is the
    old ESRGAN `RRDB_Net(upscale=...)`: that many x2 stages (one x3 stage for scale 3), no unshuffle."""
    if upsample_stages is None:
        unshuffle = {4: 1, 2: 2, 1: 4}.get(scale)
        if unshuffle is None:
            raise I2IError(
                f"a BasicSR RRDBNet has scale 4, 2 or 1, not {scale} (old-arch files set upsample_stages)"
            )
        return unshuffle, (2, 2)
    if scale == 3 and upsample_stages == 1:
        return 1, (3,)
    if 2**upsample_stages != scale:
        raise I2IError(f"scale {scale} does not match {upsample_stages} x2 upsampling stages")
    return 1, (2,) * upsample_stages


class RRDBNet(nn.Module):
    """The ESRGAN generator in BasicSR's layout (for other numbers of stages: conv_up1..conv_upN)."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        upsample_stages: int | None = None,
    ) -> None:
        super().__init__()
        self.unshuffle, self.factors = upsample_factors(scale, upsample_stages)
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for k in range(1, len(self.factors) + 1):
            self.add_module(f"conv_up{k}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for k, factor in enumerate(self.factors, 1):
            up = getattr(self, f"conv_up{k}")
            feat = self.lrelu(up(F.interpolate(feat, scale_factor=factor, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact net: a plain conv stack, pixel shuffle, plus the nearest-upsampled input."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        upscale: int = 4,
        act_type: str = "prelu",
    ) -> None:
        super().__init__()
        self.upscale = upscale

        def act() -> nn.Module:
            if act_type == "prelu":
                return nn.PReLU(num_parameters=num_feat)
            if act_type == "relu":
                return nn.ReLU(inplace=True)
            if act_type == "leakyrelu":
                return nn.LeakyReLU(negative_slope=0.1, inplace=True)  # 0.1, unlike RRDBNet's 0.2
            raise I2IError(f"unknown act_type '{act_type}'; use prelu, relu or leakyrelu")

        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), act()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), act()]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.upsampler(self.body(x))
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's discriminator for 128x128 (or 256x256) patches: N x 1 logits."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size not in (128, 256):
            raise I2IError(f"VGGStyleDiscriminator takes 128 or 256 inputs, not {input_size}")
        self.input_size = input_size
        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat, affine=True)
        channels = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8, num_feat * 8]
        stages = 5 if input_size == 128 else 6
        for k in range(1, stages):
            c_in, c_out = channels[k - 1], channels[k]
            self.add_module(f"conv{k}_0", nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))
            self.add_module(f"bn{k}_0", nn.BatchNorm2d(c_out, affine=True))
            self.add_module(f"conv{k}_1", nn.Conv2d(c_out, c_out, 4, 2, 1, bias=False))
            self.add_module(f"bn{k}_1", nn.BatchNorm2d(c_out, affine=True))
        self.stages = stages
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise I2IError(
                f"VGGStyleDiscriminator needs {self.input_size}x{self.input_size} inputs, got {tuple(x.shape[-2:])}"
            )
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for k in range(1, self.stages):
            feat = self.lrelu(getattr(self, f"bn{k}_0")(getattr(self, f"conv{k}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{k}_1")(getattr(self, f"conv{k}_1")(feat)))
        feat = self.lrelu(self.linear1(feat.flatten(1)))
        return self.linear2(feat)


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm: a per-pixel N x 1 x H x W map."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = skip_connection
        sn = nn.utils.spectral_norm
        self.conv0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(num_feat, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lrelu = F.leaky_relu
        x0 = lrelu(self.conv0(x), 0.2)
        x1 = lrelu(self.conv1(x0), 0.2)
        x2 = lrelu(self.conv2(x1), 0.2)
        x3 = lrelu(self.conv3(x2), 0.2)
        x3 = F.interpolate(x3, scale_factor=2, mode="bilinear", align_corners=False)
        x4 = lrelu(self.conv4(x3), 0.2)
        if self.skip_connection:
            x4 = x4 + x2
        x4 = F.interpolate(x4, scale_factor=2, mode="bilinear", align_corners=False)
        x5 = lrelu(self.conv5(x4), 0.2)
        if self.skip_connection:
            x5 = x5 + x1
        x5 = F.interpolate(x5, scale_factor=2, mode="bilinear", align_corners=False)
        x6 = lrelu(self.conv6(x5), 0.2)
        if self.skip_connection:
            x6 = x6 + x0
        out = lrelu(self.conv7(x6), 0.2)
        out = lrelu(self.conv8(out), 0.2)
        return self.conv9(out)


# ----------------------------------------------------------------------------------- checkpoint layouts

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
        unshuffle = {3: 1, 12: 2, 48: 4}.get(num_in) if num_in in (3, 12, 48) else None
        if unshuffle is None:
            in_ch, unshuffle = num_in, 1
        else:
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


# ------------------------------------------------------------------------------------------------ model

Arch = Literal["rrdb", "srvgg"]


@dataclass(frozen=True)
class ESRGANConfig:
    """Field names are the reference's network arguments (BasicSR / Real-ESRGAN)."""

    arch: Arch = "rrdb"
    num_in_ch: int = 3
    num_out_ch: int = 3
    num_feat: int = 64
    #: RRDBNet
    num_block: int = 23
    num_grow_ch: int = 32
    scale: int = 4
    #: old ESRGAN files with other than two x2 stages (e.g. 3 for x8); None: BasicSR's network
    upsample_stages: int | None = None
    #: SRVGGNetCompact
    num_conv: int = 16
    upscale: int = 4
    #: not visible in a state dict without PReLU weights: an override (relu or leakyrelu)
    act_type: Literal["prelu", "relu", "leakyrelu"] = "prelu"
    #: discriminator
    d_type: Literal["vgg", "unet"] = "vgg"
    d_num_feat: int = 64
    d_input_size: int = 128


class ESRGAN(Model):
    name = "esrgan"
    task = "super-resolution"
    license = "Apache-2.0 (BasicSR), BSD-3-Clause (Real-ESRGAN)"
    description = "RRDBNet / SRVGGNetCompact super-resolution: ESRGAN, Real-ESRGAN, BasicSR checkpoints"
    Config = ESRGANConfig
    value_range = (0.0, 1.0)
    inference_networks = ("G",)
    data_layout = None
    tiny_config = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "d_num_feat": 2}

    @property
    def scale(self) -> int:  # type: ignore[override]
        c = self.config
        return c.upscale if c.arch == "srvgg" else c.scale

    @property
    def input_channels(self) -> int:
        return self.config.num_in_ch

    @property
    def output_channels(self) -> int:
        return self.config.num_out_ch

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        if c.arch == "srvgg":
            G: nn.Module = SRVGGNetCompact(
                c.num_in_ch, c.num_out_ch, c.num_feat, c.num_conv, c.upscale, c.act_type
            )
        else:
            G = RRDBNet(
                c.num_in_ch, c.num_out_ch, c.scale, c.num_feat, c.num_block, c.num_grow_ch, c.upsample_stages
            )
        if c.d_type == "unet":
            D: nn.Module = UNetDiscriminatorSN(c.num_out_ch, c.d_num_feat)
        else:
            D = VGGStyleDiscriminator(c.num_out_ch, c.d_num_feat, c.d_input_size)
        return {"G": G, "D": D}

    def size_multiple(self) -> int:
        if self.config.arch == "rrdb" and self.config.upsample_stages is None:
            return {4: 1, 2: 2, 1: 4}[self.config.scale]
        return 1

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        G = self.networks["G"]
        G.eval()
        return G(x)

    # ------------------------------------------------------------------------ official checkpoints

    @classmethod
    def detect(cls, states: dict[str, StateDict]) -> float:
        return 0.95 if any(layout_of(s) for s in states.values()) else 0.0

    @classmethod
    def import_official(
        cls, states: dict[str, StateDict], options: dict[str, str] | None = None
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


def interpolate_networks(a: StateDict, b: StateDict, alpha: float) -> StateDict:
    """Network interpolation: (1 - alpha) * a + alpha * b for every tensor (the key sets must match)."""
    if a.keys() != b.keys():
        missing = sorted(set(a) ^ set(b))[:3]
        raise I2IError(
            f"the two networks have different keys (e.g. {', '.join(missing)}); interpolate the same architecture"
        )
    out = {}
    for key, value in a.items():
        other = b[key]
        if value.shape != other.shape:
            raise I2IError(
                f"'{key}' has shape {tuple(value.shape)} in one network and {tuple(other.shape)} in the other"
            )
        out[key] = (
            ((1 - alpha) * value.double() + alpha * other.double()).to(value.dtype)
            if value.is_floating_point()
            else value
        )
    return out
