"""Landmark providers: the precomputed JSON schema, the faceset provider, dlib68's wiring and its missing
packages, and the registry's one-line errors."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from i2i.data.faces import providers
from i2i.data.faces.align import MEAN_FACE
from i2i.data.faces.faceset import AlignedFace, write_aligned
from i2i.errors import I2IError, UsageError

IMAGE = np.zeros((64, 64, 3), np.uint8)
POINTS = MEAN_FACE * 30 + 10


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


def test_precomputed_looks_up_relative_paths_then_bare_names(tmp_path):
    data = {
        "sub/a.png": [{"landmarks": POINTS.tolist(), "rect": [1, 2, 40, 50]}],
        "b.png": [{"landmarks": (POINTS + 5).tolist()}, {"landmarks": POINTS.tolist()}],
        "empty.png": [],
    }
    provider = providers.get_provider("precomputed", path=write_json(tmp_path / "lm.json", data))
    (face,) = provider.detect(IMAGE, name=str(tmp_path / "sub" / "a.png"))
    assert face.rect == (1, 2, 40, 50)
    np.testing.assert_allclose(face.landmarks, POINTS)
    two = provider.detect(IMAGE, name="/elsewhere/b.png")
    assert len(two) == 2 and two[0].rect == pytest.approx((*(POINTS + 5).min(0), *(POINTS + 5).max(0)))
    assert provider.detect(IMAGE, name="empty.png") == []
    assert provider.detect(IMAGE, name=str(tmp_path / "unknown.png")) == []
    assert provider.license_note == ""
    elsewhere = providers.get_provider("precomputed", path=tmp_path / "lm.json", root=tmp_path / "frames")
    assert len(elsewhere.detect(IMAGE, name=str(tmp_path / "frames" / "sub" / "a.png"))) == 1
    assert elsewhere.detect(IMAGE, name=str(tmp_path / "frames" / "other" / "a.png")) == []


def test_precomputed_round_trips_through_landmarks_json(tmp_path):
    faces = {"x.png": [providers.Face.from_landmarks(POINTS, (0, 0, 5, 5))]}
    path = tmp_path / "lm.json"
    path.write_text(providers.landmarks_json(faces))
    back = providers.read_landmarks_json(path)
    np.testing.assert_allclose(back["x.png"][0].landmarks, POINTS, atol=1e-3)
    assert back["x.png"][0].rect == (0, 0, 5, 5)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a readable landmarks JSON"),
        ("[1, 2]", "expected an object"),
        ('{"a.png": {"landmarks": []}}', "must map to a list"),
        ('{"a.png": [{"rect": [1, 2, 3, 4]}]}', "expected an object with 'landmarks'"),
        ('{"a.png": [{"landmarks": [[1, 2], [3, 4]]}]}', "expected 68"),
        ('{"a.png": [{"landmarks": [["x", 2]]}]}', "pairs of numbers"),
    ],
)
def test_bad_landmark_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "lm.json"
    path.write_text(content)
    with pytest.raises(I2IError, match=message) as info:
        providers.get_provider("precomputed", path=path)
    assert "\n" not in str(info.value)


def test_bad_rect_and_missing_file(tmp_path):
    path = write_json(tmp_path / "lm.json", {"a.png": [{"landmarks": POINTS.tolist(), "rect": [1, 2]}]})
    with pytest.raises(I2IError, match="rect must be"):
        providers.get_provider("precomputed", path=path)
    with pytest.raises(I2IError, match="no such landmarks file"):
        providers.get_provider("precomputed", path=tmp_path / "missing.json")
    with pytest.raises(UsageError, match="needs a landmarks file"):
        providers.get_provider("precomputed")


def test_registry_errors_are_one_line():
    with pytest.raises(UsageError, match="did you mean 'precomputed'"):
        providers.get_provider("precomputd")
    with pytest.raises(UsageError, match="landmark provider 'faceset'"):
        providers.get_provider("faceset", colour="red")
    assert {"precomputed", "faceset", "dlib68"} <= set(providers.provider_names())


def test_faceset_provider_reads_the_files_own_landmarks(tmp_path):
    path = write_aligned(tmp_path / "f.png", AlignedFace(np.zeros((32, 32, 3), np.uint8), "f", POINTS / 3))
    (face,) = providers.get_provider("faceset").detect(IMAGE, name=str(path))
    np.testing.assert_allclose(face.landmarks, POINTS / 3, atol=1e-4)
    with pytest.raises(I2IError, match="no face metadata"):
        from PIL import Image

        Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
        providers.get_provider("faceset").detect(IMAGE, name=str(tmp_path / "plain.png"))


def test_dlib68_without_its_packages_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(I2IError) as info:
        providers.get_provider("dlib68")
    message = str(info.value)
    assert "i2i[faceswap-dlib]" in message and "dlib" in message and "\n" not in message


def test_dlib68_turns_dlib_shapes_into_faces(monkeypatch):
    class Rect:
        def left(self):
            return 3

        def top(self):
            return 4

        def right(self):
            return 50

        def bottom(self):
            return 60

    class Shape:
        def part(self, i):
            return types.SimpleNamespace(x=int(POINTS[i, 0]), y=int(POINTS[i, 1]))

    seen = {}

    def detector(image, upsample):
        seen["image"], seen["upsample"] = image, upsample
        return [Rect()]

    fake_dlib = types.SimpleNamespace(
        get_frontal_face_detector=lambda: detector,
        shape_predictor=lambda path: (lambda image, rect: Shape()) if path == "model.dat" else None,
    )
    fake_models = types.SimpleNamespace(pose_predictor_model_location=lambda: "model.dat")
    monkeypatch.setitem(sys.modules, "dlib", fake_dlib)
    monkeypatch.setitem(sys.modules, "face_recognition_models", fake_models)
    provider = providers.get_provider("dlib68", upsample=2)
    (face,) = provider.detect(np.zeros((64, 64, 4), np.uint8))
    assert seen["upsample"] == 2 and seen["image"].shape == (64, 64, 3)
    assert face.rect == (3, 4, 50, 60)
    np.testing.assert_array_equal(face.landmarks, POINTS.astype(int))
    assert "non-commercial" in provider.license_note
