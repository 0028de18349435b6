"""The `i2i` command line: a thin layer over the Python API.

One module per command (or group of sub-commands), each registering itself on the app of `_common` when
imported; model-specific flags are built from the options the registered models declare (`_flags`).
"""

from __future__ import annotations

import importlib
import sys

from i2i.cli._common import app

__all__ = ["app", "main"]

#: the command modules, in the order `i2i --help` lists their commands
COMMANDS = (
    "models",
    "train",
    "translate",
    "upscale",
    "convert",
    "export",
    "env",
    "demo",
    "data",
    "weights",
    "evaluate",
    "mask",
    "faces",
    "serve",
)

for _module in COMMANDS:
    importlib.import_module(f"i2i.cli.{_module}")


def main() -> None:
    app(prog_name="i2i")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
