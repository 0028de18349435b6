"""The generic consent mechanism, end to end on a stand-in safeguarded model (`guarded`, see conftest):
`train` and `translate` refuse it without `--consent` in one line before any work; with it, the
attestation's hash is in the checkpoint and in every output's provenance, and turning a mark off is
recorded. The same in Python."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i import registry
from i2i.cli import app
from i2i.data.paired import make_paired
from i2i.errors import I2IError
from i2i.io import imageio, provenance
from i2i.io.checkpoint import read_safetensors
from i2i.io.consent import read_attestation

FAST = ["--no-progress", "--device", "cpu", "--precision", "fp32"]
TINY = ["--set", "netG=resnet_6blocks", "--set", "ngf=4", "--set", "ndf=4", "--set", "load_size=36",
        "--set", "crop_size=32"]  # fmt: skip


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused_in_one_line(result) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "guarded needs a consent attestation: give --consent FILE" in lines[0]
    return lines[0]


@pytest.fixture
def pictures(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / name)
    return folder


def test_the_registry_reads_needs_consent_without_importing(guarded_site):
    assert registry.entry("guarded").needs_consent is True
    assert registry.entry("pix2pix").needs_consent is False


def test_translate_refuses_without_consent(guarded_site, guarded_weights, pictures, tmp_path):
    out = tmp_path / "out"
    refused_in_one_line(
        invoke("translate", "--model", "guarded", "--weights", guarded_weights, pictures, out, *FAST)
    )
    # the model named by the checkpoint alone: refused once loaded, before any image
    refused_in_one_line(invoke("translate", "--weights", guarded_weights, pictures, out, *FAST))
    assert not out.exists()


def test_train_refuses_without_consent(guarded_site, tmp_path):
    run = tmp_path / "run"
    refused_in_one_line(
        invoke("train", "guarded", "--data", tmp_path / "nowhere", "--run-dir", run, "--steps", "1")
    )
    assert not run.exists()


def test_translate_with_consent_records_it_in_every_output(
    guarded_site, guarded_weights, pictures, consent_file, tmp_path
):
    sha = read_attestation(consent_file).sha256
    out = tmp_path / "out"
    result = invoke(
        "translate", "--weights", guarded_weights, pictures, out, "--consent", consent_file, *FAST
    )
    assert result.exit_code == 0, result.output
    for name in ("a.png", "b.png"):
        for source in ("file", "sidecar"):
            record = provenance.read_record(out / name, source=source)
            assert record["digital_source_type"] == provenance.DIGITAL_SOURCE_TYPE
            assert record["attestation_sha256"] == sha
            assert (record["badge"], record["watermark"]) == ("on", "on")
            assert record["model"] == "guarded" and len(record["weights_sha256"]) == 64
    jpeg = tmp_path / "jpeg"
    result = invoke("translate", "--weights", guarded_weights, pictures, jpeg, "--consent", consent_file,
                    "--format", "jpg", "--no-badge", *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    record = provenance.read_record(jpeg / "a.jpg", source="file")
    assert (record["badge"], record["watermark"], record["attestation_sha256"]) == ("off", "on", sha)
    result = invoke("translate", "--weights", guarded_weights, pictures, tmp_path / "x", "--consent",
                    consent_file, "--no-watermark", "--no-provenance", *FAST)  # fmt: skip
    assert result.exit_code == 2 and "--no-provenance is refused" in result.output


def test_a_bad_attestation_is_one_line(guarded_site, guarded_weights, pictures, tmp_path):
    bad = tmp_path / "consent.toml"
    bad.write_text(
        'subjects = ["A"]\nuse = "x"\ndate = 2026-01-01\n[consent]\ngiven = false\nstatement = "no"\n'
    )
    result = invoke(
        "translate", "--weights", guarded_weights, pictures, tmp_path / "out", "--consent", bad, *FAST
    )
    assert result.exit_code == 1 and "field 'consent' must have given = true" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_train_with_consent_puts_its_hash_in_the_checkpoints(guarded_site, consent_file, tmp_path):
    data = make_paired(tmp_path / "shapes", count=4, size=32, seed=1)
    run = tmp_path / "run"
    result = invoke("train", "guarded", "--data", data, "--run-dir", run, "--steps", "1", "--consent",
                    consent_file, "--workers", "0", "--sample-every", "0", "--save-every", "1", *TINY,
                    *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    sha = read_attestation(consent_file).sha256
    assert read_safetensors(run / "model.safetensors").meta["attestation_sha256"] == sha
    (checkpoint,) = (run / "checkpoints").glob("*.safetensors")
    assert read_safetensors(checkpoint).meta["attestation_sha256"] == sha
    assert json.loads((run / "run.json").read_text())["options"]["consent"] == str(consent_file)


def test_python_api_needs_attest(guarded_site, guarded_weights, consent_file):
    model = i2i.load("guarded", weights=guarded_weights, device="cpu")
    picture = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(I2IError, match="guarded needs a consent attestation"):
        model.translate(picture)
    assert model.attest(consent_file) is model
    assert model.translate(picture).size == (32, 32)
    tag = model.set_marks(watermark=False).provenance_tag()
    assert tag["attestation_sha256"] == read_attestation(consent_file).sha256
    assert (tag["badge"], tag["watermark"]) == ("on", "off") and model.marks == {
        "badge": True,
        "watermark": False,
    }
    assert model.checkpoint_meta()["attestation_sha256"] == tag["attestation_sha256"]


def test_ordinary_models_are_untouched(tmp_path):
    model = i2i.load("pix2pix", device="cpu", **registry.model_class("pix2pix").tiny_config)
    assert not model.needs_consent and model.marks == {"badge": False, "watermark": False}
    tag = model.provenance_tag()
    assert "digital_source_type" not in tag
    model.translate_images([imageio.ImageData(np.zeros((32, 32, 3), np.float32), None, 8)])


def test_serve_refuses_a_safeguarded_model(guarded_site):
    result = invoke("serve", "--model", "guarded", "--port", "0")
    assert result.exit_code == 2 and "guarded is not served" in result.output


def test_video_outputs_carry_the_record(guarded_site, guarded_weights, consent_file, tmp_path):
    from i2i.io.video import read_video_provenance
    from tests.io.test_video import make_video

    clip = make_video(tmp_path / "clip.mp4", frames=3, size=(32, 32), audio=False)
    refused_in_one_line(invoke("translate", "--weights", guarded_weights, clip, tmp_path / "no.mp4", *FAST))
    out = tmp_path / "out.mp4"
    result = invoke("translate", "--weights", guarded_weights, clip, out, "--consent", consent_file, *FAST)
    assert result.exit_code == 0, result.output
    record = provenance.read_record(out)  # the sidecar: a video holds no XMP here
    assert record["attestation_sha256"] == read_attestation(consent_file).sha256
    assert read_video_provenance(out) == record  # and the container's metadata
