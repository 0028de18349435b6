"""DeepFaceLab SAEHD model folders: found, read safely, converted to SAEHD's networks (and written back).

A DFL model folder (`workspace/model/`) holds `<name>_SAEHD_data.dat` (a pickle with `iter` and the
`options`: archi, resolution, dims, face_type and the training options) beside one part file per network,
`<name>_SAEHD_<part>.npy`. Despite the suffix these are pickles too: a dict from the TensorFlow variable
path inside the part (`down1/downs_0/conv1/weight:0`) to an array. Everything is read through
`i2i.io.dfl_pickle` (arrays and plain data only; a pickle that would run code is refused). Conversion:
strip `:0`, `/` -> `.`, `downs_N` -> `downs.N`; convolution kernels HWIO -> OIHW, dense kernels transposed;
biases as they are. The optimiser files (`<name>_SAEHD_src_dst_opt.npy`) and the GAN / code-discriminator
parts are not read: inference needs only the networks above.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i.errors import I2IError
from i2i.io import dfl_pickle
from i2i.io.files import atomic_write_bytes
from i2i.models.saehd.networks import PARTS

StateDict = dict[str, torch.Tensor]

DATA_SUFFIX = "_SAEHD_data.dat"
_DFL_MODEL_DATA = re.compile(r"^(?P<name>.*)_(?P<kind>[A-Za-z0-9]+)_data\.dat$")


# ----------------------------------------------------------------------------------------- finding


def _model_names(folder: Path) -> dict[str, list[str]]:
    """DFL models in `folder` by class (SAEHD, Quick96, AMP, ...): their `<name>` prefixes."""
    found: dict[str, list[str]] = {}
    for file in sorted(folder.iterdir()):
        if file.is_file() and (match := _DFL_MODEL_DATA.match(file.name)):
            found.setdefault(match["kind"], []).append(match["name"])
    return found


def is_model_folder(folder: Path) -> bool:
    """Whether `folder` holds a DFL model's `*_<Model>_data.dat` (SAEHD or another DFL model class)."""
    return folder.is_dir() and bool(_model_names(folder))


def data_file(path: Path) -> Path:
    """The `<name>_SAEHD_data.dat` that `path` (that file, or a DFL model folder holding exactly one SAEHD
    model) stands for."""
    path = Path(path)
    if path.is_file():
        if not path.name.endswith(DATA_SUFFIX):
            raise I2IError(f"{path}: not a DeepFaceLab SAEHD model file (expected <name>{DATA_SUFFIX})")
        return path
    if not path.is_dir():
        raise I2IError(f"{path}: no such file or folder")
    models = _model_names(path)
    names = models.get("SAEHD", [])
    if len(names) > 1:
        listed = ", ".join(f"{n}{DATA_SUFFIX}" for n in names)
        raise I2IError(f"{path} holds {len(names)} SAEHD models ({listed}); give the data file of one")
    if not names:
        other = ", ".join(sorted(models)) or "none"
        raise I2IError(
            f"{path}: no <name>{DATA_SUFFIX} here (DeepFaceLab models found: {other}); i2i reads SAEHD"
        )
    return path / f"{names[0]}{DATA_SUFFIX}"


# -------------------------------------------------------------------------------------- conversion


def torch_key(dfl_key: str) -> str:
    """`down1/downs_0/conv1/weight:0` -> `down1.downs.0.conv1.weight`."""
    key = re.sub(r":\d+$", "", dfl_key)
    return re.sub(r"(^|/)downs_(\d+)(?=/|$)", r"\1downs/\2", key).replace("/", ".")


def dfl_key(torch_name: str) -> str:
    """The inverse of `torch_key`."""
    return re.sub(r"(^|\.)downs\.(\d+)(?=\.|$)", r"\1downs_\2", torch_name).replace(".", "/") + ":0"


def to_state_dict(part: Any, what: str) -> StateDict:
    """A DFL part (variable path -> array) as a state dict of SAEHD's networks."""
    if not isinstance(part, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in part.items()
    ):
        raise I2IError(
            f"{what}: not a DeepFaceLab weights file (expected a dict of variable names to arrays)"
        )
    state = {}
    for key, value in part.items():
        tensor = torch.from_numpy(np.array(value, copy=True))
        if tensor.ndim == 4:  # HWIO -> OIHW
            tensor = tensor.permute(3, 2, 0, 1)
        elif tensor.ndim == 2:  # dense (in, out) -> (out, in)
            tensor = tensor.t()
        state[torch_key(key)] = tensor.contiguous()
    return state


