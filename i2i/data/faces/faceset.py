"""Aligned face files: DeepFaceLab's faceset JPEGs (read safely) and i2i's own aligned format.

DFL's aligned JPEGs carry their metadata in a JPEG APP15 segment holding a Python pickle of a dict
(`face_type`, `landmarks`, `source_filename`, `source_rect`, `source_landmarks`, `image_to_face_mat`,
`xseg_mask` as encoded PNG bytes, ...). That pickle is read only through `i2i.io.dfl_pickle.loads`, which
admits arrays and plain data: a pickle that would call anything else is refused with one line and nothing
in it runs.

i2i's own format never pickles. The metadata is JSON,

    {"format": "i2i-aligned-face", "version": 1, "face_type": "whole_face",
     "landmarks": [[x, y] * 68], "source_filename": "frame.png", "source_rect": [l, t, r, b],
     "source_landmarks": [[x, y] * 68], "image_to_face_mat": [[a, b, c], [d, e, f]],
     "xseg_mask": "<base64 PNG>"}   (the last five optional)

embedded in the image file: in JPEG comment (COM) segments that start with `i2i-face:` (the JSON split over
as many as it needs, in order), in PNG as the compressed iTXt chunk `i2i:face`. `landmarks` are in the
crop's pixels, `source_*` in the source frame's, and `image_to_face_mat` maps frame pixels to crop pixels
(`i2i.data.faces.align.transform_matrix`).
"""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from i2i.data.faces.align import FACE_TYPES, check_landmarks
from i2i.errors import I2IError
from i2i.io import dfl_pickle
from i2i.io.files import atomic_write_bytes
from i2i.io.formats import find_images

FORMAT = "i2i-aligned-face"
VERSION = 1
COM_PREFIX = b"i2i-face:"
PNG_KEY = "i2i:face"
_APP15, _COM, _SOS = 0xEF, 0xFE, 0xDA
_SEGMENT_MAX = 65533  # a JPEG segment's payload: 65535 minus its two length bytes


@dataclass(frozen=True)
class AlignedFace:
    """An aligned face crop and what DFL (or i2i) recorded about it.

    `image`: H x W x 3 uint8 RGB; `face_type`: the long name (`whole_face`, ...); `landmarks`: (68, 2) in the
    crop's pixels; `source_*`: the frame it came from and the face there; `image_to_face_mat`: (2, 3) frame
    -> crop pixels; `xseg_mask`: float32 (H', W') in [0, 1] or None; `path`: the file read, if any.
    """

    image: np.ndarray
    face_type: str
    landmarks: np.ndarray
    source_filename: str | None = None
    source_rect: tuple[float, float, float, float] | None = None
    source_landmarks: np.ndarray | None = None
    image_to_face_mat: np.ndarray | None = None
    xseg_mask: np.ndarray | None = None
    path: Path | None = None


# ------------------------------------------------------------------------------------------- reading


def read_aligned(path: str | Path) -> AlignedFace:
    """An aligned face file (DFL JPEG or i2i JPEG/PNG) with its metadata; one-line `I2IError` otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise I2IError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data[:2] == b"\xff\xd8":
        segments = jpeg_segments(data, path)
        ours = [payload[len(COM_PREFIX) :] for marker, payload in segments if _is_ours(marker, payload)]
        if ours:
            meta = _json_meta(b"".join(ours), path)
        else:
            dfl = [payload for marker, payload in segments if marker == _APP15]
            if not dfl:
                raise I2IError(f"{path}: no face metadata (not an aligned face from DeepFaceLab or i2i)")
            meta = _dfl_meta(dfl_pickle.loads(dfl[0], f"{path}: DeepFaceLab face metadata"), path)
    else:
        meta = _json_meta(_png_text(data, path), path)
    return AlignedFace(image=_decode_rgb(data, path), path=path, **meta)


def jpeg_segments(data: bytes, path: Path | str = "image") -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment of a JPEG before its image data (start of scan)."""
    segments, pos = [], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise I2IError(f"{path}: damaged JPEG (no segment marker at byte {pos})")
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            continue
        if marker == _SOS or marker == 0xD9:
            break
        if pos + 2 > len(data):
            raise I2IError(f"{path}: damaged JPEG (cut off inside a segment header)")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > len(data):
            raise I2IError(f"{path}: damaged JPEG (a segment runs past the end of the file)")
        segments.append((marker, data[pos + 2 : pos + length]))
        pos += length
    return segments


