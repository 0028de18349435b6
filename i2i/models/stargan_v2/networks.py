"""The networks of clovaai/stargan-v2, with its module and key names and call signatures, so released
checkpoints load as they are: the `generator(x, s, masks)`, the `mapping_network(z, y)`, the
`style_encoder(x, y)` and the multi-head `discriminator(x, y)`. Their instance norms take the group-norm
path (`i2i.models._shared.layers.InstanceNorm2d`): the same function, 3x faster on CPU than the native
kernel and right for channels_last inputs."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import I2IError
from i2i.models._shared.layers import InstanceNorm2d

#: the networks training updates, and the ones with a moving average (`<name>_ema`)
TRAINED = ("generator", "mapping_network", "style_encoder", "discriminator")
AVERAGED = ("generator", "mapping_network", "style_encoder")
#: feature sizes (absolute, whatever img_size is) where masked high-pass skips join the decoder
MASKED_SIZES = (32, 64, 128)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class ResBlk(nn.Module):
    """Pre-activation residual block: [IN] lrelu conv3x3 [avgpool] [IN] lrelu conv3x3 (channels change in
    conv2), plus a shortcut (1x1 conv when the width changes, then the pool), over sqrt(2)."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False) -> None:
        super().__init__()
        self.normalize, self.downsample = normalize, downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = InstanceNorm2d(dim_in, affine=True, group_norm=True)
            self.norm2 = InstanceNorm2d(dim_in, affine=True, group_norm=True)
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.conv1x1 is None else self.conv1x1(x)
        h = self.norm1(x) if self.normalize else x
        h = self.conv1(_lrelu(h))
        if self.downsample:
            shortcut, h = F.avg_pool2d(shortcut, 2), F.avg_pool2d(h, 2)
        h = self.norm2(h) if self.normalize else h
        h = self.conv2(_lrelu(h))
        return (shortcut + h) / math.sqrt(2)


class AdaIN(nn.Module):
    """(1 + gamma) * IN(x) + beta, with (gamma, beta) = fc(s) split in two halves."""

    def __init__(self, style_dim: int, num_features: int) -> None:
        super().__init__()
        self.norm = InstanceNorm2d(num_features, affine=False, group_norm=True)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Decoder block: AdaIN lrelu [nearest x2] conv3x3 AdaIN lrelu conv3x3 (channels change in conv1). With
    `w_hpf == 0` a shortcut is added and the sum divided by sqrt(2); with `w_hpf > 0` the output is the
    residual alone, while `conv1x1` still exists (it is in every checkpoint)."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, w_hpf: float, upsample: bool = False):
        super().__init__()
        self.w_hpf, self.upsample = w_hpf, upsample
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = _lrelu(self.norm1(x, s))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv2(_lrelu(self.norm2(self.conv1(h), s)))
        if self.w_hpf > 0:
            return h
        shortcut = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        if self.conv1x1 is not None:
            shortcut = self.conv1x1(shortcut)
        return (h + shortcut) / math.sqrt(2)


