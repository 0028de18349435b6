"""Face alignment the way DeepFaceLab (DFL) crops faces: a similarity from 68 landmarks to a canonical face,
padded per face type, and the warps, inverse warps and masks that go with it.

`transform_matrix` fits a Umeyama similarity (rotation, uniform scale, translation; least squares) from the
33 landmarks DFL uses (brows, nose and eyes: iBUG indices 17-48, plus the mouth corner 54) to `MEAN_FACE`, a
canonical 68-point face whose inner points (17-67) span the unit square. The crop is then a square in that
unit space, centred on the square's centre and padded per face type (`PADDING`, DFL's numbers: the square's
half side becomes 0.5 + padding * sqrt(2)); `whole_face` moves the centre 7% of the side towards the
forehead, `head` 50% plus a horizontal shift against the yaw.

Where `MEAN_FACE` comes from: DFL's own canonical shape lives in GPL-3.0 source and is not used here. i2i uses
the mean dlib 68-point template published by OpenFace (Carnegie Mellon University, `openface/align_dlib.py`,
Apache-2.0), re-normalised so that points 17-67 span the unit square and rounded to 4 decimals. Crops are
therefore close to DFL's (same landmarks, same padding, same orientation, a mean face of the same scheme on
the same unit square) but not bit-identical with them; they were not measured against DFL's own crops.
Two further differences: the `head` yaw shift is i2i's own estimate from 2-D landmarks (DFL estimates the
pose from 3-D landmarks), and warps go through `torch.nn.functional.grid_sample` (DFL uses OpenCV, whose
bilinear weights are quantised to 1/32 pixel).

Conventions: images are numpy H x W x C (or H x W), uint8 or float32, RGB; points are (x, y) in pixels with
integer coordinates at pixel centres (OpenCV's convention, which DFL's landmark files use); a matrix is the
2 x 3 affine map from image to crop pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from i2i.errors import I2IError, unknown_name

#: every accepted face-type name (DFL's short option names and its long metadata names) -> the long name
FACE_TYPES: dict[str, str] = {
    "h": "half_face",
    "mf": "midfull_face",
    "f": "full_face",
    "wf": "whole_face",
    "head": "head",
    "half_face": "half_face",
    "midfull_face": "midfull_face",
    "full_face": "full_face",
    "whole_face": "whole_face",
}
#: the short name of each long face-type name
SHORT_NAMES = {"half_face": "h", "midfull_face": "mf", "full_face": "f", "whole_face": "wf", "head": "head"}
#: DFL's padding of the unit square per face type (from the smallest crop to the largest)
PADDING = {"half_face": 0.0, "midfull_face": 0.0675, "full_face": 0.2109375, "whole_face": 0.40, "head": 0.70}
#: how far the crop centre moves towards the forehead, in units of the unit square's side
UPWARD_SHIFT = {"whole_face": 0.07, "head": 0.50}
#: the landmarks the similarity is fitted on: brows, nose, eyes (17-48) and the right mouth corner (54)
ALIGN_POINTS = np.array([*range(17, 49), 54])

#: canonical 68-point face (iBUG 300-W order), points 17-67 spanning the unit square (see the module doc)
MEAN_FACE = np.array(
    [
        (-0.1197, 0.2379), (-0.1145, 0.4165), (-0.0949, 0.5965), (-0.0590, 0.7728),
        (0.0068, 0.9373), (0.1074, 1.0819), (0.2289, 1.2053), (0.3656, 1.3057),
        (0.5205, 1.3323), (0.6754, 1.3005), (0.8124, 1.1980), (0.9345, 1.0727),
        (1.0340, 0.9254), (1.0971, 0.7571), (1.1278, 0.5761), (1.1412, 0.3934),
        (1.1421, 0.2120), (0.0000, 0.1013), (0.0763, 0.0332), (0.1803, 0.0152),
        (0.2880, 0.0322), (0.3897, 0.0770), (0.5978, 0.0694), (0.7021, 0.0206),
        (0.8114, 0.0000), (0.9186, 0.0159), (1.0000, 0.0803), (0.4972, 0.2067),
        (0.4985, 0.3243), (0.4997, 0.4420), (0.5012, 0.5624), (0.3817, 0.6396),
        (0.4409, 0.6649), (0.5048, 0.6854), (0.5687, 0.6619), (0.6270, 0.6358),
        (0.1253, 0.2255), (0.1907, 0.1824), (0.2715, 0.1830), (0.3393, 0.2371),
        (0.2669, 0.2542), (0.1881, 0.2550), (0.6613, 0.2302), (0.7288, 0.1730),
        (0.8093, 0.1704), (0.8757, 0.2107), (0.8155, 0.2419), (0.7372, 0.2447),
        (0.2678, 0.8551), (0.3547, 0.8140), (0.4439, 0.7954), (0.5077, 0.8110),
        (0.5743, 0.7933), (0.6668, 0.8088), (0.7578, 0.8449), (0.6728, 0.9447),
        (0.5836, 0.9905), (0.5115, 1.0000), (0.4422, 0.9936), (0.3536, 0.9520),
        (0.3059, 0.8609), (0.4443, 0.8535), (0.5086, 0.8593), (0.5760, 0.8508),
        (0.7194, 0.8521), (0.5781, 0.9013), (0.5095, 0.9115), (0.4438, 0.9041),
    ],
    dtype=np.float64,
)  # fmt: skip

INTERPOLATIONS = {"linear": "bilinear", "nearest": "nearest", "cubic": "bicubic"}


def face_type_name(name: str) -> str:
    """The long name (`full_face`, ...) of a face type given by its short or long name; `UsageError` else."""
    key = str(name).strip().lower()
    if key not in FACE_TYPES:
        raise unknown_name("face type", str(name), FACE_TYPES)
    return FACE_TYPES[key]


def check_landmarks(landmarks: np.ndarray, what: str = "landmarks") -> np.ndarray:
    """`landmarks` as a finite float64 (68, 2) array; `I2IError` naming `what` otherwise."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise I2IError(f"{what}: expected 68 (x, y) points, got an array of shape {points.shape}")
    if not np.isfinite(points).all():
        raise I2IError(f"{what}: the points hold NaN or infinite values")
    return points


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3 x 3 similarity (rotation, uniform scale, translation) that maps the points `src` onto `dst`
    with the least squared error (Umeyama 1991, without reflections)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mean_src, mean_dst = src.mean(0), dst.mean(0)
    src_c, dst_c = src - mean_src, dst - mean_dst
    cov = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(cov)
    signs = np.ones(2)
    if np.linalg.det(cov) < 0:
        signs[-1] = -1
    rotation = u @ np.diag(signs) @ vt
    variance = (src_c**2).sum() / len(src)
    if variance <= 0:
        raise I2IError("landmarks: all points coincide; no alignment is possible")
    scale = (singular * signs).sum() / variance
    out = np.eye(3)
    out[:2, :2] = scale * rotation
    out[:2, 2] = mean_dst - scale * rotation @ mean_src
    return out


