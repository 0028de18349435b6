"""The catalogue of weights (and, later, datasets) known by name: data in `weights/catalogue.json`."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import I2IError, unknown_name


@functools.cache
def _catalogue() -> dict[str, Any]:
    text = resources.files("i2i.weights").joinpath("catalogue.json").read_text(encoding="utf-8")
    return json.loads(text)


def weights_entries() -> dict[str, dict[str, Any]]:
    return dict(_catalogue().get("weights", {}))


def weights_for_model(model: str) -> list[str]:
    return sorted(name for name, entry in weights_entries().items() if entry.get("model") == model)


def bundled_path(filename: str) -> Path:
    """Path of a file shipped in the `weights/` folder of the package."""
    return Path(str(resources.files("i2i.weights").joinpath(filename)))


def resolve_weights(weights: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """A path, or a catalogue name turned into a local file; with the catalogue entry when named."""
    path = Path(weights).expanduser()
    if path.exists():
        return path, None
    name = str(weights)
    entries = weights_entries()
    entry = entries.get(name)
    if entry is None:
        if any(sep in name for sep in ("/", "\\")) or path.suffix:
            raise I2IError(f"{path}: no such file")
        raise unknown_name("weights", name, entries)
    if "file" in entry:
        local = bundled_path(entry["file"])
        if not local.exists():
            raise I2IError(
                f"bundled weights '{name}' are missing from this installation ({local}); reinstall i2i"
            )
        return local, {"name": name, **entry}
    raise I2IError(f"weights '{name}' have no local file in this catalogue entry")


def default_weights(model: str) -> str:
    """The catalogue's default weights for `model` (used when `--weights` is not given)."""
    defaults = [n for n, e in weights_entries().items() if e.get("model") == model and e.get("default")]
    if defaults:
        return defaults[0]
    known = weights_for_model(model)
    hint = f" (known: {', '.join(known)})" if known else ""
    raise I2IError(f"no default weights for '{model}'; give --weights PATH or a catalogue name{hint}")
