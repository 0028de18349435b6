"""The networks of yunjey/stargan, with its module and key names: the generator `G(x, c)` and the
discriminator `D(x) -> (out_src, out_cls)`. Their InstanceNorm layers are the reference's
`InstanceNorm2d(affine=True, track_running_stats=True)`."""

from __future__ import annotations

import torch
from torch import nn

from i2i.models._shared.layers import InstanceNorm2d


class ResidualBlock(nn.Module):
    """x + [conv3x3, IN, ReLU, conv3x3, IN](x)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, stride=1, padding=1, bias=False),
            InstanceNorm2d(dim, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, stride=1, padding=1, bias=False),
            InstanceNorm2d(dim, affine=True, track_running_stats=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class Generator(nn.Module):
    """7x7 conv, two stride-2 downsamplings, `repeat_num` residual blocks, two transposed-conv
    upsamplings, 7x7 conv and tanh; the input is cat(x, c tiled to H x W). Sides must be multiples of 4."""

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, stride=1, padding=3, bias=False),
            InstanceNorm2d(conv_dim, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
        ]
        dim = conv_dim
        for _ in range(2):
            layers += [
                nn.Conv2d(dim, dim * 2, 4, stride=2, padding=1, bias=False),
                InstanceNorm2d(dim * 2, affine=True, track_running_stats=True),
                nn.ReLU(inplace=True),
            ]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, 4, stride=2, padding=1, bias=False),
                InstanceNorm2d(dim // 2, affine=True, track_running_stats=True),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, 7, stride=1, padding=3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def use_instance_statistics(self, enabled: bool) -> None:
        """In eval mode, normalise with each image's statistics (True) or the running ones (False)."""
        for module in self.modules():
            if isinstance(module, InstanceNorm2d):
                module.instance_statistics = enabled

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.to(x.dtype).view(c.shape[0], c.shape[1], 1, 1).expand(-1, -1, x.shape[2], x.shape[3])
        return self.main(torch.cat([x, c], dim=1))


class Discriminator(nn.Module):
    """`repeat_num` stride-2 4x4 convs with LeakyReLU(0.01), then two heads: `conv1` a 3x3 realness map
    (out_src) and `conv2` a domain classifier whose kernel covers the whole `image_size` map (out_cls)."""

    def __init__(
        self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, image_size // 2**repeat_num, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        out_cls = self.conv2(h)
        return self.conv1(h), out_cls.view(out_cls.shape[0], out_cls.shape[1])
