"""The safeguards on `saehd`, from the command line, on synthetic faces and a tiny untrained model: refused
without consent; with it, every swapped frame holds the badge, the watermark and the provenance record."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import i2i
from i2i import registry
from i2i.cli import app
from i2i.data.faces.synth import make_faces
from i2i.io import imageio, provenance
from i2i.io.consent import read_attestation
from i2i.ops import marks

FAST = ["--no-progress", "--device", "cpu", "--precision", "fp32"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return make_faces(tmp_path_factory.mktemp("faces") / "faces", count=2, size=128, seed=0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    model = i2i.load("saehd", device="cpu", precision="fp32", **registry.model_class("saehd").tiny_config)
    return model.save(tmp_path_factory.mktemp("saehd") / "swap.safetensors")


def test_saehd_declares_itself_safeguarded():
    assert registry.entry("saehd").needs_consent  # read without importing it


def test_saehd_is_refused_without_consent(faces, weights, tmp_path):
    for args in (
        ["train", "saehd", "--data", faces, "--run-dir", tmp_path / "run", "--steps", "1"],
        ["translate", "--model", "saehd", "--weights", weights, faces / "dst", tmp_path / "out", *FAST],
        ["translate", "--weights", weights, faces / "dst", tmp_path / "out", *FAST],
    ):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error: saehd needs a consent attestation: give --consent FILE")
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def test_swapped_frames_carry_badge_watermark_and_record(faces, weights, consent_file, tmp_path):
    out = tmp_path / "out"
    result = invoke("translate", "--model", "saehd", "--weights", weights, faces / "dst", out,
                    "--consent", consent_file, *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = sorted(out.glob("*.png"))
    assert len(frames) == 2
    for frame in frames:
        record = provenance.read_record(frame, source="file")
        assert record == provenance.read_record(frame, source="sidecar")
        assert record["digital_source_type"] == provenance.DIGITAL_SOURCE_TYPE
        assert record["attestation_sha256"] == read_attestation(consent_file).sha256
        assert (record["model"], record["badge"], record["watermark"]) == ("saehd", "on", "on")
        pixels = imageio.to_array(imageio.read_image(frame))
        assert marks.read_watermark(pixels) == provenance.watermark_payload(record)
        top, left, bottom, right = marks.badge_box(*pixels.shape[:2])
        corner = pixels[top:bottom, left:right].astype(int)
        assert (corner.max(axis=2) > 200).mean() > 0.05 and (corner.min(axis=2) < 60).mean() > 0.3

    bare = tmp_path / "bare"
    result = invoke("translate", "--model", "saehd", "--weights", weights, faces / "dst", bare,
                    "--consent", consent_file, "--no-badge", "--no-watermark", *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = bare / frames[0].name
    record = provenance.read_record(frame)
    assert (record["badge"], record["watermark"]) == ("off", "off")  # turning the marks off is recorded
    pixels = imageio.to_array(imageio.read_image(frame))
    assert marks.read_watermark(pixels) is None
    marked = imageio.to_array(imageio.read_image(frames[0]))
    top, left, bottom, right = marks.badge_box(*pixels.shape[:2])
    corner_diff = np.abs(marked[top:bottom, left:right].astype(int) - pixels[top:bottom, left:right])
    assert corner_diff.max() > 100  # the badge was there, and is not now
