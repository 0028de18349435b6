"""ESRGAN and Real-ESRGAN: "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks" (Wang et al.,
ECCVW 2018) and "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data" (2021).

Generators `G`: RRDBNet (any nf/nb/gc; x4, and x2/x1 through pixel-unshuffle as BasicSR; old-arch files with
other numbers of upsampling stages) or SRVGGNetCompact. Discriminators `D`: VGGStyleDiscriminator (128/256)
or UNetDiscriminatorSN. Official checkpoints in the old ESRGAN (`model.*`), new ESRGAN (`RRDB_trunk.*`) and
BasicSR (`body.*`) layouts load into the BasicSR layout, which is the one i2i stores.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import I2IError
from i2i.model import Model, StateDict

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


# ----------------------------------------------------------------------------------------------- losses

GanType = Literal["vanilla", "lsgan", "wgan", "wgan_softplus", "hinge"]


def gan_loss(pred: torch.Tensor, target_is_real: bool, gan_type: str, *, is_disc: bool) -> torch.Tensor:
    """BasicSR's GANLoss (without its weight): computed in fp32."""
    pred = pred.float()
    if gan_type == "hinge":
        return (
            F.relu(1 - pred).mean()
            if is_disc and target_is_real
            else (F.relu(1 + pred).mean() if is_disc else -pred.mean())
        )
    if gan_type == "wgan":
        return -pred.mean() if target_is_real else pred.mean()
    if gan_type == "wgan_softplus":
        return F.softplus(-pred).mean() if target_is_real else F.softplus(pred).mean()
    target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
    if gan_type == "lsgan":
        return F.mse_loss(pred, target)
    if gan_type == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, target)
    raise I2IError(f"unknown gan_type '{gan_type}'")


#: torchvision vgg19().features index of each layer name BasicSR uses (convX_Y: before its ReLU)
VGG19_LAYERS = {
    **{f"conv1_{i}": 2 * (i - 1) for i in (1, 2)},
    **{f"conv2_{i}": 5 + 2 * (i - 1) for i in (1, 2)},
    **{f"conv3_{i}": 10 + 2 * (i - 1) for i in (1, 2, 3, 4)},
    **{f"conv4_{i}": 19 + 2 * (i - 1) for i in (1, 2, 3, 4)},
    **{f"conv5_{i}": 28 + 2 * (i - 1) for i in (1, 2, 3, 4)},
}
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet weights (sha256 prefix dcbb9e9d)
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


def vgg19_weights_path(explicit: str | None) -> Path:
    """The VGG19 weights to use, never downloaded: the given path, then $I2I_VGG19_WEIGHTS, then an existing
    torch hub cache file; otherwise a clear error saying where to get it."""
    import os

    candidates = [explicit, os.environ.get("I2I_VGG19_WEIGHTS")]
    hub = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    for candidate in candidates:
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise I2IError(f"VGG19 weights not found at {path}")
            return path
    if hub.is_file():
        return hub
    raise I2IError(
        f"the GAN stage needs ImageNet VGG19 weights for its perceptual loss and i2i never downloads them "
        f"implicitly: download {VGG19_URL} (548 MB; or a .safetensors holding its features.* tensors) and pass "
        f"--vgg19-weights PATH, set I2I_VGG19_WEIGHTS, or place it at {hub}"
    )


class VGGFeatures(nn.Module):
    """VGG19 `features` up to the deepest requested layer, returning the pre-ReLU outputs by layer name,
    on ImageNet-normalised [0, 1] RGB input. Frozen."""

    def __init__(self, layers: tuple[str, ...], weights: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        import torchvision

        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise I2IError(f"unknown VGG19 layer(s) {', '.join(unknown)}; known: {', '.join(VGG19_LAYERS)}")
        self.indices = {VGG19_LAYERS[name]: name for name in layers}
        depth = max(self.indices) + 1
        self.features = torchvision.models.vgg19(weights=None).features[:depth]
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # the pre-ReLU tensors are kept
        if weights is not None:
            wanted = {
                k: v for k, v in weights.items() if k.startswith("features.") and int(k.split(".")[1]) < depth
            }
            state = {k.removeprefix("features."): v for k, v in wanted.items()}
            missing = set(self.features.state_dict()) - set(state)
            if missing:
                raise I2IError(
                    f"the VGG19 weights lack {len(missing)} tensors of the layers needed (e.g. features.{min(missing)})"
                )
            self.features.load_state_dict(state)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean) / self.std
        out = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.indices:
                out[self.indices[index]] = x
        return out


