"""Aligned face files: i2i's format round trips (JPEG, PNG, metadata over several JPEG segments), DFL's APP15
pickle read through the restricted unpickler, malicious pickles refused with nothing run, bad files."""

from __future__ import annotations

import io
import json
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from i2i.data.faces import faceset
from i2i.data.faces.align import MEAN_FACE, transform_matrix
from i2i.data.faces.faceset import AlignedFace, iter_faceset, read_aligned, write_aligned
from i2i.errors import I2IError

RNG = np.random.default_rng(0)
POINTS = MEAN_FACE * 40 + 12


def smooth_image(size=64):
    yy, xx = np.mgrid[0:size, 0:size]
    return np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 128)], -1).astype(np.uint8)


def full_face(mask=None) -> AlignedFace:
    source = POINTS * 2 + 30
    return AlignedFace(
        image=smooth_image(),
        face_type="wf",
        landmarks=POINTS,
        source_filename="frames/0001.png",
        source_rect=(30.0, 40.0, 150.0, 170.0),
        source_landmarks=source,
        image_to_face_mat=transform_matrix(source, 64, "wf"),
        xseg_mask=mask,
    )


def jpeg_with_segments(image, segments) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return faceset.insert_jpeg_segments(buffer.getvalue(), segments)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_i2i_format_round_trip(tmp_path, suffix):
    mask = (RNG.random((64, 64)) > 0.5).astype(np.float32)
    face = full_face(mask)
    back = read_aligned(write_aligned(tmp_path / f"face{suffix}", face))
    assert back.face_type == "whole_face" and back.path == tmp_path / f"face{suffix}"
    np.testing.assert_allclose(back.landmarks, face.landmarks, atol=1e-4)
    np.testing.assert_allclose(back.source_landmarks, face.source_landmarks, atol=1e-4)
    np.testing.assert_allclose(back.image_to_face_mat, face.image_to_face_mat)
    assert back.source_filename == "frames/0001.png" and back.source_rect == face.source_rect
    np.testing.assert_array_equal(back.xseg_mask, mask)
    tolerance = 0 if suffix == ".png" else 6
    assert np.abs(back.image.astype(int) - face.image).max() <= tolerance
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, nothing left behind


def test_metadata_larger_than_a_jpeg_segment_is_split_and_joined(tmp_path):
    noise = RNG.integers(0, 256, (256, 256)).astype(np.float32) / 255  # incompressible: > 64 KB of base64
    path = write_aligned(tmp_path / "big.jpg", AlignedFace(smooth_image(), "f", POINTS, xseg_mask=noise))
    ours = [p for m, p in faceset.jpeg_segments(path.read_bytes()) if p.startswith(faceset.COM_PREFIX)]
    assert len(ours) >= 2
    np.testing.assert_allclose(read_aligned(path).xseg_mask, noise, atol=0.5 / 255)


def dfl_metadata(**changes):
    mask_png = io.BytesIO()
    Image.fromarray(np.tri(64, dtype=np.uint8) * 255).save(mask_png, format="PNG")
    meta = {
        "face_type": "whole_face",
        "landmarks": POINTS.astype(np.float32),
        "source_filename": "00001.png",
        "source_rect": (10, 20, 110, 130),
        "source_landmarks": (POINTS * 2).astype(np.float32),
        "image_to_face_mat": np.array([[0.5, 0, -3], [0, 0.5, -4]], np.float32),
        "eyebrows_expand_mod": 1.0,
        "xseg_mask": np.frombuffer(mask_png.getvalue(), np.uint8),  # as OpenCV's imencode gives it
    }
    meta.update(changes)
    return meta


def test_dfl_jpeg_metadata_is_read_through_the_restricted_unpickler(tmp_path):
    path = tmp_path / "00001_0.jpg"
    path.write_bytes(jpeg_with_segments(smooth_image(), [(0xEF, pickle.dumps(dfl_metadata(), protocol=4))]))
    face = read_aligned(path)
    assert face.face_type == "whole_face" and face.source_filename == "00001.png"
    assert face.source_rect == (10, 20, 110, 130)
    np.testing.assert_allclose(face.landmarks, POINTS, atol=1e-4)
    np.testing.assert_allclose(face.image_to_face_mat, [[0.5, 0, -3], [0, 0.5, -4]])
    np.testing.assert_array_equal(face.xseg_mask, np.tri(64, dtype=np.float32))
    assert face.image.shape == (64, 64, 3) and face.image.dtype == np.uint8


