"""`i2i data synth --task faces` then `i2i faces extract` end to end (folders, one image, a video), the written
metadata checked against the alignment, and bad input as one line with a non-zero exit."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.faces import align
from i2i.data.faces.faceset import iter_faceset, read_aligned
from i2i.data.faces.synth import IDENTITIES, render_face

RUNNER = CliRunner()


def invoke(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces") / "ds"
    result = invoke("data", "synth", root, "--task", "faces", "--count", 3, "--size", 96)
    assert result.exit_code == 0, result.output
    return root


def test_extract_writes_aligned_faces_with_consistent_metadata(dataset, tmp_path):
    result = invoke("faces", "extract", dataset / "src", tmp_path / "out", "--size", 64)
    assert result.exit_code == 0, result.output
    assert "wrote 3 aligned face(s) from 3 frame(s)" in result.output
    faces = list(iter_faceset(tmp_path / "out"))
    assert [f.path.name for f in faces] == ["00000_0.jpg", "00001_0.jpg", "00002_0.jpg"]
    listed = json.loads((dataset / "src" / "landmarks.json").read_text())
    for face in faces:
        assert face.face_type == "whole_face" and face.image.shape == (64, 64, 3)
        source = np.array(listed[face.source_filename][0]["landmarks"])
        np.testing.assert_allclose(face.source_landmarks, source, atol=1e-3)
        np.testing.assert_allclose(
            align.transform_points(source, face.image_to_face_mat), face.landmarks, atol=1e-3
        )
        np.testing.assert_allclose(
            face.image_to_face_mat, align.transform_matrix(source, 64, "wf"), atol=1e-6
        )
        skin = face.image[align.hull_mask(face.landmarks, 64) > 0].mean(0)
        assert np.abs(skin - IDENTITIES["src"].skin).max() < 45  # the crop holds the face


def test_extract_options_and_a_single_image(dataset, tmp_path):
    result = invoke(
        "faces", "extract", dataset / "dst", tmp_path / "png",
        "--face-type", "f", "--size", 32, "--format", "png", "--every", 2,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["00000_0.png", "00002_0.png"]
    assert read_aligned(tmp_path / "png" / "00002_0.png").face_type == "full_face"
    one = invoke("faces", "extract", dataset / "dst" / "00001.png", tmp_path / "one", "--size", 32)
    assert one.exit_code == 0, one.output
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["00001_0.jpg"]


def test_frames_without_faces_and_the_faceset_provider(dataset, tmp_path):
    (tmp_path / "lm.json").write_text(json.dumps({"00000.png": []}))
    result = invoke(
        "faces", "extract", dataset / "src", tmp_path / "none", "--landmarks", tmp_path / "lm.json"
    )
    assert result.exit_code == 0 and "3 frame(s) with no face" in result.output
    assert invoke("faces", "extract", dataset / "src", tmp_path / "a", "--size", 64).exit_code == 0
    again = invoke("faces", "extract", tmp_path / "a", tmp_path / "b", "--provider", "faceset", "--size", 64)
    assert again.exit_code == 0, again.output
    first, second = (
        read_aligned(tmp_path / "a" / "00000_0.jpg"),
        read_aligned(tmp_path / "b" / "00000_0_0.jpg"),
    )
    np.testing.assert_allclose(second.landmarks, first.landmarks, atol=1e-3)  # re-aligning is a no-op


@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--provider", "precomputd"], 2, "did you mean 'precomputed'"),
        (["--face-type", "whole"], 2, "unknown face type"),
        (["--size", "8"], 1, "--size must be"),
        (["--jpeg-quality", "0"], 1, "--jpeg-quality must be"),
        (["--format", "gif"], 1, "not 'gif'"),
        (["--provider", "faceset", "--landmarks", "x.json"], 2, "--landmarks is for the precomputed"),
        (["--provider", "dlib68"], 1, None),
        (["--provider", "mtcnn5", "--weights", "nowhere"], 1, "nowhere: no MTCNN weight file"),
        (["--weights", "nowhere"], 2, "--weights is for the mtcnn5 provider"),
    ],
)
def test_bad_input_is_one_line(dataset, tmp_path, extra, code, message, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dlib", None)
    result = invoke("faces", "extract", dataset / "src", tmp_path / "out", *extra)
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert (message or "i2i[faceswap-dlib]") in result.output
    assert not (tmp_path / "out").exists()


def test_missing_source_and_missing_landmarks(tmp_path):
    result = invoke("faces", "extract", tmp_path / "nothing", tmp_path / "out")
    assert result.exit_code == 1 and "no such file or folder" in result.output
    (tmp_path / "frames").mkdir()
    result = invoke("faces", "extract", tmp_path / "frames", tmp_path / "out")
    assert result.exit_code == 1 and "no such landmarks file" in result.output


def test_extract_from_a_video(tmp_path):
    av = pytest.importorskip("av")
    rng = np.random.default_rng(0)
    listed = {}
    with av.open(str(tmp_path / "clip.mkv"), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width = stream.height = 96
        stream.pix_fmt = "bgr0"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 10)
        for i in range(4):
            image, landmarks = render_face(IDENTITIES["src"], rng, 96)
            if i != 2:
                listed[f"clip_{i:06d}.png"] = [{"landmarks": landmarks.tolist()}]
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    (tmp_path / "clip.json").write_text(json.dumps(listed))
    result = invoke(
        "faces", "extract", tmp_path / "clip.mkv", tmp_path / "out", "--landmarks", tmp_path / "clip.json",
        "--size", 48,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["clip_000000_0.jpg", "clip_000001_0.jpg", "clip_000003_0.jpg"]
    assert read_aligned(tmp_path / "out" / names[1]).source_filename == "clip_000001.png"


def test_help_mentions_examples():
    text = invoke("faces", "extract", "--help").output
    assert "Example" in text and "i2i faces extract" in text
