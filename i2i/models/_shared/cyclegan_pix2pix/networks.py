"""The networks of junyanz/pytorch-CycleGAN-and-pix2pix, which CycleGAN and pix2pix share: ResNet and U-Net
generators, PatchGAN and pixel discriminators, and the reference's `define_G` / `define_D`.

Module registration order and attribute names follow the reference exactly, so official state dicts load
with `strict=True` and the CPU RNG is consumed in the same order (dropout, init).
"""

from __future__ import annotations

import contextlib
import functools
import re

import torch
from torch import nn

from i2i.models._shared.layers import ReflectionPad2d, conv_bias, norm_layer


def _pad(padding_type: str, size: int) -> tuple[list[nn.Module], int]:
    if padding_type == "reflect":
        return [ReflectionPad2d(size)], 0
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
            ReflectionPad2d(3),  # the reference pads the stem by reflection whatever padding_type says
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
        model += [ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
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
    """The reference's `define_G`: a ResNet or U-Net generator by name (see `parse_generator`)."""
    kind, depth = parse_generator(netG)
    if kind == "resnet":
        return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, depth, padding_type, upsampling)
    return UnetGenerator(input_nc, output_nc, depth, ngf, norm, use_dropout)


def define_D(input_nc, ndf, netD, n_layers_D=3, norm="batch") -> nn.Module:
    """The reference's `define_D`: a PatchGAN (`basic`: 3 layers, or `n_layers`) or a 1x1 `pixel` one."""
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


def batch_statistics_forward(
    net: nn.Module, x: torch.Tensor, *, dropout: bool, seed: int | None
) -> torch.Tensor:
    """Forward as the reference's test.py runs it without --eval (batch size 1): every BatchNorm normalises
    each image with that image's own statistics (a batch of one's statistics), for all images of `x` at once,
    so the result does not depend on how images are batched; the running statistics are neither used nor
    changed. Dropout is active with `dropout` (repeatable with `seed`)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    net.eval()
    for module in net.modules():
        if isinstance(module, nn.Dropout):
            module.train(dropout)
    for norm in norms:
        norm.forward = functools.partial(_per_image_statistics, norm)
        norm.instance_statistics = True  # what tiled translation looks for (`i2i.ops.norm_stats`)
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    try:
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            return net(x)
    finally:
        for norm in norms:
            del norm.forward, norm.instance_statistics
        net.eval()


def _per_image_statistics(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return nn.functional.instance_norm(
        x, weight=norm.weight, bias=norm.bias, use_input_stats=True, eps=norm.eps
    )
