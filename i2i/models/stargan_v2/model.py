"""StarGAN v2: "StarGAN v2: Diverse Image Synthesis for Multiple Domains" (Choi et al., CVPR 2020).

Reproduces clovaai/stargan-v2: a generator `generator(x, s, masks)` that renders image `x` in the style code
`s`, a `mapping_network(z, y)` from a latent to the style of domain `y`, a `style_encoder(x, y)` reading the
style of a reference image, and a multi-head `discriminator(x, y)`. Networks, keys and call signatures are
upstream's, so released checkpoints load as they are.

Face models (`w_hpf > 0`, the CelebA-HQ release) also need face masks from a landmark network, the FAN of
`i2i.models._fan`: it travels as the network `fan` (the released `*_nets_ema.ckpt` holds it as its `fan`
entry; upstream's `wing.ckpt` is given with `fan_weights`). Without it translation refuses to run unless
`allow_no_masks` is set, because the generator without masks is a different function (no high-pass skips and
no shortcuts).

Training keeps exponential moving averages of the generator, mapping network and style encoder as the
networks `generator_ema`, `mapping_network_ema` and `style_encoder_ema`; translation uses them when present.
A released `*_nets_ema.ckpt` holds those averages under the plain names, and loads as `generator`, ...
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import I2IError, UsageError, check_unique_names, unknown_name
from i2i.model import Model, StateDict
from i2i.models.stargan_v2.fan import FAN

#: the networks training updates, and the ones with a moving average (`<name>_ema`)
TRAINED = ("generator", "mapping_network", "style_encoder", "discriminator")
AVERAGED = ("generator", "mapping_network", "style_encoder")
#: feature sizes (absolute, whatever img_size is) where masked high-pass skips join the decoder
MASKED_SIZES = (32, 64, 128)
#: latents averaged for the truncation trick's mean style (upstream: 10,000)
MEAN_STYLE_LATENTS = 10_000

# ------------------------------------------------------------------------------------------------ layers


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class InstanceNorm2d(nn.InstanceNorm2d):
    """`nn.InstanceNorm2d` (same keys) computed as a group norm with one group per channel: the same function,
    3x faster on CPU than the native kernel and right for channels_last inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


class ResBlk(nn.Module):
    """Pre-activation residual block: [IN] lrelu conv3x3 [avgpool] [IN] lrelu conv3x3 (channels change in
    conv2), plus a shortcut (1x1 conv when the width changes, then the pool), over sqrt(2)."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False) -> None:
        super().__init__()
        self.normalize, self.downsample = normalize, downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = InstanceNorm2d(dim_in, affine=True)
            self.norm2 = InstanceNorm2d(dim_in, affine=True)
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
        self.norm = InstanceNorm2d(num_features, affine=False)
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


# ---------------------------------------------------------------------------------------------- networks


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
            InstanceNorm2d(width, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(width, 3, 1, 1, 0)
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


# ------------------------------------------------------------------------------------------------ losses


def adv_loss(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Non-saturating GAN loss: BCE with logits against a constant target."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def r1_penalty(d_out: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """Zero-centred gradient penalty on real images: 0.5 * mean over the batch of |dD/dx|^2."""
    (grad,) = torch.autograd.grad(d_out.sum(), x_in, create_graph=True)
    return 0.5 * grad.float().pow(2).flatten(1).sum(1).mean(0)


def discriminator_loss(
    nets: Mapping[str, nn.Module],
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    *,
    z_trg: torch.Tensor | None = None,
    x_ref: torch.Tensor | None = None,
    masks: tuple[torch.Tensor, torch.Tensor] | None = None,
    lambda_reg: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Upstream's `compute_d_loss`: real + fake + lambda_reg * R1, the fake made from a latent `z_trg` or a
    reference `x_ref` of domain `y_trg`. Returns the total and its terms `real`, `fake`, `reg` (detached)."""
    x_real = x_real.detach().requires_grad_()
    out = nets["discriminator"](x_real, y_org)
    loss_real = adv_loss(out, 1.0)
    loss_reg = r1_penalty(out, x_real)
    with torch.no_grad():
        if z_trg is not None:
            s_trg = nets["mapping_network"](z_trg, y_trg)
        else:
            s_trg = nets["style_encoder"](x_ref, y_trg)
        x_fake = nets["generator"](x_real, s_trg, masks=masks)
    loss_fake = adv_loss(nets["discriminator"](x_fake, y_trg), 0.0)
    loss = loss_real + loss_fake + lambda_reg * loss_reg
    return loss, {"real": loss_real.detach(), "fake": loss_fake.detach(), "reg": loss_reg.detach()}


