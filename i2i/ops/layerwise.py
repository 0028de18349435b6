"""Layer-by-layer translation: a network over an image of any size in bounded memory, exactly as untiled.

Tiles (`i2i.ops.tiled_translate`) bound memory by cutting the image; a network that normalises with
whole-image statistics then needs a statistics pass per normalisation layer, each re-running the network
up to that layer. Run layer by layer instead, each layer's output is complete before the next starts: a
normalisation layer's statistics are one pass over its input, and no layer runs twice.

The network's forward pass is traced (`torch.fx`) into a graph of operations (`i2i.ops.layer_graph`),
which run in bands of full-width rows, each operation over the whole image before the next:

- spatial operations (convolutions, transposed convolutions, pooling, integer upsampling) read the rows
  their band's output depends on (their receptive field: a few rows beyond the band, the image's own
  borders where it ends) and store their output one band at a time: held in memory while a share of the
  budget has room, else in an unnamed temporary file, rows x width x channels, closed (so deleted) once
  nothing reads it any more;
- padding layers remap rows (reflect, replicate, constant) as their output is read, and pointwise operations
  (activations, sums, channel concatenations, normalisation with known statistics) are applied as their
  output is read; one read by several operations is written to a file once instead;
- a normalisation layer that normalises with its input's statistics (instance norm, batch norm with
  per-image statistics) first accumulates its input's per-channel mean and variance over the whole image
  (float64, Chan et al.'s parallel update) as its input is written, then normalises as its output is read;
- what does not depend on the pixels (the image's shape, a label map expanded to its size, as StarGAN's
  generator builds) is computed once; a constant as large as the image is read by rows like an activation.

So the output equals the untiled one up to float summation order, and the memory is a band's activations,
the held ones, and the input and output images; the other intermediate activations live on disk (in
`TMPDIR`; the space needed is estimated from a probe and checked before any work). A network with an operation this does not know
(a reshape, a random dropout, an input-dependent size, ...) raises `Unsupported`, and the caller tiles it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from i2i.errors import I2IError
from i2i.ops.layer_graph import (
    Plan,
    Run,
    Unsupported,
    disk_needed,
    function_geometry,
    module_geometry,
    pad_spec,
    plan,
    trace,
)
from i2i.ops.norm_stats import Moments

#: CPU: the most one band's activations take. Larger bands are no faster (they fall out of the caches) and
#: fragment the heap: a 2000x1500 ResNet-9 (fp32, 2 threads) took 41 s at 1.3 GB peak RSS with bands of
#: 256 MB, 43 s at 2.6 GB with bands of 1 GB.
CPU_BAND_BYTES = 256 << 20


# ------------------------------------------------------------------------------------------------ values


class _Input:
    """The (padded) input image, held whole on the device."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x, self.height = x, x.shape[-2]

    def rows(self, r0: int, r1: int) -> torch.Tensor:
        return self.x[..., r0:r1, :].clone()  # a copy: in-place layers must not touch the input


