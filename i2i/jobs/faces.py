"""`i2i faces extract`: aligned face crops, with their landmarks, from a folder of images or a video.

Every frame goes through a landmark provider (`i2i.data.faces.providers`), each face found is aligned the
way DeepFaceLab aligns its face types (`i2i.data.faces.align`) and written atomically in i2i's aligned
format (`i2i.data.faces.faceset`: JPEG or PNG with the landmarks, source rectangle and landmarks and the
frame -> crop matrix as JSON inside the file). A face is written as `<frame path without suffix>_<n>.jpg`
under the output folder (n counts the faces of a frame from 0, as DFL names them). Video frames are named
`<video stem>_<frame number, 6 digits>.png` (from 0) for the provider, so precomputed landmarks of a video
use those names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from i2i.data.faces.align import face_type_name, transform_matrix, transform_points, warp_to_crop
from i2i.data.faces.faceset import AlignedFace, write_aligned
from i2i.data.faces.providers import LandmarkProvider
from i2i.errors import I2IError
from i2i.io import imageio
from i2i.io import video as vio

OUTPUT_FORMATS = ("jpg", "png")


@dataclass
class ExtractSummary:
    """What an extraction did: frames read, faces written (their paths) and frames with no face."""

    frames: int = 0
    written: list[Path] = field(default_factory=list)
    without_face: list[str] = field(default_factory=list)


def frames_of(source: Path, *, output: Path | None = None, every: int = 1, max_pixels: int | None = None):
    """(name, RGB uint8 frame) of every image under `source` (a folder or one image; names are full paths)
    or every `every`-th frame of the video `source` (named `<dir>/<stem>_<frame>.png`)."""
    source = Path(source)
    if every < 1:
        raise I2IError(f"--every must be >= 1, got {every}")
    if source.is_file() and vio.is_video(source):
        return _video_frames(source, every, max_pixels)
    if not source.exists():
        raise I2IError(f"{source}: no such file or folder")
    files = imageio.find_images([source], output=output)
    if not files:
        raise I2IError(f"{source}: no images (or video) to extract faces from")
    return ((path, _rgb8(imageio.read_image(path, max_pixels=max_pixels))) for path, _ in files[::every])


def _video_frames(path: Path, every: int, max_pixels: int | None) -> Iterator[tuple[Path, np.ndarray]]:
    reader = vio.open_video(path, max_pixels=max_pixels)
    try:
        for index, frame in enumerate(reader.frames()):
            if index % every == 0:
                yield (
                    path.parent / f"{path.stem}_{index:06d}.png",
                    np.ascontiguousarray(frame.pixels[..., :3]),
                )
    finally:
        reader.close()


def _rgb8(image: imageio.ImageData) -> np.ndarray:
    pixels = imageio.quantize(image.pixels, 8)
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    size: int,
    face_type: str,
    source: str | None = None,
    rect=None,
) -> AlignedFace:
    """The aligned `face_type` crop of one face of `image` (RGB uint8) with its metadata."""
    kind = face_type_name(face_type)
    mat = transform_matrix(landmarks, size, kind)
    return AlignedFace(
        image=warp_to_crop(image, mat, size),
        face_type=kind,
        landmarks=transform_points(landmarks, mat),
        source_filename=source,
        source_rect=rect,
        source_landmarks=np.asarray(landmarks, np.float64),
        image_to_face_mat=mat,
    )


def extract_faces(
    source: Path,
    out_dir: Path,
    provider: LandmarkProvider,
    *,
    face_type: str = "wf",
    size: int = 512,
    jpeg_quality: int = 90,
    output_format: str = "jpg",
    every: int = 1,
    max_pixels: int | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> ExtractSummary:
    """Align every face `provider` finds in the images or video `source` and write them under `out_dir`."""
    source, out_dir = Path(source), Path(out_dir)
    kind = face_type_name(face_type)
    if output_format not in OUTPUT_FORMATS:
        raise I2IError(f"aligned faces are written as {' or '.join(OUTPUT_FORMATS)}, not '{output_format}'")
    if not 16 <= int(size) <= 4096:
        raise I2IError(f"--size must be 16..4096 pixels, got {size}")
    if not 1 <= int(jpeg_quality) <= 100:
        raise I2IError(f"--jpeg-quality must be 1..100, got {jpeg_quality}")
    root = source if source.is_dir() else source.parent
    summary = ExtractSummary()
    for path, image in frames_of(source, output=out_dir, every=every, max_pixels=max_pixels):
        relative = path.relative_to(root)
        faces = provider.detect(image, name=str(path))
        summary.frames += 1
        if not faces:
            summary.without_face.append(relative.as_posix())
        for n, face in enumerate(faces):
            aligned = align_face(
                image, face.landmarks, size=size, face_type=kind, source=relative.as_posix(), rect=face.rect
            )
            target = out_dir / relative.parent / f"{relative.stem}_{n}.{output_format}"
            summary.written.append(write_aligned(target, aligned, jpeg_quality=jpeg_quality))
        if on_frame is not None:
            on_frame(summary.frames)
    return summary
