"""Decoding image files into `ImageData`, upright and within a pixel limit, and reading back their provenance.

Pillow decodes everything it reads losslessly; torchvision (libpng) decodes 16-bit PNG and tifffile 16-bit
TIFF with more than one sample, because Pillow reduces those to 8 bits.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from i2i.errors import I2IError
from i2i.io.files import first_line
from i2i.io.formats import EXIF_IMAGE_DESCRIPTION, EXIF_ORIENTATION, PNG_SIGNATURE, PROVENANCE_KEY, TIFF_MAGIC
from i2i.io.pixels import ImageData, from_array, upright

DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "I2I_MAX_PIXELS"
_PIL_OPENERS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
# MPO is what Pillow's JPEG opener calls a JPEG holding several pictures (common from phone cameras).
_PIL_FORMATS = {
    "PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "TIFF": "tiff", "BMP": "bmp", "GIF": "gif"
}  # fmt: skip
_FORMAT_NAMES = "PNG, JPEG, WebP, TIFF, BMP or GIF"

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


class FirstFrameWarning(UserWarning):
    """An animated image was read: only its first frame (a note, said once per run by the CLI)."""


def read_image(
    src: str | os.PathLike | Image.Image | np.ndarray, *, max_pixels: int | None = None
) -> ImageData:
    """Decode a file, a Pillow image or an array into `ImageData`, upright (EXIF orientation applied).

    Arrays: H x W or H x W x 1/2/3/4; uint8 is 8-bit, uint16 16-bit, floats are taken as [0, 1] (8-bit).
    Files larger than `max_pixels` (default: $I2I_MAX_PIXELS or DEFAULT_MAX_PIXELS) are refused before
    their pixels are decoded. Every problem with a file is an `I2IError` naming it.
    """
    if isinstance(src, np.ndarray):
        return from_array(src)
    if isinstance(src, Image.Image):
        name = getattr(src, "filename", "") or "image"
        try:
            return _from_pil(src, name)
        except _DECODE_ERRORS as exc:
            raise _undecodable(Path(name), exc) from None
    return _read_file(Path(src), pixel_limit(max_pixels))


def pixel_limit(explicit: int | None) -> int:
    """The pixel limit: `explicit`, else $I2I_MAX_PIXELS, else DEFAULT_MAX_PIXELS; a bad value is an error."""
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
    if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR" and head[24] == 16:
        image = _read_png16(path, head, limit)
    else:
        image = (_read_tiff16(path, limit) if head[:4] in TIFF_MAGIC else None) or _read_pil(path, limit)
    image.source = path
    return image


def _undecodable(path: Path, exc: BaseException | str) -> I2IError:
    detail = exc if isinstance(exc, str) else first_line(exc)
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
            if getattr(im, "is_animated", False):
                message = "animated images (GIF, WebP): only the first frame is read"
                warnings.warn(message, FirstFrameWarning, stacklevel=2)
            im.load()
            return _from_pil(im, str(path))
    except _DECODE_ERRORS as exc:
        raise _undecodable(path, exc) from None


def _from_pil(im: Image.Image, name: str) -> ImageData:
    fmt = _PIL_FORMATS.get(im.format or "")
    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I;16"):
        return replace(from_array(np.asarray(im).astype(np.uint16)), format=fmt)
    if im.mode == "I":
        return replace(from_array(_int32_to_uint16(np.asarray(im), name)), format=fmt)
    if im.mode == "F":
        return replace(from_array(_float_in_unit_range(np.asarray(im), name), bit_depth=16), format=fmt)
    return replace(from_array(np.asarray(_to_standard_mode(im, name))), format=fmt)


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
    return replace(from_array(upright(hwc, orientation)), format="png")


def _png_orientation(path: Path) -> int:
    """The EXIF orientation from a PNG's eXIf chunk (1 when there is none), skipping over the pixel data."""
    with open(path, "rb") as fh:
        fh.seek(len(PNG_SIGNATURE))
        while len(header := fh.read(8)) == 8:
            length, kind = struct.unpack(">I4s", header)
            if kind == b"eXIf":
                exif = Image.Exif()
                exif.load(fh.read(length))
                return int(exif.get(EXIF_ORIENTATION, 1))
            if kind == b"IEND":
                break
            fh.seek(length + 4, os.SEEK_CUR)
    return 1


def _read_tiff16(path: Path, limit: int) -> ImageData | None:
    """16-bit and floating-point TIFFs with several samples (RGB, RGBA, grey+alpha) via tifffile (floats in
    [0, 1], kept at 16 bits); None leaves the rest to Pillow."""
    try:
        tif = tifffile.TiffFile(path)
    except (tifffile.TiffFileError, *_DECODE_ERRORS):
        return None
    with tif:
        page = tif.pages.first
        floating = page.dtype is not None and page.dtype.kind == "f"
        if (page.dtype != np.uint16 and not floating) or page.samplesperpixel == 1:
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
        orientation = int(page.tags.valueof(EXIF_ORIENTATION, 1))
    if page.axes == "SYX":
        array = np.moveaxis(array, 0, -1)
    if floating:
        array = _float_in_unit_range(array.astype(np.float32), str(path))
        return replace(from_array(upright(array, orientation), bit_depth=16), format="tiff")
    return replace(from_array(upright(array, orientation)), format="tiff")


def _check_tiff16_layout(path: Path, page: tifffile.TiffPage) -> None:
    samples = page.samplesperpixel
    grey_alpha = page.photometric == tifffile.PHOTOMETRIC.MINISBLACK and samples == 2
    colour = page.photometric == tifffile.PHOTOMETRIC.RGB and samples in (3, 4)
    if not (grey_alpha or colour) or page.axes not in ("YXS", "SYX"):
        raise I2IError(
            f"{path}: unsupported {page.dtype} TIFF layout ({page.photometric.name}, {samples} samples, axes "
            f"{page.axes}); save it as 16-bit grey, RGB or RGBA"
        )


# ----------------------------------------------------------------------------------------- provenance


def read_provenance(path: str | os.PathLike) -> dict[str, str] | None:
    """The provenance `write_image` stored in a PNG, JPEG, WebP or TIFF file; None when there is none."""
    path = Path(path)
    is_tiff = _read_head(path)[:4] in TIFF_MAGIC
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
        return tif.pages.first.tags.valueof(EXIF_IMAGE_DESCRIPTION)


def _pil_provenance_text(path: Path) -> str | None:
    with _open_pil(path) as im:
        return im.info.get(PROVENANCE_KEY) if im.format == "PNG" else im.getexif().get(EXIF_IMAGE_DESCRIPTION)
