"""`saehd`'s translation of whole frames: the merge behind `translate_images`, its safeguards, and
`i2i translate --model saehd` end to end on synthetic faces (images and a short video)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.faces import align
from i2i.data.faces.synth import make_faces
from i2i.errors import I2IError, UsageError
from i2i.io import provenance
from i2i.io.files import sha256_file
from i2i.ops import marks
from tests.conftest import tiny_model

FAST = ("--no-progress", "--precision", "fp32")
CONSENT = """\
subjects = ["synthetic face src (drawn by i2i)", "synthetic face dst (drawn by i2i)"]
use = "tests of i2i's face swap merge"
date = 2026-12-04

[consent]
given = true
statement = "Both faces are synthetic drawings; no person is depicted."
"""


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Synthetic frames (`dst/00000.png`, ...) with their `landmarks.json`."""
    return make_faces(tmp_path_factory.mktemp("faces") / "faces", count=3, size=96, seed=0)


@pytest.fixture
def consent(tmp_path) -> Path:
    path = tmp_path / "consent.toml"
    path.write_text(CONSENT)
    return path


def _model(**settings):
    torch.manual_seed(0)
    return tiny_model("saehd", **settings)


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


@pytest.mark.filterwarnings("ignore:no landmarks for")
def test_refused_without_attestation_and_bad_conditions_are_one_line(faces, consent):
    model = _model()
    frame = faces / "dst" / "00000.png"
    with pytest.raises(I2IError, match="needs a consent attestation"):
        model.translate(frame, landmarks=faces / "dst" / "landmarks.json")
    model.attest(consent)
    with pytest.raises(UsageError, match="saehd takes no option 'target_domain'"):
        model.translate(frame, target_domain="dog")
    with pytest.raises(UsageError, match="mask_mode='xseg' is not one of"):
        model.translate(frame, landmarks=faces / "dst" / "landmarks.json", mask_mode="xseg")
    with pytest.raises(UsageError, match="mask_mode=dst needs the faces' landmarks"):
        model.translate(np.zeros((8, 8, 3), np.uint8), mask_mode="dst")  # an aligned image has none
    with pytest.raises(UsageError, match="are read by the precomputed provider, not by dlib68"):
        model.translate(frame, face_provider="dlib68", landmarks=faces / "dst" / "landmarks.json")
    # by default, the landmarks.json beside the frames
    assert model.translate(frame, as_array=True).shape == (96, 96, 3)


def test_frames_are_swapped_inside_the_face_marked_and_faceless_ones_pass(faces, consent, tmp_path):
    model = _model().attest(consent)
    landmarks = json.loads((faces / "dst" / "landmarks.json").read_text())
    landmarks["00002.png"] = []  # a frame without a face
    path = tmp_path / "landmarks.json"
    path.write_text(json.dumps(landmarks))
    frames = [faces / "dst" / f"0000{i}.png" for i in range(3)]
    with pytest.warns(RuntimeWarning, match="no face found in 00002.png"):
        out = model.translate(frames, landmarks=path, as_array=True, mask_mode="full", color_transfer="none")
    first = _pixels(frames[0])
    changed = np.abs(out[0].astype(np.int16) - first).max(axis=2) > 0
    top, left, bottom, right = marks.badge_box(*first.shape[:2])
    face = np.asarray(landmarks["00000.png"][0]["landmarks"])
    centre = np.round(face.mean(axis=0)).astype(int)
    assert changed[centre[1], centre[0]]  # the face is swapped
    assert changed[top:bottom, left:right].any()  # the badge
    payload = provenance.watermark_payload(model.provenance_tag())
    assert marks.read_watermark(out[0]) == payload
    np.testing.assert_array_equal(out[2], _pixels(frames[2]))  # no face: unchanged, no marks
    assert (model.merger.frames, model.merger.faceless) == (3, 1)


