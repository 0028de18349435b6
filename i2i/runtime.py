"""Devices and numeric precision: what `auto` means on this machine."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable
from typing import Literal

import torch

from i2i.errors import UsageError

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COMPILE_MODES = ("auto", "on", "off")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` picks cuda, then mps, then cpu; `cpu`, `cuda`, `cuda:N`, `mps` are checked for availability."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device '{device}'; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device '{device}' requested but CUDA is not available here; use --device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UsageError(
                f"device '{device}' does not exist: {torch.cuda.device_count()} CUDA device(s) found"
            )
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise UsageError(f"device '{device}' requested but MPS is not available here")
    return resolved


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True where oneDNN runs bf16 convolutions natively (AVX512-BF16 or AMX)."""
    if os.environ.get("I2I_CPU_BF16", "").lower() in {"0", "false", "no"}:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str = "auto", device: torch.device | None = None) -> Precision:
    """`auto` is the fast path of the device: bf16 on CUDA with bf16 (else fp16), bf16 on CPUs with
    native bf16, fp32 elsewhere."""
    name = (precision or "auto").strip().lower()
    if name not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}")
    device = device or torch.device("cpu")
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu":
            return "bf16" if cpu_has_fast_bf16() else "fp32"
        return "fp32"
    if name == "fp16" and device.type == "cpu":
        raise UsageError("fp16 is not supported on CPU (no fast kernels); use bf16 or fp32")
    return name  # type: ignore[return-value]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for bf16/fp16; a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def float32_between_convolutions(
    net: torch.nn.Module, *, float32_last: int = 1, float32_first: int = 0
) -> None:
    """Under bf16/fp16 autocast, keep all but the convolutions of `net` in float32 (in place; inference).

    Each convolution still runs in the low precision (autocast casts its input and weights) but hands
    float32 on, so the residual sums, concatenations and activations between convolutions keep float32's
    precision instead of rounding to 8 mantissa bits at every step (what makes deep residual networks
    such as RRDBNet drift); the last `float32_last` convolutions (in registration order: those that
    make the pixels) run wholly in float32, and so do the first `float32_first` (those that read them).
    Parameters and state-dict keys are unchanged; calling it again does nothing."""
    if getattr(net, "_i2i_float32_between", False):
        return
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    first, last = min(float32_first, len(convs)), max(0, len(convs) - float32_last)
    for conv in convs[first:last]:
        conv.register_forward_hook(_float32_output)
    for conv in convs[:first] + convs[max(first, last) :]:
        conv.forward = functools.partial(_in_float32, conv.forward)
    net._i2i_float32_between = True


def _float32_output(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    return output.float()


def _in_float32(forward, x: torch.Tensor) -> torch.Tensor:
    with torch.autocast(device_type=x.device.type, enabled=False):
        return forward(x.float())


def uses_channels_last(device: torch.device, networks: Iterable[torch.nn.Module] = ()) -> bool:
    """Whether inference runs channels_last: on CPU always (oneDNN's layout); on CUDA for networks
    without instance norm (cuDNN's tensor-core layout), since CUDA's instance norm converts channels_last
    back to NCHW on every call."""
    if device.type == "cpu":
        return True
    if device.type != "cuda":
        return False
    return not any(isinstance(m, torch.nn.InstanceNorm2d) for net in networks for m in net.modules())


def configure_backends(device: torch.device, *, deterministic: bool = False) -> None:
    """Process-wide settings for a run on `device`: cuDNN autotuning on CUDA (each convolution shape is
    timed once, then its fastest kernel runs), or with `deterministic` the reproducible choice: PyTorch's
    deterministic algorithms, no autotuning, no TF32."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def can_compile(device: torch.device) -> str | None:
    """Why `torch.compile` cannot be used on `device` (None where it can): it needs Triton on CUDA."""
    if device.type != "cuda":
        return f"compilation is used on CUDA only, not on {device.type}"
    try:
        import triton  # noqa: F401
    except ImportError:
        return "compilation needs Triton, which is not installed"
    return None


def compile_networks(networks: Iterable[torch.nn.Module], device: torch.device, mode: str) -> str | None:
    """Compile `networks` in place (`nn.Module.compile`: parameters and state-dict keys unchanged) when
    `mode` is `on`, or `auto` on a device that supports it; returns what was done, for the log."""
    if mode not in COMPILE_MODES:
        raise UsageError(f"unknown --compile '{mode}'; use one of {', '.join(COMPILE_MODES)}")
    if mode == "off":
        return None
    why_not = can_compile(device)
    if why_not is not None:
        if mode == "on":
            raise UsageError(f"--compile on: {why_not}; use --compile auto or off")
        return None
    for net in networks:
        net.compile()
    return "networks compiled with torch.compile (the first steps are slower while it compiles)"


def environment_report() -> dict[str, object]:
    """Versions, devices and what `auto` resolves to: what `i2i env` prints."""
    import importlib.metadata as md
    import platform
    import sys

    from i2i._version import __version__

    def version(dist: str) -> str:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return "not installed"

    report: dict[str, object] = {
        "i2i": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **{
            name: version(name)
            for name in (
                "torch",
                "torchvision",
                "numpy",
                "pillow",
                "safetensors",
                "typer",
                "rich",
                "tifffile",
            )
        },
        "cpu": {
            "threads": torch.get_num_threads(),
            "capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": cpu_has_fast_bf16(),
            "precisions": ["fp32", "bf16"],
            "auto_precision": resolve_precision("auto", torch.device("cpu")),
        },
        "cuda": [
            {
                "index": i,
                "name": torch.cuda.get_device_name(i),
                "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
                "auto_precision": resolve_precision("auto", torch.device("cuda", i)),
            }
            for i in range(torch.cuda.device_count())
        ]
        if torch.cuda.is_available()
        else [],
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "auto_device": str(resolve_device("auto")),
        "I2I_HOME": os.environ.get("I2I_HOME", "~/.cache/i2i"),
    }
    return report
