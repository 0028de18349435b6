"""The marks a safeguarded model's outputs carry: a visible "AI-modified" corner badge, and an invisible
watermark holding a short payload (`i2i.io.provenance.watermark_payload`).

Both take and return an `ImageData`, or a numpy array H x W x C (C = 1-4, alpha last for 2 and 4) of
uint8, uint16 or float in [0, 1], in the same type.

The watermark is best effort, and documented as such: the luma's one-level Haar DWT, its low band cut
into 4 x 4 blocks, a DCT of each block, and one coefficient per block quantised onto one of two lattices
(quantisation index modulation) for one bit; the 64 payload bits and a CRC-32 are repeated over every
block in a fixed shuffled order, and read back by a vote. It survives lossless saving and JPEG at
quality 90 on ordinary images; it does not survive crops, rescaling, rotation or heavy editing, and it
weakens where the image clips to black or white. It needs about 100 blocks (an image of at least about
80 x 80 pixels); `read_watermark` returns None when no valid mark is found.
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from i2i.io.pixels import ImageData

BADGE_TEXT = "AI-modified"
#: badge height as a fraction of the shorter image side, and its bounds in pixels
BADGE_FRACTION = 0.06
BADGE_MIN_PX, BADGE_MAX_PX = 11, 96
#: payload length (bytes) and the CRC-32 that validates it
PAYLOAD_BYTES = 8
_BITS = PAYLOAD_BYTES * 8 + 32
#: quantisation step (in 8-bit levels of the low band's DCT coefficient) and the coefficient used
STEP = 24.0
_COEFF = (1, 1)
_BLOCK = 4
_ORDER_SEED = 0x12C2


# ------------------------------------------------------------------------------------------ pixels


def _as_float(image: Any) -> tuple[np.ndarray, Any]:
    """Colour (and alpha) as float32 [0, 1] H x W x C, and how to give the result back in the input type."""
    if isinstance(image, ImageData):
        return image.pixels.astype(np.float32, copy=False), lambda out: replace(image, pixels=out)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an H x W x 1-4 image, got shape {np.shape(image)}")
    squeeze = np.ndim(image) == 2
    dtype = array.dtype
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(dtype, 1.0)

    def back(out: np.ndarray) -> np.ndarray:
        if scale != 1.0:
            out = np.rint(np.clip(out, 0.0, 1.0) * scale).astype(dtype)
        else:
            out = np.clip(out, 0.0, 1.0).astype(dtype, copy=False)
        return out[..., 0] if squeeze else out

    return array.astype(np.float32) / np.float32(scale), back


def _colour_channels(channels: int) -> int:
    return 1 if channels in (1, 2) else 3


# ------------------------------------------------------------------------------------------- badge


def badge_box(height: int, width: int) -> tuple[int, int, int, int]:
    """Where `add_badge` draws on an image of this size: (top, left, bottom, right), bottom-right corner."""
    side = max(1, min(height, width))
    size = int(np.clip(round(side * BADGE_FRACTION), BADGE_MIN_PX, BADGE_MAX_PX))
    font = _font(size)
    text_w = int(np.ceil(font.getlength(BADGE_TEXT)))
    box_w, box_h = text_w + size, size + max(2, size // 3)
    margin = max(1, size // 3)
    bottom, right = height - margin, width - margin
    return max(0, bottom - box_h), max(0, right - box_w), bottom, right


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def add_badge(image: Any) -> Any:
    """`image` with a visible "AI-modified" badge in its bottom-right corner: light text on a dark box
    with a light rim, legible on light and dark pictures, sized with the image (6 % of the shorter side,
    11 to 96 pixels high)."""
    height, width = np.shape(image.pixels if isinstance(image, ImageData) else image)[:2]
    top, left, bottom, right = badge_box(height, width)
    box_h, box_w = bottom - top, right - left
    whole = image.pixels if isinstance(image, ImageData) else np.asarray(image)
    if box_h < 2 or box_w < 2:
        return image
    pixels, back = _as_float(whole[top:bottom, left:right])  # only the corner is converted and drawn on
    channels = pixels.shape[2]
    size = int(np.clip(round(max(1, min(height, width)) * BADGE_FRACTION), BADGE_MIN_PX, BADGE_MAX_PX))
    overlay = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    rim = max(1, size // 12)
    draw.rounded_rectangle(
        (0, 0, box_w - 1, box_h - 1), radius=size // 4, fill=(16, 16, 16, 220),
        outline=(240, 240, 240, 255), width=rim,
    )  # fmt: skip
    draw.text((box_w / 2, box_h / 2), BADGE_TEXT, font=_font(size), fill=(255, 255, 255, 255), anchor="mm")
    rgba = np.asarray(overlay, np.float32) / 255.0
    colour, alpha = rgba[..., :3], rgba[..., 3:]
    if _colour_channels(channels) == 1:
        colour = colour @ np.array([[0.299], [0.587], [0.114]], np.float32)
    region = pixels.copy()
    n = _colour_channels(channels)
    region[..., :n] = region[..., :n] * (1.0 - alpha) + colour * alpha
    if channels in (2, 4):  # the badge is opaque where it is drawn
        region[..., -1:] = np.maximum(region[..., -1:], alpha)
    out = whole.copy()
    out[top:bottom, left:right] = back(region)
    return replace(image, pixels=out) if isinstance(image, ImageData) else out


# --------------------------------------------------------------------------------------- watermark


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    m = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(_BLOCK)


def _luma(pixels: np.ndarray) -> np.ndarray:
    if _colour_channels(pixels.shape[2]) == 1:
        return pixels[..., 0] * np.float32(255.0)
    return pixels[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32) * np.float32(255.0)


def _coefficients(luma: np.ndarray) -> np.ndarray:
    """The chosen DCT coefficient of every 4 x 4 block of the Haar low band, as (blocks_y, blocks_x)."""
    by, bx = luma.shape[0] // (2 * _BLOCK), luma.shape[1] // (2 * _BLOCK)
    crop = luma[: by * 2 * _BLOCK, : bx * 2 * _BLOCK]
    low = (crop[0::2, 0::2] + crop[0::2, 1::2] + crop[1::2, 0::2] + crop[1::2, 1::2]) / 2.0  # orthonormal LL
    blocks = low.reshape(by, _BLOCK, bx, _BLOCK).transpose(0, 2, 1, 3)
    u, v = _COEFF
    return np.einsum("i,abij,j->ab", _DCT[u], blocks, _DCT[v])


def _bit_of_block(count: int) -> np.ndarray:
    """Which payload bit each block carries: every bit spread over the image in a fixed shuffled order."""
    order = np.random.default_rng(_ORDER_SEED).permutation(count)
    bits = np.empty(count, np.int64)
    bits[order] = np.arange(count) % _BITS
    return bits


def _frame(payload: bytes) -> np.ndarray:
    crc = zlib.crc32(payload).to_bytes(4, "big")
    return np.unpackbits(np.frombuffer(payload + crc, np.uint8)).astype(np.int64)


def embed_watermark(image: Any, payload: bytes) -> Any:
    """`image` with `payload` (8 bytes) hidden in it; best effort (see the module docstring)."""
    if not isinstance(payload, (bytes, bytearray)) or len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"the watermark payload must be {PAYLOAD_BYTES} bytes")
    pixels, back = _as_float(image)
    coeffs = _coefficients(_luma(pixels))
    if coeffs.size == 0:
        return back(pixels)
    bits = _frame(bytes(payload))[_bit_of_block(coeffs.size)].reshape(coeffs.shape)
    offset = (bits - 0.5) * (STEP / 2.0)  # the two lattices: multiples of STEP shifted by -/+ STEP / 4
    target = np.round((coeffs - offset) / STEP) * STEP + offset
    delta = target - coeffs
    u, v = _COEFF
    basis = np.outer(_DCT[u], _DCT[v])  # a coefficient change moves the low band by delta * basis
    low = (delta[:, None, :, None] * basis[None, :, None, :]).reshape(
        coeffs.shape[0] * _BLOCK, coeffs.shape[1] * _BLOCK
    )
    out = pixels.copy()
    n = _colour_channels(pixels.shape[2])
    rows, cols = low.shape
    # the inverse Haar transform of a change of the low band alone: each 2 x 2 pixel square moves by half of it
    half = (low / (2.0 * 255.0)).astype(np.float32)[..., None]
    for dy in (0, 1):
        for dx in (0, 1):
            out[dy : 2 * rows : 2, dx : 2 * cols : 2, :n] += half
    return back(out)


def watermark_votes(image: Any) -> np.ndarray | None:
    """Per payload bit, the summed soft votes of its blocks (positive: 1); None if the image is too small."""
    pixels, _ = _as_float(image)
    coeffs = _coefficients(_luma(pixels))
    if coeffs.size < _BITS:
        return None
    residue = coeffs - np.round(coeffs / STEP) * STEP  # in [-STEP/2, STEP/2]: -STEP/4 is a 0, +STEP/4 a 1
    soft = np.clip(residue / (STEP / 4.0), -1.0, 1.0).ravel()
    return np.bincount(_bit_of_block(coeffs.size), weights=soft, minlength=_BITS)


def block_bits(image: Any) -> np.ndarray | None:
    """The bit each block reads on its own (before the vote), in block order; for measuring bit errors."""
    pixels, _ = _as_float(image)
    coeffs = _coefficients(_luma(pixels))
    if coeffs.size == 0:
        return None
    residue = coeffs - np.round(coeffs / STEP) * STEP
    return (residue.ravel() > 0).astype(np.int64)


def expected_block_bits(shape: tuple[int, int], payload: bytes) -> np.ndarray:
    """The bit each block of an image of `shape` (height, width) carries for `payload`."""
    count = (shape[0] // (2 * _BLOCK)) * (shape[1] // (2 * _BLOCK))
    return _frame(bytes(payload))[_bit_of_block(count)]


def read_watermark(image: Any) -> bytes | None:
    """The payload hidden by `embed_watermark`, or None when no valid one is found (its CRC fails)."""
    votes = watermark_votes(image)
    if votes is None:
        return None
    bits = (votes > 0).astype(np.uint8)
    data = np.packbits(bits).tobytes()
    payload, crc = data[:PAYLOAD_BYTES], data[PAYLOAD_BYTES:]
    return payload if zlib.crc32(payload).to_bytes(4, "big") == crc else None
