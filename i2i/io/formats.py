"""Image formats: their names and file suffixes, the signatures and tags that identify them, and which
image files a list of files and folders holds."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from i2i.errors import I2IError, UsageError, unknown_name

#: the suffixes of the image files i2i reads: what Pillow, tifffile and libpng decode for it
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
#: read but never written (GIF holds 256 colours): an output kept in the input's format becomes PNG
READ_ONLY_SUFFIXES: tuple[str, ...] = (".gif",)
FORMATS: tuple[str, ...] = ("png", "jpeg", "webp", "tiff", "bmp")
_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
_SUFFIX_OF_FORMAT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp"}
#: the formats that keep 16 bits per channel
DEEP_FORMATS: tuple[str, ...] = ("png", "tiff")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
EXIF_ORIENTATION = 0x0112
EXIF_IMAGE_DESCRIPTION = 0x010E
EXIF_SOFTWARE = 0x0131
#: the PNG text key under which provenance is stored
PROVENANCE_KEY = "i2i"


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
    if path.suffix.lower() in READ_ONLY_SUFFIXES:
        raise UsageError(
            f"{path}: i2i reads {path.suffix} images but does not write them; write "
            f"{', '.join(FORMATS)} ({', '.join(_SUFFIX_OF_FORMAT.values())})"
        )
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
    """Where the output for `relative` goes under `out_dir`: same path, suffix replaced if `format` is given
    (or if i2i does not write the input's format: then PNG)."""
    if format is not None:
        relative = relative.with_suffix(_SUFFIX_OF_FORMAT[normalise_format(format)])
    else:
        relative = relative.with_suffix(output_suffix(relative.suffix))
    return Path(out_dir) / relative


def output_suffix(suffix: str) -> str:
    """The suffix an output kept in the format of an input with `suffix` gets: the same, or `.png` for a
    format i2i reads but does not write (GIF)."""
    return ".png" if suffix.lower() in READ_ONLY_SUFFIXES else suffix
