"""Checkpoints of any architecture spandrel knows: detection, the settings of the network it builds, and the
rebuild of that network from those settings alone (an i2i checkpoint loads without detection).

spandrel is an optional extra (`pip install 'i2i[sr]'`) and is imported only here, inside functions, so
`import i2i` and every other model work without it. Files never reach spandrel: i2i reads them safely
(`torch.load(weights_only=True)` or safetensors) and hands spandrel the state dict. The architectures of
`spandrel-extra-arches` (non-commercial licences) are added only on request: `I2I_SR_EXTRA_ARCHES=1`, or a
checkpoint converted from one (its config records `extra_arches`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import json
import os
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from i2i.errors import I2IError
from i2i.model import StateDict

EXTRA = "pip install 'i2i[sr]'"
EXTRA_ARCHES = "pip install 'i2i[sr-extra]'"
EXTRA_ARCHES_ENV = "I2I_SR_EXTRA_ARCHES"
EXTRA_ARCHES_LICENSE = (
    "architecture from spandrel-extra-arches: its own licence, often non-commercial (see its source)"
)
_PACKAGES = ("spandrel.", "spandrel_extra_arches.")


class MissingExtra(I2IError):
    """spandrel (or spandrel-extra-arches) is needed and not installed."""


def spandrel() -> Any:
    """The spandrel module, or a one-line `MissingExtra` naming the extra to install."""
    try:
        return importlib.import_module("spandrel")
    except ImportError:
        raise MissingExtra(f"the sr model needs spandrel, which is not installed: {EXTRA}") from None


def installed() -> bool:
    try:
        spandrel()
    except MissingExtra:
        return False
    return True


def extra_arches_requested() -> bool:
    return os.environ.get(EXTRA_ARCHES_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def install_extra_arches() -> None:
    """Add spandrel-extra-arches' architectures to spandrel's registry (idempotent)."""
    try:
        extra = importlib.import_module("spandrel_extra_arches")
    except ImportError:
        raise MissingExtra(
            f"this sr checkpoint needs spandrel-extra-arches (non-commercial architectures), which is not "
            f"installed: {EXTRA_ARCHES}"
        ) from None
    _install(extra)


@functools.cache
def _install(extra: Any) -> None:
    extra.install(ignore_duplicates=True)


def registry() -> Any:
    """spandrel's main registry, with the extra architectures when they were requested."""
    module = spandrel()
    if extra_arches_requested():
        install_extra_arches()
    return module.MAIN_REGISTRY


# ------------------------------------------------------------------------------------------- detection


def _the_state(states: dict[str, StateDict]) -> StateDict | None:
    """The generator's state dict: the only one, or the one under G."""
    if len(states) == 1:
        return next(iter(states.values()))
    return states.get("G")


def _looks_like_image_network(state: StateDict) -> bool:
    return any(isinstance(v, torch.Tensor) and v.ndim == 4 for v in state.values())


def detect(cls: type, states: dict[str, StateDict]) -> float:
    """0.5 when spandrel recognises the state dict (below every i2i model's own layouts, so ESRGAN keeps its
    RRDBNet and SRVGG files); without spandrel, 0.01 for anything with convolutions, so that a file no
    other model claims gets the one line naming the extra."""
    state = _the_state(states)
    if state is None:
        return 0.0
    if not installed():
        return 0.01 if _looks_like_image_network(state) else 0.0
    reg = registry()
    if any(support.detect(state) for support in reg.architectures("detection")):
        return 0.5
    return 0.0


def import_official(
    cls: type, states: dict[str, StateDict], options: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, StateDict]]:
    """The settings spandrel detects (architecture, hyperparameters, scale, channels, size requirements,
    precisions) and the state dict of the network it builds, as `{"G": state}`."""
    state = _the_state(states)
    if state is None:
        raise I2IError(f"an sr checkpoint holds one network; this file holds {', '.join(sorted(states))}")
    descriptor = load_descriptor(state)
    return settings_of(descriptor), {"G": descriptor.model.state_dict()}


