"""The i2i checkpoint format: `.safetensors` files that describe themselves.

An i2i checkpoint stores every network's tensors as `<network>.<key>` and, in the safetensors metadata
header, the model name, the resolved config, the i2i version, the training step, the licence and the
source. Training checkpoints add their optimiser, scheduler, scaler and RNG state under `__train__.*` (plus
a JSON skeleton in the header), so nothing is ever pickled. Official files of the reference
implementations are read by `i2i.io.official`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from i2i.errors import I2IError
from i2i.io.files import atomic_path, first_line, write_error

FORMAT = "i2i.checkpoint/1"
TRAIN_PREFIX = "__train__."


# ------------------------------------------------------------------------------- JSON + tensor packing


def pack(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Split a nested structure into JSON and tensors (stored as `prefix.N`); the inverse is `unpack`."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": [[k, pack(v, tensors, prefix)] for k, v in obj.items()]}
        return {"__dict__": [[pack(k, tensors, prefix), pack(v, tensors, prefix)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [pack(v, tensors, prefix) for v in obj]}
    if isinstance(obj, list):
        return [pack(v, tensors, prefix) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The structure `pack` split, with its tensors put back."""
    if isinstance(obj, list):
        return [unpack(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        if "__tuple__" in obj:
            return tuple(unpack(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {_hashable(unpack(k, tensors)): unpack(v, tensors) for k, v in obj["__dict__"]}
    return obj


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


# ---------------------------------------------------------------------------------- i2i checkpoint files


@dataclass
class Checkpoint:
    """The content of one weights file, whatever its format."""

    path: Path
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_i2i(self) -> bool:
        """Written by i2i (its format tag in the header), not a plain safetensors or official file."""
        return self.meta.get("format") == FORMAT

    @property
    def model(self) -> str | None:
        """The name of the model the checkpoint belongs to (i2i checkpoints only)."""
        return self.meta.get("model")

    def network_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """`{"G": {...}, "D": {...}}` from the `<network>.<key>` layout."""
        nets: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in self.tensors.items():
            if key.startswith(TRAIN_PREFIX):
                continue
            net, _, rest = key.partition(".")
            nets.setdefault(net, {})[rest] = value
        return nets

    def training_state(self) -> dict[str, Any] | None:
        """The optimiser, scheduler, scaler and RNG state of a training checkpoint; None in a final model."""
        skeleton = self.meta.get("training_state")
        if skeleton is None:
            return None
        return unpack(skeleton, {k: v for k, v in self.tensors.items() if k.startswith(TRAIN_PREFIX)})


def write_checkpoint(
    path: str | os.PathLike,
    networks: dict[str, dict[str, torch.Tensor]],
    meta: dict[str, Any],
    training_state: Any = None,
) -> Path:
    """Write networks (+ optional training state) and a JSON-valued metadata header, atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for net, state in networks.items():
        for key, value in state.items():
            tensors[f"{net}.{key}"] = value.detach().cpu().contiguous()
    header = {"format": FORMAT, **meta}
    if training_state is not None:
        header["training_state"] = pack(training_state, tensors, TRAIN_PREFIX)
    text_meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in header.items()}
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            save_file(_dedupe_shared(tensors), str(tmp), metadata=text_meta)
    except (OSError, SafetensorError) as exc:  # a full disk, a read-only folder: one line naming the file
        raise write_error(path, exc, "the checkpoint") from None
    return path


def _dedupe_shared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory; store independent copies instead."""
    seen: set[int] = set()
    out = {}
    for key, value in tensors.items():
        ptr = value.untyped_storage().data_ptr() if value.numel() else -1
        if ptr in seen and ptr != 0:
            value = value.clone()
        seen.add(ptr)
        out[key] = value
    return out


# Header values are strings; these keys hold JSON (the others are free text, kept as written).
_JSON_META = {"config", "networks", "step", "training_state"}


def _decode_meta(raw: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        try:
            meta[key] = json.loads(value) if key in _JSON_META else value
        except (TypeError, ValueError):
            meta[key] = value
    return meta


def read_safetensors(path: Path) -> Checkpoint:
    """A safetensors file with its decoded metadata header; a damaged file is one `I2IError` line."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = fh.metadata()
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise I2IError(
            f"{path}: not a readable safetensors file ({first_line(exc)}); it may be truncated or corrupted: "
            "download or copy it again"
        ) from None
    return Checkpoint(path, tensors, _decode_meta(raw_meta))
