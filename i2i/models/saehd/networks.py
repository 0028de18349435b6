"""SAEHD's networks (DeepFaceLab's "DeepFakeArchi"), written from the published description.

Architecture `df` (one `inter`, decoders `decoder_src` / `decoder_dst`) or `liae` (`inter_AB`, `inter_B`,
one `decoder`), with DFL's options: `u` pixel-normalises the encoder output, `d` runs the bottleneck at half
resolution and ends the image decoder with four sub-pixel convolutions and a depth-to-space, `t` uses the
deeper 5-level encoder with residual blocks and a 4-level decoder, `c` uses `x * cos(x)` as activation
instead of leaky ReLU. Networks take and give **BGR** NCHW images in [0, 1], as DFL's do; parameter names
are DFL's variable paths (`down1/downs_0/conv1/weight:0` -> `down1.downs.0.conv1.weight`), so a converted
DFL model loads with `strict=True`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import UsageError

ARCHI_TYPES = ("df", "liae")
ARCHI_OPTIONS = "udtc"
PARTS = {
    "df": ("encoder", "inter", "decoder_src", "decoder_dst"),
    "liae": ("encoder", "inter_AB", "inter_B", "decoder"),
}


def parse_archi(archi: str) -> tuple[str, frozenset[str]]:
    """DFL's archi string (`liae-ud`, `df`, `df-udtc`) -> ("liae", {"u", "d"})."""
    kind, _, opts = str(archi).strip().lower().partition("-")
    unknown = sorted(set(opts) - set(ARCHI_OPTIONS))
    if kind not in ARCHI_TYPES or unknown or len(set(opts)) != len(opts):
        raise UsageError(
            f"archi={archi!r}: expected df or liae, optionally with '-' and options from u, d, t, c "
            "(e.g. liae-ud, df-udt)"
        )
    return kind, frozenset(opts)


def check_resolution(resolution: int, options: frozenset[str]) -> None:
    """DFL's rule: a multiple of 16, of 32 with `-d` (the bottleneck then runs at resolution / 32)."""
    step = 32 if "d" in options else 16
    if resolution < step or resolution % step:
        raise UsageError(
            f"resolution={resolution}: SAEHD needs a multiple of {step} with these archi options"
        )


def depth_to_space(x: torch.Tensor, size: int = 2) -> torch.Tensor:
    """TensorFlow's depth_to_space ("DCR" order): output pixel (y*s+dy, x*s+dx) of channel c comes from
    input channel (dy*s+dx)*C + c. `torch.pixel_shuffle` reads channel c*s*s + dy*s+dx instead ("CRD"), which
    scrambles DFL's weights (an error of about 0.14 on the reference fixtures), so it is not used here."""
    b, c, h, w = x.shape
    out = c // (size * size)
    return x.view(b, size, size, out, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, out, h * size, w * size)


# -------------------------------------------------------------------------------------------- layers


class Activation(nn.Module):
    """Leaky ReLU with DFL's slope, or `x * cos(x)` with archi option `c`."""

    def __init__(self, slope: float, cos: bool) -> None:
        super().__init__()
        self.slope, self.cos = slope, cos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cos(x) if self.cos else F.leaky_relu(x, self.slope)

    def extra_repr(self) -> str:
        return "x*cos(x)" if self.cos else f"leaky_relu({self.slope})"


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    # DFL's "SAME" is a symmetric zero pad of (k-1)//2 and a VALID convolution, as torch's padding argument
    return nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2)


class Downscale(nn.Module):
    """5x5 convolution, stride 2, then the activation (slope 0.1)."""

    def __init__(self, cin: int, cout: int, cos: bool) -> None:
        super().__init__()
        self.conv1 = _conv(cin, cout, 5, 2)
        self.act = Activation(0.1, cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv1(x))