def _is_ours(marker: int, payload: bytes) -> bool:
    return marker == _COM and payload.startswith(COM_PREFIX)


def _png_text(data: bytes, path: Path) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as im:
            text = im.text.get(PNG_KEY) if hasattr(im, "text") else None
    except (OSError, SyntaxError, ValueError) as exc:
        raise I2IError(f"{path}: not a readable image ({str(exc).splitlines()[0]})") from None
    if text is None:
        raise I2IError(f"{path}: no face metadata (not an aligned face from DeepFaceLab or i2i)")
    return text.encode("utf-8")


def _decode_rgb(data: bytes, path: Path) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise I2IError(f"{path}: not a readable image ({str(exc).splitlines()[0]})") from None


def _json_meta(raw: bytes, path: Path) -> dict[str, Any]:
    """The `AlignedFace` fields of i2i's JSON metadata."""
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise I2IError(f"{path}: damaged i2i face metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise I2IError(f"{path}: the face metadata is not {FORMAT}")
    if meta.get("version") != VERSION:
        raise I2IError(f"{path}: i2i face metadata version {meta.get('version')} (this i2i reads {VERSION})")
    mask = meta.get("xseg_mask")
    if mask is not None:
        try:
            mask = base64.b64decode(mask, validate=True)
        except (TypeError, ValueError):
            raise I2IError(f"{path}: the xseg_mask is not base64") from None
    return _fields(meta, mask, path)


def _dfl_meta(meta: Any, path: Path) -> dict[str, Any]:
    """The `AlignedFace` fields of DFL's (already safely unpickled) metadata dict."""
    if not isinstance(meta, dict):
        raise I2IError(f"{path}: DeepFaceLab face metadata is a {type(meta).__name__}, not a dict")
    mask = meta.get("xseg_mask")
    if isinstance(mask, np.ndarray) and mask.ndim == 1 and mask.dtype == np.uint8:
        mask = mask.tobytes()  # OpenCV's imencode gives the PNG as a uint8 array
    return _fields(meta, mask, path)


def _fields(meta: dict, mask: Any, path: Path) -> dict[str, Any]:
    if "landmarks" not in meta or "face_type" not in meta:
        raise I2IError(f"{path}: the face metadata has no landmarks or face_type")
    face_type = str(meta["face_type"])
    return {
        "face_type": FACE_TYPES.get(face_type, face_type),
        "landmarks": check_landmarks(_array(meta["landmarks"], path, "landmarks"), f"{path}: landmarks"),
        "source_filename": None if meta.get("source_filename") is None else str(meta["source_filename"]),
        "source_rect": _rect(meta.get("source_rect"), path),
        "source_landmarks": _optional_points(meta.get("source_landmarks"), path),
        "image_to_face_mat": _matrix(meta.get("image_to_face_mat"), path),
        "xseg_mask": _mask(mask, path),
    }


def _array(value: Any, path: Path, field: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise I2IError(f"{path}: {field} is not an array of numbers") from None


def _rect(value: Any, path: Path) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    rect = _array(value, path, "source_rect").reshape(-1)
    if rect.shape != (4,):
        raise I2IError(f"{path}: source_rect must hold 4 numbers, got {rect.size}")
    return tuple(float(v) for v in rect)  # type: ignore[return-value]


def _optional_points(value: Any, path: Path) -> np.ndarray | None:
    if value is None:
        return None
    return check_landmarks(_array(value, path, "source_landmarks"), f"{path}: source_landmarks")


def _matrix(value: Any, path: Path) -> np.ndarray | None:
    if value is None:
        return None
    mat = _array(value, path, "image_to_face_mat")
    if mat.shape != (2, 3) or not np.isfinite(mat).all():
        raise I2IError(f"{path}: image_to_face_mat must be a finite 2 x 3 matrix, got shape {mat.shape}")
    return mat


def _mask(value: Any, path: Path) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return np.clip(np.squeeze(value).astype(np.float32) / (255 if value.dtype == np.uint8 else 1), 0, 1)
    if not isinstance(value, bytes | bytearray):
        raise I2IError(f"{path}: xseg_mask is a {type(value).__name__}, not an encoded image")
    try:
        with Image.open(io.BytesIO(bytes(value))) as im:
            return np.asarray(im.convert("L"), dtype=np.float32) / 255
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise I2IError(f"{path}: the xseg_mask is not a readable image") from None


# ------------------------------------------------------------------------------------------- writing


def face_metadata(face: AlignedFace) -> dict[str, Any]:
    """i2i's JSON metadata of `face` (the schema in the module doc)."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "face_type": FACE_TYPES.get(face.face_type, face.face_type),
        "landmarks": np.round(check_landmarks(face.landmarks), 4).tolist(),
    }
    if face.source_filename is not None:
        meta["source_filename"] = face.source_filename
    if face.source_rect is not None:
        meta["source_rect"] = [round(float(v), 4) for v in face.source_rect]
    if face.source_landmarks is not None:
        meta["source_landmarks"] = np.round(check_landmarks(face.source_landmarks), 4).tolist()
    if face.image_to_face_mat is not None:
        meta["image_to_face_mat"] = np.asarray(face.image_to_face_mat, np.float64).tolist()
    if face.xseg_mask is not None:
        mask = np.clip(np.rint(np.asarray(face.xseg_mask, np.float32) * 255), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(mask, "L").save(buffer, format="PNG", optimize=True)
        meta["xseg_mask"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    return meta


def write_aligned(path: str | Path, face: AlignedFace, *, jpeg_quality: int = 90) -> Path:
    """Write `face` atomically in i2i's format: JPEG (`.jpg`/`.jpeg`, `jpeg_quality`) or PNG (`.png`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        raise I2IError(f"{path}: aligned faces are written as .jpg or .png, not '{path.suffix}'")
    if not 1 <= int(jpeg_quality) <= 100:
        raise I2IError(f"JPEG quality must be 1..100, got {jpeg_quality}")
    text = json.dumps(face_metadata(face), separators=(",", ":"))
    picture = Image.fromarray(np.ascontiguousarray(face.image[..., :3], dtype=np.uint8), "RGB")
    buffer = io.BytesIO()
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PNG_KEY, text, zip=True)
        picture.save(buffer, format="PNG", pnginfo=info, compress_level=6)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        picture.save(buffer, format="JPEG", quality=int(jpeg_quality))
        atomic_write_bytes(path, insert_jpeg_segments(buffer.getvalue(), _com_segments(text.encode())))
    return path


def _com_segments(raw: bytes) -> list[tuple[int, bytes]]:
    step = _SEGMENT_MAX - len(COM_PREFIX)
    return [(_COM, COM_PREFIX + raw[i : i + step]) for i in range(0, len(raw), step)]


def insert_jpeg_segments(jpeg: bytes, segments: list[tuple[int, bytes]]) -> bytes:
    """`jpeg` with `segments` (marker, payload <= 65533 bytes) inserted after SOI and a leading JFIF APP0."""
    if jpeg[:2] != b"\xff\xd8":
        raise I2IError("not a JPEG stream")
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", jpeg[4:6])[0]
    extra = b""
    for marker, payload in segments:
        if len(payload) > _SEGMENT_MAX:
            raise I2IError(f"a JPEG segment holds at most {_SEGMENT_MAX} bytes, not {len(payload)}")
        extra += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:pos] + extra + jpeg[pos:]


# ------------------------------------------------------------------------------------------- folders


def iter_faceset(folder: str | Path) -> Iterator[AlignedFace]:
    """Every aligned face under `folder` (sub-folders too, sorted); `I2IError` naming the first image that
    is no aligned face, and for a folder with no images."""
    folder = Path(folder)
    if not folder.is_dir():
        raise I2IError(f"{folder}: no such folder of aligned faces")
    files = find_images([folder])
    if not files:
        raise I2IError(f"{folder}: no aligned face images found")
    for path, _ in files:
        yield read_aligned(path)