def test_marks_off_leave_only_the_swap(faces, consent):
    frame, landmarks = faces / "dst" / "00000.png", faces / "dst" / "landmarks.json"
    marked = _model().attest(consent).translate(frame, landmarks=landmarks, as_array=True)
    model = _model().attest(consent).set_marks(badge=False, watermark=False)
    plain = model.translate(frame, landmarks=landmarks, as_array=True)
    assert marks.read_watermark(plain) is None and model.provenance_tag()["badge"] == "off"
    difference = np.abs(marked.astype(np.int16) - plain)
    top, left, bottom, right = marks.badge_box(*plain.shape[:2])
    assert difference[top:bottom, left:right].max() > 50  # the badge
    difference[top:bottom, left:right] = 0
    assert 0 < difference.max() <= 4  # elsewhere only the faint watermark


def test_cli_translates_synthetic_frames_with_provenance_and_badge(tmp_path, consent):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "faces"), "--task", "faces", "--count", "2",
                                 "--size", "96"])  # fmt: skip
    assert result.exit_code == 0, result.output
    dst = tmp_path / "faces" / "dst"
    weights = _model().save(tmp_path / "swap.safetensors")
    args = [
        "translate",
        "--model",
        "saehd",
        "--weights",
        str(weights),
        str(dst),
        str(tmp_path / "out"),
        *FAST,
    ]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "needs a consent attestation" in refused.output
    result = runner.invoke(app, [*args, "--consent", str(consent), "--landmarks", str(dst / "landmarks.json"),
                                 "--erode", "-20", "--blur", "40", "--color-transfer", "lct"])  # fmt: skip
    assert result.exit_code == 0, result.output
    outputs = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in outputs] == ["00000.png", "00001.png"]
    for output in outputs:
        record = provenance.read_record(output)
        assert record["digital_source_type"] == provenance.DIGITAL_SOURCE_TYPE
        assert record["attestation_sha256"] == sha256_file(consent)
        assert record["model"] == "saehd" and record["badge"] == "on" and record["watermark"] == "on"
        assert provenance.read_record(output, source="sidecar")["attestation_sha256"] == sha256_file(consent)
        pixels = _pixels(output)
        top, left, bottom, right = marks.badge_box(*pixels.shape[:2])
        before = _pixels(dst / output.name)
        assert np.abs(pixels - before)[top:bottom, left:right].max() > 50  # the badge is visible
        assert marks.read_watermark(pixels.astype(np.uint8)) == provenance.watermark_payload(record)


def test_cli_translates_a_short_video(tmp_path, faces, consent):
    av = pytest.importorskip("av")
    frame = np.asarray(Image.open(faces / "dst" / "00000.png").convert("RGB"))
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv444p"
        for _ in range(6):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    # a fixed face: the video's entry applies to each of its frames
    landmarks = json.loads((faces / "dst" / "landmarks.json").read_text())
    path = tmp_path / "landmarks.json"
    path.write_text(json.dumps({"clip.mp4": landmarks["00000.png"]}))
    weights = _model().save(tmp_path / "swap.safetensors")
    out = tmp_path / "swapped.mp4"
    result = CliRunner().invoke(app, ["translate", "--weights", str(weights), "--consent", str(consent),
                                      "--landmarks", str(path), str(clip), str(out), *FAST])  # fmt: skip
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 6
    top, left, bottom, right = marks.badge_box(*frame.shape[:2])
    assert all(np.abs(d.astype(int) - frame)[top:bottom, left:right].max() > 50 for d in decoded)
    record = provenance.read_record(out)
    assert record["digital_source_type"] == provenance.DIGITAL_SOURCE_TYPE
    assert record["attestation_sha256"] == sha256_file(consent)