def to_dfl_part(state: StateDict) -> dict[str, np.ndarray]:
    """A SAEHD network's state dict in DFL's part layout (the inverse of `to_state_dict`)."""
    part = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        if tensor.ndim == 4:
            tensor = tensor.permute(2, 3, 1, 0)
        elif tensor.ndim == 2:
            tensor = tensor.t()
        part[dfl_key(name)] = np.ascontiguousarray(tensor.numpy())
    return part


# --------------------------------------------------------------------------------- reading, writing


def read_model(path: Path) -> tuple[dict[str, StateDict], dict[str, Any], Path]:
    """A DFL SAEHD model (its folder or data file): state dicts by part name, the `options` of its
    data file (DFL's names and values, unfiltered) with `iter`, and the data file read."""
    data_path = data_file(path)
    data = dfl_pickle.load(data_path)
    options = data.get("options") if isinstance(data, dict) else None
    if not isinstance(options, dict) or "archi" not in options:
        raise I2IError(f"{data_path}: not a DeepFaceLab SAEHD data file (no options with an archi)")
    kind = str(options["archi"]).partition("-")[0]
    if kind not in PARTS:
        raise I2IError(f"{data_path}: archi {options['archi']!r} is not df or liae")
    prefix = data_path.name[: -len("data.dat")]
    states = {}
    for part in PARTS[kind]:
        file = data_path.with_name(f"{prefix}{part}.npy")
        if not file.is_file():
            raise I2IError(f"{data_path}: its part file {file.name} is missing")
        states[part] = to_state_dict(dfl_pickle.load(file), str(file))
    return states, dict(options) | {"iter": data.get("iter", 0)}, data_path


def write_model(folder: Path, name: str, states: dict[str, StateDict], options: dict[str, Any]) -> Path:
    """Write a DFL-format SAEHD model folder (`<name>_SAEHD_data.dat` and its part files); returns the data
    file. Used to hand an i2i-trained model to DFL tools, and by the tests (DFL's own layout)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for part, state in states.items():
        blob = pickle.dumps(to_dfl_part(state), protocol=4)
        atomic_write_bytes(folder / f"{name}_SAEHD_{part}.npy", blob)
    data = {"iter": int(options.get("iter", 0)), "options": {k: v for k, v in options.items() if k != "iter"}}
    data.update(loss_history=[], sample_for_preview=None, choosed_gpu_indexes=None)
    target = folder / f"{name}{DATA_SUFFIX}"
    atomic_write_bytes(target, pickle.dumps(data, protocol=4))
    return target


# --------------------------------------------------------------------------- settings from shapes


def detect(states: dict[str, StateDict]) -> float:
    """How sure the state dicts are a SAEHD model's: all parts of df or liae, with their key layout."""
    for parts in PARTS.values():
        if (
            set(parts) <= set(states)
            and "dense1.weight" in states[parts[1]]
            and "out_convm.weight" in states[parts[-1]]
        ):
            return 0.95
    return 0.0


def settings_from_shapes(states: dict[str, StateDict]) -> dict[str, Any]:
    """The dims (and resolution) the tensors show; `archi`'s u and c leave no trace in shapes, so the
    archi string is not read from here."""
    kind = "df" if "inter" in states else "liae"
    encoder, inter = states["encoder"], states["inter" if kind == "df" else "inter_AB"]
    decoder = states["decoder_src" if kind == "df" else "decoder"]
    first = encoder.get("down1.conv1.weight", encoder.get("down1.downs.0.conv1.weight"))
    if first is None or "dense1.weight" not in inter or "upscale0.conv1.weight" not in decoder:
        raise I2IError("not a SAEHD model: its encoder, inter or decoder layout is not DeepFaceLab's")
    ae_dims = int(inter["dense1.weight"].shape[0])
    out_ch = ae_dims * (1 if kind == "df" else 2)
    lowest = round((int(inter["dense2.weight"].shape[0]) / out_ch) ** 0.5)
    double = "out_conv1.weight" in decoder
    return {
        "e_dims": int(first.shape[0]),
        "ae_dims": ae_dims,
        "d_dims": int(decoder["upscale0.conv1.weight"].shape[0]) // 32,
        "d_mask_dims": int(decoder["upscalem0.conv1.weight"].shape[0]) // 32,
        "resolution": lowest * (32 if double else 16),
    }


def import_official(
    states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """Converted SAEHD state dicts by part name -> (the settings their shapes show, the state dicts)."""
    kind = "df" if "inter" in states else "liae"
    missing = [p for p in PARTS[kind] if p not in states]
    if missing:
        raise I2IError(f"not a complete SAEHD {kind} model: part {', '.join(missing)} is missing")
    return settings_from_shapes(states), {p: states[p] for p in PARTS[kind]}
