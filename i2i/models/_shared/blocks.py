"""Layers shared by the pix2pix and CycleGAN families (junyanz/pytorch-CycleGAN-and-pix2pix layouts).

Module registration order and attribute names follow the reference exactly, so official state dicts load
with `strict=True` and the CPU RNG is consumed in the same order (dropout, init).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

Norm = Literal["batch", "instance", "instance_affine", "syncbatch", "none"]
NORMS = ("batch", "instance", "instance_affine", "syncbatch", "none")

# ----------------------------------------------------------------------------------------------- layers


class InstanceNorm2d(nn.InstanceNorm2d):
    """`nn.InstanceNorm2d` (same parameters and keys) that is also right, and fast, for channels_last.

    PyTorch's CPU instance-norm kernel (2.14) returns a wrong input gradient for channels_last batches of
    one image, and converts channels_last tensors to NCHW. For those, group norm with one group per channel
    (the same function) runs instead: correct gradients, channels_last kept, 10-20x faster on CPU.
    Contiguous tensors use the native kernel, so NCHW training matches the reference bit for bit.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.track_running_stats or x.is_contiguous():
            return super().forward(x)
        return nn.functional.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


def norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """The reference `get_norm_layer`; `instance_affine` covers checkpoints of other implementations."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "syncbatch":
        return functools.partial(nn.SyncBatchNorm, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "instance_affine":
        return functools.partial(InstanceNorm2d, affine=True, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm '{norm}'; choose from {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    # The reference gives convs followed by a norm a bias only for InstanceNorm; with norm='none' they get
    # neither a norm nor a bias (a quirk official checkpoints depend on).
    return norm in ("instance", "instance_affine")


def _pad(padding_type: str, size: int) -> tuple[list[nn.Module], int]:
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding_type == "zero":
        return [], size
    raise ValueError(f"unknown padding_type '{padding_type}'")


class ResnetBlock(nn.Module):
    """x + [pad, conv3x3, norm, ReLU, (Dropout), pad, conv3x3, norm](x); no ReLU after the sum."""

    def __init__(self, dim: int, padding_type: str, norm: str, use_dropout: bool) -> None:
        super().__init__()
        layer, bias = norm_layer(norm), conv_bias(norm)
        pad, p = _pad(padding_type, 1)
        block: list[nn.Module] = [
            *pad,
            nn.Conv2d(dim, dim, 3, padding=p, bias=bias),
            layer(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            block.append(nn.Dropout(0.5))
        pad, p = _pad(padding_type, 1)
        block += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, n ResNet blocks at 4*ngf, two upsamplings, c7s1-out, Tanh.

    `upsampling="transpose"` is the reference (ConvTranspose2d); `"resize_conv"` (nearest x2 then a 3x3
    conv) is the layout of eriklindernoren/PyTorch-GAN's CycleGAN, whose checkpoints load into it.
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
        upsampling: str = "transpose",
    ) -> None:
        super().__init__()
        if upsampling not in ("transpose", "resize_conv"):
            raise ValueError(f"unknown upsampling '{upsampling}'; use transpose or resize_conv")
        layer, bias = norm_layer(norm), conv_bias(norm)
        model: list[nn.Module] = [
            nn.ReflectionPad2d(3),  # the reference pads the stem by reflection whatever padding_type says
            nn.Conv2d(input_nc, ngf, 7, padding=0, bias=bias),
            layer(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        model += [ResnetBlock(ngf * 4, padding_type, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            if upsampling == "transpose":
                up = [
                    nn.ConvTranspose2d(
                        ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                    )
                ]
            else:
                up = [
                    nn.Upsample(scale_factor=2),
                    nn.Conv2d(ngf * mult, ngf * mult // 2, 3, padding=1, bias=bias),
                ]
            model += [*up, layer(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down, submodule, up; every level but the outermost returns cat([x, up])."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        *,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        layer, bias = norm_layer(norm), conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        # Not in place (the reference's in-place LeakyReLU also rewrites the skip tensor, but the parent's
        # ReLU makes that invisible: ReLU(LeakyReLU(x)) == ReLU(x)).
        downrelu = nn.LeakyReLU(0.2)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, uprelu, upconv, layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, layer(inner_nc), submodule, uprelu, upconv, layer(outer_nc)]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels (unet_256: 8, unet_128: 7); keys start with `model.model.`."""

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError("a U-Net generator needs num_downs >= 5")
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout
            )
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc, block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: `basic` is n_layers=3 (70x70 receptive field); logits, no sigmoid."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        layer, bias = norm_layer(norm), conv_bias(norm)
        seq: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            seq += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias),
                layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        seq += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
            layer(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN (`pixel`); its last conv follows the bias rule, so it has no bias with BatchNorm."""

    def __init__(self, input_nc: int, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        layer, bias = norm_layer(norm), conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


GENERATORS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")


_RESNET_NAME = re.compile(r"resnet_(\d+)blocks")
_UNET_NAME = re.compile(r"unet_(\d+)")


def parse_generator(netG: str) -> tuple[str, int]:
    """("resnet", n_blocks) or ("unet", num_downs) for a generator name. Besides the reference's four
    (GENERATORS), any `resnet_<N>blocks` and `unet_<2^n>` (n >= 5) that other implementations train."""
    if match := _RESNET_NAME.fullmatch(netG):
        return "resnet", int(match[1])
    if (match := _UNET_NAME.fullmatch(netG)) and (size := int(match[1])) >= 32 and size & (size - 1) == 0:
        return "unet", size.bit_length() - 1
    raise ValueError(
        f"unknown generator '{netG}'; use {', '.join(GENERATORS)}, or another resnet_<N>blocks or "
        "unet_<size> (a power of two, at least 32)"
    )


def define_G(
    input_nc, output_nc, ngf, netG, norm, use_dropout, padding_type="reflect", upsampling="transpose"
) -> nn.Module:
    kind, depth = parse_generator(netG)
    if kind == "resnet":
        return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, depth, padding_type, upsampling)
    return UnetGenerator(input_nc, output_nc, depth, ngf, norm, use_dropout)


def define_D(input_nc, ndf, netD, n_layers_D=3, norm="batch") -> nn.Module:
    if netD == "basic":
        return NLayerDiscriminator(input_nc, ndf, 3, norm)
    if netD == "n_layers":
        return NLayerDiscriminator(input_nc, ndf, n_layers_D, norm)
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm)
    raise ValueError(f"unknown discriminator '{netD}'; choose from {', '.join(DISCRIMINATORS)}")


def generator_size_multiple(netG: str) -> int:
    """Input sides must be multiples of this (U-Net: 2^num_downs; ResNet: 4)."""
    kind, depth = parse_generator(netG)
    return 2**depth if kind == "unet" else 4


def generator_min_size(netG: str) -> int:
    """ResNet generators need 2x2 maps after their two downsamplings (reflection padding, instance norm)."""
    return generator_size_multiple(netG) if netG.startswith("unet_") else 8


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> None:
    """The reference `init_weights`: N(0, gain) convs/linears with zero bias, N(1, gain) BatchNorm2d."""

    def init(m: nn.Module) -> None:
        name = type(m).__name__
        if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=init_gain)
            else:
                raise ValueError(f"unknown init_type '{init_type}'")
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0.0)
        elif "BatchNorm2d" in name and getattr(m, "weight", None) is not None:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.constant_(m.bias, 0.0)

    net.apply(init)


# ------------------------------------------------------------------------------------------------ losses


class GANLoss(nn.Module):
    """`lsgan` (MSE to 1/0), `vanilla` (BCE with logits), `wgangp` (-mean / +mean); computed in fp32."""

    def __init__(self, gan_mode: str) -> None:
        super().__init__()
        if gan_mode not in ("lsgan", "vanilla", "wgangp"):
            raise ValueError(f"unknown gan_mode '{gan_mode}'")
        self.gan_mode = gan_mode

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()
        if self.gan_mode == "wgangp":
            return -prediction.mean() if target_is_real else prediction.mean()
        target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
        if self.gan_mode == "lsgan":
            return nn.functional.mse_loss(prediction, target)
        return nn.functional.binary_cross_entropy_with_logits(prediction, target)


def gradient_penalty(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates (the reference's 'mixed')."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = netD(mixed)
    (grad,) = torch.autograd.grad(out.float().sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def set_requires_grad(nets: list[nn.Module], requires_grad: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(requires_grad)


def lr_lambda(policy_epochs: tuple[int, int, int]) -> Callable[[int], float]:
    """The reference 'linear' policy: constant for n_epochs, then linear decay over n_epochs_decay + 1."""
    n_epochs, n_epochs_decay, epoch_count = policy_epochs

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1)

    return factor


def make_scheduler(optimizer, policy, *, n_epochs, n_epochs_decay, epoch_count, lr_decay_iters):
    """Per-epoch LR schedulers of the reference (`linear`, `step`, `plateau`, `cosine`)."""
    sched = torch.optim.lr_scheduler
    if policy == "linear":
        return sched.LambdaLR(optimizer, lr_lambda((n_epochs, n_epochs_decay, epoch_count)))
    if policy == "step":
        return sched.StepLR(optimizer, step_size=lr_decay_iters, gamma=0.1)
    if policy == "plateau":
        return sched.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)
    if policy == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=n_epochs, eta_min=0)
    raise ValueError(f"unknown lr_policy '{policy}'")


# ------------------------------------------------------------------------------- official state dicts


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
