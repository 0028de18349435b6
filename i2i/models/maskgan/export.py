"""MaskGAN's part of `i2i export`: the generator and the face parser as two graphs, neither of them an
image-in, image-out translation (`--weights file.onnx` refuses them with one line).

The translation picks class ids by an argmax of the parser's logits, so a rounding difference between two
runtimes may flip a pixel's class where two logits tie; the exported parser therefore returns its logits and
the generator takes one-hot masks, and a deployment does the argmax and the one-hot encoding (after
`label_mode`'s id mapping, recorded in the metadata) itself.

- `generator` (`G`): `input` (the target mask, N x label_nc x H x W one-hot), `input_ref` (the photo's own
  mask, the same shape) and `image_ref` (the photo, N x 3 x H x W in [-1, 1]) -> `y`, the rendered photo in
  [-1, 1]; H and W multiples of the size multiple.
- `parser` (where the weights hold it): `x` (N x 3 x H x W in [-1, 1]) -> `logits` (N x 19 x H x W).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from i2i.io.onnx_files import Graph
from i2i.models._shared.export import image_inputs, metadata
from i2i.models.maskgan import pipeline


def graphs(model: Any, conditions: dict[str, Any]) -> list[Graph]:
    """The generator, then the parser where loaded (`conditions` are recorded, none changes a graph)."""
    c = model.config
    model._prepare_inference()
    lut = pipeline.label_ids(np.arange(c.label_nc), c.label_mode)[0, 0].tolist()
    extra = {"label_nc": int(c.label_nc), "label_mode": c.label_mode, "label_ids": lut}
    images = {0: "batch", 2: "height", 3: "width"}
    generator = torch.Generator().manual_seed(2)
    example, probe = image_inputs(model, 3)

    def masks(like: torch.Tensor) -> torch.Tensor:
        ids = torch.randint(0, c.label_nc, (like.shape[0], like.shape[2], like.shape[3]), generator=generator)
        return F.one_hot(ids, c.label_nc).permute(0, 3, 1, 2).float()

    inputs = {"input": masks(example), "input_ref": masks(example), "image_ref": example}
    checks = {"input": masks(probe), "input_ref": masks(probe), "image_ref": probe}
    result = [
        Graph(
            "generator",
            model.networks["G"].eval(),
            inputs,
            checks,
            {name: images for name in (*inputs, "y")},
            runnable=False,
            meta=metadata(model, conditions, output_channels=3, **extra),
        )
    ]
    if "parser" in model.loaded:
        result.append(
            Graph(
                "parser",
                model.networks["parser"].eval(),
                {"x": example},
                {"x": probe},
                {"x": images, "logits": images},
                outputs=("logits",),
                runnable=False,
                meta=metadata(model, {}, **extra),
            )
        )
    return result
