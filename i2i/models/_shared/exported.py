"""An exported `.onnx` translation behind the `Model` contract, run by ONNX Runtime.

`i2i.load(weights="model.onnx")` returns an `ExportedModel`: the file's i2i metadata (written by
`i2i export`) gives the value range, scale, sizes, channels and output rounding, so `i2i translate` and
`i2i upscale` run it through the same padding, batching, tiling and image handling as the PyTorch model.
Its network is a module that calls the ONNX Runtime session (the CUDA provider on a CUDA device where
onnxruntime has it); conditions were fixed when the file was exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2i.errors import I2IError, UsageError
from i2i.io import onnx_files
from i2i.io.files import sha256_file
from i2i.model import Model


@dataclass(frozen=True)
class ExportedConfig:
    """The exported file an `ExportedModel` runs."""

    path: str = ""


class SessionNetwork(nn.Module):
    """An ONNX Runtime session as a module: image tensor in, image tensor (float32) out."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return onnx_files.run_session(self.session, {self.input_name: x})[0].float().to(x.device)


class ExportedModel(Model):
    """A translation exported by `i2i export`, run by ONNX Runtime."""

    name = "exported"
    task = "exported translation"
    license = "see the exported model's provenance"
    description = "A network exported to ONNX by `i2i export`, run by ONNX Runtime"
    Config = ExportedConfig
    inference_networks = ("G",)

    def __init__(self, path: str | Path, *, device: str | torch.device = "cpu") -> None:
        path = Path(path)
        self.meta = onnx_files.read_metadata(path)
        if not self.meta.get("runnable", False):
            raise I2IError(
                f"{path}: the exported {self.meta.get('graph', 'network')} of {self.meta.get('model', '?')} is "
                "not an image translation; give the file exported under the name you chose"
            )
        self._session = onnx_files.session(path, str(device))
        super().__init__(ExportedConfig(str(path)), device="cpu", precision="fp32")
        meta = self.meta
        self.name = str(meta["model"])
        self.value_range = (float(meta["value_range"][0]), float(meta["value_range"][1]))
        self.scale = int(meta["scale"])
        self.output_rounding = str(meta.get("output_rounding", "round"))
        provenance = meta.get("provenance", {})
        self.weights_name = provenance.get("weights", path.name)
        self.weights_sha256 = sha256_file(path)
        self.source = f"{path.name}, exported by {meta.get('i2i_version', 'i2i')}"
        self.weights_license = "see the exported model's source weights"

    def build_networks(self) -> dict[str, nn.Module]:
        return {"G": SessionNetwork(self._session)}

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.networks["G"](x)

    def size_multiple(self) -> int:
        return max(1, int(self.meta.get("size_multiple", 1)))

    def min_size(self) -> int:
        return max(int(self.meta.get("min_size", 1)), self.size_multiple())

    @property
    def input_channels(self) -> int:
        return int(self.meta.get("input_channels", 3))

    @property
    def output_channels(self) -> int:
        return int(self.meta.get("output_channels", 3))

    def check_conditions(self, conditions: dict[str, Any]) -> None:
        if conditions:
            fixed = ", ".join(f"{k}={v}" for k, v in self.meta.get("conditions", {}).items()) or "none"
            raise UsageError(
                f"{Path(self.config.path).name} was exported with its conditions fixed ({fixed}); export it "
                f"again with --cond {next(iter(conditions))}=... to change them"
            )

    def provenance_tag(self) -> dict[str, str]:
        return super().provenance_tag() | {"runtime": "onnxruntime"}

    def translate_images(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """As the exported model translates: super-resolution tile by tile (`i2i.ops.tiling`), the rest
        in padded batches."""
        if not self.meta.get("tiled"):
            return super().translate_images(images, batch_size=batch_size, **conditions)
        from i2i.ops.tiling import upscale_image

        self.check_conditions(conditions)
        return [upscale_image(self, image) for image in images]