class DownscaleBlock(nn.Module):
    """Downscales doubling the channels: cin -> ch -> 2ch -> 4ch -> ..."""

    def __init__(self, cin: int, ch: int, n: int, cos: bool) -> None:
        super().__init__()
        chans = [cin] + [ch * 2**i for i in range(n)]
        self.downs = nn.ModuleList(Downscale(chans[i], chans[i + 1], cos) for i in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down in self.downs:
            x = down(x)
        return x


class Upscale(nn.Module):
    """3x3 convolution to 4x the channels, the activation (slope 0.1), then depth-to-space x2."""

    def __init__(self, cin: int, cout: int, cos: bool) -> None:
        super().__init__()
        self.conv1 = _conv(cin, cout * 4, 3)
        self.act = Activation(0.1, cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_to_space(self.act(self.conv1(x)), 2)


class ResidualBlock(nn.Module):
    """act(x + conv2(act(conv1(x)))), 3x3 convolutions, slope 0.2."""

    def __init__(self, ch: int, cos: bool) -> None:
        super().__init__()
        self.conv1 = _conv(ch, ch, 3)
        self.conv2 = _conv(ch, ch, 3)
        self.act = Activation(0.2, cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


def _pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + 1e-6)


def _down_size(size: int, times: int) -> int:
    for _ in range(times):
        size = (size + 1) // 2  # a 5x5 stride-2 convolution with padding 2
    return size


# ------------------------------------------------------------------------------------------ networks


class Encoder(nn.Module):
    """BGR image -> flat code (C, H, W order), pixel-normalised with option `u`."""

    def __init__(self, e_dims: int, options: frozenset[str]) -> None:
        super().__init__()
        cos = "c" in options
        self.deep, self.use_norm = "t" in options, "u" in options
        if self.deep:
            self.down1 = Downscale(3, e_dims, cos)
            self.res1 = ResidualBlock(e_dims, cos)
            self.down2 = Downscale(e_dims, e_dims * 2, cos)
            self.down3 = Downscale(e_dims * 2, e_dims * 4, cos)
            self.down4 = Downscale(e_dims * 4, e_dims * 8, cos)
            self.down5 = Downscale(e_dims * 8, e_dims * 8, cos)
            self.res5 = ResidualBlock(e_dims * 8, cos)
        else:
            self.down1 = DownscaleBlock(3, e_dims, 4, cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deep:
            x = self.res1(self.down1(x))
            x = self.res5(self.down5(self.down4(self.down3(self.down2(x)))))
        else:
            x = self.down1(x)
        x = x.flatten(1)
        return _pixel_norm(x) if self.use_norm else x


class Inter(nn.Module):
    """Dense(code -> ae_dims) -> Dense(-> L*L*out) without activation between, reshaped to (out, L, L);
    then an Upscale unless option `t`."""

    def __init__(
        self, in_features: int, ae_dims: int, out_ch: int, lowest: int, options: frozenset[str]
    ) -> None:
        super().__init__()
        self.out_ch, self.lowest = out_ch, lowest
        self.dense1 = nn.Linear(in_features, ae_dims)
        self.dense2 = nn.Linear(ae_dims, lowest * lowest * out_ch)
        self.upscale1 = None if "t" in options else Upscale(out_ch, out_ch, "c" in options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x)).view(-1, self.out_ch, self.lowest, self.lowest)
        return x if self.upscale1 is None else self.upscale1(x)


class Decoder(nn.Module):
    """Code -> (BGR face, mask), both through a sigmoid. The face branch is Upscale + ResidualBlock stages;
    with option `d` it ends in `out_conv`, `out_conv1..3` whose 12 channels become the (0,0), (0,1), (1,0),
    (1,1) sub-pixels of a depth-to-space. The mask branch is Upscales only (one more with `d`)."""

    def __init__(self, in_ch: int, d_dims: int, d_mask_dims: int, options: frozenset[str]) -> None:
        super().__init__()
        cos, self.double = "c" in options, "d" in options
        widths = [8, 8, 4, 2] if "t" in options else [8, 4, 2]
        chans = [in_ch] + [d_dims * w for w in widths]
        mchans = [in_ch] + [d_mask_dims * w for w in widths] + ([d_mask_dims] if self.double else [])
        self.stages = len(widths)
        for i in range(self.stages):
            setattr(self, f"upscale{i}", Upscale(chans[i], chans[i + 1], cos))
            setattr(self, f"res{i}", ResidualBlock(chans[i + 1], cos))
        self.mask_stages = len(mchans) - 1
        for i in range(self.mask_stages):
            setattr(self, f"upscalem{i}", Upscale(mchans[i], mchans[i + 1], cos))
        self.out_conv = _conv(chans[-1], 3, 1)
        if self.double:
            self.out_conv1 = _conv(chans[-1], 3, 3)
            self.out_conv2 = _conv(chans[-1], 3, 3)
            self.out_conv3 = _conv(chans[-1], 3, 3)
        self.out_convm = _conv(mchans[-1], 1, 1)

    def face(self, z: torch.Tensor) -> torch.Tensor:
        x = z
        for i in range(self.stages):
            x = getattr(self, f"res{i}")(getattr(self, f"upscale{i}")(x))
        if self.double:
            x = torch.cat([self.out_conv(x), self.out_conv1(x), self.out_conv2(x), self.out_conv3(x)], 1)
            return torch.sigmoid(depth_to_space(x, 2))
        return torch.sigmoid(self.out_conv(x))

    def mask(self, z: torch.Tensor) -> torch.Tensor:
        m = z
        for i in range(self.mask_stages):
            m = getattr(self, f"upscalem{i}")(m)
        return torch.sigmoid(self.out_convm(m))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.face(z), self.mask(z)


def build(
    archi: str, resolution: int, ae_dims: int, e_dims: int, d_dims: int, d_mask_dims: int
) -> dict[str, nn.Module]:
    """The networks of one SAEHD model under DFL's part names."""
    kind, options = parse_archi(archi)
    check_resolution(resolution, options)
    deep = "t" in options
    code_size = _down_size(resolution, 5 if deep else 4)
    lowest = resolution // (32 if "d" in options else 16)
    in_features = e_dims * 8 * code_size * code_size
    encoder = Encoder(e_dims, options)
    if kind == "df":
        return {
            "encoder": encoder,
            "inter": Inter(in_features, ae_dims, ae_dims, lowest, options),
            "decoder_src": Decoder(ae_dims, d_dims, d_mask_dims, options),
            "decoder_dst": Decoder(ae_dims, d_dims, d_mask_dims, options),
        }
    return {
        "encoder": encoder,
        "inter_AB": Inter(in_features, ae_dims, ae_dims * 2, lowest, options),
        "inter_B": Inter(in_features, ae_dims, ae_dims * 2, lowest, options),
        "decoder": Decoder(ae_dims * 4, d_dims, d_mask_dims, options),
    }


def init_weights(nets: dict[str, nn.Module]) -> None:
    """DFL's initialisation of a fresh model: glorot-uniform convolution and dense kernels, zero biases."""
    for net in nets.values():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)


# ------------------------------------------------------------------------------------------- wiring


def _kind(archi: str) -> str:
    return parse_archi(archi)[0]


def autoencode(
    nets: dict[str, nn.Module], archi: str, warped_src: torch.Tensor, warped_dst: torch.Tensor
) -> dict[str, torch.Tensor]:
    """SAEHD's training graph: both reconstructions, the swap, their masks and the two codes (BGR [0, 1])."""
    encoder = nets["encoder"]
    if _kind(archi) == "df":
        src_code = nets["inter"](encoder(warped_src))
        dst_code = nets["inter"](encoder(warped_dst))
        src_src, src_srcm = nets["decoder_src"](src_code)
        dst_dst, dst_dstm = nets["decoder_dst"](dst_code)
        src_dst, src_dstm = nets["decoder_src"](dst_code)
    else:
        src_enc, dst_enc = encoder(warped_src), encoder(warped_dst)
        src_ab = nets["inter_AB"](src_enc)
        dst_ab, dst_b = nets["inter_AB"](dst_enc), nets["inter_B"](dst_enc)
        src_code = torch.cat([src_ab, src_ab], 1)
        dst_code = torch.cat([dst_b, dst_ab], 1)
        src_src, src_srcm = nets["decoder"](src_code)
        dst_dst, dst_dstm = nets["decoder"](dst_code)
        src_dst, src_dstm = nets["decoder"](torch.cat([dst_ab, dst_ab], 1))
    return {
        "pred_src_src": src_src,
        "pred_src_srcm": src_srcm,
        "pred_dst_dst": dst_dst,
        "pred_dst_dstm": dst_dstm,
        "pred_src_dst": src_dst,
        "pred_src_dstm": src_dstm,
        "src_code": src_code,
        "dst_code": dst_code,
    }


def _dst_codes(
    nets: dict[str, nn.Module], archi: str, dst: torch.Tensor
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """(the decoder of the swap, the swap code, the dst code) for a batch of dst faces."""
    features = nets["encoder"](dst)
    if _kind(archi) == "df":
        code = nets["inter"](features)
        return nets["decoder_src"], code, code
    ab, b = nets["inter_AB"](features), nets["inter_B"](features)
    return nets["decoder"], torch.cat([ab, ab], 1), torch.cat([b, ab], 1)


def swap(
    nets: dict[str, nn.Module], archi: str, dst: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merge-time outputs for dst faces (BGR [0, 1]): the src-from-dst face, its mask, and the dst mask."""
    decoder, swap_code, dst_code = _dst_codes(nets, archi, dst)
    face, face_mask = decoder(swap_code)
    dst_decoder = nets["decoder_dst"] if _kind(archi) == "df" else nets["decoder"]
    return face, face_mask, dst_decoder.mask(dst_code)


def reconstruct(
    nets: dict[str, nn.Module], archi: str, dst: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The dst-from-dst path: the reconstructed face and its mask (BGR [0, 1])."""
    _, _, dst_code = _dst_codes(nets, archi, dst)
    dst_decoder = nets["decoder_dst"] if _kind(archi) == "df" else nets["decoder"]
    return dst_decoder(dst_code)
