"""The graph layer-by-layer translation runs (`i2i.ops.layerwise`): a network's forward pass traced with
`torch.fx`, each operation classified (spatial, padding, normalisation, pointwise, or computed once from
what does not depend on the pixels), the rows each spatial operation's output band needs, and when each
activation is read for the last time. What this module does not know raises `Unsupported` here, before any
work: the caller tiles such a network instead.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.instancenorm import _InstanceNorm
from torch.nn.modules.padding import _ConstantPadNd, _ReflectionPadNd, _ReplicationPadNd

from i2i.ops.norm_stats import uses_input_statistics

Run = Callable[[torch.Tensor], torch.Tensor]


class Unsupported(Exception):
    """The network holds an operation layer-by-layer execution does not know (the message says which)."""


# ------------------------------------------------------------------------------------------------ trace

_POINTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Identity,
)  # fmt: skip
_SPATIAL_MODULES = (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d, nn.Upsample)
_PAD_MODULES = (_ReflectionPadNd, _ReplicationPadNd, _ConstantPadNd)
_NORMS = (_InstanceNorm, _BatchNorm)
_LEAVES = (*_POINTWISE_MODULES, *_SPATIAL_MODULES, *_PAD_MODULES, *_NORMS, _DropoutNd, _ConvNd)

_POINTWISE_FUNCTIONS = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
    torch.add, torch.sub, torch.mul, torch.div, torch.neg, torch.abs, torch.exp, torch.tanh, torch.sigmoid,
    torch.relu, torch.clamp, torch.clip, torch.maximum, torch.minimum, torch.where,
    F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish, F.hardtanh, F.hardswish,
    F.hardsigmoid, F.softplus, F.sigmoid, F.tanh,
}  # fmt: skip
_POINTWISE_METHODS = {
    "add", "sub", "mul", "div", "neg", "abs", "exp", "clamp", "clip", "tanh", "sigmoid", "relu", "float",
    "half", "bfloat16", "to", "type_as", "contiguous",
}  # fmt: skip


class _Tracer(fx.Tracer):
    """Keeps the layers this module runs itself whole, and notes how each normalisation and dropout layer
    behaves at the moment it is called (a model may switch modes around its forward pass)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        out = super().call_module(m, forward, args, kwargs)
        if isinstance(out, fx.Proxy):
            if isinstance(m, _NORMS):
                out.node.meta["input_statistics"] = uses_input_statistics(m)
            if isinstance(m, _DropoutNd):
                out.node.meta["random"] = bool(m.training and m.p > 0)
        return out


class _Root(nn.Module):
    """`run` as a module whose submodules are the networks it calls (what tracing needs)."""

    def __init__(self, run: Run, networks: list[nn.Module]) -> None:
        super().__init__()
        self.networks = nn.ModuleList(networks)
        self.run = run

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)


def trace(run: Run, networks: list[nn.Module]) -> fx.GraphModule:
    """`run`'s operations as a graph; `Unsupported` when it cannot be traced (control flow on the input,
    ...)."""
    root = _Root(run, networks)
    try:
        graph = _Tracer().trace(root)
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: tile instead
        raise Unsupported(f"the forward pass cannot be traced ({type(exc).__name__}: {exc})") from exc
    return fx.GraphModule(root, graph)


# ------------------------------------------------------------------------------------- spatial geometry


@dataclass(frozen=True)
class Geometry:
    """How a spatial operation maps rows: its output height, the input rows an output band needs, and the
    global row of the first output row of a band computed from input rows starting at `a`."""

    out_height: Callable[[int], int]
    span: Callable[[int, int, int], tuple[int, int]]
    first: Callable[[int], int]


