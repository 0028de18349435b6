"""`i2i serve`: a local web page and HTTP API that translate uploaded images (`i2i.jobs.serve`)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from i2i.cli._common import Device, Precision, Settings, app, err, friendly_errors, out, overrides
from i2i.jobs.serve import MAX_PIXELS, MAX_UPLOAD_MB


@app.command()
@friendly_errors
def serve(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model of the default weights.")] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", "-w", help="Default weights: a path or catalogue name.")
    ] = None,
    weights_dir: Annotated[
        list[Path] | None,
        typer.Option("--weights-dir", help="Also offer the weight files in this folder (repeatable)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback only by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free port).")] = 7860,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Refuse larger request bodies.")
    ] = MAX_UPLOAD_MB,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Refuse larger images.")] = MAX_PIXELS,
    device: Device = "auto",
    precision: Precision = "auto",
    set_: Settings = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log every request.")] = False,
) -> None:
    """Serve a web page and an HTTP API that translate uploaded images, one at a time.

    Examples:
    - `i2i serve --weights pix2pix-facades_label2photo` then open http://127.0.0.1:7860
    - `i2i serve --weights-dir runs/ --port 8000`
    - `curl -F image=@photo.png -F weights=cyclegan-horse2zebra -o out.png http://127.0.0.1:7860/api/translate`
    """
    from i2i import registry
    from i2i.errors import UsageError
    from i2i.jobs.serve import ServeOptions, Server

    if max_upload_mb <= 0 or max_pixels < 1:
        raise UsageError("--max-upload-mb and --max-pixels must be positive")
    if model is not None and registry.entry(model).needs_consent:  # other weights of it: refused per request
        raise UsageError(
            f"{model} is not served: it runs only with a consent attestation (`i2i translate --consent`)"
        )
    options = ServeOptions(
        model=model,
        weights=weights,
        weights_dirs=tuple(weights_dir or ()),
        device=device,
        precision=precision,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels,
        settings=overrides(set_, {}),
    )
    server = Server(options, host, port, verbose=verbose)
    if not _loopback(host):
        err.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach it can run models here")
    out.print(f"i2i serve: {server.url} (Ctrl+C to stop)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped", highlight=False)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
