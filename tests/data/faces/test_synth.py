"""Synthetic faces: deterministic by seed, landmarks that sit on the drawn face, two identities that differ
in shape and colour, and the `faces` layout (synth and check)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from i2i.data.faces import align, synth
from i2i.data.faces.faceset import write_aligned
from i2i.data.faces.layout import check
from i2i.data.layouts import get_layout, make_for_layout
from i2i.jobs.faces import align_face


def test_same_seed_same_dataset_other_seed_other_dataset(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        synth.make_faces(tmp_path / name, count=3, size=48, seed=seed)
    for side in ("src", "dst"):
        files = sorted(p.name for p in (tmp_path / "a" / side).iterdir())
        assert files == ["00000.png", "00001.png", "00002.png", "landmarks.json"]
        for file in files:
            assert (tmp_path / "a" / side / file).read_bytes() == (tmp_path / "b" / side / file).read_bytes()
        assert (tmp_path / "a" / side / "00000.png").read_bytes() != (
            tmp_path / "c" / side / "00000.png"
        ).read_bytes()


def test_landmarks_sit_on_the_drawn_face():
    who = synth.IDENTITIES["src"]
    image, landmarks = synth.render_face(who, np.random.default_rng(0), 128)
    assert landmarks.shape == (68, 2) and image.shape == (128, 128, 3)
    assert (landmarks > 0).all() and (landmarks < 128).all()
    cheek = ((landmarks[2] + landmarks[30]) / 2).round().astype(int)
    assert np.abs(image[cheek[1], cheek[0]].astype(int) - who.skin).max() < 12
    lips = ((landmarks[49] + landmarks[61]) / 2).round().astype(int)
    assert np.abs(image[lips[1], lips[0]].astype(int) - who.lips).max() < 40
    hull = align.hull_mask(landmarks, 128) > 0
    face_colour = image[hull].mean(0)
    background = image[~hull].mean(0)
    assert np.abs(face_colour - who.skin).max() < np.abs(background - who.skin).max()


def test_the_two_identities_differ_in_shape_and_colour():
    rng = np.random.default_rng(1)
    shapes, colours = {}, {}
    for name, who in synth.IDENTITIES.items():
        widths = []
        for _ in range(5):
            image, landmarks = synth.render_face(who, rng, 96)
            face = align_face(image, landmarks, size=64, face_type="wf")
            jaw = face.landmarks
            widths.append(np.ptp(jaw[0:17, 0]) / np.ptp(jaw[:, 1]))
            colours.setdefault(name, []).append(face.image[align.hull_mask(face.landmarks, 64) > 0].mean(0))
        shapes[name] = np.mean(widths)
    assert shapes["dst"] > shapes["src"] * 1.1  # a wider, shorter face
    assert np.abs(np.mean(colours["src"], 0) - np.mean(colours["dst"], 0)).max() > 40


def test_faces_layout_synth_and_check(tmp_path):
    root = make_for_layout("faces", tmp_path / "ds", count=2, size=48)
    listed = json.loads((root / "src" / "landmarks.json").read_text())
    assert sorted(listed) == ["00000.png", "00001.png"] and len(listed["00000.png"][0]["landmarks"]) == 68
    report = check(root)
    assert report.ok, report.problems
    assert "src 2 frames with landmarks" in report.summary
    # aligned faces are a faces dataset too; a plain image among them is not
    image, landmarks = synth.render_face(synth.IDENTITIES["dst"], np.random.default_rng(0), 64)
    for i in range(2):
        write_aligned(
            tmp_path / "al" / "src" / f"{i}.jpg", align_face(image, landmarks, size=32, face_type="f")
        )
    (tmp_path / "al" / "dst").mkdir()
    assert any("dst: no images" in p for p in check(tmp_path / "al").problems)
    Image.new("RGB", (8, 8)).save(tmp_path / "al" / "dst" / "plain.png")
    report = check(tmp_path / "al")
    assert any("no face metadata" in p for p in report.problems)
    assert "src 2 aligned faces" in report.summary
    (root / "dst" / "landmarks.json").write_text("{}")
    assert any("lists no face" in p for p in check(root).problems)


def test_synth_refuses_unknown_options_and_negative_counts(tmp_path):
    layout = get_layout("faces")
    with pytest.raises(Exception, match="takes no 'domains'"):
        layout.synth(tmp_path, count=1, size=32, seed=0, extra={"domains": 3})
    with pytest.raises(Exception, match="count must be >= 0"):
        synth.make_faces(tmp_path, count=-1)