def _pair(value: Any) -> int:
    """The row (first) entry of a per-dimension setting."""
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def _conv_like(k: int, s: int, p: int, d: int) -> Geometry:
    def span(o0: int, o1: int, height: int) -> tuple[int, int]:
        lo = o0 * s - p
        a = max(0, lo // s * s)  # a multiple of the stride: the band's outputs fall on the global grid
        return a, min(height, (o1 - 1) * s - p + d * (k - 1) + 1)

    return Geometry(lambda h: (h + 2 * p - d * (k - 1) - 1) // s + 1, span, lambda a: a // s)


def _transposed(k: int, s: int, p: int, d: int, extra: int) -> Geometry:
    def span(o0: int, o1: int, height: int) -> tuple[int, int]:
        lo = -((d * (k - 1) - o0 - p) // s)  # ceil((o0 + p - d(k-1)) / s)
        a = max(0, min(lo, o0 // s) - 1)
        return a, min(height, (o1 - 1 + p) // s + 2)

    return Geometry(lambda h: (h - 1) * s - 2 * p + d * (k - 1) + extra + 1, span, lambda a: a * s)


def _upsampled(factor: int) -> Geometry:
    def span(o0: int, o1: int, height: int) -> tuple[int, int]:
        return max(0, o0 // factor - 1), min(height, (o1 - 1) // factor + 2)

    return Geometry(lambda h: h * factor, span, lambda a: a * factor)


def _integer_scale(scale: Any, size: Any, mode: str, align_corners: Any) -> int:
    if size is not None or scale is None:
        raise Unsupported("upsampling to a fixed size")
    factor = _pair(scale) if not isinstance(scale, float) else scale
    if float(factor) != int(factor) or int(factor) < 1 or mode not in ("nearest", "bilinear", "bicubic"):
        raise Unsupported(f"upsampling by {scale} ({mode})")
    if align_corners:
        raise Unsupported("upsampling with align_corners")
    return int(factor)


def module_geometry(m: nn.Module) -> Geometry:
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str) or m.padding_mode == "circular":
            raise Unsupported(f"convolution padding {m.padding!r} / {m.padding_mode}")
        return _conv_like(_pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.dilation))
    if isinstance(m, nn.ConvTranspose2d):
        return _transposed(
            _pair(m.kernel_size),
            _pair(m.stride),
            _pair(m.padding),
            _pair(m.dilation),
            _pair(m.output_padding),
        )
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if m.ceil_mode:
            raise Unsupported("pooling with ceil_mode")
        stride = m.stride if m.stride is not None else m.kernel_size
        dilation = getattr(m, "dilation", 1)
        return _conv_like(_pair(m.kernel_size), _pair(stride), _pair(m.padding), _pair(dilation))
    if isinstance(m, nn.Upsample):
        return _upsampled(_integer_scale(m.scale_factor, m.size, m.mode, m.align_corners))
    raise Unsupported(f"layer {type(m).__name__}")


# ------------------------------------------------------------------------------------------ classification


def pad_spec(node: fx.Node, modules: dict[str, nn.Module]) -> tuple[tuple[int, int, int, int], str, float]:
    """(left, right, top, bottom), mode, value of a padding node."""
    if node.op == "call_module":
        m = modules[str(node.target)]
        pad = tuple(int(v) for v in m.padding)
        mode = "reflect" if isinstance(m, _ReflectionPadNd) else "replicate"
        value = float(getattr(m, "value", 0.0))
        if isinstance(m, _ConstantPadNd):
            mode = "constant"
    else:
        pad = tuple(node.args[1] if len(node.args) > 1 else node.kwargs["pad"])
        mode = str(node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant"))
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value", 0.0)
        value = float(value or 0.0)
    if len(pad) == 2:
        pad = (*pad, 0, 0)
    if len(pad) != 4 or mode not in ("reflect", "replicate", "constant"):
        raise Unsupported(f"padding {pad} ({mode})")
    return pad, mode, value  # type: ignore[return-value]


_META_ATTRIBUTES = {"shape", "dtype", "device", "ndim"}


def _kind(node: fx.Node, modules: dict[str, nn.Module], image: set[fx.Node]) -> str:
    """'input', 'const', 'output', 'spatial', 'pad', 'norm', 'pointwise', 'meta' (an image's shape, dtype
    or device) or 'fold' (computed from constants and such facts once, e.g. a label map expanded to the
    image's size); `Unsupported` otherwise. `image`: the nodes computed so far from the image's pixels."""
    if node.op == "placeholder":
        if node is not next(iter(node.graph.nodes)):
            raise Unsupported("more than one input")
        return "input"
    if node.op == "get_attr":
        return "const"
    if node.op == "output":
        return "output"
    if not any(n in image for n in node.all_input_nodes):
        return "fold"
    first = node.args[0] if node.args else None
    if first in image and (
        (node.op == "call_function" and node.target is getattr and node.args[1] in _META_ATTRIBUTES)
        or (node.op == "call_method" and node.target in ("size", "dim"))
    ):
        return "meta"
    if node.op == "call_module":
        m = modules[str(node.target)]
        if isinstance(m, _NORMS):
            if m.__class__.__name__.endswith(("1d", "3d")):
                raise Unsupported(f"layer {type(m).__name__}")
            return "norm"
        if isinstance(m, _DropoutNd):
            if node.meta.get("random", True):
                raise Unsupported("random dropout")
            return "pointwise"
        if isinstance(m, _PAD_MODULES):
            pad_spec(node, modules)
            return "pad"
        if isinstance(m, _POINTWISE_MODULES):
            return "pointwise"
        module_geometry(m)
        return "spatial"
    if node.op == "call_function":
        if node.target is F.pad:
            pad_spec(node, modules)
            return "pad"
        if node.target is F.interpolate:
            function_geometry(node)
            return "spatial"
        if node.target in (torch.cat, torch.concat):
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            if dim not in (1, -3):
                raise Unsupported(f"concatenation along dimension {dim}")
            return "pointwise"
        if node.target is F.dropout:
            training = node.args[2] if len(node.args) > 2 else node.kwargs.get("training", True)
            if training:
                raise Unsupported("random dropout")
            return "pointwise"
        if node.target in _POINTWISE_FUNCTIONS:
            return "pointwise"
        raise Unsupported(f"function {getattr(node.target, '__name__', node.target)}")
    if node.op == "call_method" and node.target in _POINTWISE_METHODS:
        return "pointwise"
    raise Unsupported(f"{node.op} {node.target}")


def function_geometry(node: fx.Node) -> Geometry:
    kwargs = dict(zip(("input", "size", "scale_factor", "mode", "align_corners"), node.args, strict=False))
    kwargs |= node.kwargs
    return _upsampled(
        _integer_scale(
            kwargs.get("scale_factor"),
            kwargs.get("size"),
            kwargs.get("mode", "nearest"),
            kwargs.get("align_corners"),
        )
    )


@dataclass
class Plan:
    """The graph's nodes, what each is, and after which node each is read for the last time."""

    nodes: list[fx.Node]
    kinds: dict[fx.Node, str]
    last_use: dict[fx.Node, int]

    def stored(self, node: fx.Node) -> bool:
        kind = self.kinds[node]
        return kind == "spatial" or (kind == "pointwise" and len(node.users) > 1)


def plan(graph_module: fx.GraphModule) -> Plan:
    """Classifies every node (`Unsupported` for one this module cannot run) and finds when each value is
    read for the last time: a stored or input value is read whenever a node that reads it, directly or
    through computed-as-read nodes, is evaluated."""
    modules = dict(graph_module.named_modules())
    nodes = list(graph_module.graph.nodes)
    kinds: dict[fx.Node, str] = {}
    image: set[fx.Node] = set()
    for node in nodes:
        kinds[node] = _kind(node, modules, image)
        if kinds[node] not in ("const", "fold", "meta", "output"):
            image.add(node)
    if not any(kinds[n] == "norm" and n.meta.get("input_statistics") for n in nodes):
        raise Unsupported("no layer normalises with whole-image statistics: tiles serve")
    index = {node: i for i, node in enumerate(nodes)}
    result = Plan(nodes, kinds, {})
    last_eval: dict[fx.Node, int] = {}
    for node in reversed(nodes):
        users = [last_eval[u] for u in node.users]
        if kinds[node] == "output" or result.stored(node):
            last_eval[node] = index[node]
        else:  # evaluated whenever a reader is (a norm also reads its input when it collects)
            last_eval[node] = max([index[node], *users])
        result.last_use[node] = max([index[node], *users])
    return result


# ---------------------------------------------------------------------------------------------- disk


def _probe_shapes(
    graph_module: fx.GraphModule, x: torch.Tensor, side: int
) -> dict[fx.Node, tuple[float, torch.dtype]]:
    """Each node's output bytes per input pixel and dtype, from a forward pass over a `side` x `side` probe."""
    probe = torch.zeros((1, x.shape[1], side, side), dtype=x.dtype, device=x.device)
    found: dict[fx.Node, tuple[float, torch.dtype]] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            out = super().run_node(n)
            if isinstance(out, torch.Tensor):
                found[n] = (out.numel() * out.element_size() / (side * side), out.dtype)
            return out

    try:
        Recorder(graph_module).run(probe)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise Unsupported(f"a {side}x{side} probe does not run ({exc})") from exc
    return found


def disk_needed(graph_module: fx.GraphModule, the_plan: Plan, x: torch.Tensor, side: int) -> int:
    """Peak bytes of temporary files for `x`, from a probe: the most that is stored at once."""
    per_pixel = _probe_shapes(graph_module, x, side)
    pixels = x.shape[-2] * x.shape[-1]
    live: dict[fx.Node, float] = {}
    peak = 0.0
    for index, node in enumerate(the_plan.nodes):
        if the_plan.stored(node) and node in per_pixel:
            live[node] = per_pixel[node][0] * pixels
        peak = max(peak, sum(live.values()))
        live = {n: b for n, b in live.items() if the_plan.last_use[n] > index}
    return int(peak)
