"""SAEHD's training samples, written from the description of DeepFaceLab's sample generator (§1.5 of the
face-swap reference): per identity, a `warped` input, its `target`, the `target_mask` (the landmark hull, or
the faceset's XSeg mask) and the `em_mask` (eyes and mouth), all at the model's resolution and face type.

Each sample takes one face (an image and its 68 landmarks) and draws, from its own generator:
- an affine jitter shared by every output: rotation +-10 degrees, scale +-15 %, translation +-5 % of the side,
  about the crop's centre;
- a horizontal flip (per identity: `random_src_flip` off, `random_dst_flip` on by default);
- with `random_warp`, the warp of the input only: a grid of cells of R/2, R/4 or R/8 pixels whose inner nodes
  move by N(0, 0.24 cell), interpolated to a smooth field.

The data (`find_faces`): `DIR/src/` and `DIR/dst/`, each holding aligned faces (DeepFaceLab's JPEGs or
i2i's own, read through `i2i.data.faces.faceset`) or raw images with a `landmarks.json` beside them (the
`precomputed` provider's file), aligned on the fly. Raw faces are cropped from the whole frame, so the jitter
shows the frame around the face where an aligned crop would show black corners.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from i2i.data.base import SeededDataset
from i2i.data.faces import align
from i2i.data.faces.faceset import read_aligned
from i2i.data.faces.layout import EXPECTED_LAYOUT
from i2i.data.faces.providers import read_landmarks_json
from i2i.data.faces.synth import LANDMARKS_FILE
from i2i.data.files import open_rgb, scan
from i2i.errors import I2IError

#: DeepFaceLab's SAEHD sample jitter
ROTATION_DEGREES = 10.0
SCALE_RANGE = 0.15
TRANSLATION = 0.05
#: random warp: cells of R / 2, R / 4 or R / 8, inner nodes moved by N(0, WARP_SIGMA * cell)
WARP_DIVISORS = (2, 4, 8)
WARP_SIGMA = 0.24
#: the output names of one identity's sample, and the tensor key each has in a batch (`<name>_src`, ...)
OUTPUTS = ("warped", "target", "target_mask", "em_mask")


@dataclass
class FaceImage:
    """One face to sample from: an RGB image (H x W x 3, uint8 or float32 in [0, 1]), its 68 landmarks in
    that image's pixels, and an optional XSeg mask (H x W float32 in [0, 1]) over the same image."""

    image: np.ndarray
    landmarks: np.ndarray
    xseg_mask: np.ndarray | None = None


