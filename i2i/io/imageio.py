"""Reading and writing images: one float representation for every command, atomic writes, provenance.

Every reader returns an `ImageData`: colour pixels as float32 in [0, 1] (H x W x 1 or 3), straight alpha
kept apart, and the bit depth of the source so that 16-bit inputs can be written back as 16-bit.

Decoders: Pillow for everything it reads losslessly; torchvision (libpng) for 16-bit PNG and tifffile for
16-bit TIFF with more than one sample, because Pillow reduces those to 8 bits. 16-bit colour PNG is
written by a small encoder here, because Pillow cannot write it either.

Format limits, by design:
- JPEG and BMP have no alpha: it is dropped (the colour is written as is, not composited).
- WebP has no greyscale: Pillow stores a grey image as RGB, so it reads back with three channels.
- JPEG, WebP and BMP are 8-bit only: 16-bit images are written to them as 8-bit.
- BMP cannot carry metadata, so no provenance is written to it.
- Only the first frame of a multi-frame file (TIFF pages, animated WebP) is read.
- The pixel limit guards decoding files; arrays and Pillow images passed in are already in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from i2i.errors import I2IError, unknown_name
from i2i.io.checkpoint import atomic_path

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
FORMATS: tuple[str, ...] = ("png", "jpeg", "webp", "tiff", "bmp")
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "I2I_MAX_PIXELS"

_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
_SUFFIX_OF_FORMAT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp"}
_PIL_OPENERS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP")
# MPO is what Pillow's JPEG opener calls a JPEG holding several pictures (common from phone cameras).
_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "TIFF": "tiff", "BMP": "bmp"}
_FORMAT_NAMES = "PNG, JPEG, WebP, TIFF or BMP"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ORIENTATION = 0x0112
_IMAGE_DESCRIPTION = 0x010E
_SOFTWARE = 0x0131
_PROVENANCE_KEY = "i2i"
_DEEP_FORMATS = ("png", "tiff")  # the formats that keep 16 bits
_FORMAT_LABELS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "tiff": "TIFF", "bmp": "BMP"}
_PNG_BAND_ROWS = 256
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)
_PIL_LIMIT_LOCK = threading.Lock()

# EXIF orientation -> the numpy operation that shows the picture upright (as `ImageOps.exif_transpose`).
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class ImageData:
    """A decoded image: float colour pixels, optional alpha, and where it came from."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    source: Path | None = None
    format: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order Pillow uses."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def is_grey(self) -> bool:
        """True for one colour channel."""
        return self.pixels.shape[2] == 1


# ------------------------------------------------------------------------------------- formats, paths


def normalise_format(name: str) -> str:
    """The canonical format name ("jpg" -> "jpeg", "TIF" -> "tiff"); unknown names are a usage error."""
    key = name.lower().lstrip(".")
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise unknown_name("image format", name, FORMATS)
    return key


