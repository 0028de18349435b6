"""Video files through PyAV: timestamps, rotation, audio, lossless and alpha round trips, bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from i2i.errors import I2IError
from i2i.io import video

av = pytest.importorskip("av")


def make_video(
    path: Path, *, frames: int = 12, size=(48, 32), vfr=False, rotation=0, audio=True, rate=24
) -> Path:
    """A short H.264 clip (frame i: red = 20 i, i rows of green) with a 440 Hz AAC tone; variable frame
    intervals (60 and 30 ms) with `vfr`."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000 * rate)
        if rotation:
            stream.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=16000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        pts = 0
        for i in range(frames):
            pixels = np.zeros((size[1], size[0], 3), np.uint8)
            pixels[..., 0] = (20 * i) % 256
            pixels[: i + 1, :, 1] = 255
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = pts, stream.time_base
            pts += (60 * rate if i % 2 else 30 * rate) if vfr else 1000
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if sound is not None:
            t = 0
            while t < 16000 * pts // (1000 * rate):
                tone = (0.3 * np.sin(np.arange(t, t + 1024) / 16000 * 2 * np.pi * 440)).astype(np.float32)[
                    None
                ]
                chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, t
                container.mux(sound.encode(chunk))
                t += 1024
            container.mux(sound.encode(None))
    return path


def describe(path: Path) -> dict:
    """Frames (count, size, timestamps in seconds, rotation), average rate, duration and the audio samples."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        info = {
            "count": len(frames),
            "size": (frames[0].width, frames[0].height),
            "times": [round(float(f.time), 4) for f in frames],
            "rotation": frames[0].rotation,
            "rate": stream.average_rate,
            "comment": container.metadata.get("comment", ""),
        }
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray() for f in container.decode(audio=0)] if container.streams.audio else []
    info["audio"] = np.concatenate(chunks, axis=1) if chunks else None
    return info


def test_lossless_round_trip_keeps_every_pixel_and_alpha(tmp_path):
    source = video.open_video(make_video(tmp_path / "in.mp4", frames=4, audio=False))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (32, 48, 4), dtype=np.uint8) for _ in range(4)]
    options = video.EncodeOptions(codec="lossless")
    with video.VideoWriter(
        tmp_path / "out.mkv", source, size=(48, 32), alpha=True, options=options
    ) as writer:
        for i, pixels in enumerate(frames):
            writer.write(pixels, i * 40)
    reader = video.open_video(tmp_path / "out.mkv")
    assert reader.alpha
    back = [frame.pixels for frame in reader.frames()]
    assert len(back) == 4 and all(np.array_equal(a, b) for a, b in zip(frames, back, strict=True))


def test_vp9_alpha_is_written_and_read_back(tmp_path):
    av = pytest.importorskip("av")
    if "libvpx-vp9" not in av.codecs_available:
        pytest.skip("this FFmpeg has no libvpx-vp9")
    source = video.open_video(make_video(tmp_path / "in.mp4", frames=4, audio=False))
    levels = [30, 220, 90, 160]
    with video.VideoWriter(tmp_path / "out.webm", source, size=(48, 32), alpha=True) as writer:
        for i, level in enumerate(levels):
            pixels = np.full((32, 48, 4), 128, np.uint8)
            pixels[..., 3] = level
            writer.write(pixels, i * 1000)
    reader = video.open_video(tmp_path / "out.webm")
    assert reader.alpha
    alpha = [float(frame.pixels[..., 3].mean()) for frame in reader.frames()]
    assert np.allclose(alpha, levels, atol=3)  # lossy VP9: within a few levels


def test_a_failed_write_leaves_nothing(tmp_path):
    source = video.open_video(make_video(tmp_path / "in.mp4", frames=2, audio=False))
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), video.VideoWriter(target, source, size=(48, 32), alpha=False) as writer:
        writer.write(np.zeros((32, 48, 3), np.uint8), 0)
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == [tmp_path / "in.mp4"]


def test_bad_files_are_one_line(tmp_path):
    (tmp_path / "text.mp4").write_text("hello")
    with pytest.raises(I2IError, match="not a readable video"):
        video.open_video(tmp_path / "text.mp4")
    clip = make_video(tmp_path / "clip.mp4", frames=2, audio=False)
    with pytest.raises(I2IError, match="over the pixel limit"):
        video.open_video(clip, max_pixels=100)
    with pytest.raises(I2IError, match="unknown or unavailable encoder"):
        video.VideoWriter(tmp_path / "o.mp4", video.open_video(clip), size=(8, 8), alpha=False,
                          options=video.EncodeOptions(codec="no-such-codec"))  # fmt: skip
    whole = make_video(tmp_path / "long.mkv", frames=24, audio=False).read_bytes()
    (tmp_path / "cut.mkv").write_bytes(whole[: len(whole) * 6 // 10])
    reader = video.open_video(tmp_path / "cut.mkv")
    decoded = []
    with pytest.raises(I2IError, match="cut off"):
        decoded.extend(reader.frames())
    assert 0 < len(decoded) < 24