def load_vgg19_weights(path: Path) -> dict[str, torch.Tensor]:
    from i2i.io import checkpoint

    content = checkpoint.read_any(path)
    tensors = content.tensors if isinstance(content, checkpoint.Checkpoint) else content
    if not checkpoint.is_state_dict(tensors) or not any(k.startswith("features.") for k in tensors):
        raise I2IError(f"{path}: not VGG19 weights (expected torchvision keys features.N.weight)")
    return tensors


class PerceptualLoss(nn.Module):
    """BasicSR's PerceptualLoss: sum over layers of w * L1(vgg(x), vgg(gt)), times `weight`."""

    def __init__(self, layer_weights: dict[str, float], vgg: VGGFeatures, weight: float = 1.0) -> None:
        super().__init__()
        self.layer_weights = layer_weights
        self.vgg = vgg
        self.weight = weight

    def forward(self, x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        x_features = self.vgg(x)
        gt_features = self.vgg(gt.detach())
        loss = sum(
            F.l1_loss(x_features[k].float(), gt_features[k].float()) * w
            for k, w in self.layer_weights.items()
        )
        return loss * self.weight


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
    #: training: "psnr" (L1 only) or "gan" (L1 + VGG19 perceptual + relativistic GAN, ESRGAN's second stage)
    stage: Literal["psnr", "gan"] = "psnr"
    #: "bicubic" (MATLAB-compatible, ESRGAN) or "realesrgan" (the second-order degradation pipeline)
    degradation: Literal["bicubic", "realesrgan"] = "bicubic"
    gt_size: int = 128
    use_hflip: bool = True
    use_rot: bool = True
    #: loss weights; None means the stage's default (psnr: pixel 1; gan: pixel 0.01, perceptual 1, gan 0.005)
    pixel_weight: float | None = None
    perceptual_weight: float = 1.0
    perceptual_layers: tuple[str, ...] = ("conv5_4",)
    perceptual_layer_weights: tuple[float, ...] = (1.0,)
    gan_weight: float = 0.005
    gan_type: GanType = "vanilla"
    relativistic: bool = True
    vgg19_weights: str | None = None
    #: optimiser: Adam, betas (0.9, 0.99); lr None means the stage's default (psnr 2e-4, gan 1e-4)
    lr: float | None = None
    beta1: float = 0.9
    beta2: float = 0.99
    ema_decay: float = 0.999
    #: iterations of the run without --steps/--epochs; None: the stage's (psnr 1,000,000; gan 400,000)
    total_iter: int | None = None
    #: psnr: cosine annealing with restarts over `periods`; gan: halve the lr at `milestones`
    periods: tuple[int, ...] = (250000, 250000, 250000, 250000)
    eta_min: float = 1e-7
    milestones: tuple[int, ...] = (50000, 100000, 200000, 300000)


class ESRGAN(Model):
    name = "esrgan"
    task = "super-resolution"
    license = "Apache-2.0 (BasicSR), BSD-3-Clause (Real-ESRGAN)"
    description = "RRDBNet / SRVGGNetCompact super-resolution: ESRGAN, Real-ESRGAN, BasicSR checkpoints"
    Config = ESRGANConfig
    value_range = (0.0, 1.0)
    inference_networks = ("G",)
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
        # G_ema: the exponential moving average of G that training keeps (BasicSR's `params_ema`); translation
        # uses it when it is there.
        return {"G": G, "D": D, "G_ema": copy.deepcopy(G)}

    def init_weights(self) -> None:
        """BasicSR's init: Kaiming-normal x 0.1 for every RRDB conv (other layers keep PyTorch's)."""
        G = self.networks["G"]
        if isinstance(G, RRDBNet):
            for module in G.body.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight)
                    module.weight.data.mul_(0.1)
                    nn.init.zeros_(module.bias)
        self.networks["G_ema"].load_state_dict(G.state_dict())

    def required_networks(self, conditions: dict[str, Any]) -> tuple[str, ...]:
        return ("G_ema",) if "G_ema" in self.loaded else ("G",)

    def size_multiple(self) -> int:
        if self.config.arch == "rrdb" and self.config.upsample_stages is None:
            return {4: 1, 2: 2, 1: 4}[self.config.scale]
        return 1

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        G = self.networks[self.required_networks({})[0]]
        G.eval()
        return G(x)

    def translate_images(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """Upscaled tile by tile (`i2i.tiling`: tiles sized to free memory, blended seams, alpha through
        the network), so any image size fits; `batch_size` is ignored: one tile runs at a time."""
        from i2i.jobs.tiling import upscale_image

        self.check_conditions(conditions)
        return [upscale_image(self, image) for image in images]

    # --------------------------------------------------------------------------------- training

    scheduler_interval = "step"  # BasicSR steps its schedulers every iteration
    data_layout = "images"
    sample_visuals = ("lq", "output", "gt")

    def _stage(self, psnr: Any, gan: Any) -> Any:
        return gan if self.config.stage == "gan" else psnr

    def default_total_steps(self) -> int | None:
        return self.config.total_iter or self._stage(1_000_000, 400_000)

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        from i2i.data.sr import SRDataset

        c = self.config
        return SRDataset(
            data,
            scale=self.scale,
            gt_size=c.gt_size,
            use_hflip=c.use_hflip,
            use_rot=c.use_rot,
            seed=seed,
            degradation=c.degradation,
        )

    def setup_training(self) -> None:
        from i2i.models._shared.optim import adam

        c = self.config
        nets = self.networks
        if "G_ema" not in self.loaded:  # fine-tuning from a file without an EMA: start it at G
            nets["G_ema"].load_state_dict(nets["G"].state_dict())
        nets["G_ema"].requires_grad_(False).eval()
        lr = c.lr if c.lr is not None else self._stage(2e-4, 1e-4)
        betas = (c.beta1, c.beta2)
        self.optimizers = {"G": adam(nets["G"].parameters(), lr=lr, betas=betas)}
        if c.stage == "gan":
            self.optimizers["D"] = adam(nets["D"].parameters(), lr=lr, betas=betas)
            if len(c.perceptual_layers) != len(c.perceptual_layer_weights):
                raise I2IError("perceptual_layers and perceptual_layer_weights must have the same length")
            weights = load_vgg19_weights(vgg19_weights_path(c.vgg19_weights))
            vgg = VGGFeatures(c.perceptual_layers, weights).to(self.device)
            layer_weights = dict(zip(c.perceptual_layers, c.perceptual_layer_weights, strict=True))
            self.perceptual = PerceptualLoss(layer_weights, vgg, c.perceptual_weight)
        sched = torch.optim.lr_scheduler
        if c.stage == "gan":
            self.schedulers = {
                k: sched.MultiStepLR(o, list(c.milestones), 0.5) for k, o in self.optimizers.items()
            }
        else:
            factor = cosine_restarts(c.periods, lr, c.eta_min)
            self.schedulers = {k: sched.LambdaLR(o, factor) for k, o in self.optimizers.items()}
        nets["G"].train()
        nets["D"].train()
        if c.degradation == "realesrgan":
            from i2i.data.degradations import RealESRGANDegradation

            self.degrade = RealESRGANDegradation(scale=self.scale)
            # the pipeline's own random draws: seeded from the run's RNG, saved with the training state
            self.degrade_rng = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        c = self.config
        G, D = self.networks["G"], self.networks["D"]
        lq, gt, gt_sharp = self._pair(batch, ctx)
        pixel_weight = c.pixel_weight if c.pixel_weight is not None else self._stage(1.0, 0.01)
        losses: dict[str, torch.Tensor] = {}
        gan = c.stage == "gan"
        if gan:
            D.requires_grad_(False)
        self.optimizers["G"].zero_grad()
        with ctx.autocast():
            output = G(lq)
            # Real-ESRGAN compares pixels and features with the sharpened GT, and keeps the plain GT for D
            losses["l_g_pix"] = F.l1_loss(output.float(), gt_sharp.float()) * pixel_weight
            total = losses["l_g_pix"]
            if gan:
                losses["l_g_percep"] = self.perceptual(output, gt_sharp)
                real_pred = D(gt).detach()
                fake_pred = D(output)
                if c.relativistic:
                    l_real = gan_loss(real_pred - fake_pred.mean(), False, c.gan_type, is_disc=False)
                    l_fake = gan_loss(fake_pred - real_pred.mean(), True, c.gan_type, is_disc=False)
                    losses["l_g_gan"] = c.gan_weight * (l_real + l_fake) / 2
                else:
                    losses["l_g_gan"] = c.gan_weight * gan_loss(fake_pred, True, c.gan_type, is_disc=False)
                total = total + losses["l_g_percep"] + losses["l_g_gan"]
        ctx.backward(total)
        ctx.step(self.optimizers["G"])
        if gan:
            losses |= self._discriminator_step(D, output, gt, ctx)
        self._update_ema()
        self._visuals = {"lq": lq, "output": output.detach(), "gt": gt}
        return {k: v.detach() for k, v in losses.items()}

    def _discriminator_step(self, D: nn.Module, output: torch.Tensor, gt: torch.Tensor, ctx: Any) -> dict:
        c = self.config
        D.requires_grad_(True)
        self.optimizers["D"].zero_grad()
        with ctx.autocast():
            fake_pred = D(output.detach()).detach()
            real_pred = D(gt)
            if c.relativistic:
                l_real = gan_loss(real_pred - fake_pred.mean(), True, c.gan_type, is_disc=True) * 0.5
            else:
                l_real = gan_loss(real_pred, True, c.gan_type, is_disc=True)
        ctx.backward(l_real)
        with ctx.autocast():
            fake_pred = D(output.detach())
            if c.relativistic:
                l_fake = (
                    gan_loss(fake_pred - real_pred.detach().mean(), False, c.gan_type, is_disc=True) * 0.5
                )
            else:
                l_fake = gan_loss(fake_pred, False, c.gan_type, is_disc=True)
        ctx.backward(l_fake)
        ctx.step(self.optimizers["D"])
        return {
            "l_d_real": l_real,
            "l_d_fake": l_fake,
            "out_d_real": real_pred.detach().float().mean(),
            "out_d_fake": fake_pred.detach().float().mean(),
        }

    def _pair(self, batch: dict[str, Any], ctx: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(lq, gt, gt for the pixel and perceptual losses): the bicubic pairs of the dataset, or the
        Real-ESRGAN degradation of the GT made here, on the device (with the USM-sharpened GT)."""
        if self.config.degradation != "realesrgan":
            gt = ctx.to_device(batch["gt"])
            return ctx.to_device(batch["lq"]), gt, gt
        kernels = (ctx.to_device(batch[k]) for k in ("kernel1", "kernel2", "sinc_kernel"))
        lq, gt, gt_usm = self.degrade(ctx.to_device(batch["gt"]), *kernels, generator=self.degrade_rng)
        return lq.contiguous(), gt, gt_usm

    def training_state(self) -> dict[str, Any]:
        return {"degrade_rng": self.degrade_rng.get_state()} if hasattr(self, "degrade_rng") else {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        if "degrade_rng" in state:
            self.degrade_rng.set_state(state["degrade_rng"])

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        ema = dict(self.networks["G_ema"].named_parameters())
        for name, param in self.networks["G"].named_parameters():
            ema[name].mul_(decay).add_(param.detach(), alpha=1 - decay)

    def visuals(self) -> dict[str, torch.Tensor]:
        if not hasattr(self, "_visuals"):
            return {}
        v = self._visuals
        # the low-resolution input, enlarged (nearest) to the output size so the grid lines up
        lq = F.interpolate(v["lq"].float(), size=v["output"].shape[-2:], mode="nearest")
        return {"lq": lq, "output": v["output"], "gt": v["gt"]}

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


def cosine_restarts(periods: tuple[int, ...], base_lr: float, eta_min: float):
    """BasicSR's CosineAnnealingRestartLR (restart weights 1) as a LambdaLR factor of the step."""
    starts = [sum(periods[:i]) for i in range(len(periods))]

    def factor(step: int) -> float:
        for start, period in zip(reversed(starts), reversed(periods), strict=True):
            if step >= start:
                t = min(step - start, period)
                lr = eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * t / period))
                return lr / base_lr
        return 1.0

    return factor
