"""Videos through `i2i upscale` and `i2i translate`: frames, frame rate, timestamps, duration, rotation, audio
and provenance kept; parts, frame folders, temporal smoothing; interrupted and bad runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from i2i.cli import app
from i2i.jobs import video as jobs
from tests.conftest import tiny_checkpoint
from tests.io.test_video import describe, make_video

pytest.importorskip("av")
RUNNER = CliRunner()
FAST = ("--no-progress", "--precision", "fp32")


def run(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def tiny(name, tmp_path):
    return tiny_checkpoint(name, tmp_path)


def assert_kept(source, output, scale=1):
    a, b = describe(source), describe(output)
    assert b["count"] == a["count"] and b["times"] == a["times"] and b["rotation"] == a["rotation"]
    assert b["size"] == (a["size"][0] * scale, a["size"][1] * scale)
    np.testing.assert_array_equal(b["audio"], a["audio"])  # copied untouched
    return b


def test_upscale_keeps_frames_rate_duration_and_audio(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", size=(32, 32))
    result = ok("upscale", clip, "-o", tmp_path / "out", "--weights", tiny("esrgan", tmp_path), *FAST)
    out = assert_kept(clip, tmp_path / "out" / "clip.mp4", scale=4)
    assert out["rate"] == describe(clip)["rate"] == 24
    tag = json.loads(out["comment"])["i2i"]
    assert tag["model"] == "esrgan" and tag["outscale"] == "4" and "flicker:" in result.output


def test_translate_keeps_rotation_and_variable_timestamps(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", vfr=True, rotation=90)
    assert len(set(np.diff(describe(clip)["times"]).round(3))) == 2  # really variable
    ok("translate", clip, tmp_path / "zebra.mp4", "--weights", tiny("cyclegan", tmp_path), *FAST)
    out = assert_kept(clip, tmp_path / "zebra.mp4")
    assert json.loads(out["comment"])["i2i"]["model"] == "cyclegan"


def test_start_duration_frames_dir_and_codec(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", frames=16, audio=False)
    weights = tiny("pix2pix", tmp_path)
    ok("translate", clip, tmp_path / "part.mkv", "--weights", weights, "--start", "0.25", "--duration", "0.25",
       "--codec", "lossless", *FAST)  # fmt: skip
    part = describe(tmp_path / "part.mkv")
    assert part["count"] == 6 and part["times"][0] == 0.0
    ok("translate", clip, tmp_path / "o", "--weights", weights, "--frames-dir", tmp_path / "frames", *FAST)
    assert len(list((tmp_path / "frames" / "clip").glob("*.png"))) == 16 and not (tmp_path / "o").exists()


def test_interrupted_run_leaves_no_file_under_the_output_name(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", frames=12, audio=False)
    calls = []

    def process(frames):
        calls.append(len(frames))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return [np.zeros((32, 48, 3), np.uint8) for _ in frames]

    with pytest.raises(KeyboardInterrupt):
        jobs.run_videos([(clip, tmp_path / "out.mp4")], process, title="t", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_temporal_smoothing_lowers_the_measured_flicker():
    rng = np.random.default_rng(0)
    still = np.full((16, 16, 3), 100, np.uint8)
    noisy = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(6)]
    plain, smooth = jobs.Flicker(0.0), jobs.Flicker(1.0)
    for out in noisy:
        plain(still, out.copy())
        smooth(still, out.copy())
    assert smooth.changes[1] == 0 < plain.changes[1]
    assert "flicker:" in plain.report() and plain.changes[0] == 0


def test_bad_videos_are_one_line_and_fail(tmp_path):
    weights = tiny("pix2pix", tmp_path)
    (tmp_path / "text.mp4").write_text("not a video")
    result = run("translate", tmp_path / "text.mp4", tmp_path / "o.mp4", "--weights", weights, *FAST)
    assert result.exit_code == 1 and "not a readable video" in result.output
    whole = make_video(tmp_path / "long.mkv", frames=24, audio=False).read_bytes()
    (tmp_path / "cut.mkv").write_bytes(whole[: len(whole) * 6 // 10])
    result = run("translate", tmp_path / "cut.mkv", tmp_path / "cut_out.mkv", "--weights", weights, *FAST)
    assert result.exit_code == 1 and "cut off" in result.output and (tmp_path / "cut_out.mkv").is_file()
    assert 0 < describe(tmp_path / "cut_out.mkv")["count"] < 24  # what decoded is written
    clip = make_video(tmp_path / "clip.mp4", frames=2, audio=False)
    result = run("translate", clip, tmp_path / "big.mp4", "--weights", weights, "--max-pixels", "100")
    assert result.exit_code == 1 and "over the pixel limit" in result.output
    result = run(
        "translate", tmp_path / "long.mkv", tmp_path / "x.mp4", "--weights", weights, "--codec", "nope"
    )
    assert result.exit_code != 0 and "unknown or unavailable encoder" in result.output
    images = tmp_path / "images"
    images.mkdir()
    result = run("upscale", images, "--start", "1")
    assert result.exit_code != 0 and "apply to videos" in result.output


def with_subtitles(clip, tmp_path):
    """`clip` remuxed into Matroska with a two-cue SubRip stream."""
    import av

    srt = tmp_path / "cues.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nHello\n\n2\n00:00:00,200 --> 00:00:00,400\nWorld\n")
    out = tmp_path / "subbed.mkv"
    with av.open(str(clip)) as src, av.open(str(srt)) as cues, av.open(str(out), "w") as dst:
        video = dst.add_stream_from_template(src.streams.video[0])
        text = dst.add_stream_from_template(cues.streams.subtitles[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = video
                dst.mux(packet)
        for packet in cues.demux(cues.streams.subtitles[0]):
            if packet.size:
                packet.stream = text
                dst.mux(packet)
    return out


def cue_texts(path):
    import av

    with av.open(str(path)) as container:
        if not container.streams.subtitles:
            return []
        return [bytes(p) for p in container.demux(container.streams.subtitles[0]) if p.size]


def test_subtitles_are_kept_where_the_container_holds_them(tmp_path):
    clip = with_subtitles(make_video(tmp_path / "clip.mp4", frames=10, audio=False), tmp_path)
    assert cue_texts(clip) == [b"Hello", b"World"]
    weights = tiny("pix2pix", tmp_path)
    ok("translate", clip, tmp_path / "out.mkv", "--weights", weights, *FAST)
    assert cue_texts(tmp_path / "out.mkv") == [b"Hello", b"World"]
    assert describe(tmp_path / "out.mkv")["count"] == 10
    result = ok("translate", clip, tmp_path / "out.mp4", "--weights", weights, *FAST)
    assert cue_texts(tmp_path / "out.mp4") == [] and "subtitles (srt) left out" in result.output


def test_decoding_runs_ahead_of_the_model_and_errors_cross_threads():
    import threading

    made = []
    release = threading.Event()

    def items():
        for i in range(10):
            made.append(i)
            yield i

    ahead = jobs._ahead(items(), 3)
    assert next(ahead) == 0
    for _ in range(200):  # the producer fills the queue while the consumer holds item 0
        if len(made) >= 4:
            break
        release.wait(0.01)
    assert len(made) >= 4 and len(made) < 10  # bounded: depth 3 waiting, one being produced
    ahead.close()

    def broken():
        yield 1
        raise ValueError("decoder broke")

    with pytest.raises(ValueError, match="decoder broke"):
        list(jobs._ahead(broken(), 2))

    seen = []

    def work(item):
        if item == 2:
            raise OSError("disk full")
        seen.append(item)

    stage = jobs._Stage(work, 2)
    with pytest.raises(OSError, match="disk full"):
        for i in range(50):
            stage.put(i)
        stage.close()
    assert seen == [0, 1]
    stage.abort()
