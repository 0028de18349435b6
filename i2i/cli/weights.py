"""`i2i weights ...`: weights known by name (list, pull) and network interpolation of two weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from i2i.cli._common import JsonFlag, friendly_errors, group, out, show_listing
from i2i.errors import UsageError, unknown_name

weights_app = group("weights", "Weights known by name: bundled and downloadable.")


@weights_app.command("list")
@friendly_errors
def weights_list(
    as_json: JsonFlag = False,
) -> None:
    """List the weights known by name: model, licence, source, and whether bundled or downloaded.

    Example: `i2i weights list --json`
    """
    from i2i.hub.resolve import list_weights

    def cells(row: dict) -> list[str]:
        name = escape(row["name"]) + ("[yellow]*[/]" if row["non_commercial"] else "")
        model = row["model"] or f"({row['task']})"  # the feature networks of `i2i eval --metrics`: no model
        return [name, model, row["status"], escape(row["license"]), escape(row["source"])]

    show_listing(
        list_weights(),
        as_json,
        "i2i weights",
        ("name", "model", "status", "licence", "source"),
        cells,
        caption="* non-commercial: licence or training data; --json for every field",
        drop=("source", "licence", "model"),
    )


@weights_app.command("pull")
@friendly_errors
def weights_pull(
    name: Annotated[str, typer.Argument(help="Catalogue weights name (`i2i weights list`).")],
) -> None:
    """Download weights into the cache ($I2I_HOME) and print the file's path.

    Example: `i2i weights pull cyclegan-horse2zebra`
    """
    from i2i.api import local_weights
    from i2i.hub.catalogue import weights_entries

    if name not in weights_entries():
        raise unknown_name("weights", name, weights_entries())
    path, _ = local_weights(name)
    out.print(str(path), highlight=False, soft_wrap=True)


@weights_app.command("interp")
@friendly_errors
def weights_interp(
    weights_a: Annotated[str, typer.Argument(help="Weights A (alpha 0): a path or catalogue name.")],
    weights_b: Annotated[str, typer.Argument(help="Weights B (alpha 1).")],
    destination: Annotated[Path, typer.Argument(help="i2i checkpoint to write (.safetensors).")],
    alpha: Annotated[float, typer.Option("--alpha", help="(1 - alpha) x A + alpha x B.")] = 0.8,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
) -> None:
    """Network interpolation of two weights of the same architecture (ESRGAN's net_interp.py).

    Example: `i2i weights interp RRDB_PSNR_x4.pth RRDB_ESRGAN_x4.pth interp_08.safetensors --alpha 0.8`
    """
    from i2i.api import interpolate

    if destination.suffix != ".safetensors":
        raise UsageError(f"{destination}: the output must be a .safetensors file")
    merged = interpolate(weights_a, weights_b, alpha, model=model)
    merged.save(destination)
    out.print(f"wrote {destination}: {merged.weights_name}", highlight=False)