def jitter_matrix(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random 2 x 3 crop -> crop map: rotation, scale and translation about the crop's centre."""
    angle = math.radians(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    scale = 1 + rng.uniform(-SCALE_RANGE, SCALE_RANGE)
    tx, ty = rng.uniform(-TRANSLATION, TRANSLATION, 2) * size
    c = (size - 1) / 2
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[cos, -sin, c - cos * c + sin * c + tx], [sin, cos, c - sin * c - cos * c + ty]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine map `outer` after `inner`."""
    full = np.vstack([np.asarray(inner, np.float64), [0, 0, 1]])
    return np.asarray(outer, np.float64) @ full


def warp_field(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random warp as a (size, size, 2) map of source (x, y) pixel positions: a grid of cells of
    size / 2, size / 4 or size / 8 whose inner nodes move by N(0, 0.24 cell), interpolated bilinearly (the
    border nodes stay, so the crop's edges stay in place)."""
    cell = size / WARP_DIVISORS[int(rng.integers(len(WARP_DIVISORS)))]
    nodes = int(round(size / cell)) + 1
    shift = np.zeros((2, nodes, nodes), np.float32)
    if nodes > 2:
        shift[:, 1:-1, 1:-1] = rng.normal(0, WARP_SIGMA * cell, (2, nodes - 2, nodes - 2))
    dense = F.interpolate(
        torch.from_numpy(shift)[None], size=(size, size), mode="bilinear", align_corners=True
    )
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.stack([xs, ys], -1) + dense[0].permute(1, 2, 0).numpy()


def remap(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """`image` (H x W x C float32) sampled bilinearly at the (x, y) pixel positions of `field`, edge pixels
    repeated outside."""
    h, w = image.shape[:2]
    grid = np.stack([(2 * field[..., 0] + 1) / w - 1, (2 * field[..., 1] + 1) / h - 1], -1)
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    out = F.grid_sample(
        tensor, torch.from_numpy(grid.astype(np.float32))[None], mode="bilinear", padding_mode="border",
        align_corners=False,
    )  # fmt: skip
    return out[0].numpy().transpose(1, 2, 0)


def make_sample(
    face: FaceImage,
    rng: np.random.Generator,
    *,
    resolution: int,
    face_type: str,
    random_warp: bool = True,
    flip: bool = False,
) -> dict[str, np.ndarray]:
    """One identity's sample of `face` (see the module): `warped`, `target` (R x R x 3 float32 RGB in
    [0, 1]), `target_mask` and `em_mask` (R x R x 1 float32). `flip` allows a random horizontal flip."""
    size = int(resolution)
    mat = compose(jitter_matrix(rng, size), align.transform_matrix(face.landmarks, size, face_type))
    flipped = flip and rng.random() < 0.5
    field = warp_field(rng, size) if random_warp else None
    image = face.image.astype(np.float32) / 255 if face.image.dtype == np.uint8 else face.image
    target = np.clip(align.warp_to_crop(image.astype(np.float32), mat, size), 0, 1)
    points = align.transform_points(face.landmarks, mat)
    if face.xseg_mask is not None:
        mask = align.warp_to_crop(face.xseg_mask.astype(np.float32), mat, size)
    else:
        mask = align.hull_mask(points, size)
    em_mask = align.eyes_mouth_mask(points, size)
    sample = {"target": target, "target_mask": mask[..., None], "em_mask": em_mask[..., None]}
    if flipped:
        sample = {k: v[:, ::-1] for k, v in sample.items()}
    sample = {k: np.ascontiguousarray(v, np.float32) for k, v in sample.items()}
    sample["warped"] = remap(sample["target"], field) if field is not None else sample["target"].copy()
    return sample


def to_tensors(sample: dict[str, np.ndarray], suffix: str) -> dict[str, torch.Tensor]:
    """A sample's arrays as CHW tensors under `<name>_<suffix>` keys."""
    return {f"{k}_{suffix}": torch.from_numpy(v.transpose(2, 0, 1).copy()) for k, v in sample.items()}


class FacePairDataset(SeededDataset):
    """Samples of both identities: item `i` holds src face `i % |src|` and a dst face drawn at random, as
    tensors `warped_src`, `target_src`, `target_mask_src`, `em_mask_src` and the same with `_dst` (CHW,
    RGB, [0, 1]). Every random draw depends only on (seed, epoch, i)."""

    def __init__(
        self,
        src: list[Any],
        dst: list[Any],
        *,
        resolution: int,
        face_type: str,
        random_warp: bool = True,
        random_src_flip: bool = False,
        random_dst_flip: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        self.src, self.dst = src, dst
        self.options = {"resolution": resolution, "face_type": face_type, "random_warp": random_warp}
        self.flips = {"src": random_src_flip, "dst": random_dst_flip}

    def __len__(self) -> int:
        return max(len(self.src), len(self.dst))

    def _generator(self, index: int, stream: str) -> np.random.Generator:
        return np.random.default_rng(self.rng(index, stream).getrandbits(64))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        picked = {
            "src": self.src[index % len(self.src)],
            "dst": self.dst[self.rng(index, "pick").randrange(len(self.dst))],
        }
        out: dict[str, torch.Tensor] = {}
        for side, source in picked.items():
            face = source.load() if hasattr(source, "load") else source
            sample = make_sample(face, self._generator(index, side), flip=self.flips[side], **self.options)
            out |= to_tensors(sample, side)
        return out


# --------------------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class AlignedSource:
    """An aligned face file (DeepFaceLab's JPEG or i2i's own): the crop and its own landmarks."""

    path: Path

    def load(self) -> FaceImage:
        face = read_aligned(self.path)
        xseg = face.xseg_mask
        height, width = face.image.shape[:2]
        if xseg is not None and xseg.shape != (height, width):  # DFL stores XSeg masks at their own size
            resized = F.interpolate(torch.from_numpy(xseg)[None, None], size=(height, width), mode="bilinear")
            xseg = resized[0, 0].numpy()
        return FaceImage(face.image, np.asarray(face.landmarks, np.float64), xseg)


@dataclass(frozen=True)
class RawSource:
    """One face of a raw image, with its landmarks from the folder's `landmarks.json`."""

    path: Path
    landmarks: np.ndarray

    def load(self) -> FaceImage:
        return FaceImage(np.asarray(open_rgb(self.path)), self.landmarks)


def find_faces(folder: Path) -> list[AlignedSource | RawSource]:
    """The faces of one identity's folder: every face listed in its `landmarks.json` (raw images), or else
    every image in it as an aligned face. `I2IError` (one line) when the folder is missing or holds none."""
    if not folder.is_dir():
        raise I2IError(f"{folder} does not exist; expected {EXPECTED_LAYOUT}")
    listed = folder / LANDMARKS_FILE
    if listed.is_file():
        sources: list[AlignedSource | RawSource] = []
        for key, faces in sorted(read_landmarks_json(listed).items()):
            path = folder / key
            if faces and not path.is_file():
                raise I2IError(f"{listed}: lists '{key}', but {path} does not exist")
            sources.extend(RawSource(path, face.landmarks) for face in faces)
        if not sources:
            raise I2IError(f"{listed} lists no face")
        return sources
    images, _ = scan(folder)
    if not images:
        raise I2IError(f"{folder} holds no images; expected {EXPECTED_LAYOUT}")
    return [AlignedSource(path) for path in images]
