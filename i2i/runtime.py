"""Devices and numeric precision: what `auto` means on this machine."""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Literal

import torch

from i2i.errors import UsageError

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
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


def uses_channels_last(device: torch.device) -> bool:
    """channels_last is the faster layout for convolutions on CPU (oneDNN) and on CUDA tensor cores."""
    return device.type in ("cpu", "cuda")


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
