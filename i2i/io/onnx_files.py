"""Exported networks as files: ONNX and TorchScript written, verified against PyTorch, and read back.

A `Graph` is what a model hands over for export: a module, example inputs by name, the axes that may vary
and the metadata to store. `write_graph` traces it, runs the result (ONNX Runtime, or the TorchScript
module) on the example inputs and on a second set of other sizes, compares with PyTorch and writes the file
atomically only if every output is within tolerance; the metadata (JSON under the key `i2i`) travels inside
the file. `read_metadata` and `session` serve `--weights model.onnx`. onnx and onnxruntime are the optional
extra `i2i[export]`.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from i2i.errors import I2IError, UsageError
from i2i.io.files import atomic_path, atomic_write_bytes

EXTRA = "pip install 'i2i[export]'"
FORMATS = ("onnx", "torchscript")
#: the ONNX opset written (18: Resize with antialiasing, which StarGAN v2's resizing needs)
OPSET = 18
#: metadata key holding the JSON description in both formats
META_KEY = "i2i"
#: largest |exported - PyTorch| allowed, times max(1, largest |PyTorch output|)
TOLERANCE = {"fp32": 1e-4, "fp16": 5e-2}


@dataclass
class Graph:
    """One network to export. `inputs` are example tensors by input name (in `module.forward` order) and
    `probe` a second set with other sizes along the `dynamic` axes, both used to verify; `dynamic` names the
    axes that may vary, by input or output name; `runnable` marks an image-in, image-out translation that
    `--weights file.onnx` can run; `meta` is stored in the file."""

    name: str
    module: nn.Module
    inputs: dict[str, torch.Tensor]
    probe: dict[str, torch.Tensor]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("y",)
    runnable: bool = True
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    """A file `write_graph` wrote and how close it came to PyTorch."""

    path: Path
    graph: str
    format: str
    precision: str
    max_error: float
    tolerance: float
    shapes: tuple[tuple[int, ...], ...]


def require() -> None:
    """Raise a one-line error naming the extra unless onnx and onnxruntime import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise I2IError(f"ONNX files need onnx and onnxruntime ({exc.name} is missing): {EXTRA}") from None


def write_graph(graph: Graph, path: Path, fmt: str, *, fp16: bool = False) -> Written:
    """Export `graph` to `path` as `fmt` ("onnx" or "torchscript"), fp16 weights and float inputs with
    `fp16`; verified on both input sets before the file is written. Raises `I2IError` when the network does
    not export or does not match PyTorch."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; choose from {', '.join(FORMATS)}")
    if fmt == "onnx":
        require()
    precision = "fp16" if fp16 else "fp32"
    module = graph.module.eval()
    with torch.no_grad():
        expected = [_outputs(module, tuple(s.values())) for s in (graph.inputs, graph.probe)]
    exported = copy.deepcopy(module).half() if fp16 else module
    cast = _half if fp16 else (lambda t: t)
    meta = graph.meta | {
        "graph": graph.name,
        "precision": precision,
        "format": fmt,
        "runnable": graph.runnable,
    }
    meta |= {"inputs": list(graph.inputs), "outputs": list(graph.outputs), "dynamic": _axes(graph.dynamic)}
    example = {k: cast(v) for k, v in graph.inputs.items()}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if fmt == "onnx":
                blob = _onnx_bytes(exported, example, graph, meta)
                run = _onnx_runner(blob)
            else:
                traced = torch.jit.trace(exported, tuple(example.values()), check_trace=False)
                run = _torchscript_runner(traced)
    except (RuntimeError, ValueError, TypeError) as exc:  # the exporters' errors are RuntimeErrors
        raise I2IError(f"{graph.name} does not export to {fmt}: {_first_line(exc)}") from None
    worst, tolerance = 0.0, 0.0
    for inputs, reference in zip((graph.inputs, graph.probe), expected, strict=True):
        got = run({k: cast(v) for k, v in inputs.items()})
        for name, ref, out in zip(graph.outputs, reference, got, strict=True):
            if tuple(out.shape) != tuple(ref.shape):
                raise I2IError(
                    f"{graph.name}: the exported {fmt} output {name} has shape {tuple(out.shape)}, PyTorch "
                    f"{tuple(ref.shape)} (the network does not take these sizes once exported)"
                )
            error = float((out.float() - ref.float()).abs().max()) if ref.numel() else 0.0
            limit = TOLERANCE[precision] * max(1.0, float(ref.abs().max()) if ref.numel() else 1.0)
            worst, tolerance = max(worst, error), max(tolerance, limit)
            if not error <= limit:
                raise I2IError(
                    f"{graph.name}: the exported {fmt} ({precision}) differs from PyTorch by {error:.3g} on "
                    f"output {name} (tolerance {limit:.3g}); not written"
                )
    if fmt == "onnx":
        atomic_write_bytes(path, blob)
    else:
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
            torch.jit.save(traced, str(tmp), _extra_files={f"{META_KEY}.json": json.dumps(meta)})
    shapes = tuple(tuple(t.shape) for t in (*graph.inputs.values(), *graph.probe.values()))
    return Written(Path(path), graph.name, fmt, precision, worst, tolerance, shapes)


def read_metadata(path: Path) -> dict[str, Any]:
    """The i2i metadata stored in an exported ONNX file (`I2IError` when it is not one of ours)."""
    require()
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for a damaged file
        raise I2IError(f"{path}: not a readable ONNX file ({_first_line(exc)})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in props:
        raise I2IError(f"{path}: an ONNX file without i2i metadata; export it with `i2i export`")
    return json.loads(props[META_KEY])


def session(path: Path, device: str = "cpu") -> Any:
    """An ONNX Runtime session of `path`: the CUDA provider for a CUDA `device` where onnxruntime has it."""
    require()
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime's own error types
        raise I2IError(f"{path}: ONNX Runtime cannot load it ({_first_line(exc)})") from None


def run_session(sess: Any, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Run an ONNX Runtime session on torch tensors (cast to each input's type), outputs as tensors."""
    feeds = {}
    for arg in sess.get_inputs():
        tensor = inputs[arg.name].detach().cpu().contiguous()
        if arg.type == "tensor(float16)":
            tensor = tensor.half()
        elif arg.type == "tensor(float)":
            tensor = tensor.float()
        feeds[arg.name] = tensor.numpy()
    return [torch.from_numpy(np.asarray(out)) for out in sess.run(None, feeds)]