def transform_matrix(landmarks68: np.ndarray, size: int, face_type: str = "full_face") -> np.ndarray:
    """The 2 x 3 similarity from image pixels to the pixels of a `size` x `size` crop of `face_type`."""
    points = check_landmarks(landmarks68)
    kind = face_type_name(face_type)
    if int(size) < 1:
        raise I2IError(f"crop size must be >= 1, got {size}")
    to_unit = umeyama(points[ALIGN_POINTS], MEAN_FACE[ALIGN_POINTS])
    centre = np.array([0.5, 0.5 - UPWARD_SHIFT.get(kind, 0.0)])
    if kind == "head":
        centre[0] -= 0.5 * _yaw(transform_points(points, to_unit[:2]))
    half = 0.5 + PADDING[kind] * math.sqrt(2)
    scale = size / (2 * half)
    to_crop = np.array([[scale, 0, -scale * (centre[0] - half)], [0, scale, -scale * (centre[1] - half)]])
    return to_crop @ to_unit


def _yaw(unit_points: np.ndarray) -> float:
    """A yaw proxy in [-1, 1]: the nose tip's offset from the middle of the jaw's ends, in half jaw widths
    (positive when the nose points to the image's right)."""
    left, right, nose = unit_points[0, 0], unit_points[16, 0], unit_points[30, 0]
    half_width = max((right - left) / 2, 1e-6)
    return float(np.clip((nose - (left + right) / 2) / half_width, -1, 1))


