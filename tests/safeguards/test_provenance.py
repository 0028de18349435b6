"""Provenance of safeguarded outputs: XMP inside PNG, JPEG, WebP and TIFF, the JSON sidecar, read back."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from i2i.io import imageio
from i2i.io import provenance as prov

TAG = {
    "made_by": "i2i 0.1.0",
    "model": "saehd",
    "weights": "swap.safetensors",
    "weights_sha256": "ab" * 32,
} | prov.safeguard_fields("cd" * 32, {"badge": True, "watermark": False})


@pytest.fixture
def picture() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (24, 40, 3), dtype=np.uint8)


def test_safeguard_fields():
    assert TAG["digital_source_type"] == (
        "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
    )
    assert TAG["tool"] == "i2i" and TAG["attestation_sha256"] == "cd" * 32
    assert (TAG["badge"], TAG["watermark"]) == ("on", "off")
    assert TAG["date"].endswith("+00:00")
    assert all(isinstance(v, str) for v in TAG.values())


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_record_in_the_file_and_in_the_sidecar(tmp_path, picture, suffix):
    path = imageio.write_array(tmp_path / f"out{suffix}", picture, provenance=TAG)
    assert prov.read_record(path, source="file") == TAG
    assert prov.read_record(path, source="sidecar") == TAG
    assert prov.read_record(path) == TAG
    assert imageio.read_provenance(path) == TAG  # the JSON every i2i output carries, too
    sidecar = json.loads(prov.sidecar_path(path).read_text())
    assert sidecar["file"] == path.name
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    packet = prov.read_xmp(path).decode()
    assert f'Iptc4xmpExt:DigitalSourceType="{prov.DIGITAL_SOURCE_TYPE}"' in packet
    assert 'xmp:CreatorTool="i2i 0.1.0"' in packet


def test_png_xmp_is_an_itxt_chunk(tmp_path, picture):
    from PIL import Image

    path = imageio.write_array(tmp_path / "out.png", picture, provenance=TAG)
    assert b"iTXtXML:com.adobe.xmp\0" in path.read_bytes()
    with Image.open(path) as im:  # any PNG reader sees it
        assert "compositeWithTrainedAlgorithmicMedia" in im.info[prov.PNG_XMP_KEY]


def test_bmp_keeps_the_record_in_its_sidecar(tmp_path, picture):
    path = imageio.write_array(tmp_path / "out.bmp", picture, provenance=TAG)
    assert prov.read_record(path, source="file") is None
    assert prov.read_record(path) == TAG


def test_ordinary_tags_get_no_xmp_nor_sidecar(tmp_path, picture):
    tag = {"made_by": "i2i 0.1.0", "model": "pix2pix"}
    path = imageio.write_array(tmp_path / "out.png", picture, provenance=tag)
    assert imageio.read_provenance(path) == tag
    assert prov.read_xmp(path) is None and prov.read_record(path) is None
    assert not prov.sidecar_path(path).exists()


def test_xmp_round_trip_escapes_and_refuses_dtds():
    tag = TAG | {"weights": 'a "quoted" <name> & more', "note": "naïve"}
    assert prov.parse_xmp(prov.xmp_packet(tag)) == tag
    evil = '<!DOCTYPE x [<!ENTITY a "b">]><x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    assert prov.parse_xmp(evil) is None
    assert prov.parse_xmp("<x:xmpmeta broken") is None


def test_a_damaged_sidecar_is_one_line(tmp_path, picture):
    from i2i.errors import I2IError

    path = imageio.write_array(tmp_path / "out.bmp", picture, provenance=TAG)
    prov.sidecar_path(path).write_text("{not json")
    with pytest.raises(I2IError, match="not a provenance sidecar"):
        prov.read_record(path)


def test_watermark_payload_identifies_what_made_the_output():
    payload = prov.watermark_payload(TAG)
    assert len(payload) == prov.PAYLOAD_BYTES
    later = TAG | {"date": "2030-01-01T00:00:00+00:00", "badge": "off"}
    assert prov.watermark_payload(later) == payload  # not when, nor which marks
    assert prov.watermark_payload(TAG | {"attestation_sha256": "ef" * 32}) != payload
