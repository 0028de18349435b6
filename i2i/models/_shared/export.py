"""The model side of `i2i export`: which graphs a model exports and what their files say about them.

A model may define `export_graphs(conditions) -> list[Graph]` (the first graph is the translation that
`--weights file.onnx` runs; others, e.g. StarGAN v2's mapping network, are written beside it). Without
one, the model exports `translation_graph`: its `forward_tensor` under the given conditions, fixed. The
files are written and verified by `i2i.io.onnx_files`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2i._version import __version__
from i2i.errors import I2IError
from i2i.io.onnx_files import Graph, Written, write_graph
from i2i.model import Model
from i2i.ops.tile_plan import round_up

#: the side of the example input (at least the model's minimum, a multiple of its size multiple)
EXAMPLE_SIDE = 32


class Translation(nn.Module):
    """`model.forward_tensor(x, **conditions)` as a module: the translation with its conditions fixed."""

    def __init__(self, model: Model, conditions: dict[str, Any], networks: tuple[str, ...]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict({name: model.networks[name] for name in networks})
        self.model = _Held(model)
        self.conditions = dict(conditions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.value.forward_tensor(x, **self.conditions)


class _Held:
    """A model held by a module without becoming one of its sub-modules (copied along with it)."""

    def __init__(self, value: Model) -> None:
        self.value = value


def image_inputs(model: Model, channels: int, side: int = EXAMPLE_SIDE) -> tuple[torch.Tensor, torch.Tensor]:
    """Random example and probe images in the model's value range: 1 image of about `side`, and 2 of
    another height and width (multiples of the model's size multiple, at least its minimum)."""
    m, least = model.size_multiple(), model.min_size()
    side = round_up(max(side, least), m)
    lo, hi = model.value_range
    generator = torch.Generator().manual_seed(0)

    def draw(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * (hi - lo) + lo

    return draw(1, channels, side, side), draw(2, channels, round_up(side + 8, m), round_up(side + 16, m))


def metadata(model: Model, conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What an exported file says about its model: name, i2i version, value range, scale, sizes,
    channels, output rounding, the conditions it was exported with, its weights."""
    return {
        "model": model.name,
        "i2i_version": __version__,
        "value_range": list(model.value_range),
        "scale": int(model.scale),
        "size_multiple": int(model.size_multiple()),
        "min_size": int(model.min_size()),
        "input_channels": int(model.input_channels_for(conditions)),
        "output_rounding": model.output_rounding,
        "conditions": {k: v if isinstance(v, (int, float, bool)) else str(v) for k, v in conditions.items()},
        "tiled": model.task == "super-resolution",
        "provenance": model.provenance_tag(),
    } | extra


def translation_graph(model: Model, conditions: dict[str, Any], name: str = "translation") -> Graph:
    """`forward_tensor` under fixed `conditions` as a graph: image in, image out, dynamic batch, height
    and width."""
    model.check_conditions(conditions)
    networks = model.required_networks(conditions)
    missing = [n for n in networks if n not in model.loaded]
    if missing:
        raise I2IError(
            f"{model.name} needs network {', '.join(missing)} for this export, but these weights hold only "
            f"{', '.join(sorted(model.loaded)) or 'none'}"
        )
    model._prepare_inference()
    module = Translation(model, conditions, networks).eval()
    example, probe = image_inputs(model, model.input_channels_for(conditions))
    with torch.no_grad():
        out = module(example)  # also runs lazy imports and caches before tracing
    dynamic = {"x": {0: "batch", 2: "height", 3: "width"}, "y": {0: "batch", 2: "out_height", 3: "out_width"}}
    meta = metadata(model, conditions, output_channels=int(out.shape[1]))
    return Graph(name, module, {"x": example}, {"x": probe}, dynamic, meta=meta)


def export_graphs(model: Model, conditions: dict[str, Any]) -> list[Graph]:
    """The model's graphs: its `export_graphs` hook, else its translation."""
    hook = getattr(model, "export_graphs", None)
    return hook(dict(conditions)) if hook is not None else [translation_graph(model, dict(conditions))]


def graph_path(out: Path, index: int, graph: Graph) -> Path:
    """Where graph `index` goes: the first at `out`, the others beside it as `<stem>.<graph><suffix>`."""
    return out if index == 0 else out.with_name(f"{out.stem}.{graph.name}{out.suffix}")


def export_model(
    model: Model, out: Path, fmt: str, *, fp16: bool = False, conditions: dict[str, Any] | None = None
) -> list[Written]:
    """Write every graph of `model` as `fmt`, each verified against PyTorch (see `i2i.io.onnx_files`)."""
    graphs = export_graphs(model, conditions or {})
    with torch.inference_mode(False):
        return [write_graph(g, graph_path(Path(out), i, g), fmt, fp16=fp16) for i, g in enumerate(graphs)]
