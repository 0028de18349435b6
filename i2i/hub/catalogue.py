"""The catalogue of weights and datasets known by name: plain data, from the models' own catalogue files.

Each registered model may name a JSON file beside its module (`catalogue` of its class, read without
importing the model: `registry.entry(name).catalogue`), so a plugin ships its own entries. A file holds
`{"weights": {name: entry}, "datasets": {name: entry}}`; a weights entry's `model` defaults to the model
whose file it is, and its `file` (bundled weights) is relative to the folder of that catalogue file. A name
defined twice, in one file or across files, is an error naming them.

Dataset names: a pix2pix dataset (paired, A|B side by side, `.tar.gz`) and a CycleGAN dataset (unaligned
trainA/trainB/testA/testB, `.zip`) keep their upstream name, e.g. `facades`, `horse2zebra`. Where both
upstream scripts publish the same name, the bare name is the pix2pix (paired) one and the CycleGAN one is
`<name>-unaligned` (`facades-unaligned`, `maps-unaligned`, `cityscapes-unaligned`). A dataset entry lists
the models that train on it (`models`).

Weights names: `<model>-<upstream name>`, e.g. `cyclegan-horse2zebra`, `pix2pix-facades_label2photo`.
The ESRGAN family keeps its upstream names, kebab-cased: the ncnn models by their ncnn names
(`realesrgan-x4plus`, `realesr-animevideov3-x2`), the PyTorch files by their file stem plus `-pth`
(`RealESRGAN_x4plus.pth` -> `realesrgan-x4plus-pth`, `RRDB_ESRGAN_x4.pth` -> `rrdb-esrgan-x4-pth`), so the
two copies of the same weights never share a name.

Entries with a `file` are bundled with i2i; entries with a `url` are downloaded on first use
(`i2i.hub.download`); `manual` entries (no direct download link; `instructions` say where to get the
`filename`) are read from `$I2I_HOME/weights/<name><suffix>`. Entries with `ncnn` name a `.param`/`.bin`
pair inside an installed Python package, converted once into an i2i checkpoint in the cache. Their
`outscale`, when given, is the output factor of the upstream model (an x4 network whose output upstream
resizes by bicubic interpolation); `scale` is the network's. Turning names into local files is
`i2i.hub.resolve`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from i2i import registry
from i2i.errors import I2IError, UsageError, unknown_name

SECTIONS = ("weights", "datasets")


def _catalogue() -> dict[str, dict[str, dict[str, Any]]]:
    """Every registered model's catalogue file and the hub's own (`FEATURE_NETWORKS`), merged:
    `{"weights": {...}, "datasets": {...}}`."""
    models = tuple((e.name, e.catalogue) for e in registry.entries() if e.catalogue is not None)
    return _merged((*models, ("", FEATURE_NETWORKS)))


#: weights of no model: the feature networks of FID/KID and LPIPS (`i2i.jobs.quality`), `"model": null`
FEATURE_NETWORKS = Path(__file__).with_name("feature_networks.json")


@functools.cache
def _merged(files: tuple[tuple[str, Path], ...]) -> dict[str, dict[str, dict[str, Any]]]:
    merged: dict[str, dict[str, dict[str, Any]]] = {section: {} for section in SECTIONS}
    origin: dict[tuple[str, str], Path] = {}
    for model, path in dict.fromkeys(files):  # one module registered under two names: its file once
        data = read_catalogue_file(path)
        for section in SECTIONS:
            for name, entry in data.get(section, {}).items():
                if (section, name) in origin:
                    raise I2IError(
                        f"{section} '{name}' is defined twice in the catalogue: in {origin[section, name]} "
                        f"and in {path}"
                    )
                origin[section, name] = path
                entry = dict(entry)
                if section == "weights":
                    entry.setdefault("model", model)
                    if "file" in entry:
                        entry["file"] = str(path.parent / entry["file"])
                merged[section][name] = entry
    return merged


def read_catalogue_file(path: Path) -> dict[str, Any]:
    """One catalogue file as written; a name repeated inside a section, or an unreadable file, is an error
    naming the file."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise I2IError(f"{path}: {', '.join(repeated)} defined twice in the catalogue")
        return dict(pairs)

    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique)
    except OSError as exc:
        raise I2IError(f"{path}: cannot read this catalogue file ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise I2IError(f"{path}: not a valid catalogue file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(s, {}), dict) for s in SECTIONS):
        raise I2IError(f"{path}: a catalogue file holds {{'weights': {{...}}, 'datasets': {{...}}}}")
    return data


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