def generator_loss(
    nets: Mapping[str, nn.Module],
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    *,
    z_trgs: tuple[torch.Tensor, torch.Tensor] | None = None,
    x_refs: tuple[torch.Tensor, torch.Tensor] | None = None,
    masks: tuple[torch.Tensor, torch.Tensor] | None = None,
    fan: FAN | None = None,
    lambda_sty: float = 1.0,
    lambda_ds: float = 1.0,
    lambda_cyc: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Upstream's `compute_g_loss`: adv + lambda_sty * sty - lambda_ds * ds + lambda_cyc * cyc, with the two
    styles from latents `z_trgs` or references `x_refs`; the cycle pass takes masks made by `fan` from the
    fake (w_hpf > 0). Returns the total, its terms `adv`, `sty`, `ds`, `cyc` (detached) and the images
    `x_fake`, `x_rec` (detached)."""
    G, E = nets["generator"], nets["style_encoder"]

    def style(index: int) -> torch.Tensor:
        if z_trgs is not None:
            return nets["mapping_network"](z_trgs[index], y_trg)
        return E(x_refs[index], y_trg)

    s_trg = style(0)
    x_fake = G(x_real, s_trg, masks=masks)
    loss_adv = adv_loss(nets["discriminator"](x_fake, y_trg), 1.0)
    loss_sty = torch.mean(torch.abs(E(x_fake, y_trg).float() - s_trg.float()))
    with torch.no_grad():
        x_fake2 = G(x_real, style(1), masks=masks)
    loss_ds = torch.mean(torch.abs(x_fake.float() - x_fake2.float()))
    cycle_masks = fan.get_heatmap(x_fake) if fan is not None else None
    x_rec = G(x_fake, E(x_real, y_org), masks=cycle_masks)
    loss_cyc = torch.mean(torch.abs(x_rec.float() - x_real.float()))
    loss = loss_adv + lambda_sty * loss_sty - lambda_ds * loss_ds + lambda_cyc * loss_cyc
    terms = {"adv": loss_adv, "sty": loss_sty, "ds": loss_ds, "cyc": loss_cyc}
    images = {"x_fake": x_fake.detach(), "x_rec": x_rec.detach()}
    return loss, {k: v.detach() for k, v in terms.items()}, images


# ----------------------------------------------------------------------------------------------- styles


def latents(seed: int, count: int, latent_dim: int) -> torch.Tensor:
    """`count` latents z ~ N(0, I) (CPU) drawn from a generator seeded with `seed`: latent k is the same
    for any count > k."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, latent_dim, generator=generator)


def mean_style(mapping: nn.Module, y: int, z: torch.Tensor) -> torch.Tensor:
    """(1, style_dim): the mean style of domain `y` over latents `z` (the truncation trick's centre)."""
    labels = torch.full((z.shape[0],), y, dtype=torch.long, device=z.device)
    return mapping(z, labels).mean(0, keepdim=True)


def truncate(s: torch.Tensor, s_avg: torch.Tensor, psi: float) -> torch.Tensor:
    """lerp(s_avg, s, psi): psi 1 keeps `s`, 0 gives the mean style."""
    return torch.lerp(s_avg.expand_as(s), s, psi)


# ------------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class StarGANv2Config:
    """Field names are the reference's `main.py` options; `domains`, `dim_in`, `fan_weights`,
    `allow_no_masks` and `ema_decay` are i2i's."""

    img_size: int = 256
    style_dim: int = 64
    latent_dim: int = 16
    num_domains: int = 2
    max_conv_dim: int = 512
    #: mapping-network width (upstream declares --hidden_dim but hard-codes 512)
    hidden_dim: int = 512
    #: > 0: face masks and high-pass skips instead of decoder shortcuts (CelebA-HQ); 0 for AFHQ
    w_hpf: float = 1.0
    #: width of the first level of G, E and D; None: upstream's 2**14 // img_size (every released file)
    dim_in: int | None = None
    #: domain names by index (sorted folder names); empty: domain0, domain1, ...
    domains: tuple[str, ...] = ()
    #: FAN weights for w_hpf > 0 when the weights hold none: a path or catalogue name (stargan-v2-wing:
    #: upstream's wing.ckpt), or any checkpoint holding a `fan` network or entry
    fan_weights: str | None = None
    #: translate a w_hpf > 0 model without masks (a degraded function: no high-pass skips, no shortcuts)
    allow_no_masks: bool = False
    lambda_reg: float = 1.0
    lambda_cyc: float = 1.0
    lambda_sty: float = 1.0
    #: diversity-sensitive weight, decayed linearly to 0 over ds_iter steps (upstream trains AFHQ with 2)
    lambda_ds: float = 1.0
    ds_iter: int = 100_000
    total_iters: int = 100_000
    #: probability of a RandomResizedCrop (scale 0.8-1, ratio 0.9-1.1) per training image
    randcrop_prob: float = 0.5
    lr: float = 1e-4
    #: learning rate of the mapping network
    f_lr: float = 1e-6
    beta1: float = 0.0
    beta2: float = 0.99
    weight_decay: float = 1e-4
    ema_decay: float = 0.999


_MISSING_MASKS = (
    "these stargan-v2 weights (w_hpf={w_hpf:g}) need face masks from the FAN landmark network, which they do "
    "not include: without masks the generator runs without its high-pass skips and without shortcuts, so the "
    "identity and detail of the input are lost. Give the FAN weights with --set fan_weights=PATH (upstream's "
    "wing.ckpt, also known as stargan-v2-wing, or a *_nets_ema.ckpt holding a 'fan' entry), or accept the "
    "degraded output with --set allow_no_masks=true"
)


def build_network(name: str, c: StarGANv2Config) -> nn.Module:
    """A freshly initialised `generator`, `mapping_network`, `style_encoder` or `discriminator` of `c`."""
    if name == "generator":
        return Generator(c.img_size, c.style_dim, c.max_conv_dim, c.w_hpf, c.dim_in)
    if name == "mapping_network":
        return MappingNetwork(c.latent_dim, c.style_dim, c.num_domains, c.hidden_dim)
    if name == "style_encoder":
        return StyleEncoder(c.img_size, c.style_dim, c.num_domains, c.max_conv_dim, c.dim_in)
    return Discriminator(c.img_size, c.num_domains, c.max_conv_dim, c.dim_in)


class StarGANv2(Model):
    """StarGAN v2 behind the i2i contract. Translation conditions (see `forward_tensor`): `target_domain`,
    `reference`, `seed`, `psi`, `style_index`; `translate_styles` makes several styles per image."""

    name = "stargan-v2"
    task = "multi-domain translation"
    license = "CC BY-NC 4.0 (clovaai/stargan-v2 code and released weights)"
    description = "One generator for many domains, styled by a latent or a reference image (Choi et al. 2020)"
    Config = StarGANv2Config
    inference_networks = ("generator", "mapping_network", "style_encoder")
    sample_visuals = ("x_real", "x_fake_latent", "x_ref", "x_fake_ref", "x_rec")
    data_layout = "domains"
    scheduler_interval = "step"
    tiny_config = {
        "img_size": 32,
        "dim_in": 8,
        "max_conv_dim": 16,
        "style_dim": 8,
        "latent_dim": 4,
        "hidden_dim": 16,
        "num_domains": 3,
        "w_hpf": 0,
    }

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        self._mean_styles: dict[tuple[str, int], torch.Tensor] = {}
        super().__init__(config, **kwargs)

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        check_unique_names("domains", c.domains)
        if c.domains and len(c.domains) != c.num_domains:
            raise I2IError(
                f"domains={','.join(c.domains)} names {len(c.domains)} domains, but the model has "
                f"num_domains={c.num_domains}; give {c.num_domains} comma-separated names"
            )
        nets = {name: build_network(name, c) for name in TRAINED}
        nets |= {f"{name}_ema": build_network(name, c) for name in AVERAGED}
        if c.w_hpf > 0:
            nets["fan"] = FAN().eval()
        return nets

    def init_weights(self) -> None:
        """He init (upstream's) for G, F, E and D; the moving averages start as copies of them (upstream's
        start at PyTorch's default init, an artefact of copying before the init). The FAN is not a trained
        network: without `fan_weights` it stays unloaded."""
        for name in TRAINED:
            he_init(self.networks[name])
        for name in AVERAGED:
            self.networks[f"{name}_ema"].load_state_dict(self.networks[name].state_dict())
        self.loaded.discard("fan")
        self._load_fan_file()

    def load_networks(self, networks: dict[str, StateDict], *, strict: bool = True) -> None:
        super().load_networks(networks, strict=strict)
        self._mean_styles.clear()
        if "fan" not in networks:
            self._load_fan_file()

    def _load_fan_file(self) -> None:
        from i2i.hub.catalogue import resolve_weights

        name = self.config.fan_weights
        if not name or "fan" not in self.networks:
            return
        path, _ = resolve_weights(name)
        state = read_fan_weights(path)
        fan = self.networks["fan"]
        expected = fan.state_dict()
        missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
        if missing:
            raise I2IError(
                f"{path}: not FAN weights: {len(missing)} FAN tensors are missing (e.g. {missing[0]}); "
                "expected upstream's wing.ckpt or a checkpoint with a 'fan' entry"
            )
        # upstream loads wing.ckpt non-strictly (the keys it shares with the FAN)
        fan.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
        self.loaded.add("fan")

    # --------------------------------------------------------------------------------------- domains

    @property
    def domain_names(self) -> tuple[str, ...]:
        """The name of each domain by index: `config.domains`, else domain0, domain1, ..."""
        return self.config.domains or tuple(f"domain{i}" for i in range(self.config.num_domains))

    def domain_index(self, domain: str | int | None) -> int:
        """The index of a domain given by name or index (None: domain 0); a did-you-mean error otherwise."""
        names = self.domain_names
        if domain is None:
            return 0
        if isinstance(domain, str) and domain not in names and re.fullmatch(r"-?\d+", domain.strip()):
            domain = int(domain)
        if isinstance(domain, int):
            if not 0 <= domain < len(names):
                raise UsageError(
                    f"target domain {domain} is out of range: this model has {len(names)} domains "
                    f"(0-{len(names) - 1}: {', '.join(names)})"
                )
            return domain
        if domain not in names and not self.config.domains:
            raise UsageError(
                f"unknown target domain '{domain}': this checkpoint does not name its domains (official files "
                f"never do); give them in label order with --domains NAME,NAME,... ({len(names)} names), or "
                f"use an index 0-{len(names) - 1}"
            )
        if domain not in names:
            raise unknown_name("target domain", str(domain), names)
        return names.index(domain)

    # ------------------------------------------------------------------------------------- inference

    def _net(self, name: str) -> str:
        """The moving average of `name` when loaded, else `name` itself."""
        return f"{name}_ema" if f"{name}_ema" in self.loaded else name

    def required_networks(self, conditions: dict[str, Any]) -> tuple[str, ...]:
        styler = "style_encoder" if conditions.get("reference") is not None else "mapping_network"
        return (self._net("generator"), self._net(styler))

    def translate_images(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """`ImageData` in, `ImageData` out; conditions as `forward_tensor` (the reference is read once)."""
        self.check_conditions(conditions)
        psi = conditions.get("psi")
        if psi is not None and not 0.0 <= float(psi) <= 1.0:  # NaN fails too
            raise UsageError(
                f"psi must be between 0 (the domain's mean style) and 1 (no truncation), not {psi}"
            )
        if conditions.get("reference") is not None and conditions.get("psi", 1.0) != 1.0:
            raise UsageError("psi (truncation) applies to latent-guided translation, not to a reference")
        conditions["target_domain"] = self.domain_index(conditions.get("target_domain"))
        if conditions.get("reference") is not None:
            conditions["reference"] = self._reference_tensor(conditions["reference"])
        self._check_masks()
        return super().translate_images(images, batch_size=batch_size, **conditions)

    def default_note(self, conditions: dict[str, Any]) -> str | None:
        if conditions.get("target_domain") is None:
            names = self.domain_names
            return f"no --target-domain: translating into '{names[0]}' (domains: {', '.join(names)})"
        return None

    def translate_styles(
        self,
        images: Sequence[Any],
        *,
        target_domain: str | int | None = None,
        num_styles: int = 1,
        reference: Any = None,
        seed: int = 0,
        psi: float = 1.0,
        batch_size: int = 1,
    ) -> list[list[Any]]:
        """Each image in several styles: `result[i][k]` is image i in style k (`ImageData`; inputs may be
        `ImageData`, paths, PIL images or arrays).

        Latent-guided: styles 0..num_styles-1 are latents 0..num_styles-1 of `seed` (style k equals a
        `translate(..., seed=seed, style_index=k)`). Reference-guided: `reference` is one image or a list
        of images, one style each (then `num_styles` must be 1 or their number)."""
        from i2i.io.imageio import ImageData, read_image

        decoded = [im if isinstance(im, ImageData) else read_image(im) for im in images]
        if reference is not None:
            refs = list(reference) if isinstance(reference, (list, tuple)) else [reference]
            if num_styles not in (1, len(refs)):
                raise UsageError(
                    f"num_styles={num_styles} with {len(refs)} reference image(s): reference-guided "
                    "translation makes one style per reference; give more references"
                )
            styles: list[dict[str, Any]] = [{"reference": ref} for ref in refs]
        else:
            if num_styles < 1:
                raise UsageError(f"num_styles must be at least 1, not {num_styles}")
            styles = [{"style_index": k, "seed": seed, "psi": psi} for k in range(num_styles)]
        columns = [
            self.translate_images(decoded, batch_size=batch_size, target_domain=target_domain, **style)
            for style in styles
        ]
        return [list(row) for row in zip(*columns, strict=True)]

    def forward_tensor(
        self,
        x: torch.Tensor,
        *,
        target_domain: str | int | None = None,
        reference: Any = None,
        seed: int = 0,
        psi: float = 1.0,
        style_index: int = 0,
    ) -> torch.Tensor:
        """Translate `x` (N x 3 x H x W in [-1, 1]) into `target_domain` (name or index; default 0).

        The style is latent-guided: z = latent `style_index` of `seed` through the mapping network, pulled
        towards the domain's mean style by `psi` < 1 (truncation); or reference-guided: the style encoder's
        code of `reference` (a path, PIL image, array or `ImageData`; grey is used as RGB, alpha ignored),
        read as an image of the target domain. Every image of the batch gets the same style. Inputs are
        resized to img_size x img_size (the size the networks were trained at) and the output back to H x W;
        masks come from the FAN when w_hpf > 0."""
        c = self.config
        y = self.domain_index(target_domain)
        size = (c.img_size, c.img_size)
        x_in = _resize(x, size)
        labels = torch.full((1,), y, dtype=torch.long, device=self.device)
        if reference is not None:
            E = self.networks[self._net("style_encoder")].eval()
            s = E(self._reference_tensor(reference).to(x_in.dtype), labels)
        else:
            F_map = self.networks[self._net("mapping_network")].eval()
            z = latents(seed, style_index + 1, c.latent_dim)[style_index:].to(self.device)
            s = F_map(z, labels)
            if psi != 1.0:
                s = truncate(s, self._mean_style(y), psi)
        G = self.networks[self._net("generator")].eval()
        out = G(x_in, s.expand(x.shape[0], -1), masks=self._masks(x_in))
        return _resize(out, tuple(x.shape[2:]))

    def _mean_style(self, y: int) -> torch.Tensor:
        key = (self._net("mapping_network"), y)
        if key not in self._mean_styles:
            z = latents(0, MEAN_STYLE_LATENTS, self.config.latent_dim).to(self.device)
            self._mean_styles[key] = mean_style(self.networks[key[0]].eval(), y, z)
        return self._mean_styles[key]

    def _reference_tensor(self, reference: Any) -> torch.Tensor:
        """1 x 3 x img_size x img_size in [-1, 1] on the device (a tensor is taken as already prepared)."""
        from i2i.io.imageio import ImageData, read_image

        if isinstance(reference, torch.Tensor):
            return reference
        if isinstance(reference, (list, tuple)):
            raise UsageError("reference is one image here; translate_styles takes several (one style each)")
        image = reference if isinstance(reference, ImageData) else read_image(reference)
        size = (self.config.img_size, self.config.img_size)
        return _resize(self.to_input_tensor(image, 3), size).to(self.device)

    def _check_masks(self) -> None:
        c = self.config
        if c.w_hpf > 0 and "fan" not in self.loaded and not c.allow_no_masks:
            raise I2IError(_MISSING_MASKS.format(w_hpf=c.w_hpf))

    def _masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        self._check_masks()
        if self.config.w_hpf <= 0 or "fan" not in self.loaded:
            return None
        return self.networks["fan"].eval().get_heatmap(x)

    # --------------------------------------------------------------------------------------- training

    def default_total_steps(self) -> int | None:
        return self.config.total_iters

    @classmethod
    def settings_from_data(cls, data: Path) -> dict[str, Any]:
        """The number and names of the domains: the sub-folders of the training data."""
        from i2i.data.layouts import find_domains

        names = find_domains(Path(data), "train").names
        return {"num_domains": len(names), "domains": tuple(names)}  # a tuple: names may hold commas

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        """One sub-folder per domain (`i2i.data.domains`); the folder names become `config.domains`."""
        from i2i.data.domains import DomainDataset

        c = self.config
        dataset = DomainDataset(data, img_size=c.img_size, randcrop_prob=c.randcrop_prob, seed=seed)
        names = dataset.domains
        if len(names) != c.num_domains:
            raise I2IError(
                f"{data} has {len(names)} domains ({', '.join(names)}) but the model has num_domains="
                f"{c.num_domains}; use --set num_domains={len(names)} (or give {c.num_domains} domain folders)"
            )
        if c.domains and c.domains != names:
            raise I2IError(
                f"{data} has the domains {', '.join(names)} but the model's are {', '.join(c.domains)}; the "
                "index of a domain is its position in the sorted folder names: rename the folders to match"
            )
        self.config = dataclasses.replace(c, domains=names)
        return dataset

    def setup_training(self) -> None:
        """Adam for G, F (lr f_lr), E and D with upstream's betas and weight decay; moving averages start
        at the loaded networks when the weights file has none."""
        from i2i.models._shared.optim import adam

        c = self.config
        nets = self.networks
        if c.w_hpf > 0 and "fan" not in self.loaded:
            raise I2IError(
                f"training with w_hpf={c.w_hpf:g} needs face masks from the FAN landmark network: give its "
                "weights with --set fan_weights=PATH (upstream's wing.ckpt: stargan-v2-wing), or train "
                "without the mask path with --set w_hpf=0"
            )
        for name in AVERAGED:
            if f"{name}_ema" not in self.loaded:
                nets[f"{name}_ema"].load_state_dict(nets[name].state_dict())
            nets[f"{name}_ema"].requires_grad_(False).eval()
        self.optimizers = {
            name: adam(
                nets[name].parameters(),
                lr=c.f_lr if name == "mapping_network" else c.lr,
                betas=(c.beta1, c.beta2),
                weight_decay=c.weight_decay,
            )
            for name in TRAINED
        }
        self.schedulers: dict[str, Any] = {}
        for name in TRAINED:
            nets[name].requires_grad_(True).train()
        if "fan" in nets:
            nets["fan"].requires_grad_(False).eval()
        self._mean_styles.clear()

    def lambda_ds_now(self) -> float:
        """The diversity-sensitive weight at the current step: linear decay to 0 over ds_iter steps (from
        the step, so a resumed run continues the decay; upstream restarts it)."""
        c = self.config
        progress = min(1.0, self.step / c.ds_iter) if c.ds_iter > 0 else 0.0
        return c.lambda_ds * (1.0 - progress)

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        """Upstream's iteration: D on a latent fake, D on a reference fake, G+F+E on latents, G on
        references, then the moving averages."""
        c = self.config
        nets = self.networks
        x_real, y_org = ctx.to_device(batch["x"]), ctx.to_device(batch["y"])
        x_ref, x_ref2 = ctx.to_device(batch["x_ref"]), ctx.to_device(batch["x_ref2"])
        y_trg = ctx.to_device(batch["y_ref"])
        n = x_real.shape[0]
        # drawn on the CPU from the global RNG, as upstream, so runs and resumes do not depend on the device
        z_trg = ctx.to_device(torch.randn(n, c.latent_dim))
        z_trg2 = ctx.to_device(torch.randn(n, c.latent_dim))
        fan = nets["fan"] if c.w_hpf > 0 else None
        masks = fan.get_heatmap(x_real) if fan is not None else None
        losses: dict[str, torch.Tensor] = {}

        for branch, style in (("latent", {"z_trg": z_trg}), ("ref", {"x_ref": x_ref})):
            self._zero_grad()
            with ctx.autocast():
                loss, terms = discriminator_loss(
                    nets, x_real, y_org, y_trg, masks=masks, lambda_reg=c.lambda_reg, **style
                )
            ctx.backward(loss)
            ctx.step(self.optimizers["discriminator"])
            ctx.end_step()  # the fp16 scaler allows one step per optimizer between updates
            losses |= {f"D_{branch}": loss.detach(), **{f"D_{branch}_{k}": v for k, v in terms.items()}}

        lambda_ds = self.lambda_ds_now()
        nets["discriminator"].requires_grad_(False)
        images: dict[str, dict[str, torch.Tensor]] = {}
        branches = (
            ("latent", {"z_trgs": (z_trg, z_trg2)}, AVERAGED),
            ("ref", {"x_refs": (x_ref, x_ref2)}, ("generator",)),
        )
        for branch, styles, stepped in branches:
            self._zero_grad()
            for name in AVERAGED:
                nets[name].requires_grad_(name in stepped)
            with ctx.autocast():
                loss, terms, images[branch] = generator_loss(
                    nets,
                    x_real,
                    y_org,
                    y_trg,
                    masks=masks,
                    fan=fan,
                    lambda_sty=c.lambda_sty,
                    lambda_ds=lambda_ds,
                    lambda_cyc=c.lambda_cyc,
                    **styles,
                )
            ctx.backward(loss)
            for name in stepped:
                ctx.step(self.optimizers[name])
            if branch == "latent":
                ctx.end_step()
            losses |= {f"G_{branch}": loss.detach(), **{f"G_{branch}_{k}": v for k, v in terms.items()}}
        for name in TRAINED:
            nets[name].requires_grad_(True)
        self._update_ema()
        self._mean_styles.clear()
        losses["lambda_ds"] = torch.tensor(lambda_ds)
        self._visuals = {
            "x_real": x_real,
            "x_fake_latent": images["latent"]["x_fake"],
            "x_ref": x_ref,
            "x_fake_ref": images["ref"]["x_fake"],
            "x_rec": images["latent"]["x_rec"],
        }
        return losses

    def _zero_grad(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        for name in AVERAGED:
            ema = dict(self.networks[f"{name}_ema"].named_parameters())
            for key, param in self.networks[name].named_parameters():
                ema[key].copy_(torch.lerp(param, ema[key], decay))

    def visuals(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in getattr(self, "_visuals", {}).items()}

    # ------------------------------------------------------------------------ official checkpoints

    @classmethod
    def detect(cls, states: dict[str, StateDict]) -> float:
        kinds = {network_kind(state) for state in states.values()}
        if kinds & {"generator", "mapping_network", "style_encoder"}:
            return 0.95
        if "discriminator" in kinds:
            return 0.6
        return 0.5 if kinds == {"fan"} else 0.0  # only to say what a wing.ckpt is for

    @classmethod
    def import_official(
        cls, states: dict[str, StateDict], options: dict[str, str] | None = None
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


def _resize(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Bilinear resize with antialiasing (as PIL's), in float32: the CPU kernel has no bf16 version."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True)


# -------------------------------------------------------------------------------------- checkpoint files


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
    from i2i.io import checkpoint

    content = checkpoint.read_any(path)
    if isinstance(content, checkpoint.Checkpoint):
        content = content.network_tensors().get("fan", {}) if content.is_i2i else content.tensors
    if isinstance(content, dict) and not checkpoint.is_state_dict(content):
        content = content.get("fan", {})
    if not checkpoint.is_state_dict(content):
        raise I2IError(f"{path}: holds no FAN weights (no 'fan' entry or FAN state dict)")
    return content
