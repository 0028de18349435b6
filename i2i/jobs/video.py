"""Videos through a model: what `i2i translate` and `i2i upscale` run for video inputs.

Each video streams through in batches of frames (memory does not grow with its length): decoded
(`i2i.io.video`), turned into `ImageData`, run through the model's public API (`translate_images`, or the
tiled upscaling `i2i upscale` uses), optionally smoothed over time, and encoded with the source's
timestamps, rotation, colour range, audio and subtitles, or written as numbered PNG frames (`frames_dir`).
Decoding, the model and encoding overlap: a thread decodes up to `AHEAD` batches ahead and another encodes
up to `AHEAD` batches behind, so the model is not kept waiting on FFmpeg (PyAV releases the GIL while it
codes). The progress bar counts frames, with fps and ETA. A video that fails is reported in one line; the
others go on.

Temporal smoothing (`temporal` = strength in 0..1) blends each output pixel with the previous output where
the input pixel barely changed (by less than `STILL` of the range), in proportion to how still it is: per-frame
models that flicker on static content are steadied while motion is left alone. Every run measures flicker
as the mean absolute frame-to-frame change of the output against that of the input (both in [0, 1]).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from i2i.errors import I2IError, UsageError
from i2i.io import imageio
from i2i.io import provenance as provenance_record
from i2i.io import video as vio
from i2i.jobs.batch import named_error
from i2i.model import Model

#: an input pixel that changes by less than this (in [0, 1]) counts as still for temporal smoothing
STILL = 0.04
#: frames in flight by default: decoded, in the model and waiting to be encoded
DEFAULT_BATCH = 4
#: batches decoded ahead of the model, and batches waiting to be encoded behind it
AHEAD = 2

#: frames of ImageData in, uint8 H x W x 3/4 arrays out
Process = Callable[[list[Any]], list[np.ndarray]]


@dataclass(frozen=True)
class VideoOptions:
    """What part of each video, how it is written and smoothed (see the module docstring)."""

    start: float = 0.0
    duration: float | None = None
    frames_dir: Path | None = None
    temporal: float = 0.0
    batch_size: int = DEFAULT_BATCH
    encode: vio.EncodeOptions = field(default_factory=vio.EncodeOptions)

    def check(self) -> None:
        if not 0.0 <= self.start < float("inf"):
            raise UsageError(f"--start must be 0 or more seconds, not {self.start:g}")
        if self.duration is not None and not 0.0 < self.duration < float("inf"):
            raise UsageError(f"--duration must be more than 0 seconds, not {self.duration:g}")
        if not 0.0 <= self.temporal <= 1.0:
            raise UsageError(f"--temporal is a strength between 0 (off) and 1, not {self.temporal:g}")


def translate_process(model: Model, conditions: dict[str, Any], batch_size: int) -> Process:
    """Frames through `model.translate_images` under `conditions` (one output per frame: a StarGAN v2 clip
    gets one style)."""
    if model.variant_count(dict(conditions)) != 1:
        raise UsageError(
            "a video gets one output per frame: give one style (no --num-styles, one --reference)"
        )

    def process(frames: list[Any]) -> list[np.ndarray]:
        outputs = model.translate_images(frames, batch_size=batch_size, **conditions)
        return [_rgb8(imageio.to_array(out)) for out in outputs]

    return process


def upscale_process(model: Model, enhance: Callable[..., np.ndarray]) -> Process:
    """Frames through `enhance(model, image)` (the tiled upscaling `i2i upscale` runs), one at a time."""
    return lambda frames: [_rgb8(enhance(model, frame)) for frame in frames]


def run_videos(
    jobs: Sequence[tuple[Path, Path]],
    process: Process,
    *,
    title: str,
    options: VideoOptions | None = None,
    provenance: dict[str, str] | None = None,
    max_pixels: int | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> list[tuple[Path, str]]:
    """Each (video, output) of `jobs` through `process`; returns the failures (each said in one line)."""
    options = options or VideoOptions()
    options.check()
    console = console or Console(stderr=True)
    failures = []
    for source, target in jobs:
        try:
            _run_one(source, target, process, title, options, provenance, max_pixels, console, progress)
        except I2IError as exc:
            failures.append((source, named_error(source, exc)))
            console.print(f"[red]error:[/] {escape(failures[-1][1])}", highlight=False, soft_wrap=True)
    return failures


class Flicker:
    """Temporal smoothing (strength 0: off) and the flicker measure of one video."""

    def __init__(self, strength: float) -> None:
        self.strength = strength
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # last input (float), last output
        self.changes = [0.0, 0.0]  # summed mean |change| of input and output
        self.pairs = 0

    def __call__(self, frame: np.ndarray, output: np.ndarray) -> np.ndarray:
        current = frame[..., :3].astype(np.float32) / 255.0
        if self.previous is None:
            self.previous = (current, output)
            return output
        before, last = self.previous
        change = np.abs(current - before).mean(axis=2)
        if self.strength > 0:
            weight = self.strength * np.clip(1.0 - change / STILL, 0.0, 1.0)
            rows = np.arange(output.shape[0]) * change.shape[0] // output.shape[0]
            cols = np.arange(output.shape[1]) * change.shape[1] // output.shape[1]
            weight = weight[np.ix_(rows, cols)][..., None]
            blended = weight * last.astype(np.float32) + (1.0 - weight) * output.astype(np.float32)
            output = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        self.changes[0] += float(change.mean())
        self.changes[1] += float(np.abs(output[..., :3].astype(np.float32) - last[..., :3]).mean() / 255.0)
        self.pairs += 1
        self.previous = (current, output)
        return output

    def report(self) -> str | None:
        """'flicker: ...' (output change / input change), or None for a single frame."""
        if not self.pairs:
            return None
        into, out = (c / self.pairs for c in self.changes)
        ratio = f" ({out / into:.2f}x)" if into > 0 else ""
        return f"flicker: mean frame-to-frame change {out:.4f} out vs {into:.4f} in{ratio}"


# ------------------------------------------------------------------------------------------- one video


def _run_one(source, target, process, title, options, provenance, max_pixels, console, progress) -> None:
    reader = vio.open_video(source, max_pixels=max_pixels)
    try:
        total = _expected_frames(reader, options)
        bar = Progress(
            TextColumn(title),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]} fps"),
            TimeRemainingColumn(),
            console=console,
            disable=not progress,
        )
        with bar:
            task = bar.add_task(source.name, total=total, fps="-")
            sink = _FrameSink(target, reader, options, provenance)
            damage: list[I2IError] = []

            def batches():  # a damaged stream ends the video: what decoded is still written
                frames = reader.frames(start=options.start, duration=options.duration, on_packet=sink.packet)
                try:
                    for batch in _batched(frames, options.batch_size):
                        yield batch, [_image(frame.pixels, source) for frame in batch]
                except I2IError as exc:
                    damage.append(exc)

            done, start = 0, time.perf_counter()
            with sink, contextlib.closing(_ahead(batches(), AHEAD)) as decoded:
                for batch, images in decoded:
                    sink.write(batch, process(images))
                    done += len(batch)
                    rate = done / max(time.perf_counter() - start, 1e-9)
                    bar.update(task, completed=done, fps=f"{rate:.1f}")
        if sink.frames and options.frames_dir is None and provenance_record.is_safeguarded(provenance):
            provenance_record.write_sidecar(target, provenance)  # frames written as PNG carry their own
        if damage:
            kept = (
                f"the {sink.frames} frame(s) before it are in {sink.where}"
                if sink.frames
                else "nothing written"
            )
            raise I2IError(f"{damage[0]}; {kept}")
        if sink.frames == 0:
            raise I2IError(f"{source}: no frames in the part asked for (--start / --duration)")
        elapsed = time.perf_counter() - start
        line = f"{source.name}: {sink.frames} frame(s) -> {sink.where} in {elapsed:.1f}s"
        line += f" ({sink.frames / max(elapsed, 1e-9):.2f} fps)"
        if flicker := sink.flicker.report():
            line += f"; {flicker}"
        if sink.writer is not None and sink.writer.dropped_subtitles:
            kinds = ", ".join(sorted(set(sink.writer.dropped_subtitles)))
            line += f"; subtitles ({kinds}) left out: {target.suffix} cannot hold them (.mkv can)"
        console.print(escape(line), highlight=False, soft_wrap=True)
    finally:
        reader.close()


class _FrameSink:
    """Where processed frames go: an encoded video (created with the first frame's size) or PNG frames.

    `write` hands a batch to the encoding thread and returns at once; packets of the streams copied as they
    are (`packet`, from the decoding thread) wait until the container exists and go in with the next frames.
    Leaving the block finishes the encoding; leaving it on an error drops what is queued and the file."""

    def __init__(self, target: Path, reader: vio.VideoReader, options: VideoOptions, provenance) -> None:
        self.target, self.reader, self.options, self.provenance = target, reader, options, provenance
        self.writer: vio.VideoWriter | None = None
        self.flicker = Flicker(options.temporal)
        self.frames = 0
        self.pending: list[Any] = []
        self.lock = threading.Lock()
        self.where = str(options.frames_dir / target.stem if options.frames_dir else target)
        self.stage = _Stage(self._encode, AHEAD)

    def packet(self, packet: Any) -> None:
        if self.options.frames_dir is None:
            with self.lock:
                self.pending.append(packet)

    def write(self, batch: list[vio.Frame], outputs: list[np.ndarray]) -> None:
        if len(outputs) != len(batch):
            raise I2IError(f"the model returned {len(outputs)} frame(s) for {len(batch)}")
        self.stage.put((batch, outputs))

    def _encode(self, item: tuple[list[vio.Frame], list[np.ndarray]]) -> None:
        for frame, output in zip(*item, strict=True):
            self._write_one(frame, output)

    def _write_one(self, frame: vio.Frame, output: np.ndarray) -> None:
        output = self.flicker(frame.pixels, output)
        if self.options.frames_dir is not None:
            folder = self.options.frames_dir / self.target.stem
            folder.mkdir(parents=True, exist_ok=True)
            imageio.write_array(folder / f"{self.frames:06d}.png", output, provenance=self.provenance)
        else:
            if self.writer is None:
                self.writer = vio.VideoWriter(
                    self.target,
                    self.reader,
                    size=(output.shape[1], output.shape[0]),
                    alpha=output.shape[2] == 4,
                    options=self.options.encode,
                    provenance=self.provenance,
                    offset=self.options.start,
                )
            self.writer.write(_even(output, self.writer), frame.pts, frame.rotation)
            self._copy_pending()
        self.frames += 1

    def _copy_pending(self) -> None:
        with self.lock:
            packets, self.pending = self.pending, []
        for packet in packets:
            self.writer.copy_packet(packet)

    def __enter__(self) -> _FrameSink:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            try:
                self.stage.close()
                if self.writer is not None:
                    self._copy_pending()
            except BaseException as error:
                kind, exc, tb = type(error), error, error.__traceback__
                if self.writer is not None:
                    self.writer.__exit__(kind, exc, tb)
                raise
        else:
            self.stage.abort()
        if self.writer is not None:
            self.writer.__exit__(kind, exc, tb)


class _Stage:
    """A thread running `work` on each item `put`, at most `depth` items waiting; the first error it meets
    is raised by the next `put` or by `close` (later items are then skipped)."""

    _END = object()

    def __init__(self, work: Callable[[Any], None], depth: int) -> None:
        self.work = work
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="i2i-encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not self._END:
            if self.error is None:
                try:
                    self.work(item)
                except BaseException as exc:  # handed to the caller's thread by put / close
                    self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, item: Any) -> None:
        self._raise()
        self.queue.put(item)

    def close(self) -> None:
        """Wait for every item to be worked on; raise the first error."""
        self.queue.put(self._END)
        self.thread.join()
        self._raise()

    def abort(self) -> None:
        """Drop the items still waiting and stop (the one being worked on finishes)."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()
        self.queue.put(self._END)
        self.thread.join()


def _ahead(items: Iterable[Any], depth: int) -> Iterator[Any]:
    """`items`, produced by a thread up to `depth` ahead of the consumer; its error is raised in the
    consumer's thread. Closing the iterator stops the thread before it returns."""
    waiting: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    with contextlib.suppress(queue.Full):
                        waiting.put((True, item), timeout=0.05)
                        break
                if stop.is_set():
                    return
        except BaseException as exc:  # raised again by the consumer
            waiting.put((False, exc))
            return
        waiting.put((False, None))

    thread = threading.Thread(target=produce, name="i2i-decode", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = waiting.get()
            if not ok:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                waiting.get_nowait()
            thread.join(0.01)


def _even(output: np.ndarray, writer: vio.VideoWriter) -> np.ndarray:
    """Frames padded to the stream's (even) size by repeating the last row / column."""
    height, width = writer.stream.height, writer.stream.width
    if output.shape[:2] == (height, width):
        return output
    return np.pad(output, ((0, height - output.shape[0]), (0, width - output.shape[1]), (0, 0)), mode="edge")


def _expected_frames(reader: vio.VideoReader, options: VideoOptions) -> int | None:
    seconds = reader.duration - options.start
    if options.duration is not None:
        seconds = min(seconds, options.duration)
    if options.start == 0 and options.duration is None and reader.declared_frames:
        return reader.declared_frames
    return max(1, round(seconds * float(reader.rate))) if seconds > 0 else None


def _batched(frames, size: int):
    batch = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= max(1, size):
            yield batch
            batch = []
    if batch:
        yield batch


def _image(pixels: np.ndarray, source: Path) -> imageio.ImageData:
    colour = pixels[..., :3].astype(np.float32) / 255.0
    alpha = pixels[..., 3].astype(np.float32) / 255.0 if pixels.shape[2] == 4 else None
    return imageio.ImageData(pixels=colour, alpha=alpha, bit_depth=8, source=source, format=None)


def _rgb8(array: np.ndarray) -> np.ndarray:
    """Any output array (grey, 16-bit, with alpha) as uint8 H x W x 3 or 4."""
    if array.dtype == np.uint16:
        array = (array.astype(np.uint32) * 255 + 32767) // 65535
    array = array.astype(np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] in (1, 2):
        grey = np.repeat(array[..., :1], 3, axis=2)
        array = np.concatenate([grey, array[..., 1:]], axis=2) if array.shape[2] == 2 else grey
    return array