class _Stored:
    """An activation written band by band and read back by rows: held whole on the device while the
    executor's holding budget has room for it, else in a temporary file, rows x width x channels (each band
    of rows one contiguous range; unnamed, so a killed process leaves nothing behind). `moments`, when
    set, accumulates its per-channel statistics as it is written (for the normalisation layer that reads
    it)."""

    def __init__(self, executor: Executor, height: int) -> None:
        self.executor, self.folder, self.height = executor, executor.folder, height
        self.device = executor.device
        self.file: io.RawIOBase | None = None  # unnamed: gone with the process, however it ends
        self.held: torch.Tensor | None = None  # 1 x H x W x C
        self.shape: tuple[int, int] | None = None  # (width, channels), from the first band written
        self.dtype = torch.float32
        self.moments: Moments | None = None

    def _row_bytes(self) -> int:
        assert self.shape is not None
        return self.shape[0] * self.shape[1] * self.dtype.itemsize

    def _open(self, band: torch.Tensor) -> None:
        self.shape, self.dtype = (band.shape[-1], band.shape[1]), band.dtype
        size = self.height * self._row_bytes()
        if self.executor.hold(size):
            self.held = torch.empty((1, self.height, *self.shape), dtype=self.dtype, device=self.device)
        else:
            self.file = tempfile.TemporaryFile(prefix="i2i-layer-", dir=self.folder, buffering=0)  # noqa: SIM115

    def write(self, r0: int, band: torch.Tensor) -> None:
        if self.shape is None:
            self._open(band)
        if self.moments is not None:
            self.moments.add(band)
        rows = band.permute(0, 2, 3, 1)
        if self.held is not None:
            self.held[:, r0 : r0 + band.shape[-2]] = rows
            return
        assert self.file is not None
        data = rows.contiguous().cpu().view(-1).view(torch.uint8).numpy()
        view, offset = memoryview(data), r0 * self._row_bytes()
        self.file.seek(offset)
        while view.nbytes:
            try:
                done = self.file.write(view)
            except OSError as exc:
                raise I2IError(
                    f"cannot write the temporary activations of layer-by-layer translation to {self.folder} "
                    f"({exc.strerror}): set TMPDIR to a folder with more room"
                ) from exc
            view = view[done or 0 :]

    def rows(self, r0: int, r1: int) -> torch.Tensor:
        assert self.shape is not None, "read before written"
        if self.held is not None:
            return self.held[:, r0:r1].permute(0, 3, 1, 2).clone()  # in-place layers change their input
        assert self.file is not None
        width, channels = self.shape
        buffer = torch.empty((r1 - r0) * self._row_bytes(), dtype=torch.uint8)
        view, offset = memoryview(buffer.numpy()), r0 * self._row_bytes()
        self.file.seek(offset)
        while view.nbytes:
            done = self.file.readinto(view)
            if not done:
                raise I2IError(f"a temporary file of layer-by-layer translation in {self.folder} ended early")
            view = view[done:]
        band = buffer.view(self.dtype).view(1, r1 - r0, width, channels).permute(0, 3, 1, 2)
        return band.to(self.device, non_blocking=True)

    def close(self) -> None:
        if self.held is not None:
            self.executor.hold(-self.held.numel() * self.held.element_size())
            self.held = None
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None


class _Lazy:
    """An activation computed from others as its rows are read (pointwise operations, padding)."""

    def __init__(self, height: int, read: Callable[[int, int], torch.Tensor]) -> None:
        self.height, self.rows = height, read


_Value = _Input | _Stored | _Lazy


def _bands(height: int, rows: int) -> Iterator[tuple[int, int]]:
    rows = max(1, rows)
    for r0 in range(0, height, rows):
        yield r0, min(height, r0 + rows)


# ------------------------------------------------------------------------------------------- execution


def _attr(module: nn.Module, dotted: str) -> Any:
    return functools.reduce(getattr, dotted.split("."), module)


def _remap_rows(value: _Value, pad: tuple[int, int, int, int], mode: str, fill: float) -> _Lazy:
    left, right, top, bottom = pad
    height = value.height

    def source(r: int) -> int | None:
        i = r - top
        if 0 <= i < height:
            return i
        if mode == "reflect":
            return -i if i < 0 else 2 * (height - 1) - i
        if mode == "replicate":
            return min(max(i, 0), height - 1)
        return None

    def read(r0: int, r1: int) -> torch.Tensor:
        wanted = [source(r) for r in range(r0, r1)]
        real = [i for i in wanted if i is not None]
        if not real:
            probe = value.rows(0, 1)
            band = torch.full((*probe.shape[:2], r1 - r0, probe.shape[-1]), fill, dtype=probe.dtype,
                              device=probe.device)  # fmt: skip
        else:
            lo = min(real)
            band = value.rows(lo, max(real) + 1)
            if wanted != list(range(lo, lo + len(wanted))):  # rows beyond the image's: remapped
                if len(real) < len(wanted):  # constant rows: one filled row appended to index
                    band = torch.cat([band, torch.full_like(band[..., :1, :], fill)], -2)
                filler = band.shape[-2] - 1
                index = torch.tensor([filler if i is None else i - lo for i in wanted], device=band.device)
                band = band.index_select(-2, index)
        if left or right:
            if mode == "constant":
                band = F.pad(band, (left, right), value=fill)
            else:
                band = F.pad(band, (left, right, 0, 0), mode=mode)
        return band

    return _Lazy(height + top + bottom, read)


