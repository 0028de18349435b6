"""StarGAN v2's part of `i2i export`: the translation in one style (the style code computed once from the
conditions, as `i2i translate` gives every image of a clip the same style), then the mapping network
(z, y -> style) and the style encoder (reference image, y -> style) for a deployment that makes its own
styles."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i.io.onnx_files import Graph
from i2i.models._shared.export import image_inputs, metadata


class StyledTranslation(nn.Module):
    """The generator in a fixed style: image in (any size; resized to img_size and back), image out."""

    def __init__(self, model: Any, style: torch.Tensor) -> None:
        super().__init__()
        self.nets = nn.ModuleDict({name: model.networks[name] for name in model.loaded})
        self.register_buffer("style", style.detach().clone())
        self.held = (model,)  # a tuple: the model is not a sub-module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        model = self.held[0]
        side = model.config.img_size
        x_in = x  # resized in float32 as `forward_tensor` does, then in the networks' precision
        if tuple(x.shape[2:]) != (side, side):
            x_in = F.interpolate(x.float(), size=(side, side), mode="bilinear", antialias=True)
        return model.generate(x, self.style, x_in.to(self.style.dtype)).to(x.dtype)


def graphs(model: Any, conditions: dict[str, Any]) -> list[Graph]:
    """The translation under `conditions` (already `prepare_conditions`-ed), the mapping network and the
    style encoder, where loaded."""
    c = model.config
    model._prepare_inference()
    with torch.no_grad():
        style = model.style_code(**conditions)
    translation = StyledTranslation(model, style).eval()
    # not img_size itself: the traced graph must keep the resize to img_size and back
    example, probe = image_inputs(model, 3, side=c.img_size + 8)
    images = {"x": {0: "batch", 2: "height", 3: "width"}, "y": {0: "batch", 2: "height", 3: "width"}}
    shown = {k: v for k, v in conditions.items() if k != "reference" or not isinstance(v, torch.Tensor)}
    if isinstance(conditions.get("reference"), torch.Tensor):
        shown["reference"] = "a reference image"
    domains = list(model.domain_names)
    meta = metadata(model, shown, output_channels=3, domains=domains, style_dim=int(c.style_dim))
    result = [Graph("translation", translation, {"x": example}, {"x": probe}, images, meta=meta)]
    generator = torch.Generator().manual_seed(1)
    per_batch = {0: "batch"}
    extra = metadata(model, {}, domains=domains, style_dim=int(c.style_dim))
    if model._net("mapping_network") in model.loaded:
        mapping = model.networks[model._net("mapping_network")]
        z1, z2 = (torch.randn(n, c.latent_dim, generator=generator) for n in (1, 3))
        y1, y2 = (torch.randint(0, c.num_domains, (n,), generator=generator) for n in (1, 3))
        dynamic = {"z": per_batch, "y": per_batch, "s": per_batch}
        result.append(
            Graph(
                "mapping_network",
                mapping.eval(),
                {"z": z1, "y": y1},
                {"z": z2, "y": y2},
                dynamic,
                outputs=("s",),
                runnable=False,
                meta=extra,
            )  # fmt: skip
        )
    if model._net("style_encoder") in model.loaded:
        encoder = model.networks[model._net("style_encoder")]
        side = c.img_size
        r1, r2 = (torch.rand(n, 3, side, side, generator=generator) * 2 - 1 for n in (1, 2))
        y1, y2 = (torch.randint(0, c.num_domains, (n,), generator=generator) for n in (1, 2))
        dynamic = {"reference": per_batch, "y": per_batch, "s": per_batch}
        result.append(
            Graph(
                "style_encoder",
                encoder.eval(),
                {"reference": r1, "y": y1},
                {"reference": r2, "y": y2},
                dynamic,
                outputs=("s",),
                runnable=False,
                meta=extra,
            )  # fmt: skip
        )
    return result
