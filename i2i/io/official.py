"""Official checkpoints of the reference implementations, read safely, and the layouts they come in.

Files are loaded with `torch.load(weights_only=True)` (tensors and plain containers only), unwrapped
(`params_ema`, `state_dict`, `module.` prefixes...) and sorted into state dicts by network role, taken from
the file name: `latest_net_G.pth` and `100_net_D_A.pth` (pix2pix/CycleGAN), `200000-G.ckpt` (StarGAN). A
reference run folder gives its `latest_net_*.pth` (else its newest epoch or iteration), and the
`train_opt.txt` beside a checkpoint gives the options it was trained with.
"""

from __future__ import annotations

import os
import pickle
import re
import textwrap
import warnings
from pathlib import Path
from typing import Any

import torch

from i2i.errors import I2IError
from i2i.io.checkpoint import Checkpoint, read_safetensors
from i2i.io.files import first_line

StateDict = dict[str, torch.Tensor]

OFFICIAL_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".tar")
_ROLE = re.compile(r"(?:^|_)net_(?P<role>[A-Za-z0-9_]+)$")
# StarGAN's `200000-G.ckpt` / `200000-D.ckpt`
_ITER_FILE = re.compile(r"^(?P<iter>\d+)-(?P<role>[A-Za-z0-9_]+)$")
_OPTIMISER_STATE = (
    "holds optimiser state (state, param_groups), not network weights; use the weights file saved beside it "
    "(e.g. 100000_nets_ema.ckpt rather than 100000_optims.ckpt)"
)

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
        detail = next((line for line in lines if "nsupported" in line), first_line(exc))
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
            f"{path}: not a readable PyTorch checkpoint ({_shorten(first_line(exc))}); it may be truncated or "
            "corrupted: download or copy it again"
        ) from None


def _shorten(text: str, width: int = 160) -> str:
    """At most `width` characters, cut at a word boundary."""
    return textwrap.shorten(text, width, placeholder=" ...")


def is_state_dict(obj: Any) -> bool:
    """A non-empty dict of names to tensors."""
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
        raise I2IError(f"{path}: {_OPTIMISER_STATE}")
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


# --------------------------------------------------------------------------------------- reference layouts


def role(path: Path) -> str:
    """The network role a reference file name gives (`latest_net_G.pth` -> G, `200000-D.ckpt` -> D), or ""."""
    match = _ROLE.search(path.stem) or _ITER_FILE.match(path.stem)
    return match["role"] if match else ""


def as_roles(content: Any, path: Path) -> dict[str, StateDict]:
    """The state dicts by network role in a file's content: one state dict (its role from the file name), or
    a dict of them (StarGAN v2's `*_nets_ema.ckpt`). Anything else is an `I2IError` saying what it holds."""
    if isinstance(content, Checkpoint):
        content = unwrap(content.tensors)  # a raw state dict saved as safetensors
    if is_state_dict(content):
        return {role(path): content}
    if isinstance(content, dict) and content and all(is_state_dict(v) for v in content.values()):
        return content
    if _optimizer_state(content):
        raise I2IError(f"{path}: {_OPTIMISER_STATE}")
    raise I2IError(
        f"{path}: holds no state dict of tensors (found {type(content).__name__}); not a model checkpoint"
    )


def read_run_folder(folder: Path) -> tuple[dict[str, StateDict], dict[str, str]]:
    """A reference run folder (`checkpoints/<name>/`): the state dicts of its `latest_net_*.pth` files (else
    of the newest epoch or iteration) by role, and the options of its `train_opt.txt`."""
    files = sorted(folder.glob("latest_net_*.pth"))
    if not files:
        by_epoch: dict[int, list[Path]] = {}
        for f in folder.glob("*_net_*.pth"):
            head = f.name.split("_net_")[0]
            if head.isdigit():
                by_epoch.setdefault(int(head), []).append(f)
        for f in folder.glob("*-*.ckpt"):
            if match := _ITER_FILE.match(f.stem):
                by_epoch.setdefault(int(match["iter"]), []).append(f)
        files = sorted(by_epoch[max(by_epoch)]) if by_epoch else []
    if not files:
        raise I2IError(
            f"{folder}: no checkpoint found in this folder (looked for an i2i run's model.safetensors and the "
            "references' latest_net_G.pth, <epoch>_net_G.pth, <iter>-G.ckpt); give the file itself, e.g. "
            "--weights FOLDER/100000_nets_ema.ckpt"
        )
    states = {}
    for f in files:
        states.update(as_roles(read_any(f), f))
    return states, options_beside(files[0])


def options_beside(path: Path) -> dict[str, str]:
    """Settings from the reference's `train_opt.txt` next to a checkpoint, when there is one."""
    opt_file = path.parent / "train_opt.txt"
    if not opt_file.is_file():
        return {}
    options = {}
    for line in opt_file.read_text(errors="replace").splitlines():
        key, sep, rest = line.partition(":")
        if sep and key.strip() and not key.strip().startswith("-"):
            options[key.strip()] = rest.split("[default:")[0].strip()
    return options