def invert_matrix(mat: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 3 affine map (crop -> image for an alignment matrix)."""
    full = np.vstack([np.asarray(mat, np.float64), [0, 0, 1]])
    return np.linalg.inv(full)[:2]


def transform_points(points: np.ndarray, mat: np.ndarray, *, invert: bool = False) -> np.ndarray:
    """`points` (N, 2) mapped by the 2 x 3 `mat` (or its inverse), as float64."""
    mat = invert_matrix(mat) if invert else np.asarray(mat, np.float64)
    points = np.asarray(points, np.float64).reshape(-1, 2)
    return points @ mat[:, :2].T + mat[:, 2]


def warp_to_crop(
    image: np.ndarray, mat: np.ndarray, size: int, *, interpolation: str = "linear"
) -> np.ndarray:
    """The `size` x `size` crop of `image` under the image -> crop matrix `mat` (pixels outside the image are
    black), in the image's dtype. `interpolation`: linear (DFL's extraction, see the module doc), nearest or
    cubic."""
    return _warp(image, invert_matrix(mat), (int(size), int(size)), interpolation)


def warp_from_crop(
    crop: np.ndarray, mat: np.ndarray, out_hw: tuple[int, int], *, interpolation: str = "linear"
) -> np.ndarray:
    """`crop` put back into an image of height x width `out_hw` under the image -> crop matrix `mat` (the
    inverse warp); pixels the crop does not cover are 0."""
    return _warp(crop, np.asarray(mat, np.float64), (int(out_hw[0]), int(out_hw[1])), interpolation)


def _warp(
    source: np.ndarray, out_to_src: np.ndarray, out_hw: tuple[int, int], interpolation: str
) -> np.ndarray:
    """Sample `source` at `out_to_src` (output pixel -> source pixel) over an output of `out_hw`."""
    if interpolation not in INTERPOLATIONS:
        raise unknown_name("interpolation", interpolation, INTERPOLATIONS)
    array = np.asarray(source)
    flat = array.ndim == 2
    if flat:
        array = array[..., None]
    height, width = out_hw
    out = np.zeros((height, width, array.shape[2]), array.dtype)
    # Only the output box where the source lands, and only the source box it reads, are computed.
    src_to_out = invert_matrix(out_to_src)
    src_h, src_w = array.shape[:2]
    corners = np.array([[-1, -1], [src_w, -1], [src_w, src_h], [-1, src_h]], np.float64)
    landing = transform_points(corners, src_to_out)
    x0, y0 = np.maximum(np.floor(landing.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(landing.max(0)).astype(int) + 1, [width, height])
    if x0 >= x1 or y0 >= y1:
        return out[..., 0] if flat else out
    xs, ys = np.arange(x0, x1, dtype=np.float64)[None, :], np.arange(y0, y1, dtype=np.float64)[:, None]
    sx = (out_to_src[0, 0] * xs + out_to_src[0, 2]).astype(np.float32) + (out_to_src[0, 1] * ys).astype(
        np.float32
    )
    sy = (out_to_src[1, 0] * xs + out_to_src[1, 2]).astype(np.float32) + (out_to_src[1, 1] * ys).astype(
        np.float32
    )
    margin = 3
    bx0 = int(np.clip(np.floor(sx.min()) - margin, 0, src_w - 1))
    by0 = int(np.clip(np.floor(sy.min()) - margin, 0, src_h - 1))
    bx1 = int(np.clip(np.ceil(sx.max()) + margin + 1, bx0 + 1, src_w))
    by1 = int(np.clip(np.ceil(sy.max()) + margin + 1, by0 + 1, src_h))
    patch = array[by0:by1, bx0:bx1]
    ph, pw = patch.shape[:2]
    # grid_sample with align_corners=False: -1 and 1 are the outer edges of the first and last pixels;
    # its zero padding blends samples past the source's edges with black, as OpenCV's constant border does
    # (the patch is cut with a margin, so it only ends early at the source's own edges).
    gx = (2 * (sx - bx0) + 1) / pw - 1
    gy = (2 * (sy - by0) + 1) / ph - 1
    grid = torch.from_numpy(np.stack([gx, gy], -1)[None].astype(np.float32))
    tensor = torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32)).permute(2, 0, 1)[None]
    sampled = F.grid_sample(
        tensor, grid, mode=INTERPOLATIONS[interpolation], padding_mode="zeros", align_corners=False
    )
    values = sampled[0].permute(1, 2, 0).numpy()
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    out[y0:y1, x0:x1] = values.astype(array.dtype)
    return out[..., 0] if flat else out


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of (N, 2) points, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(map(tuple, np.asarray(points, np.float64)))
    if len(pts) < 3:
        return np.array(pts)

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def _fill(polygons: list[np.ndarray], size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        if len(polygon) >= 3:
            draw.polygon([tuple(p) for p in polygon], fill=255)
    return np.asarray(canvas, np.float32) / 255


def hull_mask(landmarks_in_crop: np.ndarray, size: int) -> np.ndarray:
    """float32 (size, size): 1 inside the convex hull of the 68 landmarks (crop pixels), 0 outside."""
    points = check_landmarks(landmarks_in_crop)
    return _fill([convex_hull(points)], int(size))


def eyes_mouth_mask(landmarks_in_crop: np.ndarray, size: int) -> np.ndarray:
    """float32 (size, size): 1 inside the hulls of both eyes (36-41, 42-47) and the mouth (48-67)."""
    points = check_landmarks(landmarks_in_crop)
    parts = [points[36:42], points[42:48], points[48:68]]
    return _fill([convex_hull(part) for part in parts], int(size))
