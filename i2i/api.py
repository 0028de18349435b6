"""The Python API: `load()` a model from a name, an i2i checkpoint, an official checkpoint, a file only one
model reads (its `foreign_suffixes`, e.g. ncnn) or a catalogue name; `list_models()`, `interpolate()` and
`local_weights()`. The CLI is a thin layer over these. Reading files is `i2i.io`, names are `i2i.hub`."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import torch

from i2i import config as configs
from i2i import registry
from i2i.errors import I2IError, UsageError
from i2i.hub import catalogue, resolve
from i2i.io import checkpoint, official
from i2i.io.files import sha256_file
from i2i.model import Model, StateDict
from i2i.runtime import resolve_device

# `--model` of the reference's train_opt.txt -> i2i model names
_REFERENCE_MODELS = {"pix2pix": "pix2pix", "cycle_gan": "cyclegan"}
_DTYPE_NAMES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def list_models() -> list[dict[str, Any]]:
    """Every registered model: name, task, licence, description, known weights; broken plugins with
    `status: "broken"` and the reason."""
    rows = []
    for e in registry.entries():
        rows.append(
            {
                "name": e.name,
                "task": e.task,
                "license": e.license,
                "description": e.description,
                "weights": catalogue.weights_for_model(e.name),
                "weights_non_commercial": [
                    w for w in catalogue.weights_for_model(e.name) if catalogue.non_commercial(w)
                ],
                "plugin": e.target,
                "distribution": e.distribution,
                "status": "ok" if e.ok else "broken",
                "error": e.error,
            }
        )
    return rows


def load(
    model: str | None = None,
    weights: str | Path | None = None,
    *,
    device: str | torch.device = "auto",
    precision: str = "auto",
    **config_overrides: Any,
) -> Model:
    """A ready model. `weights` may be an i2i checkpoint (then `model` may be omitted), an official
    checkpoint of the reference implementation (file or run folder), a file only one model reads (e.g. an
    ncnn model: its `.param` or `.bin`, the other beside it), or a catalogue name; without
    weights a freshly initialised model is returned. `config_overrides` set config fields (strings are
    parsed by each field's type)."""
    if weights is None:
        if model is None:
            raise UsageError("give a model name or weights")
        cls = registry.model_class(model)
        instance = cls(configs.replace(cls.Config(), config_overrides), device=device, precision=precision)
        instance.init_weights()
        return instance

    path, entry = local_weights(weights)
    if path.suffix == ".onnx":  # an `i2i export` file, run by ONNX Runtime
        return _load_exported(model, path, device)
    if path.is_dir() and (path / "model.safetensors").is_file():  # an i2i run folder: its final model
        path = path / "model.safetensors"
    reader = _foreign_reader(path, model)
    if path.is_dir() and reader is None:
        found = official.read_run_folder(path)
        return _load_official(model, found, path, entry, device, precision, config_overrides)
    if reader is not None:
        states, settings = reader.read_foreign_file(path)
        # the settings only the file shows (e.g. act_type relu/leakyrelu) under the caller's overrides
        fields = configs.field_types(reader.Config)
        overrides = {k: v for k, v in settings.items() if k in fields} | config_overrides
        loaded = _load_official(model or reader.name, (states, {}), path, entry, device, precision, overrides)
        _published_as(loaded, settings.get("outscale"), _DTYPE_NAMES.get(settings.get("weights_dtype", "")))
        return loaded
    content = official.read_any(path)
    if isinstance(content, checkpoint.Checkpoint) and content.is_i2i:
        return _load_i2i(model, content, entry, device, precision, config_overrides)
    states = official.as_roles(content, path)
    return _load_official(
        model, (states, official.options_beside(path)), path, entry, device, precision, config_overrides
    )


def local_weights(weights: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """A path as is, or a catalogue name turned into a local file, with its entry: downloaded on first use
    (`i2i.hub.resolve.resolve_weights`), and for an `ncnn` entry converted on first use into an i2i
    checkpoint in the cache (again when the package's files change)."""
    path, entry = resolve.resolve_weights(weights)
    if entry is not None and "ncnn" in entry and path.suffix == ".param":
        path = _convert_ncnn(entry["name"], entry)
    return path, entry


def converted_ncnn(name: str, entry: dict[str, Any]) -> Path:
    """The i2i checkpoint of the catalogue's `ncnn` entry `name`: converted from the package's files on first
    use (atomically), reused while the sha256 of both files matches the record beside it."""
    return resolve.cached_ncnn(name, entry) or _convert_ncnn(name, entry)


def _convert_ncnn(name: str, entry: dict[str, Any]) -> Path:
    param, _ = resolve.ncnn_files(entry)
    model = load(entry["model"], param, device="cpu", precision="fp32")
    model.source = entry.get("source")
    model.weights_license = entry.get("license")
    return resolve.store_ncnn_conversion(name, entry, lambda dest: model.save(dest, networks=["G"]))


def _foreign_reader(path: Path, model: str | None) -> type[Model] | None:
    """The model class that reads `path` as one of its `foreign_suffixes` (the one named `model` first).

    A suffix also used by PyTorch files (`.bin`) counts only when the model's other foreign files lie
    beside it (ncnn's `.param` next to its `.bin`). A folder holding files of a model's suffixes is that
    model's when its `reads_foreign_folder` claims it (e.g. another tool's model folder)."""
    known = registry.model_names()
    for name in sorted(known, key=lambda name: name != model):
        suffixes = registry.entry(name).foreign_suffixes
        if path.is_dir():
            held = suffixes and any(f.suffix in suffixes for f in path.iterdir() if f.is_file())
            if held and registry.model_class(name).reads_foreign_folder(path):
                return registry.model_class(name)
            continue
        if path.suffix not in suffixes:
            continue
        ambiguous = path.suffix in (".safetensors", *official.OFFICIAL_SUFFIXES)
        if ambiguous and not any(path.with_suffix(s).is_file() for s in suffixes if s != path.suffix):
            continue
        return registry.model_class(name)
    return None


def _load_exported(model: str | None, path: Path, device: str | torch.device) -> Model:
    from i2i.models._shared.exported import ExportedModel

    if not path.is_file():
        raise I2IError(f"{path}: no such file")
    exported = ExportedModel(path, device=resolve_device(device))
    if model is not None and model != exported.name:
        raise I2IError(f"{path} is an exported {exported.name} model, not {model}")
    return exported


def _load_i2i(model, ckpt, entry, device, precision, overrides) -> Model:
    name = ckpt.model
    if model is not None and model != name:
        hint = f"; use --model {name}" if name in registry.model_names() else ""
        raise I2IError(f"{ckpt.path} is a {name} checkpoint, not {model}{hint}")
    try:
        cls = registry.model_class(name)
    except I2IError as exc:
        raise I2IError(
            f"{ckpt.path}: an i2i checkpoint of model '{name}', which is not available here ({exc})"
        ) from None
    cfg = configs.replace(configs.from_dict(cls.Config, ckpt.meta.get("config", {})), overrides)
    instance = cls(cfg, device=device, precision=precision)
    with _naming(ckpt.path):
        instance.load_networks(ckpt.network_tensors())
    instance.step = int(ckpt.meta.get("step", 0))
    instance.source = ckpt.meta.get("source")
    instance.weights_license = (entry or {}).get("license") or ckpt.meta.get("license")
    _identify(instance, ckpt.path, entry)
    _published_as(instance, ckpt.meta.get("outscale"), _stored_dtype(ckpt.network_tensors()))
    return instance


def _load_official(model, found, path, entry, device, precision, overrides) -> Model:
    states, options = found
    model = model or (entry or {}).get("model") or _REFERENCE_MODELS.get(options.get("model", ""))
    cls = registry.model_class(model) if model else _detect_model(states, path)
    with _naming(path):
        try:
            detected, networks = cls.import_official(states, options)
        except KeyError as exc:  # a layout recognised, but a tensor of it missing
            raise I2IError(f"incomplete {cls.name} checkpoint: tensor {exc} is missing") from None
    fields = configs.field_types(cls.Config)
    catalogued = {k: v for k, v in (entry or {}).get("config", {}).items() if k in fields}
    cfg = configs.replace(configs.replace(configs.replace(cls.Config(), catalogued), detected), overrides)
    instance = cls(cfg, device=device, precision=precision)
    with _naming(path):
        instance.load_networks(networks)
    instance.source = (entry or {}).get("source") or f"official checkpoint {path.name}"
    instance.weights_license = (entry or {}).get("license") or "unknown: see where the checkpoint came from"
    _identify(instance, path, entry)
    _published_as(instance, None, _stored_dtype(networks))
    return instance


@contextlib.contextmanager
def _naming(path: Path):
    """Errors about a checkpoint's content name the file they come from."""
    try:
        yield
    except I2IError as exc:
        if str(path) in str(exc):
            raise
        raise type(exc)(f"{path}: {exc}") from None


def _identify(instance: Model, path: Path, entry: dict | None) -> None:
    instance.weights_name = (entry or {}).get("name") or path.name
    if (entry or {}).get("outscale") is not None:
        instance.outscale = float(entry["outscale"])
    if path.is_file():
        instance.weights_sha256 = sha256_file(path)


def _published_as(instance: Model, outscale: Any, dtype: torch.dtype | None) -> None:
    """Record what the weights were published as: their output factor (the file's, else the catalogue
    entry's `outscale`) where it is not the network's scale, and their stored precision."""
    outscale = outscale if outscale is not None else instance.outscale
    published = outscale is not None and float(outscale) != instance.scale
    instance.outscale = float(outscale) if published else None
    instance.weights_dtype = dtype


def _stored_dtype(states: dict[str, StateDict]) -> torch.dtype | None:
    """The one floating-point dtype of all tensors in `states` (None when they mix several or have none)."""
    found = {t.dtype for state in states.values() for t in state.values() if t.is_floating_point()}
    return found.pop() if len(found) == 1 else None


def _detect_model(states: dict[str, StateDict], path: Path) -> type[Model]:
    scores = []
    for name in registry.model_names():
        try:
            cls = registry.model_class(name)
        except I2IError:
            continue
        scores.append((cls.detect(states), name, cls))
    scores.sort(key=lambda s: -s[0])
    if not scores or scores[0][0] <= 0:
        raise I2IError(f"{path}: its keys match no known model; give --model to say which model it is")
    return scores[0][2]


def interpolate(
    weights_a: str | Path,
    weights_b: str | Path,
    alpha: float,
    *,
    model: str | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    **config_overrides: Any,
) -> Model:
    """Network interpolation: a model whose every weight is (1 - alpha) * A + alpha * B (ESRGAN's
    `net_interp.py`; alpha 0 is A, 1 is B; outside 0..1 it extrapolates). A and B must be the same model
    with the same architecture; `config_overrides` apply to both (e.g. act_type)."""
    if not math.isfinite(alpha):
        raise UsageError(f"alpha must be a finite number, not {alpha}")
    a = load(model, weights_a, device=device, precision=precision, **config_overrides)
    b = load(model or a.name, weights_b, device=device, precision=precision, **config_overrides)
    if a.name != b.name:
        raise I2IError(f"cannot interpolate a {a.name} model with a {b.name} model")
    shared = sorted(a.loaded & b.loaded)
    if not shared:
        raise I2IError(
            f"{weights_a} and {weights_b} share no network ({sorted(a.loaded)} vs {sorted(b.loaded)})"
        )
    with torch.no_grad():
        for name in shared:
            merged = interpolate_networks(a.networks[name].state_dict(), b.networks[name].state_dict(), alpha)
            a.networks[name].load_state_dict(merged)
    a.loaded = set(shared)
    a.source = f"interpolation (1 - {alpha:g}) x {a.weights_name} + {alpha:g} x {b.weights_name}"
    a.weights_name = f"interp({a.weights_name}, {b.weights_name}, {alpha:g})"
    a.weights_sha256 = None
    return a


def interpolate_networks(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """Network interpolation: (1 - alpha) * a + alpha * b for every tensor (the key sets must match)."""
    if a.keys() != b.keys():
        missing = sorted(set(a) ^ set(b))[:3]
        raise I2IError(
            f"the two networks have different keys (e.g. {', '.join(missing)}); interpolate the same architecture"
        )
    out = {}
    for key, value in a.items():
        other = b[key]
        if value.shape != other.shape:
            raise I2IError(
                f"'{key}' has shape {tuple(value.shape)} in one network and {tuple(other.shape)} in the other"
            )
        out[key] = (
            ((1 - alpha) * value.double() + alpha * other.double()).to(value.dtype)
            if value.is_floating_point()
            else value
        )
    return out
