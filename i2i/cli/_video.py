"""Video inputs for `i2i translate` and `i2i upscale`: the `video_flags` decorator adds the video options to
a command and sends the video files among its inputs (named, or inside input folders) through
`i2i.jobs.video`; the images among them go on to the command itself."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from i2i.cli import _common as common
from i2i.cli import _safeguards as safeguards
from i2i.errors import UsageError

Start = Annotated[float, typer.Option("--start", help="Videos: start this many seconds in.")]
Duration = Annotated[float | None, typer.Option("--duration", help="Videos: do this many seconds.")]
FramesDir = Annotated[
    Path | None,
    typer.Option("--frames-dir", help="Videos: write PNG frames to DIR/NAME/ instead of a video."),
]
Temporal = Annotated[
    float,
    typer.Option("--temporal", help="Videos: smoothing strength 0..1 where the input is still (0: off)."),
]
Codec = Annotated[
    str | None,
    typer.Option(
        "--codec", help="Videos: FFmpeg encoder (libx264, libvpx-vp9, prores_ks, ffv1) or lossless."
    ),
]
Crf = Annotated[int | None, typer.Option("--crf", help="Videos: quality, lower is better (x264: 18).")]
PixFmt = Annotated[str | None, typer.Option("--pix-fmt", help="Videos: pixel format (default yuv420p).")]

_PARAMS = {
    "start": (Start, 0.0),
    "duration": (Duration, None),
    "frames_dir": (FramesDir, None),
    "temporal": (Temporal, 0.0),
    "codec": (Codec, None),
    "crf": (Crf, None),
    "pix_fmt": (PixFmt, None),
}


def video_flags(command: str):
    """Decorate `translate` or `upscale` (inside `model_flags`): video options, and videos handled here."""

    def decorate(func):
        signature = inspect.signature(func, eval_str=True)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name, default) for name, (_, default) in _PARAMS.items()}
            from i2i.io import imageio
            from i2i.io import video as vio

            key = "paths" if command == "translate" else "inputs"
            paths = list(kwargs[key])
            destination = kwargs["output"]
            if command == "translate" and destination is None and len(paths) >= 2:
                paths, destination = paths[:-1], paths[-1]
            videos = vio.find_videos(paths, output=destination)
            if not videos:
                if any(given[name] != default for name, (_, default) in _PARAMS.items()):
                    raise UsageError(f"--start, --duration, --frames-dir, --temporal, --codec, --crf and --pix-fmt "
                                     f"apply to videos ({', '.join(vio.VIDEO_SUFFIXES)}); none among the inputs")  # fmt: skip
                return func(*args, **kwargs)
            rest = [p for p in paths if not (Path(p).is_file() and vio.is_video(Path(p)))]
            images = imageio.find_images(rest, output=destination) if rest else []
            failures = _run(command, kwargs, paths, videos, destination, given)
            if images:
                if command == "translate":
                    kwargs[key] = rest + ([destination] if kwargs["output"] is None else [])
                else:
                    kwargs[key] = rest
                try:
                    func(*args, **kwargs)
                except typer.Exit:
                    failures.append((Path(), "images"))
            if failures:
                raise typer.Exit(1)
            return None

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()]
        params += [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, (annotation, default) in _PARAMS.items()
        ]
        wrapper.__signature__ = signature.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


def _run(command: str, kw: dict, inputs: list[Path], videos, destination: Path | None, given: dict) -> list:
    from i2i.api import load
    from i2i.io.video import EncodeOptions
    from i2i.jobs import video as jobs

    if kw.get("fmt", "same") != "same":
        raise UsageError(
            "--format is for images; videos keep their container (choose the codec with --codec)"
        )
    batch = kw.get("batch_size") or jobs.DEFAULT_BATCH
    options = jobs.VideoOptions(
        start=given["start"],
        duration=given["duration"],
        frames_dir=given["frames_dir"],
        temporal=given["temporal"],
        batch_size=max(batch, jobs.DEFAULT_BATCH),
        encode=EncodeOptions(given["codec"], given["crf"], given["pix_fmt"]),
    )
    options.check()
    model = kw["model"]
    if command == "upscale" and model is None and kw["weights"] is None:
        model = common.default_model("upscale")
    if command == "upscale" and kw.get("denoise_strength") is not None:
        raise UsageError(
            "--denoise-strength is for images; blend the weights first with `i2i weights interp`"
        )
    declared = kw["declared"]
    safeguards.check_named(model, kw.get("consent"))
    loaded = load(model, kw["weights"] or common.default_weights(model), device=kw["device"],
                  precision=kw["precision"], **common.overrides(kw["set_"], declared.settings))  # fmt: skip
    safeguards.prepare(loaded, kw.get("consent"), no_badge=kw.get("no_badge", False),
                       no_watermark=kw.get("no_watermark", False), no_provenance=kw["no_provenance"])  # fmt: skip
    tag = None if kw["no_provenance"] else loaded.provenance_tag()
    if command == "translate":
        if kw.get("grid"):
            raise UsageError("--grid is for images, not videos")
        jobs_, process = _translate_plan(loaded, kw, videos, destination, batch)
    else:
        jobs_, process, factor = _upscale_plan(loaded, kw, inputs, videos, destination)
        tag = None if tag is None else tag | {"outscale": f"{factor:g}"}
    return jobs.run_videos(
        jobs_,
        process,
        title=f"[bold]{loaded.name}[/]",
        options=options,
        provenance=tag,
        max_pixels=kw["max_pixels"],
        console=common.err,
        progress=not kw["no_progress"],
    )


def _translate_plan(loaded, kw: dict, videos, destination: Path | None, batch: int):
    from i2i.io import video as vio
    from i2i.jobs import video as jobs

    if destination is None:
        raise UsageError("give inputs and an output: `i2i translate ... INPUT... OUTPUT` (or -o OUTPUT)")
    conditions = kw["declared"].with_conditions(kw["cond"], type(loaded).options)
    if note := loaded.default_note(conditions):
        common.note(note)
    single = (
        len(videos) == 1 and destination.suffix.lower() in vio.VIDEO_SUFFIXES and not destination.is_dir()
    )
    planned = [(path, destination if single else destination / rel) for path, rel in videos]
    return planned, jobs.translate_process(loaded, conditions, batch)


def _upscale_plan(loaded, kw: dict, inputs: list[Path], videos, destination: Path | None):
    from i2i.jobs import upscale as upscale_jobs
    from i2i.jobs import video as jobs
    from i2i.ops import tiling

    tiling.check_model(loaded)
    factor = kw["outscale"] if kw["outscale"] is not None else upscale_jobs.default_outscale(loaded)
    planned, _ = upscale_jobs.plan_outputs(inputs, videos, destination, factor)

    def enhance(model, image):
        return tiling.enhance(model, image, outscale=factor, alpha_upsampler=kw["alpha_upsampler"],
                              tile=kw["tile"], tile_pad=kw["tile_pad"], pre_pad=kw["pre_pad"],
                              mode=kw["tile_mode"])  # fmt: skip

    return planned, jobs.upscale_process(loaded, enhance), factor