def test_dfl_xseg_mask_as_plain_bytes_or_array(tmp_path):
    png = io.BytesIO()
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(png, format="PNG")
    for mask, expected in ((png.getvalue(), 1.0), (np.full((8, 8, 1), 0.25, np.float32), 0.25)):
        path = tmp_path / "m.jpg"
        path.write_bytes(
            jpeg_with_segments(smooth_image(), [(0xEF, pickle.dumps(dfl_metadata(xseg_mask=mask)))])
        )
        assert read_aligned(path).xseg_mask == pytest.approx(np.full((8, 8), expected))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_app15_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.jpg"
    evil = pickle.dumps(dfl_metadata(source_filename=_Payload(marker)))
    path.write_bytes(jpeg_with_segments(smooth_image(), [(0xEF, evil)]))
    with pytest.raises(I2IError, match="refused: the pickle would call .*system") as info:
        read_aligned(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()
    with pytest.raises(I2IError, match="refused"):
        list(iter_faceset(tmp_path))
    assert not marker.exists()


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"face_type": "full_face"}, "no landmarks"),
        (dfl_metadata(landmarks=np.zeros((5, 2))), "expected 68"),
        (dfl_metadata(image_to_face_mat=np.zeros((3, 3))), "2 x 3"),
        (dfl_metadata(xseg_mask=b"not a png"), "xseg_mask is not a readable image"),
        ([1, 2, 3], "not a dict"),
    ],
)
def test_bad_dfl_metadata_is_one_line(tmp_path, meta, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(jpeg_with_segments(smooth_image(), [(0xEF, pickle.dumps(meta))]))
    with pytest.raises(I2IError, match=message) as info:
        read_aligned(path)
    assert "\n" not in str(info.value)


def test_files_that_are_no_aligned_faces(tmp_path):
    Image.fromarray(smooth_image()).save(tmp_path / "plain.jpg")
    Image.fromarray(smooth_image()).save(tmp_path / "plain.png")
    for name in ("plain.jpg", "plain.png"):
        with pytest.raises(I2IError, match="no face metadata"):
            read_aligned(tmp_path / name)
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x40JFIF")
    with pytest.raises(I2IError, match="damaged JPEG"):
        read_aligned(tmp_path / "cut.jpg")
    with pytest.raises(I2IError, match="cannot read"):
        read_aligned(tmp_path / "missing.jpg")
    with pytest.raises(I2IError, match=r"\.jpg or \.png"):
        write_aligned(tmp_path / "face.webp", full_face())


def test_iter_faceset_reads_every_face_in_order(tmp_path):
    for name in ("b.jpg", "a.png", "sub/c.jpg"):
        write_aligned(tmp_path / name, full_face())
    assert [f.path.name for f in iter_faceset(tmp_path)] == ["a.png", "b.jpg", "c.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(I2IError, match="no aligned face images"):
        list(iter_faceset(tmp_path / "empty"))
    with pytest.raises(I2IError, match="no such folder"):
        list(iter_faceset(tmp_path / "nope"))


def test_damaged_or_foreign_i2i_metadata(tmp_path):
    image = smooth_image()
    for payload, message in (
        (b"{broken", "damaged i2i face metadata"),
        (b'{"format": "other"}', "is not i2i-aligned-face"),
        (b'{"format": "i2i-aligned-face", "version": 99}', "version 99"),
        (json.dumps({**faceset.face_metadata(full_face()), "xseg_mask": "%%"}).encode(), "not base64"),
        (json.dumps({**faceset.face_metadata(full_face()), "landmarks": [[1, 2]]}).encode(), "expected 68"),
    ):
        path = tmp_path / "face.jpg"
        path.write_bytes(jpeg_with_segments(image, [(0xFE, faceset.COM_PREFIX + payload)]))
        with pytest.raises(I2IError, match=message) as info:
            read_aligned(path)
        assert "\n" not in str(info.value)