def test_an_identity_swap_gives_the_frame_back(faces, consent, monkeypatch):
    """With the networks replaced by the identity (the crop comes back, masks of ones), the merged frame
    is the input outside the face crop exactly and close to it inside (the warps there and back)."""
    from i2i.models.saehd import networks

    def identity(nets, archi, dst):
        ones = torch.ones_like(dst[:, :1])
        return dst, ones, ones

    monkeypatch.setattr(networks, "swap", identity)
    model = _model(resolution=64).attest(consent).set_marks(badge=False, watermark=False)
    frame = faces / "dst" / "00001.png"
    out = model.translate(frame, landmarks=faces / "dst" / "landmarks.json", as_array=True).astype(np.int16)
    before = _pixels(frame)
    difference = np.abs(out - before)
    assert difference.max() > 0 and difference.mean() < 1.0 and np.quantile(difference, 0.999) <= 16
    # what changed lies inside the crop (its corners mapped back into the frame)
    points = json.loads((faces / "dst" / "landmarks.json").read_text())["00001.png"][0]["landmarks"]
    matrix = align.transform_matrix(np.asarray(points), 64, "f")
    corners = align.transform_points(np.array([[0, 0], [64, 0], [64, 64], [0, 64]]), matrix, invert=True)
    rows, cols = np.nonzero(difference.max(axis=2))
    assert cols.min() >= corners[:, 0].min() - 2 and cols.max() <= corners[:, 0].max() + 2
    assert rows.min() >= corners[:, 1].min() - 2 and rows.max() <= corners[:, 1].max() + 2


def test_aligned_faces_carry_their_own_landmarks(faces, consent, tmp_path):
    from i2i.data.faces.faceset import AlignedFace, write_aligned

    frame = np.asarray(Image.open(faces / "dst" / "00000.png").convert("RGB"))
    points = np.asarray(
        json.loads((faces / "dst" / "landmarks.json").read_text())["00000.png"][0]["landmarks"]
    )
    matrix = align.transform_matrix(points, 80, "wf")
    crop = align.warp_to_crop(frame, matrix, 80)
    face = AlignedFace(crop, "whole_face", align.transform_points(points, matrix))
    path = write_aligned(tmp_path / "aligned" / "face.png", face)
    model = _model().attest(consent).set_marks(badge=False, watermark=False)
    out = model.translate(path, face_provider="faceset", as_array=True)
    changed = np.abs(out.astype(np.int16) - crop).max(axis=2) > 0
    assert changed[40, 40] and 0.05 < changed.mean() < 0.95
    with pytest.raises(UsageError, match="are read by the precomputed provider, not by faceset"):
        model.translate(path, face_provider="faceset", landmarks=faces / "dst" / "landmarks.json")


def test_images_without_landmarks_are_taken_as_aligned_faces(faces, consent, tmp_path):
    frame = np.asarray(Image.open(faces / "dst" / "00000.png").convert("RGB"))
    points = np.asarray(
        json.loads((faces / "dst" / "landmarks.json").read_text())["00000.png"][0]["landmarks"]
    )
    crop = align.warp_to_crop(frame, align.transform_matrix(points, 64, "f"), 64)
    model = _model().attest(consent).set_marks(badge=False, watermark=False)
    with pytest.warns(RuntimeWarning, match="no landmarks for an image without a file: .* one aligned face"):
        out = model.translate(crop, as_array=True, mask_mode="full", color_transfer="none")
    assert out.shape == crop.shape and np.abs(out.astype(np.int16) - crop).mean() > 5  # swapped all over
    lonely = tmp_path / "lonely.png"  # a file with no landmarks.json beside it: the same
    Image.fromarray(crop).save(lonely)
    again = model.translate(lonely, as_array=True, mask_mode="full", color_transfer="none")
    np.testing.assert_array_equal(again, out)
    np.testing.assert_array_equal(model.translate(lonely, face_provider="aligned", as_array=True),
                                  model.translate(crop, as_array=True))  # fmt: skip
    grey = model.translate(crop[..., 1], as_array=True)  # grey in, grey out
    assert grey.shape == crop.shape[:2] and grey.dtype == np.uint8