def format_from_suffix(path: str | os.PathLike) -> str:
    """The format a file name asks for, from its suffix."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise I2IError(
            f"{path}: cannot tell the image format from the suffix '{path.suffix}'; "
            f"use one of {', '.join(IMAGE_SUFFIXES)} or give the format explicitly"
        )
    return normalise_format(path.suffix)


def find_images(
    inputs: Sequence[str | os.PathLike], *, output: str | os.PathLike | None = None
) -> list[tuple[Path, Path]]:
    """(file, relative path) for every image in the given files and folders.

    Folders are scanned recursively in sorted order, skipping hidden files and folders, files without
    an image suffix and the `output` folder when it lies inside an input folder (so a second run does not
    take the first one's results as inputs); the relative path mirrors the sub-folders. A file given by
    name must be an image.
    """
    found: list[tuple[Path, Path]] = []
    skip = Path(output).resolve() if output is not None else None
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(_scan_folder(path, skip if skip != path.resolve() else None))
        elif not path.exists():
            raise I2IError(f"{path}: no such file or folder")
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            raise I2IError(f"{path}: not an image file name; expected one of {', '.join(IMAGE_SUFFIXES)}")
        else:
            found.append((path, Path(path.name)))
    return found


def _scan_folder(folder: Path, skip: Path | None = None) -> list[tuple[Path, Path]]:
    hits = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [
            name
            for name in dirs
            if not name.startswith(".") and (skip is None or Path(root, name).resolve() != skip)
        ]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                file = Path(root, name)
                hits.append((file, file.relative_to(folder)))
    return sorted(hits, key=lambda hit: hit[1].parts)


def output_path(out_dir: Path, relative: Path, format: str | None) -> Path:
    """Where the output for `relative` goes under `out_dir`: same path, suffix replaced if `format` is given."""
    if format is not None:
        relative = relative.with_suffix(_SUFFIX_OF_FORMAT[normalise_format(format)])
    return Path(out_dir) / relative


# ----------------------------------------------------------------------------------- pixel conversions


def quantize(x: np.ndarray, bits: int, rounding: str = "round") -> np.ndarray:
    """[0, 1] floats to uint8 (bits=8) or uint16 (bits=16), clipped first; NaN becomes 0.

    "round" rounds to the nearest level; "truncate" floors x * maxval like upstream CycleGAN's tensor2im.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits}")
    if rounding not in ("round", "truncate"):
        raise ValueError(f"rounding must be 'round' or 'truncate', not {rounding!r}")
    scaled = np.clip(x, 0.0, 1.0).astype(np.float32, copy=False)
    np.nan_to_num(scaled, copy=False)
    scaled *= (1 << bits) - 1
    (np.rint if rounding == "round" else np.floor)(scaled, out=scaled)
    return scaled.astype(np.uint8 if bits == 8 else np.uint16)


def luma(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 colour to H x W x 1 grey with the ITU-R 601 weights of Pillow's convert("L")."""
    return np.clip(rgb[..., :3] @ _LUMA, 0.0, 1.0)[..., None]


def resize_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H x W alpha plane to (width, height) with bicubic filtering, clipped to [0, 1]."""
    plane = Image.fromarray(np.ascontiguousarray(alpha, dtype=np.float32))
    resized = np.asarray(plane.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    return np.clip(resized, 0.0, 1.0)


def to_array(image: ImageData) -> np.ndarray:
    """uint8 or uint16 (by bit depth) H x W x C with alpha as the last channel; grey without alpha is H x W."""
    array = quantize(image.pixels, image.bit_depth)
    if image.alpha is not None:
        return np.concatenate([array, quantize(image.alpha[..., None], image.bit_depth)], axis=2)
    return array[..., 0] if image.is_grey else array


def to_pil(image: ImageData) -> Image.Image:
    """A Pillow image: L, LA, RGB or RGBA at 8 bits, or "I;16" for 16-bit grey without alpha.

    Pillow has no 16-bit colour or grey+alpha modes, so those become 8-bit.
    """
    if image.bit_depth == 16 and image.is_grey and image.alpha is None:
        return Image.fromarray(quantize(image.pixels[..., 0], 16))
    return Image.fromarray(to_array(replace(image, bit_depth=8)))


def _from_array(array: np.ndarray, bit_depth: int | None = None) -> ImageData:
    """Split H x W (x 1-4) uint8/uint16/float into float colour + alpha."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an H x W or H x W x 1/2/3/4 array, got shape {array.shape}")
    if array.dtype == np.uint8:
        values, depth = array.astype(np.float32) / np.float32(255), 8
    elif array.dtype == np.uint16:
        values, depth = array.astype(np.float32) / np.float32(65535), 16
    elif array.dtype.kind == "f":
        values, depth = np.clip(array, 0.0, 1.0).astype(np.float32, copy=False), 8
    else:
        raise ValueError(f"expected uint8, uint16 or float pixels, got {array.dtype}")
    if array.shape[2] in (2, 4):
        return ImageData(np.ascontiguousarray(values[..., :-1]), values[..., -1].copy(), bit_depth or depth)
    return ImageData(values, None, bit_depth or depth)


def _upright(array: np.ndarray, orientation: int) -> np.ndarray:
    return _UPRIGHT[orientation](array) if orientation in _UPRIGHT else array


# -------------------------------------------------------------------------------------------- reading


def read_image(
    src: str | os.PathLike | Image.Image | np.ndarray, *, max_pixels: int | None = None
) -> ImageData:
    """Decode a file, a Pillow image or an array into `ImageData`, upright (EXIF orientation applied).

    Arrays: H x W or H x W x 1/2/3/4; uint8 is 8-bit, uint16 16-bit, floats are taken as [0, 1] (8-bit).
    Files larger than `max_pixels` (default: $I2I_MAX_PIXELS or DEFAULT_MAX_PIXELS) are refused before
    their pixels are decoded. Every problem with a file is an `I2IError` naming it.
    """
    if isinstance(src, np.ndarray):
        return _from_array(src)
    if isinstance(src, Image.Image):
        name = getattr(src, "filename", "") or "image"
        try:
            return _from_pil(src, name)
        except _DECODE_ERRORS as exc:
            raise _undecodable(Path(name), exc) from None
    return _read_file(Path(src), pixel_limit(max_pixels))


def pixel_limit(explicit: int | None) -> int:
    raw = explicit if explicit is not None else os.environ.get(MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise I2IError(
            f"the pixel limit must be a positive whole number, got {raw!r} (--max-pixels or {MAX_PIXELS_ENV})"
        )
    return value


def _check_pixels(path: Path, size: tuple[int, int], limit: int) -> None:
    width, height = size
    if width * height > limit:
        raise I2IError(
            f"{path}: {width}x{height} = {_megapixels(width * height)} is over the limit of {_megapixels(limit)}; "
            f"raise it with --max-pixels or {MAX_PIXELS_ENV}"
        )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP" if pixels >= 100_000 else f"{pixels} pixels"


def _read_head(path: Path) -> bytes:
    """The first bytes of an image file, after the checks that give the clearest messages."""
    if path.is_dir():
        raise I2IError(f"{path}: is a folder; give an image file")
    if not path.exists():
        raise I2IError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError as exc:
        raise I2IError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise I2IError(f"{path}: the file is empty (0 bytes); export or copy it again")
    return head


def _read_file(path: Path, limit: int) -> ImageData:
    head = _read_head(path)
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and head[24] == 16:
        image = _read_png16(path, head, limit)
    else:
        image = (_read_tiff16(path, limit) if head[:4] in _TIFF_MAGIC else None) or _read_pil(path, limit)
    image.source = path
    return image


def _undecodable(path: Path, exc: BaseException | str) -> I2IError:
    lines = str(exc).strip().splitlines()
    detail = lines[0] if lines else type(exc).__name__
    return I2IError(
        f"{path}: cannot decode the image ({detail}); it may be truncated or damaged: export or copy it again"
    )


@contextlib.contextmanager
def _open_pil(path: Path) -> Iterator[Image.Image]:
    """Open (not decode) with Pillow, only for our formats, without Pillow's own pixel limit."""
    # Our limit replaces Pillow's, which would warn or refuse before we could; the lock keeps concurrent
    # readers from restoring each other's temporary value.
    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            im = Image.open(path, formats=_PIL_OPENERS)
        except UnidentifiedImageError:
            raise I2IError(f"{path}: not a {_FORMAT_NAMES} image (or a damaged one)") from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    with im:
        yield im


def _read_pil(path: Path, limit: int) -> ImageData:
    try:
        with _open_pil(path) as im:
            _check_pixels(path, im.size, limit)
            im.load()
            return _from_pil(im, str(path))
    except _DECODE_ERRORS as exc:
        raise _undecodable(path, exc) from None


def _from_pil(im: Image.Image, name: str) -> ImageData:
    fmt = _PIL_FORMATS.get(im.format or "")
    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I;16"):
        return replace(_from_array(np.asarray(im).astype(np.uint16)), format=fmt)
    if im.mode == "I":
        return replace(_from_array(_int32_to_uint16(np.asarray(im), name)), format=fmt)
    if im.mode == "F":
        return replace(_from_array(_float_in_unit_range(np.asarray(im), name), bit_depth=16), format=fmt)
    return replace(_from_array(np.asarray(_to_standard_mode(im, name))), format=fmt)


def _to_standard_mode(im: Image.Image, name: str) -> Image.Image:
    grey = im.mode in ("1", "L", "LA", "La")
    alpha = im.mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in im.info
    target = ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")
    if im.mode == target:
        return im
    try:
        return im.convert(target)
    except ValueError:
        raise I2IError(f"{name}: unsupported colour mode {im.mode}; convert it to RGB first") from None


def _int32_to_uint16(values: np.ndarray, name: str) -> np.ndarray:
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise I2IError(
            f"{name}: 32-bit integer pixels range {values.min()}..{values.max()}, beyond 16 bits; "
            "convert it to an 8- or 16-bit image first"
        )
    return values.astype(np.uint16)


def _float_in_unit_range(values: np.ndarray, name: str) -> np.ndarray:
    if values.size and not (np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0):
        raise I2IError(
            f"{name}: floating-point pixels outside [0, 1] (min {np.nanmin(values):g}, max {np.nanmax(values):g}); "
            "convert it to an 8- or 16-bit image first"
        )
    return values


def _read_png16(path: Path, head: bytes, limit: int) -> ImageData:
    # Pillow reads 16-bit colour PNGs as 8-bit; torchvision's libpng decoder keeps the full depth. Its
    # image I/O is deprecated since torchvision 0.29 (in favour of torchcodec), hence the local filter.
    from torchvision.io import ImageReadMode, decode_png

    width, height = struct.unpack(">II", head[16:24])
    _check_pixels(path, (width, height), limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
            chw = decode_png(data, ImageReadMode.UNCHANGED)
        orientation = _png_orientation(path)
    except RuntimeError:
        # torchvision's message is mostly its C++ source location; say what it means instead.
        raise _undecodable(path, "libpng could not read the 16-bit PNG data") from None
    except _DECODE_ERRORS as exc:
        raise _undecodable(path, exc) from None
    hwc = chw.permute(1, 2, 0).numpy().astype(np.uint16)
    return replace(_from_array(_upright(hwc, orientation)), format="png")


def _png_orientation(path: Path) -> int:
    """The EXIF orientation from a PNG's eXIf chunk (1 when there is none), skipping over the pixel data."""
    with open(path, "rb") as fh:
        fh.seek(len(_PNG_SIGNATURE))
        while len(header := fh.read(8)) == 8:
            length, kind = struct.unpack(">I4s", header)
            if kind == b"eXIf":
                exif = Image.Exif()
                exif.load(fh.read(length))
                return int(exif.get(_ORIENTATION, 1))
            if kind == b"IEND":
                break
            fh.seek(length + 4, os.SEEK_CUR)
    return 1


def _read_tiff16(path: Path, limit: int) -> ImageData | None:
    """16-bit TIFFs with several samples (RGB, RGBA, grey+alpha) via tifffile; None leaves the rest to Pillow."""
    try:
        tif = tifffile.TiffFile(path)
    except (tifffile.TiffFileError, *_DECODE_ERRORS):
        return None
    with tif:
        page = tif.pages.first
        if page.dtype != np.uint16 or page.samplesperpixel == 1:
            return None
        _check_pixels(path, (page.imagewidth, page.imagelength), limit)
        _check_tiff16_layout(path, page)
        try:
            array = page.asarray()
        except _DECODE_ERRORS as exc:
            if "imagecodecs" in str(exc):
                raise I2IError(
                    f"{path}: this 16-bit TIFF uses {page.compression.name} compression, which needs the "
                    "imagecodecs package: pip install imagecodecs (or save it with zlib compression or none)"
                ) from None
            raise _undecodable(path, exc) from None
        orientation = int(page.tags.valueof(_ORIENTATION, 1))
    if page.axes == "SYX":
        array = np.moveaxis(array, 0, -1)
    return replace(_from_array(_upright(array, orientation)), format="tiff")


def _check_tiff16_layout(path: Path, page: tifffile.TiffPage) -> None:
    samples = page.samplesperpixel
    grey_alpha = page.photometric == tifffile.PHOTOMETRIC.MINISBLACK and samples == 2
    colour = page.photometric == tifffile.PHOTOMETRIC.RGB and samples in (3, 4)
    if not (grey_alpha or colour) or page.axes not in ("YXS", "SYX"):
        raise I2IError(
            f"{path}: unsupported 16-bit TIFF layout ({page.photometric.name}, {samples} samples, axes {page.axes}); "
            "save it as 16-bit grey, RGB or RGBA"
        )


# -------------------------------------------------------------------------------------------- writing


def write_image(
    path: str | os.PathLike,
    image: ImageData,
    *,
    format: str | None = None,
    provenance: dict[str, str] | None = None,
    quality: int = 95,
) -> Path:
    """Write `image` atomically (the target is replaced only once the file is complete); returns the path.

    `format` defaults to the path's suffix. 16-bit images stay 16-bit in PNG and TIFF. `provenance`, when
    given, is stored as JSON: a PNG "i2i" text chunk, or EXIF ImageDescription (with Software = made_by) in
    JPEG, WebP and TIFF. `quality` applies to JPEG and WebP.
    """
    fmt = normalise_format(format) if format is not None else format_from_suffix(path)
    bits = image.bit_depth if fmt in _DEEP_FORMATS else 8
    array = to_array(replace(image, bit_depth=bits))
    return write_array(path, array, format=fmt, provenance=provenance, quality=quality)


class LossyWriteWarning(UserWarning):
    """An image was written in a format that cannot hold all of it (alpha in JPEG/BMP, 16 bits in 8)."""


def write_array(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    format: str | None = None,
    provenance: dict[str, str] | None = None,
    quality: int = 95,
) -> Path:
    """Write a uint8/uint16 H x W or H x W x C array atomically (as `write_image`); returns the path.

    Channels: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (alpha last). uint16 stays 16-bit in PNG and TIFF and
    is rounded to 8 bits for JPEG, WebP and BMP. `format`, `provenance`, `quality`: see `write_image`.
    """
    path = Path(path)
    fmt = normalise_format(format) if format is not None else format_from_suffix(path)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or array.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"expected a uint8/uint16 H x W or H x W x 1-4 array, got {array.dtype} {array.shape}"
        )
    lost = (["alpha"] if array.shape[2] in (2, 4) and fmt in ("jpeg", "bmp") else []) + (
        ["16 bits per channel"] if array.dtype == np.uint16 and fmt not in _DEEP_FORMATS else []
    )
    if lost:
        warnings.warn(
            f"{_FORMAT_LABELS[fmt]} cannot hold {' or '.join(lost)}: written without (PNG and TIFF keep both)",
            LossyWriteWarning,
            stacklevel=2,
        )
    try:
        with atomic_path(path) as tmp:
            _WRITERS[fmt](tmp, array, provenance, quality)
    except OSError as exc:
        raise I2IError(f"{path}: cannot write the image ({exc.strerror or exc})") from None
    return path


def _provenance_json(provenance: dict[str, str]) -> str:
    return json.dumps(provenance, ensure_ascii=True)


def _pil(array: np.ndarray) -> Image.Image:
    """An 8-bit H x W x C array as a Pillow image: L, LA, RGB or RGBA."""
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def _pil8(array: np.ndarray, *, keep_alpha: bool) -> Image.Image:
    if array.dtype == np.uint16:
        array = np.rint(array / np.float32(257)).astype(np.uint8)
    if not keep_alpha and array.shape[2] in (2, 4):
        array = array[..., :-1]
    return _pil(array)


def _exif(provenance: dict[str, str] | None) -> dict[str, Image.Exif]:
    if provenance is None:
        return {}
    exif = Image.Exif()
    exif[_IMAGE_DESCRIPTION] = _provenance_json(provenance)
    if made_by := provenance.get("made_by"):
        exif[_SOFTWARE] = made_by
    return {"exif": exif}


def _png_text(provenance: dict[str, str] | None) -> dict[str, str]:
    if provenance is None:
        return {}
    text = {_PROVENANCE_KEY: _provenance_json(provenance)}
    if made_by := provenance.get("made_by"):
        text["Software"] = made_by
    return text


def _write_png(tmp: Path, array: np.ndarray, provenance: dict[str, str] | None, quality: int) -> None:
    text = _png_text(provenance)
    if array.dtype == np.uint16:
        tmp.write_bytes(_encode_png16(array, text))
        return
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    # zlib level 3: a 9600x7200 PNG is written in 7 s instead of 27 s (level 6) for 11 % more bytes
    _pil(array).save(tmp, format="PNG", pnginfo=info, compress_level=3)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encode_png16(array: np.ndarray, text: dict[str, str]) -> bytes:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA from 1-4 channels) with tEXt chunks before the pixels."""
    height, width = array.shape[:2]
    channels = array.shape[2] if array.ndim == 3 else 1
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    # Compressed in bands of rows, so that no full-size copy of the pixels is made.
    deflate = zlib.compressobj(3)  # as for 8-bit PNGs: much faster on large images, slightly bigger
    parts = []
    for top in range(0, height, _PNG_BAND_ROWS):
        rows = np.ascontiguousarray(array[top : top + _PNG_BAND_ROWS], dtype=">u2").view(np.uint8)
        scanlines = np.pad(rows.reshape(len(rows), -1), ((0, 0), (1, 0)))  # filter type 0 (None) per row
        parts.append(deflate.compress(scanlines.tobytes()))
    parts.append(deflate.flush())
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0))]
    chunks += [
        _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
        for key, value in text.items()
    ]
    chunks += [_png_chunk(b"IDAT", b"".join(parts)), _png_chunk(b"IEND", b"")]
    return _PNG_SIGNATURE + b"".join(chunks)


def _write_jpeg(tmp: Path, array: np.ndarray, provenance: dict[str, str] | None, quality: int) -> None:
    _pil8(array, keep_alpha=False).save(tmp, format="JPEG", quality=quality, **_exif(provenance))


def _write_webp(tmp: Path, array: np.ndarray, provenance: dict[str, str] | None, quality: int) -> None:
    if array.shape[2] == 2:  # WebP has no grey + alpha mode: RGBA keeps the alpha
        array = np.concatenate([np.repeat(array[..., :1], 3, axis=2), array[..., 1:]], axis=2)
    _pil8(array, keep_alpha=True).save(tmp, format="WEBP", quality=quality, **_exif(provenance))


def _write_bmp(tmp: Path, array: np.ndarray, provenance: dict[str, str] | None, quality: int) -> None:
    _pil8(array, keep_alpha=False).save(tmp, format="BMP")


def _write_tiff(tmp: Path, array: np.ndarray, provenance: dict[str, str] | None, quality: int) -> None:
    made_by = (provenance or {}).get("made_by")
    channels = array.shape[2]
    tifffile.imwrite(
        tmp,
        array[..., 0] if channels == 1 else array,
        photometric="minisblack" if channels <= 2 else "rgb",
        extrasamples=("unassalpha",) if channels in (2, 4) else None,
        compression="zlib",
        metadata=None,
        description=_provenance_json(provenance) if provenance is not None else None,
        software=made_by.encode("ascii", "replace") if made_by else False,
    )


_WRITERS: dict[str, Callable[[Path, np.ndarray, dict[str, str] | None, int], None]] = {
    "png": _write_png,
    "jpeg": _write_jpeg,
    "webp": _write_webp,
    "tiff": _write_tiff,
    "bmp": _write_bmp,
}


# ----------------------------------------------------------------------------------------- provenance


def read_provenance(path: str | os.PathLike) -> dict[str, str] | None:
    """The provenance `write_image` stored in a PNG, JPEG, WebP or TIFF file; None when there is none."""
    path = Path(path)
    is_tiff = _read_head(path)[:4] in _TIFF_MAGIC
    try:
        text = _tiff_description(path) if is_tiff else _pil_provenance_text(path)
    except (tifffile.TiffFileError, *_DECODE_ERRORS) as exc:
        raise _undecodable(path, exc) from None
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    # Other writers put JSON in ImageDescription too (tifffile: {"shape": [...]}); ours has string values.
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return value
    return None


def _tiff_description(path: Path) -> str | None:
    # tifffile, because Pillow cannot open every TIFF that i2i writes (16-bit grey+alpha).
    with tifffile.TiffFile(path) as tif:
        return tif.pages.first.tags.valueof(_IMAGE_DESCRIPTION)


def _pil_provenance_text(path: Path) -> str | None:
    with _open_pil(path) as im:
        return im.info.get(_PROVENANCE_KEY) if im.format == "PNG" else im.getexif().get(_IMAGE_DESCRIPTION)


def montage(rows: Sequence[Sequence[np.ndarray]], gutter: int = 4) -> np.ndarray:
    """Rows of equally tall HxWx3 float images joined into one image, with white gutters between them
    (sample grids, side-by-side comparisons)."""
    joined = []
    for row in rows:
        gap = np.ones((row[0].shape[0], gutter, 3), np.float32)
        joined.append(np.concatenate([p for img in row for p in (img, gap)][:-1], axis=1))
    gap = np.ones((gutter, joined[0].shape[1], 3), np.float32)
    return np.concatenate([p for r in joined for p in (r, gap)][:-1], axis=0)
