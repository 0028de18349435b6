"""`i2i export`: a model's translation networks as ONNX or TorchScript files, each verified against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from i2i.cli import _common as common
from i2i.errors import UsageError

_SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".torchscript": "torchscript"}


@common.app.command()
@common.friendly_errors
def export(
    output: Annotated[
        Path, typer.Argument(help="The file to write (.onnx, or .pt for TorchScript).", show_default=False)
    ],
    weights: common.RequiredWeights,
    model: common.ModelName = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="onnx or torchscript. Default: from the output's suffix."),
    ] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Half-precision weights and inputs.")] = False,
    cond: common.Conditions = None,
    set_: common.Settings = None,
    as_json: common.JsonFlag = False,
) -> None:
    """Export a model's networks, verified on write: the file is run (ONNX Runtime or TorchScript) on random
    inputs of two sizes and compared with PyTorch; the largest difference is printed and the file is written
    only within tolerance (1e-4 in fp32, 5e-2 in fp16, times the output's largest magnitude when above 1).

    The first file is the translation, image in and image out, with dynamic batch, height and width where
    the network allows; its conditions (`--cond`) are fixed in it, and `i2i translate` / `i2i upscale` run
    it with `--weights OUT.onnx` through ONNX Runtime. Other networks (CycleGAN's second generator, StarGAN
    v2's mapping network and style encoder) go beside it as OUT_STEM.NAME.onnx. The value range, scale,
    sizes, conditions, model name and i2i version are stored in each file.

    Examples:
    - `i2i export --weights realesr-animevideov3 animevideov3.onnx`
    - `i2i export --weights cyclegan-horse2zebra --cond direction=BtoA zebra2horse.onnx --fp16`
    - `i2i export --weights afhq.ckpt --cond target_domain=dog --cond seed=3 dog.onnx`
    - `i2i export --weights runs/facades/model.safetensors facades.pt`
    """
    from i2i.api import load
    from i2i.cli._flags import Declared
    from i2i.models._shared.export import export_model

    fmt = fmt or _SUFFIXES.get(output.suffix.lower())
    if fmt is None:
        raise UsageError(f"say --format onnx or torchscript (the suffix '{output.suffix}' does not tell)")
    if output.is_dir():
        raise UsageError(f"{output} is a folder; give the file to write")
    loaded = load(model, weights, device="cpu", precision="fp32", **common.overrides(set_))
    conditions = Declared({}, {}).with_conditions(cond, type(loaded).options)
    written = export_model(loaded, output, fmt, fp16=fp16, conditions=conditions)
    if as_json:
        common.print_json(
            [
                {
                    "path": str(w.path),
                    "graph": w.graph,
                    "format": w.format,
                    "precision": w.precision,
                    "max_error": w.max_error,
                    "tolerance": w.tolerance,
                }
                for w in written
            ]
        )
        return
    for w in written:
        checked = " and ".join("x".join(map(str, shape)) for shape in w.shapes)
        common.out.print(
            f"wrote {w.path} ({w.graph}, {w.format} {w.precision}): max |difference| vs PyTorch "
            f"{w.max_error:.2e} on inputs {checked} (tolerance {w.tolerance:.0e})",
            highlight=False,
            soft_wrap=True,
        )
