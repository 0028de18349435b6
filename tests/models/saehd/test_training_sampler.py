"""SAEHD's sample generator: shapes, masks, the jitter and warp, determinism by seed, and finding faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from i2i.data.faces import align
from i2i.data.faces.faceset import AlignedFace, write_aligned
from i2i.errors import I2IError
from i2i.models.saehd import sampler as S


def _face(size: int = 96, shift: float = 0.0, colour=(200, 150, 120)) -> S.FaceImage:
    """A flat-coloured face: the canonical landmarks placed in the middle of a grey image, hull filled."""
    points = align.MEAN_FACE * size * 0.5 + size * 0.25 + shift
    image = np.full((size, size, 3), 60, np.uint8)
    image[align.hull_mask(points, size) > 0] = colour
    return S.FaceImage(image, points)


def test_sample_shapes_and_ranges():
    sample = S.make_sample(_face(), np.random.default_rng(0), resolution=32, face_type="f")
    assert set(sample) == set(S.OUTPUTS)
    assert sample["warped"].shape == sample["target"].shape == (32, 32, 3)
    assert sample["target_mask"].shape == sample["em_mask"].shape == (32, 32, 1)
    for value in sample.values():
        assert value.dtype == np.float32 and value.min() >= 0 and value.max() <= 1
    # the hull covers the face's middle, the eyes/mouth lie inside it
    assert sample["target_mask"][16, 16, 0] == 1
    assert 0 < sample["em_mask"].sum() < sample["target_mask"].sum()
    assert not np.array_equal(sample["warped"], sample["target"])


def test_without_warp_the_input_is_the_target():
    sample = S.make_sample(_face(), np.random.default_rng(1), resolution=32, face_type="f", random_warp=False)
    assert np.array_equal(sample["warped"], sample["target"])


def test_the_mask_follows_the_face_through_the_jitter():
    face = _face(128)
    for seed in range(4):
        sample = S.make_sample(face, np.random.default_rng(seed), resolution=64, face_type="f", flip=True)
        skin = np.abs(sample["target"] - np.array([200, 150, 120]) / 255).max(-1) < 0.05
        inside = sample["target_mask"][..., 0] > 0.5
        assert (skin == inside).mean() > 0.97


def test_warp_field_keeps_the_border():
    field = S.warp_field(np.random.default_rng(2), 64)
    ys, xs = np.mgrid[0:64, 0:64]
    identity = np.stack([xs, ys], -1)
    assert np.allclose(field[0], identity[0]) and np.allclose(field[:, -1], identity[:, -1])
    assert np.abs(field - identity).max() > 0.5


def test_jitter_stays_in_its_ranges():
    rng = np.random.default_rng(3)
    for _ in range(50):
        m = S.jitter_matrix(rng, 100)
        scale = np.sqrt(abs(np.linalg.det(m[:, :2])))
        angle = np.degrees(np.arctan2(m[1, 0], m[0, 0]))
        assert 0.85 <= scale <= 1.15 and abs(angle) <= 10
        centre = m @ np.array([49.5, 49.5, 1])
        assert np.abs(centre - 49.5).max() <= 5 + 1e-9


def _dataset(**options):
    src = [_face(96, 0), _face(96, 3)]
    dst = [_face(96, -2, (120, 160, 210))]
    return S.FacePairDataset(src, dst, resolution=32, face_type="f", **options)


def test_dataset_items_are_deterministic_by_seed_and_epoch():
    a, b = _dataset(seed=5), _dataset(seed=5)
    item = a[1]
    assert set(item) == {f"{k}_{side}" for k in S.OUTPUTS for side in ("src", "dst")}
    assert item["warped_src"].shape == (3, 32, 32) and item["em_mask_dst"].shape == (1, 32, 32)
    for key, value in item.items():
        assert torch.equal(value, b[1][key])
    assert not torch.equal(a[0]["warped_src"], item["warped_src"])
    assert not torch.equal(_dataset(seed=6)[1]["warped_src"], item["warped_src"])
    a.set_epoch(1)
    assert not torch.equal(a[1]["warped_src"], item["warped_src"])
    assert len(a) == 2


def test_flips_follow_the_settings():
    flipped = _dataset(random_src_flip=False, random_dst_flip=True, random_warp=False)
    plain = _dataset(random_src_flip=False, random_dst_flip=False, random_warp=False)
    mirrored = 0
    for i in range(8):
        flipped.set_epoch(i), plain.set_epoch(i)
        a, b = flipped[0], plain[0]
        assert torch.equal(a["target_src"], b["target_src"])
        if torch.equal(a["target_dst"], b["target_dst"].flip(-1)):
            mirrored += 1
            assert torch.equal(a["target_mask_dst"], b["target_mask_dst"].flip(-1))
        else:
            assert torch.equal(a["target_dst"], b["target_dst"])
    assert 0 < mirrored < 8


def test_find_faces_reads_raw_images_with_landmarks(tmp_path):
    from i2i.data.faces.providers import Face, landmarks_json
    from i2i.data.synth import write_png

    face = _face(80)
    write_png(tmp_path / "src" / "a.png", face.image)
    write_png(tmp_path / "src" / "b.png", face.image)
    listed = {"a.png": [Face.from_landmarks(face.landmarks)], "b.png": []}
    (tmp_path / "src" / "landmarks.json").write_text(landmarks_json(listed))
    sources = S.find_faces(tmp_path / "src")
    assert len(sources) == 1 and isinstance(sources[0], S.RawSource)
    loaded = sources[0].load()
    assert loaded.image.shape == (80, 80, 3)
    np.testing.assert_allclose(loaded.landmarks, face.landmarks, atol=1e-3)


def test_find_faces_reads_aligned_faces_and_their_xseg(tmp_path):
    face = _face(64)
    xseg = np.zeros((32, 32), np.float32)
    xseg[8:24, 8:24] = 1
    write_aligned(
        tmp_path / "dst" / "0.png", AlignedFace(face.image, "full_face", face.landmarks, xseg_mask=xseg)
    )
    (source,) = S.find_faces(tmp_path / "dst")
    loaded = source.load()
    assert loaded.xseg_mask.shape == (64, 64)
    sample = S.make_sample(loaded, np.random.default_rng(0), resolution=32, face_type="f")
    assert sample["target_mask"].max() > 0.9


def test_find_faces_errors_are_one_line(tmp_path):
    with pytest.raises(I2IError, match="does not exist"):
        S.find_faces(tmp_path / "src")
    (tmp_path / "src").mkdir()
    with pytest.raises(I2IError, match="holds no images"):
        S.find_faces(tmp_path / "src")
    (tmp_path / "src" / "landmarks.json").write_text(json.dumps({"x.png": []}))
    with pytest.raises(I2IError, match="lists no face"):
        S.find_faces(tmp_path / "src")
