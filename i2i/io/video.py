"""Video files in and out, streaming, through PyAV (its wheels carry FFmpeg; the optional extra `i2i[video]`).

`open_video` checks a file (a readable container, a video stream, a decoder, frames within the pixel
limit) and `VideoReader.frames` decodes it frame by frame as 8-bit RGB or RGBA arrays with their
timestamps, from `start` for `duration` seconds, while handing the audio and subtitle packets of the same
span to a callback. `VideoWriter` encodes frames with the timestamps they came with (constant and variable
frame rates are kept), copies those packets untouched (subtitles where the output's container can hold their
format: SubRip goes into Matroska, not into MP4), keeps the rotation and colour range, stores provenance in
the container's metadata and writes to a hidden temporary name that replaces the output only when the video
is complete: an interrupted run leaves no file under the output name.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError, UsageError
from i2i.io.files import atomic_path
from i2i.io.image_read import pixel_limit

EXTRA = "pip install 'i2i[video]'"
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
#: container format (FFmpeg muxer) of each suffix
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
#: the codec, pixel format and quality written by default for each suffix
DEFAULT_CODEC = {".webm": "libvpx-vp9"}
#: `--codec lossless`: a lossless encoder for each suffix (RGB kept exactly where the codec allows)
LOSSLESS = {".mkv": "ffv1", ".avi": "ffv1", ".mov": "libx264rgb", ".mp4": "libx264rgb", ".m4v": "libx264rgb"}
#: pixel formats with alpha each alpha-capable encoder takes
ALPHA_FORMATS = {
    "prores_ks": "yuva444p10le",
    "libvpx-vp9": "yuva420p",
    "ffv1": "bgra",
    "png": "rgba",
    "qtrle": "argb",
}


def require() -> Any:
    """The `av` module, or a one-line error naming the extra."""
    try:
        import av
    except ImportError:
        raise I2IError(f"video files need PyAV: {EXTRA}") from None
    return av


def is_video(path: Path) -> bool:
    """True for a file with a video suffix."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def find_videos(inputs: list[Path], *, output: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, relative path) of every video among `inputs` (files, or folders scanned recursively in sorted
    order, hidden entries and the `output` folder skipped)."""
    found = []
    skip = Path(output).resolve() if output is not None else None
    for item in inputs:
        item = Path(item)
        if item.is_file() and is_video(item):
            found.append((item, Path(item.name)))
        elif item.is_dir():
            for path in sorted(item.rglob("*")):
                rel = path.relative_to(item)
                if skip is not None and (path.resolve() == skip or skip in path.resolve().parents):
                    continue
                if path.is_file() and is_video(path) and not any(p.startswith(".") for p in rel.parts):
                    found.append((path, rel))
    return found


@dataclass(frozen=True)
class Frame:
    """A decoded frame: H x W x 3 (or 4, with alpha) uint8 RGB(A) as stored (not rotated), its timestamp
    in the stream's time base (None where the file has none) and its display rotation in degrees."""

    pixels: np.ndarray
    pts: int | None
    rotation: int = 0