# ------------------------------------------------------------------------------------------- helpers


def _onnx_bytes(module: nn.Module, example: dict[str, torch.Tensor], graph: Graph, meta: dict) -> bytes:
    import onnx

    _register_antialiased_resize()
    buffer = io.BytesIO()
    torch.onnx.export(
        module,
        tuple(example.values()),
        buffer,
        dynamo=False,
        input_names=list(graph.inputs),
        output_names=list(graph.outputs),
        dynamic_axes=graph.dynamic or None,
        opset_version=OPSET,
    )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "i2i"
    proto.producer_version = str(meta.get("i2i_version", ""))
    proto.doc_string = f"{meta.get('model', '')} {graph.name}, exported by i2i"
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    return proto.SerializeToString()


def _onnx_runner(blob: bytes) -> Callable[[dict[str, torch.Tensor]], list[torch.Tensor]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
    return lambda inputs: run_session(sess, inputs)


def _torchscript_runner(traced: Any) -> Callable[[dict[str, torch.Tensor]], list[torch.Tensor]]:
    def run(inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            return _outputs(traced, tuple(inputs.values()))

    return run


def _outputs(module: Any, args: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    out = module(*args)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _half(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.half() if tensor.is_floating_point() else tensor


def _axes(dynamic: dict[str, dict[int, str]]) -> dict[str, dict[str, str]]:
    return {name: {str(axis): label for axis, label in axes.items()} for name, axes in dynamic.items()}


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


_registered = False


def _register_antialiased_resize() -> None:
    """ONNX symbolic for `F.interpolate(..., mode="bilinear", antialias=True)`, which PyTorch's exporter
    lacks: opset 18's Resize with antialias and exclude_outside matches PyTorch's kernel (to ~1e-6)."""
    global _registered
    if _registered:
        return
    from torch.onnx import register_custom_op_symbolic
    from torch.onnx import symbolic_helper as sh

    def resize(g: Any, x: Any, output_size: Any, align_corners: Any, scale_factors: Any) -> Any:
        if sh._maybe_get_const(align_corners, "b"):
            raise RuntimeError("antialiased resize with align_corners=True has no ONNX equivalent")
        size = sh._maybe_get_const(output_size, "is")
        if sh._is_value(size):
            axis = g.op("Constant", value_t=torch.tensor([0]))
            parts = [g.op("Unsqueeze", g.op("Cast", v, to_i=7), axis) for v in sh._unpack_list(size)]
            size = g.op("Concat", *parts, axis_i=0)
        else:
            size = g.op("Constant", value_t=torch.tensor(size, dtype=torch.int64))
        batch_channels = g.op(
            "Slice",
            g.op("Shape", x),
            g.op("Constant", value_t=torch.tensor([0])),
            g.op("Constant", value_t=torch.tensor([2])),
        )
        sizes = g.op("Concat", batch_channels, size, axis_i=0)
        empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
        return g.op(
            "Resize",
            x,
            empty,
            empty,
            sizes,
            mode_s="linear",
            antialias_i=1,
            exclude_outside_i=1,
            coordinate_transformation_mode_s="half_pixel",
        )

    register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", resize, OPSET)
    _registered = True
