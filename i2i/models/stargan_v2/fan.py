"""The face-landmark network (FAN) that StarGAN v2 uses for its face masks, and the masks it makes.

Same architecture and state-dict keys as `core/wing.py` of clovaai/stargan-v2 (`FAN(num_modules=1,
end_relu=False, num_landmarks=98)`, adapted there from face-alignment and AdaptiveWingLoss): a CoordConv stem,
three bottleneck ConvBlocks, one 4-level hourglass and `l0`, 98 landmark heatmaps plus one boundary channel at
64 x 64 for a 256 x 256 input. `get_heatmap` turns them into the two masks the generator takes (`mask0` at
feature size 32, `mask1` at 64 and 128), always 256 x 256.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_LANDMARKS = 98
MASK_SIZE = 256


def coordinates(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W): row and column coordinates in [-1, 1] and their radius scaled to [0, 1].

    Computed per call on `like`'s device and dtype (upstream keeps them as plain attributes on the device
    chosen at construction, which `.to()` does not move)."""
    rows = (torch.arange(height, dtype=torch.float32, device=like.device) / (height - 1)) * 2 - 1
    cols = (torch.arange(width, dtype=torch.float32, device=like.device) / (width - 1)) * 2 - 1
    rows, cols = rows[:, None].expand(height, width), cols[None, :].expand(height, width)
    radius = torch.sqrt(rows**2 + cols**2)
    radius = radius / radius.max()
    return torch.stack([rows, cols, radius])[None].to(like.dtype)


class CoordConv(nn.Module):
    """A convolution over the input and its coordinate channels (`CoordConvTh` with `with_r`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels + 3, out_channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coords = coordinates(x.shape[2], x.shape[3], x).expand(x.shape[0], -1, -1, -1)
        return self.conv(torch.cat([x, coords], dim=1))


class ConvBlock(nn.Module):
    """Pre-activation bottleneck: three 3x3 convs (out/2, out/4, out/4 channels) concatenated, plus the
    input (through BN, ReLU and a 1x1 conv when the width changes)."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample = (
            nn.Sequential(
                nn.BatchNorm2d(in_planes), nn.ReLU(), nn.Conv2d(in_planes, out_planes, 1, bias=False)
            )
            if in_planes != out_planes
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.cat([out1, out2, out3], dim=1) + residual


class HourGlass(nn.Module):
    """A 4-level hourglass of 256-wide ConvBlocks behind a 1x1 CoordConv; module names as upstream
    (`b1_4` ... `b1_1`, `b2_*`, `b2_plus_1`, `b3_*`)."""

    def __init__(self, depth: int = 4, features: int = 256) -> None:
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConv(features, features, 1, 1, 0)
        self._add_level(depth, features)

    def _add_level(self, level: int, features: int) -> None:
        # upstream's registration order (b1, b2, the inner levels, b3), which is its state-dict order
        self.add_module(f"b1_{level}", ConvBlock(features, features))
        self.add_module(f"b2_{level}", ConvBlock(features, features))
        if level > 1:
            self._add_level(level - 1, features)
        else:
            self.add_module("b2_plus_1", ConvBlock(features, features))
        self.add_module(f"b3_{level}", ConvBlock(features, features))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        up = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2))
        low = self._level(level - 1, low) if level > 1 else self._modules["b2_plus_1"](low)
        low = self._modules[f"b3_{level}"](low)
        return up + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, self.coordconv(x))


class FAN(nn.Module):
    """The landmark network: (N, 3, 256, 256) in [0, 1] -> (N, 99, 64, 64) heatmaps (98 landmarks and the
    boundary). Always used in eval mode (its BatchNorms hold the trained statistics)."""

    def __init__(self, num_landmarks: int = NUM_LANDMARKS) -> None:
        super().__init__()
        self.conv1 = CoordConv(3, 64, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        self.m0 = HourGlass()
        self.top_m_0 = ConvBlock(256, 256)
        self.conv_last0 = nn.Conv2d(256, 256, 1, 1, 0)
        self.bn_end0 = nn.BatchNorm2d(256)
        self.l0 = nn.Conv2d(256, num_landmarks + 1, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        x = self.top_m_0(self.m0(x))
        x = F.relu(self.bn_end0(self.conv_last0(x)))
        return self.l0(x)

    @torch.no_grad()
    def get_heatmap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Face masks (mask0, mask1), each (N, 1, 256, 256) in [0, 1], of images `x` in [-1, 1] (any size:
        resized to 256 first)."""
        x = F.interpolate(x, size=MASK_SIZE, mode="bilinear")
        heatmaps = self(x * 0.5 + 0.5)[:, :-1]
        heatmaps = F.interpolate(
            heatmaps, scale_factor=MASK_SIZE // heatmaps.shape[2], mode="bilinear", align_corners=True
        )
        return landmark_masks(heatmaps)


# ------------------------------------------------------------------------------------------------ masks

# (first, end, shift, power) per landmark group of the 98-point layout, applied in this order; a positive
# shift moves the heatmap up (in units of H // 256 rows).
_GROUP_OPS = (
    (8, 25, 0, 3),  # chin (the face line without its 8 outer points on each side)
    (33, 51, -7, 2),  # eyebrows
    (55, 60, 8, 4),  # nostrils
    (77, 82, -8, 4),  # upper lip
    (83, 88, 8, 4),  # lower lip
    (88, 96, -2, 3),  # inner lip
)
# the outer face line, the eyebrows' and lips' end points
_ZEROED = (*range(0, 8), *range(25, 33), 33, 46, 76, 82)
_NOSE = (51, 55)
_EYES = (60, 76)
# left out of mask1: the face line, the mouth and the eyebrows
_NOT_IN_MASK1 = ((8, 25), (76, 96), (33, 51))


def _shift(x: torch.Tensor, rows: int) -> torch.Tensor:
    """Move heatmaps up by `rows` (down when negative), wrapping around."""
    return torch.roll(x, shifts=-rows, dims=2)


def landmark_masks(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask0, mask1) from (N, 98, H, W) landmark heatmaps: upstream's `preprocess` (values under 0.1 cut,
    per-channel min-max normalisation, per-part shifts and powers), summed over the landmarks; NaN becomes 0
    and both are clamped to [0, 1]. `heatmaps` is left unchanged."""
    n, c, h, w = heatmaps.shape
    x = torch.where(heatmaps < 0.1, torch.zeros_like(heatmaps), heatmaps)
    flat = x.reshape(n * c, h * w)
    low, high = flat.min(dim=1, keepdim=True)[0], flat.max(dim=1, keepdim=True)[0]
    x = ((flat - low) / (high - low + 1e-6)).reshape(n, c, h, w)
    unit = h // MASK_SIZE
    for first, end, shift, power in _GROUP_OPS:
        x[:, first:end] = _shift(x[:, first:end], shift * unit) ** power
    x[:, list(_ZEROED)] = 0
    first, end = _NOSE
    x[:, first + 1 : end] = _shift(x[:, first + 1 : end], 4 * unit)
    first, end = _EYES
    eyes = x[:, first:end]
    # upstream's eye offsets (-8, -24) do not scale with H // 256; masks are always 256 x 256 anyway
    x[:, first:end] = _shift(eyes, -8) ** 3 + _shift(eyes, -24)
    x2 = x.clone()
    for first, end in _NOT_IN_MASK1:
        x2[:, first:end] = 0
    mask0, mask1 = x.sum(dim=1, keepdim=True), x2.sum(dim=1, keepdim=True)
    return torch.nan_to_num(mask0, nan=0.0).clamp(0, 1), torch.nan_to_num(mask1, nan=0.0).clamp(0, 1)
