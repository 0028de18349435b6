"""MaskGAN's networks (switchablenorms/CelebAMask-HQ), written from their description, under the official
module names so the released state dicts load as they are.

- `GlobalGenerator`: the Dense Mapping Network `G`, a pix2pixHD global generator whose bottleneck residual
  blocks use AdaIN, driven by the spatial-aware style encoder (`enc_style`, SFT-modulated by features of
  the source mask from `enc_label`). Call: `G(onehot(target), onehot(source), source_image)`.
- `BlendGenerator`: the alpha blender `B(a, b) -> (a*alpha + b*(1-alpha), alpha)`.
- `MultiscaleDiscriminator`: pix2pixHD's multi-scale PatchGAN `D` with intermediate features.
- `VAE`: the MaskVAE (needs exactly 512x512 one-hot masks).
- `UNet`: the face parser of `face_parsing/` (`unet` upstream), with the complete forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from i2i.models._shared.layers import InstanceNorm2d

# ------------------------------------------------------------------------------------------ layers


class AdaptiveInstanceNorm2d(nn.Module):
    """Instance norm with per-sample scale and shift assigned from a style code (`weight`, `bias`: B*C).

    The `running_mean` / `running_var` buffers exist only for the official keys: the statistics are always
    the instance's own (upstream runs batch norm in training mode on copies of them)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("AdaIN parameters are not assigned: run the style encoder first")
        b, c = x.shape[:2]
        out = F.batch_norm(
            x.contiguous().view(1, b * c, *x.shape[2:]),
            self.running_mean.repeat(b),
            self.running_var.repeat(b),
            self.weight,
            self.bias,
            True,
            self.momentum,
            self.eps,
        )
        return out.view_as(x)


