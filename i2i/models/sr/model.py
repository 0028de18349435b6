"""Super-resolution and restoration networks of every architecture spandrel knows (SwinIR, HAT, DAT,
OmniSR, SPAN, Real-CUGAN, DITN, RGT, Compact, ...), behind the i2i contract: `i2i upscale --weights
4x-Model.pth` picks this model when the file is none of i2i's own layouts (ESRGAN keeps RRDBNet and SRVGG).

spandrel (MIT, chaiNNer-org/spandrel) detects the architecture and its hyperparameters from a state dict
and builds the network; i2i reads the file itself (`i2i.io.official`), runs the network tile by tile
(`i2i.ops.tiling`) within the architecture's size requirements and precisions, and stores the
architecture, its class and hyperparameters in the config, so a converted checkpoint rebuilds the network
with no detection. spandrel is the optional extra `i2i[sr]`; see `official` for the extra architectures.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import I2IError
from i2i.model import Model, StateDict
from i2i.models.sr import official
from i2i.runtime import float32_between_convolutions


@dataclass(frozen=True)
class SRConfig:
    """What spandrel detects from a checkpoint: the architecture (spandrel's id), the network class
    (`module:Class`) and its hyperparameters (JSON, those that differ from the class's defaults), and the
    descriptor's scale, channels, size requirements and precisions."""

    arch: str = "SPAN"
    network: str = "spandrel.architectures.SPAN.__arch.span:SPAN"
    hyperparameters: str = '{"num_in_ch": 3, "num_out_ch": 3}'
    scale: int = 4
    input_nc: int = 3
    output_nc: int = 3
    #: spandrel's size requirements: the shortest side, a multiple both sides must be, square inputs
    min_size: int = 0
    multiple_of: int = 1
    square: bool = False
    supports_half: bool = True
    supports_bfloat16: bool = True
    #: spandrel runs the network with a call of its own (extra inputs, one of several outputs)
    custom_call: bool = False
    #: an architecture of spandrel-extra-arches (non-commercial licences): installed into spandrel on use
    extra_arches: bool = False
    tags: tuple[str, ...] = ()


class SR(Model):
    """Any single-image super-resolution / restoration network spandrel recognises."""

    name = "sr"
    task = "super-resolution"
    license = (
        "MIT (spandrel); spandrel-extra-arches architectures (only with I2I_SR_EXTRA_ARCHES=1): "
        "their own, often non-commercial licences"
    )
    description = (
        "Any SR/restoration checkpoint spandrel detects (SwinIR, HAT, DAT, OmniSR, SPAN, Real-CUGAN, ...); "
        "needs pip install 'i2i[sr]'"
    )
    Config = SRConfig
    value_range = (0.0, 1.0)
    inference_networks = ("G",)
    #: empty: spandrel's files are the user's own (no weights by name yet)
    catalogue = "catalogue.json"
    tiny_config = {
        "hyperparameters": '{"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 8, "upscale": 2}',
        "scale": 2,
    }

    def __init__(self, config: Any = None, *, device: str | torch.device = "cpu", precision: str = "fp32"):
        super().__init__(config, device=device, precision=precision)
        self._call: Any = None
        supported = {"fp16": self.config.supports_half, "bf16": self.config.supports_bfloat16}
        if not supported.get(self.precision, True):
            warnings.warn(
                f"sr: {self.config.arch} does not support {self.precision}; running in fp32",
                UserWarning,
                stacklevel=2,
            )
            self.precision = "fp32"

    @property
    def weights_license(self) -> str | None:  # type: ignore[override]
        """The licence of the weights, with the extra architecture's own where it is one."""
        text = self._weights_license
        if not self.config.extra_arches or (text and official.EXTRA_ARCHES_LICENSE in text):
            return text
        return f"{text}; {official.EXTRA_ARCHES_LICENSE}" if text else official.EXTRA_ARCHES_LICENSE

    @weights_license.setter
    def weights_license(self, value: str | None) -> None:
        self._weights_license = value

    @property
    def scale(self) -> int:  # type: ignore[override]
        return self.config.scale

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        try:
            G = official.build(c.arch, c.network, c.hyperparameters, c.extra_arches)
        except TypeError as exc:  # hyperparameters the class does not take
            raise I2IError(f"sr: these settings make no {c.arch} network ({exc})") from None
        return {"G": G}

    def size_multiple(self) -> int:
        return max(1, self.config.multiple_of)

    def min_size(self) -> int:
        return max(self.config.min_size, self.size_multiple())

    def load_networks(self, networks: dict[str, StateDict], *, strict: bool = True) -> None:
        super().load_networks(networks, strict=strict)
        self._call = None

    def _prepare_inference(self) -> None:
        super()._prepare_inference()
        if self.precision == "bf16" and self.device.type == "cpu":
            # as esrgan's: bf16 convolutions, float32 between them and in the last one (residual streams)
            float32_between_convolutions(self.networks["G"], float32_last=1, float32_first=1)

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """spandrel's call: pad the right and bottom edges up to the size requirements (reflect, then
        replicate), run, crop, clamp to [0, 1]."""
        c = self.config
        G = self.networks["G"]
        G.eval()
        height, width = x.shape[-2:]
        target_h, target_w = (max(side, c.min_size) for side in (height, width))
        m = self.size_multiple()
        target_h, target_w = -(-target_h // m) * m, -(-target_w // m) * m
        if c.square:
            target_h = target_w = max(target_h, target_w)
        x = _pad(x, target_h - height, target_w - width)
        if c.custom_call and self._call is None:
            self._call = official.call_function(c.arch, G)
        with official.quiet():
            y = self._call(G, x) if c.custom_call else G(x)
        return y[..., : height * c.scale, : width * c.scale].clamp(0, 1)

    def translate_images(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """Upscaled tile by tile (`i2i.ops.tiling`: tiles sized to free memory, blended seams, alpha
        through the network); `batch_size` is ignored: one tile runs at a time."""
        from i2i.ops.tiling import upscale_image

        self.check_conditions(conditions)
        return [upscale_image(self, image) for image in images]

    def provenance_tag(self) -> dict[str, str]:
        tag = super().provenance_tag() | {"architecture": self.config.arch}
        if self.config.extra_arches:
            tag["license"] = official.EXTRA_ARCHES_LICENSE
        return tag

    detect = classmethod(official.detect)
    import_official = classmethod(official.import_official)


def _pad(x: torch.Tensor, dh: int, dw: int) -> torch.Tensor:
    """Reflect, then replicate, on the right and bottom; always a new tensor (RCAN, for one, scales its
    input in place)."""
    if dh <= 0 and dw <= 0:
        return x.clone()
    rh, rw = min(dh, x.shape[-2] - 1), min(dw, x.shape[-1] - 1)
    x = F.pad(x, (0, rw, 0, rh), mode="reflect")
    if dh > rh or dw > rw:
        x = F.pad(x, (0, dw - rw, 0, dh - rh), mode="replicate")
    return x
