"""Checkpoints: i2i `.safetensors` files that describe themselves, official `.pth` import, atomic writes.

An i2i checkpoint stores every network's tensors as `<network>.<key>` and, in the safetensors metadata
header, the model name, the resolved config, the i2i version, the training step, the licence and the
source. Training checkpoints add their optimiser, scheduler, scaler and RNG state under `__train__.*` (plus
a JSON skeleton in the header), so nothing is ever pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from i2i.errors import I2IError

FORMAT = "i2i.checkpoint/1"
TRAIN_PREFIX = "__train__."
OFFICIAL_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".tar")


# ----------------------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; it replaces `path` only if the block succeeds.

    Readers therefore see the old file or the complete new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the mode a plain open() would (or the old file's)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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
        return self.meta.get("format") == FORMAT

    @property
    def model(self) -> str | None:
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
    with atomic_path(path) as tmp:
        save_file(_dedupe_shared(tensors), str(tmp), metadata=text_meta)
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
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            raw_meta = fh.metadata()
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise I2IError(
            f"{path}: not a readable safetensors file ({_first_line(exc)}); it may be truncated or corrupted: "
            "download or copy it again"
        ) from None
    return Checkpoint(path, tensors, _decode_meta(raw_meta))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------- official checkpoints

_WRAPPER_KEYS = (
    "params_ema",
    "params",
    "state_dict",
    "model_state_dict",
    "model",
    "net",
    "generator_state_dict",
)


def load_official(path: Path) -> Any:
    """Load a `.pth`-style file with `torch.load(weights_only=True)`: tensors and plain containers only."""
    if path.stat().st_size == 0:
        raise I2IError(f"{path}: the file is empty (0 bytes); download or copy it again")
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 4": noise next to the one-line error that follows
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's first line is about its weights_only default; the line naming what was refused matters
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "nsupported" in line), _first_line(exc))
        detail = detail.removeprefix("Weights only load failed. ")
        with open(path, "rb") as fh:
            pickled = fh.read(1) == b"\x80"  # a pickle's PROTO opcode (raw pickles, legacy torch.save)
        if "nsupported operand" in detail and not pickled:
            # bytes that are no pickle instruction at all: damage, not a dangerous object
            raise I2IError(
                f"{path}: not a readable PyTorch checkpoint ({_shorten(detail)}); it may be truncated or "
                "corrupted, or not a checkpoint at all: download or copy it again"
            ) from None
        raise I2IError(
            f"{path}: refused to load: it holds Python objects other than tensors, which could run code "
            f"when unpickled ({_shorten(detail)}); only plain state dicts are accepted"
        ) from None
    except Exception as exc:  # whatever a damaged or foreign file makes the unpickler raise
        raise I2IError(
            f"{path}: not a readable PyTorch checkpoint ({_shorten(_first_line(exc))}); it may be truncated or "
            "corrupted: download or copy it again"
        ) from None


def _shorten(text: str, width: int = 160) -> str:
    """At most `width` characters, cut at a word boundary."""
    return textwrap.shorten(text, width, placeholder=" ...")


def is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def unwrap(obj: Any) -> Any:
    """Strip the usual wrappers: `params_ema` (preferred) / `params` / `state_dict`..., `module.` and
    `_orig_mod.` prefixes (DataParallel/DDP, torch.compile). Dicts of state dicts are unwrapped per entry."""
    if isinstance(obj, dict) and not is_state_dict(obj):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], dict) and obj[key]:
                return unwrap(obj[key])
        nested = {k: unwrap(v) for k, v in obj.items() if isinstance(v, dict)}
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and not nested:
            return _strip_prefixes(tensors)
        return nested
    if is_state_dict(obj):
        return _strip_prefixes(obj)
    return obj


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # DataParallel/DDP, torch.compile, and trainers that save the generator under its attribute name
    for prefix in ("module.", "_orig_mod.", "module._orig_mod.", "_orig_mod.module.", "netG."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def read_any(path: str | os.PathLike) -> Checkpoint | Any:
    """An i2i/safetensors `Checkpoint`, or the unwrapped content of an official file."""
    path = Path(path)
    if not path.exists():
        raise I2IError(f"{path}: no such file")
    if path.is_dir():
        raise I2IError(f"{path}: is a folder; give a weights file")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if path.suffix == ".safetensors" or _looks_like_safetensors(head):
        return read_safetensors(path)
    content = load_official(path)
    if _optimizer_state(content):
        raise I2IError(
            f"{path}: holds optimiser state (state, param_groups), not network weights; use the weights file "
            "saved beside it (e.g. 100000_nets_ema.ckpt rather than 100000_optims.ckpt)"
        )
    return unwrap(content)


def _optimizer_state(content: Any) -> bool:
    """An optimiser's `state_dict()`, or a dict of them (StarGAN v2's `*_optims.ckpt`)."""
    if not isinstance(content, dict):
        return False
    return {"state", "param_groups"} <= set(content) or any(
        isinstance(v, dict) and {"state", "param_groups"} <= set(v) for v in content.values()
    )


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) > 9 and head[8:9] == b"{"
