"""`i2i faces ...`: faces for face swapping: aligned crops (DeepFaceLab's face types) from images or videos."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from i2i.cli._common import MaxPixels, friendly_errors, group, note, out
from i2i.errors import I2IError, UsageError

faces_app = group("faces", "Faces for face swapping: aligned crops with landmarks (DeepFaceLab face types).")


@faces_app.command("extract")
@friendly_errors
def extract(
    source: Annotated[Path, typer.Argument(help="Folder of images, one image, or a video file.")],
    destination: Annotated[Path, typer.Argument(help="Folder to write the aligned faces to.")],
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            help="Where landmarks come from: precomputed (a JSON file), faceset (aligned files carry their "
            "own), dlib68 (pip install 'i2i[faceswap-dlib]'; non-commercial model) or mtcnn5 (5 points; "
            "pip install --no-deps facenet-pytorch).",
        ),
    ] = "precomputed",
    landmarks: Annotated[
        Path | None,
        typer.Option("--landmarks", help="precomputed: the landmarks JSON (default: SOURCE/landmarks.json)."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help="mtcnn5: a folder with pnet.pt, rnet.pt, onet.pt (default: facenet-pytorch's)."
        ),
    ] = None,
    face_type: Annotated[
        str, typer.Option("--face-type", help="h, mf, f, wf or head (DeepFaceLab's face types).")
    ] = "wf",
    size: Annotated[int, typer.Option("--size", help="Side of the aligned crops in pixels.")] = 512,
    jpeg_quality: Annotated[int, typer.Option("--jpeg-quality", help="JPEG quality 1..100.")] = 90,
    output_format: Annotated[str, typer.Option("--format", help="jpg or png.")] = "jpg",
    every: Annotated[int, typer.Option("--every", help="Take every N-th image or video frame.")] = 1,
    max_pixels: MaxPixels = None,
) -> None:
    """Align every face in a folder of images (or a video) and write the crops with their landmarks.

    Each face becomes `DESTINATION/<frame>_<n>.jpg` holding its landmarks, the source rectangle and
    landmarks and the frame-to-crop matrix (i2i's aligned format, readable by `i2i train saehd`).

    Examples:
    - `i2i data synth faces --task faces --size 256 && i2i faces extract faces/src aligned/src`
    - `i2i faces extract frames/ aligned/ --landmarks frames.json --face-type f --size 256`
    - `i2i faces extract clip.mp4 aligned/ --provider dlib68 --every 5`
    - `i2i faces extract dfl_faceset/ aligned/ --provider faceset --face-type f` (re-crop DFL faces)
    """
    from i2i.data.faces.providers import get_provider
    from i2i.jobs.faces import extract_faces

    if not source.exists():
        raise I2IError(f"{source}: no such file or folder")
    options: dict[str, object] = {}
    if provider == "precomputed":
        root = source if source.is_dir() else source.parent
        options = {"path": landmarks or root / "landmarks.json", "root": root}
    elif landmarks is not None:
        raise UsageError(f"--landmarks is for the precomputed provider, not {provider}")
    if provider == "mtcnn5" and weights is not None:
        options = {"weights": weights}
    elif weights is not None:
        raise UsageError(f"--weights is for the mtcnn5 provider, not {provider}")
    chosen = get_provider(provider, **options)
    if chosen.license_note:
        note(f"{provider}: {chosen.license_note}")
    t0 = time.perf_counter()
    summary = extract_faces(
        source,
        destination,
        chosen,
        face_type=face_type,
        size=size,
        jpeg_quality=jpeg_quality,
        output_format=output_format,
        every=every,
        max_pixels=max_pixels,
    )
    if summary.without_face:
        shown = ", ".join(summary.without_face[:5]) + (" ..." if len(summary.without_face) > 5 else "")
        note(f"{len(summary.without_face)} frame(s) with no face: {shown}")
    out.print(
        f"wrote {len(summary.written)} aligned face(s) from {summary.frames} frame(s) to {destination} "
        f"in {time.perf_counter() - t0:.1f}s",
        highlight=False,
        soft_wrap=True,
    )


@faces_app.command("consent-template")
@friendly_errors
def consent_template(
    destination: Annotated[Path, typer.Argument(help="The attestation to write (TOML), e.g. consent.toml.")],
) -> None:
    """Write a consent attestation to fill in (`--consent FILE` of `i2i train saehd` and `i2i translate`).

    Examples:
    - `i2i faces consent-template consent.toml`
    """
    from i2i.io.consent import write_template

    written = write_template(destination)
    out.print(f"wrote {written}: fill it in, then set given = true", highlight=False, soft_wrap=True)