class HighPass(nn.Module):
    """Depthwise 3x3 Laplacian-like filter [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] / w_hpf.

    The filter is a constant saved as `hpf.filter` like upstream's, but optional on load: the released
    CelebA-HQ generator lacks it."""

    def __init__(self, w_hpf: float) -> None:
        super().__init__()
        kernel = torch.full((3, 3), -1.0)
        kernel[1, 1] = 8.0
        self.register_buffer("filter", kernel / w_hpf)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        state_dict.setdefault(prefix + "filter", self.filter.detach().clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.filter.to(x.dtype)[None, None].repeat(x.shape[1], 1, 1, 1)
        return F.conv2d(x, weight, padding=1, groups=x.shape[1])


def first_width(img_size: int, dim_in: int | None) -> int:
    """The width of the first level: upstream's 2**14 // img_size unless `dim_in` is given."""
    return dim_in if dim_in is not None else 2**14 // img_size


class Generator(nn.Module):
    """Encoder of down-sampling ResBlks and two bottleneck blocks, mirrored by AdaIN decoder blocks.

    `forward(x, s, masks=None)`: with `masks = (mask0, mask1)` (w_hpf > 0), the encoder input at feature
    sizes 32, 64 and 128 returns through `hpf(mask * feature)` after the decoder block of that size (mask0 at
    32, mask1 at 64 and 128, each resized bilinearly). No tanh: the output is unbounded."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        w_hpf: float = 1.0,
        dim_in: int | None = None,
    ) -> None:
        super().__init__()
        width = first_width(img_size, dim_in)
        self.from_rgb = nn.Conv2d(3, width, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            InstanceNorm2d(width, affine=True, group_norm=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 3, 1, 1, 0),
        )
        repeat_num = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
        if repeat_num < 1:
            raise I2IError(f"the generator needs img_size >= 32 (>= 16 with w_hpf > 0), not {img_size}")
        dim = width
        for _ in range(repeat_num):
            out = min(dim * 2, max_conv_dim)
            self.encode.append(ResBlk(dim, out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(out, dim, style_dim, w_hpf, upsample=True))
            dim = out
        for _ in range(2):
            self.encode.append(ResBlk(dim, dim, normalize=True))
            self.decode.insert(0, AdainResBlk(dim, dim, style_dim, w_hpf))
        self.hpf = HighPass(w_hpf) if w_hpf > 0 else None

    def forward(
        self, x: torch.Tensor, s: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        x = self.from_rgb(x)
        cache: dict[int, torch.Tensor] = {}
        for block in self.encode:
            if masks is not None and x.shape[2] in MASKED_SIZES:
                cache[x.shape[2]] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            size = x.shape[2]
            if masks is not None and size in MASKED_SIZES:
                mask = F.interpolate(masks[0] if size == 32 else masks[1], size=x.shape[2:], mode="bilinear")
                x = x + self.hpf(mask * cache[size])
        return self.to_rgb(x)


class MappingNetwork(nn.Module):
    """z -> style of domain y: four shared Linear+ReLU layers, then one 4-layer head per domain.
    `hidden_dim` is upstream's hard-coded 512."""

    def __init__(
        self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2, hidden_dim: int = 512
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList(
            nn.Sequential(
                nn.Linear(hidden_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, style_dim),
            )
            for _ in range(num_domains)
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        out = torch.stack([head(h) for head in self.unshared], dim=1)
        return out[torch.arange(y.shape[0], device=y.device), y]


def _trunk(img_size: int, max_conv_dim: int, dim_in: int | None) -> tuple[list[nn.Module], int]:
    """The shared trunk of E and D: conv3x3, log2(img_size) - 2 down-sampling ResBlks, lrelu, conv4x4,
    lrelu."""
    if img_size < 8 or img_size & (img_size - 1):
        raise I2IError(f"img_size must be a power of two >= 8 (>= 32 for the generator), not {img_size}")
    dim = first_width(img_size, dim_in)
    blocks: list[nn.Module] = [nn.Conv2d(3, dim, 3, 1, 1)]
    for _ in range(int(math.log2(img_size)) - 2):
        out = min(dim * 2, max_conv_dim)
        blocks.append(ResBlk(dim, out, downsample=True))
        dim = out
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim, dim, 4, 1, 0), nn.LeakyReLU(0.2)]
    return blocks, dim


class StyleEncoder(nn.Module):
    """Image -> style code of domain y: the shared trunk, then one Linear head per domain. Takes exactly
    img_size x img_size images."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
    ) -> None:
        super().__init__()
        blocks, dim = _trunk(img_size, max_conv_dim, dim_in)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList(nn.Linear(dim, style_dim) for _ in range(num_domains))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(x).flatten(1)
        out = torch.stack([head(h) for head in self.unshared], dim=1)
        return out[torch.arange(y.shape[0], device=y.device), y]


class Discriminator(nn.Module):
    """Image -> real/fake logit for domain y, shape (N,): the shared trunk and a 1x1 conv to one logit per
    domain. Takes exactly img_size x img_size images."""

    def __init__(
        self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512, dim_in: int | None = None
    ) -> None:
        super().__init__()
        blocks, dim = _trunk(img_size, max_conv_dim, dim_in)
        self.main = nn.Sequential(*blocks, nn.Conv2d(dim, num_domains, 1, 1, 0))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.main(x).flatten(1)
        return out[torch.arange(y.shape[0], device=y.device), y]


def he_init(net: nn.Module) -> None:
    """Upstream's init: Kaiming-normal (fan_in, ReLU) weights and zero biases for every conv and linear."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def build_network(name: str, c: Any) -> nn.Module:
    """A freshly initialised `generator`, `mapping_network`, `style_encoder` or `discriminator` of `c`."""
    if name == "generator":
        return Generator(c.img_size, c.style_dim, c.max_conv_dim, c.w_hpf, c.dim_in)
    if name == "mapping_network":
        return MappingNetwork(c.latent_dim, c.style_dim, c.num_domains, c.hidden_dim)
    if name == "style_encoder":
        return StyleEncoder(c.img_size, c.style_dim, c.num_domains, c.max_conv_dim, c.dim_in)
    return Discriminator(c.img_size, c.num_domains, c.max_conv_dim, c.dim_in)
