"""`i2i convert`: any checkpoint i2i reads (official files included) into a self-describing i2i checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from i2i.cli._common import Settings, app, friendly_errors, out, overrides
from i2i.cli._flags import Declared, model_flags
from i2i.errors import UsageError


@app.command()
@friendly_errors
@model_flags("convert", conditions=False)
def convert(
    source: Annotated[
        str, typer.Argument(help="Official checkpoint (.pth), run folder, i2i checkpoint or name.")
    ],
    destination: Annotated[Path, typer.Argument(help="i2i checkpoint to write (.safetensors).")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (detected from the keys if omitted).")
    ] = None,
    set_: Settings = None,
    networks: Annotated[
        str | None, typer.Option("--networks", help="Keep only these networks, comma-separated (e.g. G).")
    ] = None,
    dtype: Annotated[
        str,
        typer.Option(
            "--dtype",
            help="Store weights as fp32, fp16 or bf16; keep: as the source stores them (fp16 ncnn files "
            "stay fp16; fp32 where the source mixes precisions).",
        ),
    ] = "keep",
    declared: Declared = None,
) -> None:
    """Turn an official checkpoint (or any i2i checkpoint) into a self-describing i2i checkpoint.

    Examples:
    - `i2i convert latest_net_G.pth facades.safetensors --set padding_type=reflect`
    - `i2i convert runs/shapes/model.safetensors shapes-G.safetensors --networks G --dtype fp16`
    - `i2i convert realesr-animevideov3-x2.param animevideo-x2.safetensors` (fp16 and x2, as the file is)
    - `i2i convert 100000_nets_ema.ckpt afhq.safetensors --domains cat,dog,wild`
    - `i2i convert workspace/model swap.safetensors` (a DeepFaceLab SAEHD model folder, read safely)
    """
    import torch

    from i2i.api import load

    if destination.suffix != ".safetensors":
        raise UsageError(f"{destination}: the output must be a .safetensors file")
    dtypes = {"keep": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if dtype not in dtypes:
        raise UsageError(f"--dtype must be one of {', '.join(dtypes)}")
    loaded = load(model, source, device="cpu", precision="fp32", **overrides(set_, declared.settings))
    keep = [n.strip() for n in networks.split(",") if n.strip()] if networks else None
    narrow = loaded.weights_dtype in (torch.float16, torch.bfloat16)
    stored = dtypes[dtype] or (loaded.weights_dtype if narrow else torch.float32)
    loaded.save(destination, networks=keep, dtype=stored)
    nets = ", ".join(keep or sorted(loaded.loaded))
    precision = {v: k for k, v in dtypes.items() if v is not None}[stored]
    out.print(f"wrote {destination}: {loaded.name} ({nets}), {precision} weights")