def _normalised(value: _Value, module: nn.Module, mean: torch.Tensor, var: torch.Tensor) -> _Lazy:
    scale = (var.double() + float(module.eps)).rsqrt()
    shift = -mean.double() * scale
    if module.weight is not None:
        scale, shift = scale * module.weight.double().cpu(), shift * module.weight.double().cpu()
    if module.bias is not None:
        shift = shift + module.bias.double().cpu()
    cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def read(r0: int, r1: int) -> torch.Tensor:
        x = value.rows(r0, r1)
        if x.device not in cache:
            cache[x.device] = (
                scale.float().view(1, -1, 1, 1).to(x.device),
                shift.float().view(1, -1, 1, 1).to(x.device),
            )
        a, b = cache[x.device]
        return torch.addcmul(b, x.float(), a).to(x.dtype)

    return _Lazy(value.height, read)


@dataclass
class Executor:
    """Runs a planned graph over one image (see the module): `band_bytes` bound one band's activations,
    `hold_bytes` the activations held on the device instead of in files."""

    graph_module: fx.GraphModule
    plan: Plan
    band_bytes: int
    hold_bytes: int
    folder: Path
    device: torch.device

    def __post_init__(self) -> None:
        self.modules = dict(self.graph_module.named_modules())
        self.values: dict[fx.Node, Any] = {}
        self.held = 0  # bytes of activations held on the device instead of in files

    def _row_bytes(self, value: _Value) -> int:
        """Bytes of one row of `value` (from its first row, computed)."""
        row = value.rows(0, 1)
        return max(1, row.numel() * row.element_size())

    def _rows_for(self, *row_bytes: float) -> int:
        """Rows per band so that a band of these rows (with room for temporaries) fits the budget."""
        return max(1, int(self.band_bytes / (3 * sum(row_bytes))))

    def _arg(self, a: Any, r0: int, r1: int) -> Any:
        return fx.node.map_aggregate(
            a, lambda v: v.rows(r0, r1) if isinstance(v, (_Input, _Stored, _Lazy)) else v
        )

    def _call(self, node: fx.Node) -> Callable[..., Any]:
        """What `node` calls, as a function of its arguments."""
        if node.op == "call_module":
            return self.modules[str(node.target)]
        if node.op == "call_function":
            return node.target  # type: ignore[return-value]
        method = str(node.target)
        return lambda obj, *rest, **kw: getattr(obj, method)(*rest, **kw)

    def _folded(self, a: Any) -> Any:
        return fx.node.map_arg(a, lambda n: self.values[n])

    def _meta(self, node: fx.Node) -> Any:
        """The image-sized value's shape, dtype or device (from one computed row and its height)."""
        value = self.values[node.args[0]]
        row = value.rows(0, 1)
        if node.op == "call_function" and node.args[1] == "device":
            return row.device
        whole = torch.empty((*row.shape[:-2], value.height, row.shape[-1]), dtype=row.dtype, device="meta")
        return self._call(node)(whole, *self._folded(node.args[1:]), **self._folded(node.kwargs))

    def _pointwise(self, node: fx.Node) -> _Lazy:
        args, kwargs = self._folded(node.args), self._folded(node.kwargs)
        heights = set()
        fx.node.map_aggregate((args, kwargs), lambda v: heights.add(v.height) if hasattr(v, "height") else v)
        if len(heights) != 1:
            raise Unsupported(f"{node.target} combines activations of different sizes")
        height = heights.pop()

        def positional(v: Any) -> Any:
            """A constant as large as the image (a label map expanded to its size): read by rows too."""
            if isinstance(v, torch.Tensor) and v.dim() >= 2 and v.shape[-2] > 1:
                if v.shape[-2] != height:
                    raise Unsupported(f"{node.target} reads a constant {tuple(v.shape)} tensor by position")
                return _Lazy(height, lambda r0, r1: v[..., r0:r1, :])
            return v

        args, kwargs = fx.node.map_aggregate((args, kwargs), positional)
        call = self._call(node)

        def read(r0: int, r1: int) -> torch.Tensor:
            return call(*self._arg(args, r0, r1), **self._arg(kwargs, r0, r1))

        return _Lazy(height, read)

    def _spatial(self, node: fx.Node) -> _Stored:
        source = self.values[node.args[0]]
        if node.op == "call_module":
            module = self.modules[str(node.target)]
            geometry = module_geometry(module)

            def apply(band: torch.Tensor) -> torch.Tensor:
                return module(band)
        else:
            geometry = function_geometry(node)
            rest, kwargs = node.args[1:], dict(node.kwargs)

            def apply(band: torch.Tensor) -> torch.Tensor:
                return node.target(band, *rest, **kwargs)  # type: ignore[operator]

        height = geometry.out_height(source.height)
        out = self._new(node, height)
        in_bytes = self._row_bytes(source)
        rows = 8  # the first band measures the output's row size
        o0 = 0
        while o0 < height:
            o1 = min(height, o0 + rows)
            a, b = geometry.span(o0, o1, source.height)
            y = apply(source.rows(a, b))
            first = geometry.first(a)
            if o0 - first < 0 or o1 - first > y.shape[-2]:
                raise Unsupported(f"rows of {node.target} do not map as expected")
            out.write(o0, y[..., o0 - first : o1 - first, :])
            ratio = (b - a) / max(1, o1 - o0)
            rows = self._rows_for(in_bytes * ratio, y.numel() * y.element_size() / max(1, y.shape[-2]))
            o0 = o1
        return out

    def _new(self, node: fx.Node, height: int) -> _Stored:
        """The store for `node`'s output, collecting its statistics as it is written when a normalisation
        layer with input statistics reads it."""
        out = _Stored(self, height)
        if any(self.plan.kinds[u] == "norm" and u.meta.get("input_statistics") for u in node.users):
            out.moments = Moments()
        return out

    def hold(self, size: int) -> bool:
        """Takes `size` bytes of the holding budget if it has room (a negative size gives them back)."""
        if size > 0 and self.held + size > self.hold_bytes:
            return False
        self.held += size
        return True

    def _materialise(self, node: fx.Node, value: _Lazy) -> _Stored:
        out = self._new(node, value.height)
        for r0, r1 in _bands(value.height, self._rows_for(self._row_bytes(value))):
            out.write(r0, value.rows(r0, r1))
        return out

    def _norm(self, node: fx.Node) -> _Lazy:
        module = self.modules[str(node.target)]
        source = self.values[node.args[0]]
        if isinstance(source, _Stored) and source.moments is not None:
            mean, var = source.moments.result()
        elif node.meta.get("input_statistics"):
            moments = Moments()
            for r0, r1 in _bands(source.height, self._rows_for(self._row_bytes(source))):
                moments.add(source.rows(r0, r1))
            mean, var = moments.result()
        else:
            mean, var = module.running_mean.double().cpu(), module.running_var.double().cpu()
        return _normalised(source, module, mean, var)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for `x` (1 x C x H x W), as float32 on the host."""
        try:
            for index, node in enumerate(self.plan.nodes):
                kind = self.plan.kinds[node]
                if kind == "input":
                    self.values[node] = _Input(x)
                elif kind == "const":
                    self.values[node] = _attr(self.graph_module, str(node.target))
                elif kind == "fold":
                    self.values[node] = self._call(node)(
                        *self._folded(node.args), **self._folded(node.kwargs)
                    )
                elif kind == "meta":
                    self.values[node] = self._meta(node)
                elif kind == "output":
                    return self._collect(self.values[node.args[0]])
                elif kind == "spatial":
                    self.values[node] = self._spatial(node)
                elif kind == "pad":
                    pad, mode, fill = pad_spec(node, self.modules)
                    self.values[node] = _remap_rows(self.values[node.args[0]], pad, mode, fill)
                elif kind == "norm":
                    self.values[node] = self._norm(node)
                else:
                    value = self._pointwise(node)
                    self.values[node] = self._materialise(node, value) if self.plan.stored(node) else value
                self._release(index)
            raise Unsupported("the graph has no output")
        finally:
            for value in self.values.values():
                if isinstance(value, _Stored):
                    value.close()

    def _release(self, index: int) -> None:
        for node, value in list(self.values.items()):
            if isinstance(value, _Stored) and self.plan.last_use[node] <= index:
                value.close()
                self.values[node] = None

    def _collect(self, value: Any) -> torch.Tensor:
        if not isinstance(value, (_Input, _Stored, _Lazy)):
            raise Unsupported("the output is not an image")
        first = value.rows(0, 1)
        out = torch.empty((1, first.shape[1], value.height, first.shape[-1]), dtype=torch.float32)
        for r0, r1 in _bands(value.height, self._rows_for(self._row_bytes(value))):
            out[..., r0:r1, :] = value.rows(r0, r1).float().cpu()
        return out


# -------------------------------------------------------------------------------------------- memory


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_GLIBC_DEFAULT = 128 * 1024


@contextlib.contextmanager
def _reused_heap() -> Iterator[None]:
    """Large blocks from the reused heap while bands run (glibc; elsewhere nothing changes).

    Every band allocates activations of tens to hundreds of MB; glibc maps each such block fresh and the
    kernel zeroes it page by page (a 6000x4000 ResNet-9 spent a third of its CPU time in those page
    faults). With the thresholds raised, freed blocks are reused; afterwards the defaults are set back and
    the free heap is returned to the system."""
    try:
        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        yield
        return
    raised = bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    try:
        yield
    finally:
        if raised:
            mallopt(_M_MMAP_THRESHOLD, _GLIBC_DEFAULT)
            mallopt(_M_TRIM_THRESHOLD, _GLIBC_DEFAULT)
            trim(0)


def forward(
    run: Run, x: torch.Tensor, networks: list[nn.Module], *, budget: int, probe_side: int
) -> torch.Tensor:
    """`run(x)` layer by layer (see the module) for a batch `x` (each image on its own). `budget` bytes
    bound the activations in memory: half for a band's (on the CPU at most `CPU_BAND_BYTES`), the rest
    for activations held instead of written to files. `probe_side` is the side of the probe that sizes the temporary files (a
    size the network takes). `Unsupported` when the network cannot run this way (the caller tiles it);
    `I2IError` when the temporary folder has too little room."""
    graph_module = trace(run, networks)
    the_plan = plan(graph_module)
    folder = Path(tempfile.gettempdir())
    needed = disk_needed(graph_module, the_plan, x[:1], probe_side)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise I2IError(
            f"layer-by-layer translation of a {x.shape[-1]}x{x.shape[-2]} image needs about "
            f"{math.ceil(needed / 2**30)} GiB of temporary files and {folder} has {free / 2**30:.1f} GiB free: "
            "set TMPDIR to a folder with more room"
        )
    band = budget // 2 if x.device.type != "cpu" else min(budget // 2, CPU_BAND_BYTES)
    outputs = []
    for i in range(x.shape[0]):
        with _reused_heap():
            executor = Executor(graph_module, the_plan, band, budget - band, folder, x.device)
            outputs.append(executor.run(x[i : i + 1]))
    return torch.cat(outputs) if len(outputs) > 1 else outputs[0]
