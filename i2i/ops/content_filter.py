"""Content filters: plugins that may refuse an image before a safeguarded model (face swapping) works on it.

A package registers a filter under the entry-point group `i2i.content_filters`:

    [project.entry-points."i2i.content_filters"]
    nsfw = "my_filters:NsfwFilter"

The target is a class (instantiated once, with no arguments), an object with a `check` method, or a
function. `check(image)` gets the image as a uint8 H x W x 3 RGB array and returns None to let it
through, or a reason (one line) to refuse it. `run_content_filters(image)` runs every installed filter
and raises `I2IError` with the first refusal; a filter that cannot be loaded or fails refuses too (a
safeguard fails closed). i2i ships no classifier: with no filter installed, nothing is refused. Filters
are removable by whoever runs the code; they are a convenience, not the safeguard (see the README).
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.io.pixels import ImageData

ENTRY_POINT_GROUP = "i2i.content_filters"


@functools.cache
def installed_filters() -> tuple[tuple[str, Any], ...]:
    """The installed filters as (name, check function), in name order; loaded once (see `refresh`)."""
    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            target = ep.load()
            check = _check_of(target() if isinstance(target, type) else target)
        except Exception as exc:  # a plugin may fail in any way; refusing is the safe answer
            found.append((ep.name, _broken(ep.name, exc)))
            continue
        found.append((ep.name, check))
    return tuple(found)


def refresh() -> None:
    """Forget the loaded filters, e.g. after installing one into the running interpreter."""
    installed_filters.cache_clear()


def _check_of(target: Any) -> Any:
    check = getattr(target, "check", None)
    if callable(check):
        return check
    if callable(target):
        return target
    raise TypeError(f"{type(target).__name__} has no check(image) method")


def _broken(name: str, exc: Exception) -> Any:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]

    def refuse(image: np.ndarray) -> str:
        return f"the filter could not be loaded ({type(exc).__name__}: {detail})"

    return refuse


def _rgb8(image: Any) -> np.ndarray:
    pixels = image.pixels if isinstance(image, ImageData) else np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.dtype == np.uint16:
        pixels = np.rint(pixels / 257.0).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        pixels = np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    if pixels.shape[2] in (2, 4):
        pixels = pixels[..., :-1]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def run_content_filters(image: Any) -> None:
    """Run every installed filter on `image` (an `ImageData` or an array: uint8/uint16, or float in
    [0, 1]); `I2IError` with the first refusal's reason, in one line."""
    filters = installed_filters()
    if not filters:
        return
    rgb = _rgb8(image)
    for name, check in filters:
        try:
            reason = check(rgb.copy())
        except Exception as exc:  # a failing filter refuses: the safeguard fails closed
            reason = f"the filter failed ({type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]})"
        if reason:
            text = " ".join(str(reason).split())
            raise I2IError(f"content filter '{name}' refused the image: {text}")
