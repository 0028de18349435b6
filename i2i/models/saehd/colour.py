"""Colour transfer for the SAEHD merge: the swapped face takes the colour statistics of the frame's face.

Each transfer maps `image` (the predicted face crop) towards `reference` (the destination frame's crop),
with statistics taken inside the masks (pixels whose mask is at least 0.5), and applies the mapping to the
whole crop (the merge mask decides later where it shows). Images are float32 H x W x 3 RGB in [0, 1].

- `rct`: Reinhard et al. 2001, "Color Transfer between Images": per-channel mean and standard deviation
  matched in CIE L*a*b* (DeepFaceLab's default).
- `lct`: linear colour transfer: mean and covariance matched in RGB with the PCA (symmetric square root)
  mapping.
- `idt`: iterative distribution transfer (Pitie et al. 2005): 1-D quantile matching along random
  rotations of RGB, repeated.
- `none`: the face as predicted.

The L*a*b* conversion is the standard sRGB (D65) one in numpy (float32). DeepFaceLab converts with
OpenCV's `cv2.cvtColor`, whose float path interpolates the sRGB curve from a table: close, not bit for bit
(bit-equality would need `cv2.cvtColor` itself; see `merge` for why no OpenCV extra is declared).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: the colour transfers `transfer` knows, by name
COLOR_TRANSFERS = ("rct", "lct", "idt", "none")

# sRGB (linear) -> XYZ, D65; XYZ normalised by the D65 white point before the L*a*b* curve
_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    np.float64,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ).astype(np.float32)
_WHITE = _RGB_TO_XYZ.sum(axis=1).astype(np.float32)
_RGB_TO_XYZ = _RGB_TO_XYZ.astype(np.float32)
_EPSILON = (6.0 / 29.0) ** 3
_KAPPA = (29.0 / 6.0) ** 2 / 3.0


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (..., 3) -> CIE L*a*b* (L in [0, 100]), float32."""
    rgb = np.asarray(rgb, np.float32)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((np.maximum(rgb, 0.04045) + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), _KAPPA * xyz + 4.0 / 29.0)
    lightness = 116.0 * f[..., 1] - 16.0
    lab = np.stack([lightness, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1)
    return lab.astype(np.float32, copy=False)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (..., 3) -> sRGB, float32, not clipped (out-of-gamut colours leave [0, 1])."""
    lab = np.asarray(lab, np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 6.0 / 29.0, f**3, (f - 4.0 / 29.0) / _KAPPA) * _WHITE
    linear = xyz @ _XYZ_TO_RGB.T
    rgb = np.where(
        linear <= 0.0031308, 12.92 * linear, 1.055 * np.maximum(linear, 0.0031308) ** (1.0 / 2.4) - 0.055
    )
    return rgb.astype(np.float32, copy=False)


def _selected(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The (N, C) pixels of `image` where `mask` (H x W or H x W x 1) is at least 0.5; all without a mask."""
    pixels = image.reshape(-1, image.shape[-1])
    if mask is None:
        return pixels
    return pixels[np.asarray(mask).reshape(-1) >= 0.5]


def rct(
    image: np.ndarray,
    reference: np.ndarray,
    image_mask: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Reinhard transfer: each L*a*b* channel of `image` shifted and scaled to the mean and standard
    deviation `reference` has inside `reference_mask` (statistics of `image` inside `image_mask`)."""
    lab = rgb_to_lab(image)
    ref_lab = rgb_to_lab(reference)
    own, ref = _selected(lab, image_mask), _selected(ref_lab, reference_mask)
    if len(own) == 0 or len(ref) == 0:
        return image.astype(np.float32)
    own, ref = own.astype(np.float64), ref.astype(np.float64)
    scale = ref.std(axis=0) / np.maximum(own.std(axis=0), 1e-6)
    out = (lab - own.mean(axis=0)) * scale + ref.mean(axis=0)
    return np.clip(lab_to_rgb(out), 0.0, 1.0).astype(np.float32)


def _sqrt_psd(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 1e-8)
    root = np.sqrt(values) if not inverse else 1.0 / np.sqrt(values)
    return (vectors * root) @ vectors.T


def lct(
    image: np.ndarray,
    reference: np.ndarray,
    image_mask: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Linear transfer: RGB mean and covariance of `image` (inside `image_mask`) mapped onto those of
    `reference` (inside `reference_mask`) by x -> C_r^1/2 C_i^-1/2 (x - m_i) + m_r."""
    x = np.asarray(image, np.float64)
    own, ref = _selected(x, image_mask), _selected(np.asarray(reference, np.float64), reference_mask)
    if len(own) < 2 or len(ref) < 2:
        return image.astype(np.float32)
    eye = np.eye(3) * 1e-5
    mapping = _sqrt_psd(np.cov(ref.T) + eye) @ _sqrt_psd(np.cov(own.T) + eye, inverse=True)
    out = (x - own.mean(axis=0)) @ mapping.T + ref.mean(axis=0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def idt(
    image: np.ndarray,
    reference: np.ndarray,
    image_mask: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
    *,
    iterations: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Iterative distribution transfer: along `iterations` random orthonormal bases, each 1-D marginal of
    `image` (inside `image_mask`) is quantile-matched to that of `reference`; deterministic for `seed`."""
    x = np.asarray(image, np.float64).reshape(-1, 3)
    keep = np.ones(len(x), bool) if image_mask is None else np.asarray(image_mask).reshape(-1) >= 0.5
    ref = _selected(np.asarray(reference, np.float64), reference_mask)
    if not keep.any() or len(ref) == 0:
        return image.astype(np.float32)
    rng = np.random.default_rng(seed)
    quantiles = np.linspace(0.0, 1.0, 256)
    for _ in range(iterations):
        basis, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        projected, ref_projected = x @ basis, ref @ basis
        for axis in range(3):
            source_q = _quantiles(projected[keep, axis], quantiles)
            target_q = _quantiles(ref_projected[:, axis], quantiles)
            source_q, unique = np.unique(source_q, return_index=True)
            projected[:, axis] = np.interp(projected[:, axis], source_q, target_q[unique])
        x = projected @ basis.T
    return np.clip(x.reshape(image.shape), 0.0, 1.0).astype(np.float32)


def _quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`np.quantile(values, q)` (linear interpolation) from one sort."""
    ordered = np.sort(values)
    position = q * (len(ordered) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def keep(image: np.ndarray, reference: np.ndarray, *_: object) -> np.ndarray:
    """No transfer: `image` as it is."""
    return image.astype(np.float32)


_TRANSFERS: dict[str, Callable[..., np.ndarray]] = {"rct": rct, "lct": lct, "idt": idt, "none": keep}


def transfer(
    name: str,
    image: np.ndarray,
    reference: np.ndarray,
    image_mask: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
) -> np.ndarray:
    """The colour transfer `name` (one of `COLOR_TRANSFERS`) of `image` towards `reference`."""
    if name not in _TRANSFERS:
        raise ValueError(f"unknown colour transfer {name!r}; one of: {', '.join(COLOR_TRANSFERS)}")
    return _TRANSFERS[name](image, reference, image_mask, reference_mask)