def load_descriptor(state: StateDict) -> Any:
    """spandrel's model descriptor for `state` (detected among its architectures); single-image models
    only."""
    module = spandrel()
    # spandrel's loaders may add or rename keys in the dict they are given (SPAN's `no_norm`)
    state = dict(state)
    try:
        with quiet():
            descriptor = module.ModelLoader(device="cpu", registry=registry()).load_from_state_dict(state)
    except module.UnsupportedModelError:
        hint = ""
        if not extra_arches_requested() and _extra_detects(state):
            hint = (
                f"; it is an architecture of spandrel-extra-arches (non-commercial licence): set "
                f"{EXTRA_ARCHES_ENV}=1 to allow it"
            )
        raise I2IError(f"spandrel recognises no architecture in these weights{hint}") from None
    except (KeyError, ValueError, RuntimeError, AssertionError, IndexError) as exc:
        raise I2IError(f"spandrel could not build the network of these weights ({exc})") from None
    if not isinstance(descriptor, module.ImageModelDescriptor):
        raise I2IError(
            f"a {descriptor.architecture.name} model ({descriptor.purpose}) takes more than one image; the sr "
            "model runs single-image super-resolution and restoration networks only"
        )
    return descriptor


def _extra_detects(state: StateDict) -> bool:
    try:
        extra = importlib.import_module("spandrel_extra_arches")
    except ImportError:
        return False
    reg = spandrel().MAIN_REGISTRY.copy()
    extra.install(reg, ignore_duplicates=True)
    return any(s.detect(state) for s in reg.architectures("detection") if is_extra(s.architecture))


def is_extra(architecture: Any) -> bool:
    return type(architecture).__module__.startswith("spandrel_extra_arches")


def settings_of(descriptor: Any) -> dict[str, Any]:
    """`SRConfig` settings of a spandrel model descriptor."""
    net = descriptor.model
    req = descriptor.size_requirements
    return {
        "arch": str(descriptor.architecture.id),
        "network": f"{type(net).__module__}:{type(net).__qualname__}",
        "hyperparameters": json.dumps(_non_default(net), sort_keys=True),
        "scale": int(descriptor.scale),
        "input_nc": int(descriptor.input_channels),
        "output_nc": int(descriptor.output_channels),
        "min_size": int(req.minimum),
        "multiple_of": int(req.multiple_of),
        "square": bool(req.square),
        "supports_half": bool(descriptor.supports_half),
        "supports_bfloat16": bool(descriptor.supports_bfloat16),
        "extra_arches": is_extra(descriptor.architecture),
        "tags": tuple(str(t) for t in descriptor.tags),
        "custom_call": "ImageModelDescriptor.__init__" not in descriptor._call_fn.__qualname__,
    }


def _non_default(net: nn.Module) -> dict[str, Any]:
    """The hyperparameters spandrel recorded that differ from the class's defaults: defaults may be
    Python objects (norm layers) that JSON cannot hold and a rebuild does not need."""
    params = inspect.signature(type(net).__init__).parameters
    found = {}
    for name, value in getattr(net, "hyperparameters", {}).items():
        default = params[name].default if name in params else inspect.Parameter.empty
        if default is not inspect.Parameter.empty and _same(value, default):
            continue
        try:
            json.dumps(value)
        except TypeError:
            raise I2IError(
                f"{type(net).__name__}: hyperparameter {name}={value!r} cannot be stored in an i2i checkpoint"
            ) from None
        found[name] = value
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # e.g. tensors: compare as different
        return False


# --------------------------------------------------------------------------------------------- rebuild


def build(arch: str, network: str, hyperparameters: str, extra_arches: bool) -> nn.Module:
    """The network of architecture `arch` (spandrel's id) from its class and hyperparameters: no
    detection. `network` (`module:Class`) must lie in the package of that architecture."""
    if extra_arches:
        install_extra_arches()
    support = registry().get(arch)
    if support is None:
        hint = f" ({EXTRA_ARCHES_ENV}=1 adds spandrel-extra-arches)" if not extra_arches else ""
        raise I2IError(f"spandrel {spandrel().__version__} has no architecture '{arch}'{hint}")
    package = type(support.architecture).__module__
    module_name, _, qualname = network.partition(":")
    if not module_name.startswith(_PACKAGES) or not module_name.startswith(package):
        raise I2IError(f"network {network!r} is not a class of spandrel's architecture {arch}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        raise I2IError(
            f"spandrel {spandrel().__version__} has no network {network} (architecture {arch})"
        ) from None
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        raise I2IError(f"{network} is not a network class")
    try:
        kwargs = json.loads(hyperparameters or "{}")
    except json.JSONDecodeError as exc:
        raise I2IError(f"sr hyperparameters are not JSON ({exc})") from None
    with quiet():
        return target(**kwargs)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the deprecation notice spandrel's architectures trigger in torch (meshgrid indexing)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.meshgrid.*")
        yield