class VideoReader:
    """An opened video: its first video stream's properties, and `frames()` to decode it."""

    def __init__(self, path: Path, *, max_pixels: int | None = None) -> None:
        av = require()
        self.path = Path(path)
        try:
            self.container = av.open(str(path), metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise I2IError(f"{path}: not a readable video ({_reason(exc)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise I2IError(f"{path}: no video stream in this file")
        self.stream = self.container.streams.video[0]
        self.audio = list(self.container.streams.audio)
        #: streams copied untouched into the output: audio, and subtitles where the output's container allows
        self.passthrough = self.audio + list(self.container.streams.subtitles)
        ctx = self.stream.codec_context
        if ctx is None or not ctx.codec or self.stream.codec_context.width <= 0:
            self.close()
            raise I2IError(f"{path}: its video codec cannot be decoded by this FFmpeg")
        self.width, self.height = ctx.width, ctx.height
        if self.width * self.height > pixel_limit(max_pixels):
            self.close()
            raise I2IError(
                f"{path}: frames of {self.width}x{self.height} are over the pixel limit; raise it with "
                "--max-pixels"
            )
        self.alpha = "a" in (ctx.pix_fmt or "").replace("gray", "").replace("nv", "")
        self._decoder = _alpha_decoder(av, self.stream)
        self.alpha = self.alpha or self._decoder is not None
        self.time_base = self.stream.time_base or Fraction(1, 90000)
        self.rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        self.declared_frames = int(self.stream.frames or 0)
        self.color_range = ctx.color_range

    @property
    def stream_duration(self) -> float | None:
        """Seconds of the video stream, where the file says (Matroska: its DURATION tag)."""
        if self.stream.duration is not None:
            return float(self.stream.duration * self.time_base)
        tag = self.stream.metadata.get("DURATION", "")
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return None

    @property
    def duration(self) -> float:
        """Seconds, from the video stream or else the container (0 when neither says)."""
        known = self.stream_duration
        return known if known is not None else (self.container.duration or 0) / 1_000_000

    def frames(
        self,
        *,
        start: float = 0.0,
        duration: float | None = None,
        on_packet: Callable[[Any], None] | None = None,
    ) -> Iterator[Frame]:
        """Decode frames from `start` seconds for `duration` seconds (all: None), handing each packet of
        the `passthrough` streams (audio, subtitles) of that span to `on_packet`. A damaged or cut-off
        stream raises `I2IError` after the frames that did decode."""
        av = require()
        end = None if duration is None else start + duration
        if start > 0:
            self.container.seek(int(start / self.time_base), stream=self.stream, backward=True)
        fmt = "rgba" if self.alpha else "rgb24"
        count, last = 0, 0.0
        try:
            for packet in self.container.demux(self.stream, *self.passthrough):
                if packet.stream.type != "video":
                    seconds = None if packet.pts is None else float(packet.pts * packet.time_base)
                    # from the very start: every packet, the encoder's priming (negative timestamps) too
                    inside = seconds is None or (
                        (start <= 0 or seconds >= start) and (end is None or seconds < end)
                    )
                    if on_packet is not None and packet.size and inside:
                        on_packet(packet)
                    continue
                for frame in packet.decode() if self._decoder is None else self._decoder.decode(packet):
                    seconds = frame.time if frame.time is not None else self._seconds(frame.pts, count)
                    if seconds < start - 1e-6:
                        continue
                    if end is not None and seconds >= end - 1e-6:
                        return
                    count, last = count + 1, seconds
                    yield Frame(frame.to_ndarray(format=fmt), frame.pts, int(frame.rotation or 0))
        except av.FFmpegError as exc:
            raise I2IError(
                f"{self.path}: damaged or cut off after {count} frame(s) ({_reason(exc)})"
            ) from None
        if start == 0 and end is None and self.declared_frames and count < self.declared_frames:
            raise I2IError(f"{self.path}: cut off: {count} of its {self.declared_frames} frames decode")
        known = self.stream_duration
        if end is None and count and known is not None and last + max(2.0 / float(self.rate), 0.1) < known:
            raise I2IError(f"{self.path}: cut off at {last:.2f}s of its {known:.2f}s")

    def _seconds(self, pts: int | None, count: int) -> float:
        return float(pts * self.time_base) if pts is not None else count / float(self.rate)

    def close(self) -> None:
        self.container.close()


def _alpha_decoder(av: Any, stream: Any) -> Any:
    """A libvpx decoder for VP8/VP9 with alpha (WebM `alpha_mode` 1): FFmpeg's own VP8/VP9 decoders drop
    the alpha plane, which travels beside each frame as block additions that only libvpx's wrapper reads.
    None for every other stream, and where this FFmpeg has no libvpx (the alpha is then not read)."""
    name = {"vp8": "libvpx", "vp9": "libvpx-vp9"}.get(stream.codec_context.name)
    if name is None or stream.metadata.get("alpha_mode") != "1" or name not in av.codecs_available:
        return None
    decoder = av.CodecContext.create(name, "r")
    decoder.extradata = stream.codec_context.extradata
    return decoder


def open_video(path: Path, *, max_pixels: int | None = None) -> VideoReader:
    """A `VideoReader` of `path`; one-line errors for a file that is no video, has no decodable video
    stream or frames over the pixel limit."""
    if not Path(path).is_file():
        raise I2IError(f"{path}: no such file")
    return VideoReader(path, max_pixels=max_pixels)


@dataclass(frozen=True)
class EncodeOptions:
    """How a video is encoded: `codec` (an FFmpeg encoder, "lossless", or None for the suffix's default:
    H.264, VP9 for .webm), `crf` (quality: lower is better), `pix_fmt` (None: yuv420p, or the codec's
    format with alpha when the frames have alpha and the codec can store it)."""

    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None


class VideoWriter:
    """Encode frames into `path` like `source` (timestamps, rotation, colour range, audio, subtitles); use as
    a context manager: the file appears under its name only when the block completes."""

    def __init__(
        self,
        path: Path,
        source: VideoReader,
        *,
        size: tuple[int, int],
        alpha: bool,
        options: EncodeOptions | None = None,
        provenance: dict[str, str] | None = None,
        offset: float = 0.0,
    ) -> None:
        av = require()
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in MUXERS:
            raise UsageError(f"{path}: write videos as {', '.join(VIDEO_SUFFIXES)}")
        options = options or EncodeOptions()
        codec = options.codec or DEFAULT_CODEC.get(suffix, "libx264")
        if codec == "lossless":
            codec = LOSSLESS[suffix]
        if codec not in av.codecs_available:
            raise UsageError(
                f"unknown or unavailable encoder '{codec}' (e.g. libx264, libvpx-vp9, prores_ks, ffv1)"
            )
        keep_alpha = alpha and codec in ALPHA_FORMATS
        pix_fmt = options.pix_fmt or (ALPHA_FORMATS[codec] if keep_alpha else _default_pix_fmt(codec))
        self.frame_format = "rgba" if keep_alpha or "a" in pix_fmt.replace("gray", "") else "rgb24"
        self._stack = contextlib.ExitStack()  # atomic_path: a hidden temporary file, renamed when complete
        self.tmp = self._stack.enter_context(atomic_path(self.path))
        self.container = av.open(str(self.tmp), "w", format=MUXERS[suffix])
        try:
            self.stream = self.container.add_stream(codec, rate=source.rate)
            subsampled = pix_fmt.startswith(("yuv420", "yuva420", "yuv422", "yuva422", "nv12"))
            # chroma-subsampled formats need even sides: the writer pads frames by their last row / column
            self.stream.width, self.stream.height = (side + side % 2 if subsampled else side for side in size)
            self.stream.pix_fmt = pix_fmt
            self.stream.time_base = source.time_base
            self.stream.codec_context.time_base = source.time_base
            self.stream.options = _quality(codec, options.crf)
            if source.color_range is not None and codec not in LOSSLESS.values():
                self.stream.codec_context.color_range = source.color_range
            self.copied = {s.index: self.container.add_stream_from_template(s) for s in source.audio}
            #: subtitle streams the container cannot hold (e.g. SubRip in MP4), by codec name
            self.dropped_subtitles: list[str] = []
            for s in source.passthrough[len(source.audio) :]:
                try:
                    self.copied[s.index] = self.container.add_stream_from_template(s)
                except ValueError:
                    self.dropped_subtitles.append(s.codec_context.name)
            if provenance:
                self.container.metadata["comment"] = json.dumps({"i2i": provenance})
        except (av.FFmpegError, ValueError) as exc:
            self._discard()
            raise I2IError(
                f"{path}: cannot encode {codec} / {pix_fmt} in {suffix} ({_reason(exc)})"
            ) from None
        self.offset = offset
        self._last_pts: int | None = None
        self.frames = 0

    def write(self, pixels: np.ndarray, pts: int | None, rotation: int = 0) -> None:
        """Encode one H x W x 3/4 uint8 frame at `pts` (the source's time base, less `offset` seconds); the
        first frame's display `rotation` is the stream's."""
        av = require()
        if self.frames == 0 and rotation:
            self.stream.set_display_rotation(rotation)
        if pixels.shape[2] == 4 and self.frame_format == "rgb24":
            pixels = pixels[..., :3]
        elif pixels.shape[2] == 3 and self.frame_format == "rgba":
            pixels = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=2)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format=self.frame_format)
        ctx = self.stream.codec_context
        if ctx.pix_fmt.startswith("yuv") and int(ctx.color_range or 0) in (1, 2):  # MPEG or JPEG range
            frame = frame.reformat(format=ctx.pix_fmt, dst_color_range=ctx.color_range)
            frame.color_range = ctx.color_range
        shift = round(self.offset / self.stream.codec_context.time_base)
        pts = (self._last_pts or 0) + 1 if pts is None else pts - shift
        if self._last_pts is not None:
            pts = max(pts, self._last_pts + 1)
        frame.pts, frame.time_base = pts, self.stream.codec_context.time_base
        self._last_pts = pts
        try:
            self.container.mux(self.stream.encode(frame))
        except av.FFmpegError as exc:
            raise I2IError(
                f"{self.path}: {ctx.name} cannot encode {ctx.pix_fmt} {ctx.width}x{ctx.height} here "
                f"({_reason(exc)}); try another --codec or --pix-fmt"
            ) from None
        self.frames += 1

    def copy_packet(self, packet: Any) -> None:
        """Mux a packet of an audio or subtitle stream of the source untouched (timestamps less `offset`
        seconds); packets of a stream the container cannot hold are left out."""
        out = self.copied.get(packet.stream.index)
        if out is None:
            return
        if self.offset:
            shift = round(self.offset / packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = None if packet.dts is None else packet.dts - shift
        packet.stream = out
        self.container.mux(packet)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is not None:
            self._discard(kind, exc, tb)
            return
        try:
            self.container.mux(self.stream.encode(None))
            self.container.close()
        except BaseException as error:
            self._discard(type(error), error, error.__traceback__)
            if isinstance(error, require().FFmpegError):
                raise I2IError(f"{self.path}: the video could not be finished ({_reason(error)})") from None
            raise
        self._stack.close()

    def _discard(self, kind: Any = I2IError, exc: Any = None, tb: Any = None) -> None:
        with contextlib.suppress(
            Exception
        ):  # closing a half-written container may fail; the file goes anyway
            self.container.close()
        self._stack.__exit__(kind, exc or kind(), tb)  # the temporary file is removed, the output untouched


def read_video_provenance(path: Path) -> dict[str, str] | None:
    """The provenance i2i stored in a video's metadata, or None."""
    av = require()
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            comment = container.metadata.get("comment", "")
    except av.FFmpegError:
        return None
    try:
        return json.loads(comment).get("i2i") if comment.startswith("{") else None
    except (json.JSONDecodeError, AttributeError):
        return None


def _default_pix_fmt(codec: str) -> str:
    known = {
        "ffv1": "bgr0",
        "libx264rgb": "rgb24",
        "png": "rgb24",
        "qtrle": "rgb24",
        "prores_ks": "yuv422p10le",
    }
    return known.get(codec, "yuv420p")


def _quality(codec: str, crf: int | None) -> dict[str, str]:
    if codec == "libx264rgb" and crf is None:
        return {"crf": "0", "preset": "medium"}
    if codec in ("libx264", "libx265", "libx264rgb"):
        return {"crf": str(18 if crf is None else crf), "preset": "medium"}
    if codec in ("libvpx-vp9", "libvpx"):
        return {"crf": str(30 if crf is None else crf), "b": "0"}
    if codec == "libsvtav1":
        return {"crf": str(30 if crf is None else crf)}
    if crf is not None:
        raise UsageError(f"--crf applies to x264, x265, VP9 and AV1, not {codec}")
    return {}


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())[:200]