class ConvBlock(nn.Module):
    """pad -> conv -> norm -> activation; registered as pad, norm, activation, conv (the official key
    order). `norm`: none | in | adain; `activation`: relu | none; `pad_type`: reflect | zero."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        kernel_size: int,
        stride: int,
        padding: int = 0,
        norm: str = "none",
        activation: str = "relu",
        pad_type: str = "reflect",
    ) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(padding) if pad_type == "reflect" else nn.ZeroPad2d(padding)
        if norm == "in":
            self.norm: nn.Module | None = InstanceNorm2d(output_dim)
        elif norm == "adain":
            self.norm = AdaptiveInstanceNorm2d(output_dim)
        else:
            self.norm = None
        self.activation = nn.ReLU(inplace=True) if activation == "relu" else None
        self.conv = nn.Conv2d(input_dim, output_dim, kernel_size, stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class ResnetBlock(nn.Module):
    """x + two 3x3 ConvBlocks (reflect padding; the second without activation), no dropout."""

    def __init__(self, dim: int, norm: str = "adain") -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            ConvBlock(dim, dim, 3, 1, 1, norm, "relu", "reflect"),
            ConvBlock(dim, dim, 3, 1, 1, norm, "none", "reflect"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class SFTLayer(nn.Module):
    """Spatial feature transform: x * scale(cond) + shift(cond), two 1x1 convs each (width 64, no "+1")."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.SFT_scale_conv1 = nn.Conv2d(width, width, 1)
        self.SFT_scale_conv2 = nn.Conv2d(width, width, 1)
        self.SFT_shift_conv1 = nn.Conv2d(width, width, 1)
        self.SFT_shift_conv2 = nn.Conv2d(width, width, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale = self.SFT_scale_conv2(F.leaky_relu(self.SFT_scale_conv1(cond), 0.1, inplace=True))
        shift = self.SFT_shift_conv2(F.leaky_relu(self.SFT_shift_conv1(cond), 0.1, inplace=True))
        return x * scale + shift


# ---------------------------------------------------------------------------------------- encoders


class LabelEncoder(nn.Module):
    """Features of the source mask: `fea1` at 1/4 (pre-activation) and `fea2` at 1/2**n_downsample."""

    def __init__(self, n_downsample: int = 5, input_dim: int = 19, dim: int = 16) -> None:
        super().__init__()
        self.model = nn.Sequential(
            ConvBlock(input_dim, dim, 7, 1, 3),
            ConvBlock(dim, dim * 2, 4, 2, 1),
            ConvBlock(dim * 2, dim * 4, 4, 2, 1, activation="none"),
        )
        width = dim * 4
        last: list[nn.Module] = [nn.ReLU(inplace=False)]
        last += [ConvBlock(width, width, 4, 2, 1) for _ in range(n_downsample - 3)]
        last.append(ConvBlock(width, width, 4, 2, 1, activation="none"))
        self.model_last = nn.Sequential(*last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fea1 = self.model(x)
        return fea1, self.model_last(fea1)


class StyleEncoder(nn.Module):
    """The spatial-aware style encoder: image features modulated by SFT from the label features, pooled
    to one global code of `style_dim` (the generator's AdaIN parameters). Called with a tuple
    `(image, fea1, fea2)` as upstream."""

    def __init__(
        self, n_downsample: int = 5, input_dim: int = 3, dim: int = 16, style_dim: int = 16384
    ) -> None:
        super().__init__()
        self.model = nn.Sequential(
            ConvBlock(input_dim, dim, 7, 1, 3),
            ConvBlock(dim, dim * 2, 4, 2, 1),
            ConvBlock(dim * 2, dim * 4, 4, 2, 1),
        )
        width = dim * 4
        self.model_middle = nn.Sequential(
            *[ConvBlock(width, width, 4, 2, 1) for _ in range(n_downsample - 2)]
        )
        self.model_last = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(width, style_dim, 1))
        self.sft1 = SFTLayer(width)
        self.sft2 = SFTLayer(width)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        image, fea1, fea2 = inputs
        x = self.sft1(self.model(image), fea1)
        x = self.sft2(self.model_middle(x), fea2)
        return self.model_last(x)


# --------------------------------------------------------------------------------------- generators


def _global_body(
    input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int, block_norm: str
) -> list[nn.Module]:
    """The pix2pixHD global generator's layers (key index = list position), without the final activation."""
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(input_nc, ngf, 7),
        InstanceNorm2d(ngf),
        nn.ReLU(True),
    ]
    for i in range(n_downsampling):
        mult = 2**i
        layers += [
            nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
            InstanceNorm2d(ngf * mult * 2),
            nn.ReLU(True),
        ]
    mult = 2**n_downsampling
    layers += [ResnetBlock(ngf * mult, block_norm) for _ in range(n_blocks)]
    for i in range(n_downsampling):
        mult = 2 ** (n_downsampling - i)
        layers += [
            nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
            InstanceNorm2d(ngf * mult // 2),
            nn.ReLU(True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7)]
    return layers


def num_adain_params(model: nn.Module) -> int:
    return sum(2 * m.num_features for m in model.modules() if isinstance(m, AdaptiveInstanceNorm2d))


def assign_adain_params(adain_params: torch.Tensor, model: nn.Module) -> None:
    """Give each AdaIN layer (in module order) its bias, then its scale, from the flat style code."""
    params = adain_params.flatten(1)
    for m in model.modules():
        if isinstance(m, AdaptiveInstanceNorm2d):
            n = m.num_features
            m.bias = params[:, :n].contiguous().view(-1)
            m.weight = params[:, n : 2 * n].contiguous().view(-1)
            params = params[:, 2 * n :]


class GlobalGenerator(nn.Module):
    """The Dense Mapping Network. `forward(input, input_ref, image_ref)`: one-hot target mask, one-hot
    source mask, source image in [-1, 1] -> the image of the target mask in the source's style."""

    def __init__(
        self,
        input_nc: int = 19,
        output_nc: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 4,
        enc_n_downsample: int = 5,
    ) -> None:
        super().__init__()
        self.model = nn.Sequential(
            *_global_body(input_nc, output_nc, ngf, n_downsampling, n_blocks, "adain"), nn.Tanh()
        )
        self.enc_style = StyleEncoder(enc_n_downsample, 3, 16, num_adain_params(self.model))
        self.enc_label = LabelEncoder(enc_n_downsample, input_nc, 16)

    def encode(self, input_ref: torch.Tensor, image_ref: torch.Tensor) -> torch.Tensor:
        """The style code (B x style_dim x 1 x 1) of a source image and its one-hot mask."""
        fea1, fea2 = self.enc_label(input_ref)
        return self.enc_style((image_ref, fea1, fea2))

    def render(self, input: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The image of one-hot mask `input` in `style` (from `encode`; one per sample)."""
        assign_adain_params(style, self.model)
        return self.model(input)

    def forward(self, input: torch.Tensor, input_ref: torch.Tensor, image_ref: torch.Tensor) -> torch.Tensor:
        return self.render(input, self.encode(input_ref, image_ref))


class BlendGenerator(nn.Module):
    """The alpha blender: a global generator (plain IN residual blocks) with a sigmoid, on cat(a, b)."""

    def __init__(
        self, input_nc: int = 6, output_nc: int = 3, ngf: int = 32, n_downsampling: int = 3, n_blocks: int = 3
    ) -> None:
        super().__init__()
        self.model = nn.Sequential(
            *_global_body(input_nc, output_nc, ngf, n_downsampling, n_blocks, "in"), nn.Sigmoid()
        )

    def forward(self, input1: torch.Tensor, input2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = self.model(torch.cat((input1, input2), 1))
        return input1 * alpha + input2 * (1 - alpha), alpha


# ------------------------------------------------------------------------------------ discriminator


class NLayerDiscriminator(nn.Module):
    """pix2pixHD's PatchGAN (kernel 4, padding 2), each stage its own `model{j}` Sequential."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, use_sigmoid: bool = False) -> None:
        super().__init__()
        stages: list[list[nn.Module]] = [
            [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]
        ]
        nf = ndf
        for n in range(1, n_layers + 1):
            prev, nf = nf, min(nf * 2, 512)
            stride = 2 if n < n_layers else 1
            stages.append(
                [
                    nn.Conv2d(prev, nf, 4, stride=stride, padding=2),
                    InstanceNorm2d(nf),
                    nn.LeakyReLU(0.2, True),
                ]
            )
        stages.append([nn.Conv2d(nf, 1, 4, stride=1, padding=2)])
        if use_sigmoid:
            stages.append([nn.Sigmoid()])
        self.n_stages = len(stages)
        for j, stage in enumerate(stages):
            setattr(self, f"model{j}", nn.Sequential(*stage))


class MultiscaleDiscriminator(nn.Module):
    """`num_D` PatchGANs; `forward` returns, finest scale first (run by `scale{num_D-1}`), each one's list of
    intermediate features, the last being the prediction. Inputs shrink by AvgPool(3, 2, 1) between scales."""

    def __init__(
        self, input_nc: int = 22, ndf: int = 64, n_layers: int = 3, use_sigmoid: bool = False, num_D: int = 2
    ) -> None:
        super().__init__()
        self.num_D = num_D
        self.n_stages = 0
        for i in range(num_D):
            net = NLayerDiscriminator(input_nc, ndf, n_layers, use_sigmoid)
            self.n_stages = net.n_stages
            for j in range(net.n_stages):
                setattr(self, f"scale{i}_layer{j}", getattr(net, f"model{j}"))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, input: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        x = input
        for i in range(self.num_D):
            scale = self.num_D - 1 - i
            feats = [x]
            for j in range(self.n_stages):
                feats.append(getattr(self, f"scale{scale}_layer{j}")(feats[-1]))
            results.append(feats[1:])
            if i != self.num_D - 1:
                x = self.downsample(x)
        return results


# ------------------------------------------------------------------------------------------ MaskVAE


class VAE(nn.Module):
    """The MaskVAE: 7 stride-2 convs to 4x4, mu/logvar, and a nearest-upsampling decoder to 19 logits.
    `forward` returns `(recon, x, mu, logvar)`; `eps` may be given (upstream always samples it)."""

    def __init__(self, nc: int = 19, ngf: int = 32, ndf: int = 32, latent_variable_size: int = 1024) -> None:
        super().__init__()
        self.nc, self.ngf, self.ndf = nc, ngf, ndf
        self.latent_variable_size = latent_variable_size
        widths = [nc] + [ndf * 2**i for i in range(7)]
        for i in range(7):
            setattr(self, f"e{i + 1}", nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(widths[i + 1]))
        self.fc1 = nn.Linear(ndf * 64 * 16, latent_variable_size)
        self.fc2 = nn.Linear(ndf * 64 * 16, latent_variable_size)
        self.d1 = nn.Linear(latent_variable_size, ngf * 64 * 16)
        dec = [ngf * 2 ** (6 - i) for i in range(7)]  # ngf*64 ... ngf
        for i in range(6):
            setattr(self, f"d{i + 2}", nn.Conv2d(dec[i], dec[i + 1], 3, 1))
            setattr(self, f"bn{i + 8}", nn.BatchNorm2d(dec[i + 1], 1.0e-3))
        self.d8 = nn.Conv2d(ngf, nc, 3, 1)
        self.up = nn.UpsamplingNearest2d(scale_factor=2)
        self.pad = nn.ReplicationPad2d(1)
        self.leakyrelu = nn.LeakyReLU(0.2)
        self.relu = nn.ReLU()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x
        for i in range(1, 8):
            h = self.leakyrelu(getattr(self, f"bn{i}")(getattr(self, f"e{i}")(h)))
        h = h.view(-1, self.ndf * 64 * 16)
        return self.fc1(h), self.fc2(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.d1(z)).view(-1, self.ngf * 64, 4, 4)
        for i in range(2, 8):
            h = self.leakyrelu(getattr(self, f"bn{i + 6}")(getattr(self, f"d{i}")(self.pad(self.up(h)))))
        return self.d8(self.pad(self.up(h)))

    def reparametrize(
        self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        eps = torch.randn_like(mu) if eps is None else eps
        return eps * torch.exp(0.5 * logvar) + mu

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.shape[-2:] != (512, 512):
            raise ValueError(f"the MaskVAE takes 512x512 masks, not {x.shape[-1]}x{x.shape[-2]}")
        mu, logvar = self.encode(x)
        return self.decode(self.reparametrize(mu, logvar, eps)), x, mu, logvar


# --------------------------------------------------------------------------------------- face parser


class UNetConv2(nn.Module):
    """Two (3x3 conv, BatchNorm, ReLU) stages: `conv1`, `conv2`."""

    def __init__(self, in_size: int, out_size: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_size, out_size, 3, 1, 1), nn.BatchNorm2d(out_size), nn.ReLU(True)
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_size, out_size, 3, 1, 1), nn.BatchNorm2d(out_size), nn.ReLU(True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class UNetUp(nn.Module):
    """Transposed-conv upsampling, concatenated after the (centre-padded) skip, then `UNetConv2`."""

    def __init__(self, in_size: int, out_size: int) -> None:
        super().__init__()
        self.conv = UNetConv2(in_size, out_size)
        self.up = nn.ConvTranspose2d(in_size, out_size, 2, 2)

    def forward(self, skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        offset = up.shape[2] - skip.shape[2]
        skip = F.pad(skip, 2 * [offset // 2, offset // 2])
        return self.conv(torch.cat([skip, up], 1))


class UNet(nn.Module):
    """The CelebAMask-HQ face parser (`unet(feature_scale, n_classes, is_deconv=True, in_channels=3,
    is_batchnorm=True)`): image in [-1, 1] -> per-class logits. Sides must be multiples of 16."""

    def __init__(self, feature_scale: int = 4, n_classes: int = 19, in_channels: int = 3) -> None:
        super().__init__()
        f = [64 // feature_scale, 128 // feature_scale, 256 // feature_scale, 512 // feature_scale]
        f.append(1024 // feature_scale)
        self.conv1 = UNetConv2(in_channels, f[0])
        self.conv2 = UNetConv2(f[0], f[1])
        self.conv3 = UNetConv2(f[1], f[2])
        self.conv4 = UNetConv2(f[2], f[3])
        self.center = UNetConv2(f[3], f[4])
        self.up_concat4 = UNetUp(f[4], f[3])
        self.up_concat3 = UNetUp(f[3], f[2])
        self.up_concat2 = UNetUp(f[2], f[1])
        self.up_concat1 = UNetUp(f[1], f[0])
        self.final = nn.Conv2d(f[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv1(x)
        c2 = self.conv2(F.max_pool2d(c1, 2))
        c3 = self.conv3(F.max_pool2d(c2, 2))
        c4 = self.conv4(F.max_pool2d(c3, 2))
        center = self.center(F.max_pool2d(c4, 2))
        up = self.up_concat4(c4, center)
        up = self.up_concat3(c3, up)
        up = self.up_concat2(c2, up)
        return self.final(self.up_concat1(c1, up))


# ---------------------------------------------------------------------------------------- helpers


def onehot(label: torch.Tensor, n: int = 19) -> torch.Tensor:
    """B x 1 x H x W ids (any dtype; truncated like `.long()`) -> B x n x H x W one-hot float."""
    ids = label.long()
    out = torch.zeros(ids.shape[0], n, *ids.shape[2:], device=ids.device)
    return out.scatter_(1, ids, 1.0)


def weights_init(m: nn.Module) -> None:
    """Upstream's init for training: N(0, 0.02) for Conv2d (not ConvTranspose2d), N(1, 0.02) BatchNorm."""
    if isinstance(m, nn.Conv2d):
        m.weight.data.normal_(0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)
