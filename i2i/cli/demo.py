"""`i2i demo`: bundled weights on bundled sample images, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from i2i.cli._common import Device, app, friendly_errors, out


@app.command()
@friendly_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the results.")] = Path("demo-out"),
    device: Device = "auto",
) -> None:
    """Run the offline demo: bundled weights on bundled sample images.

    Example: `i2i demo --out demo-out`
    """
    from i2i.jobs.demo import run_demo

    for line in run_demo(out_dir, device=device):
        out.print(line)
