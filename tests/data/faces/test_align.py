"""DFL-style alignment: conventions on the canonical face, invariance to a known similarity, face types
ordered by padding, warps and inverse warps, masks and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from i2i.data.faces import align
from i2i.data.faces.synth import IDENTITIES, render_face
from i2i.errors import I2IError, UsageError

TYPES_BY_PADDING = ["h", "mf", "f", "wf", "head"]


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def canonical(scale=200.0, offset=(60.0, 40.0)) -> np.ndarray:
    return align.MEAN_FACE * scale + offset


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (33, 2))
    known = similarity(23, 1.7, 5, -12)
    found = align.umeyama(src, align.transform_points(src, known))
    np.testing.assert_allclose(found[:2], known, atol=1e-9)


def test_half_face_maps_the_canonical_inner_points_onto_the_whole_crop():
    crop = align.transform_points(canonical(), align.transform_matrix(canonical(), 256, "h"))
    np.testing.assert_allclose(crop[17:].min(0), [0, 0], atol=1e-6)
    np.testing.assert_allclose(crop[17:].max(0), [256, 256], atol=1e-6)


def test_landmarks_moved_by_a_similarity_come_back_to_the_same_crop():
    landmarks = render_face(IDENTITIES["src"], np.random.default_rng(1), 128)[1]
    moved = align.transform_points(landmarks, similarity(-31, 0.6, 40, 75))
    for face_type in ("h", "f", "wf"):
        here = align.transform_points(landmarks, align.transform_matrix(landmarks, 96, face_type))
        there = align.transform_points(moved, align.transform_matrix(moved, 96, face_type))
        np.testing.assert_allclose(there, here, atol=1e-6)


def test_an_image_moved_by_a_similarity_gives_the_same_crop():
    image, landmarks = render_face(IDENTITIES["dst"], np.random.default_rng(2), 160)
    known = similarity(20, 1.3, -10, 30)
    moved_image = align.warp_to_crop(image, known, 260)
    moved = align.transform_points(landmarks, known)
    crop = align.warp_to_crop(image, align.transform_matrix(landmarks, 64, "f"), 64).astype(float)
    again = align.warp_to_crop(moved_image, align.transform_matrix(moved, 64, "f"), 64).astype(float)
    assert np.abs(crop - again).mean() < 4  # two resamplings apart, nothing more
    unrelated = align.warp_to_crop(image, align.transform_matrix(landmarks * 0.8, 64, "f"), 64)
    assert np.abs(crop - unrelated).mean() > 4 * np.abs(crop - again).mean()


def test_a_rotated_face_comes_out_upright():
    landmarks = canonical()
    tilted = align.transform_points(landmarks, similarity(35, 1.0, 100, -50))
    crop = align.transform_points(tilted, align.transform_matrix(tilted, 128, "f"))
    eye_line = crop[45] - crop[36]
    assert eye_line[0] > 0 and abs(np.degrees(np.arctan2(eye_line[1], eye_line[0]))) < 2


@pytest.mark.parametrize("size", [64, 129, 512])
def test_face_types_are_ordered_by_padding(size):
    landmarks = canonical()
    extents = []
    for face_type in TYPES_BY_PADDING:
        crop = align.transform_points(landmarks, align.transform_matrix(landmarks, size, face_type))
        extents.append(np.ptp(crop[17:, 0]))
    assert all(a > b for a, b in zip(extents, extents[1:], strict=False))
    # the unit square's side in the crop is size / (1 + 2 sqrt(2) padding)
    expected = [size / (1 + 2 * np.sqrt(2) * align.PADDING[align.FACE_TYPES[t]]) for t in TYPES_BY_PADDING]
    np.testing.assert_allclose(extents[:4], expected[:4], rtol=1e-6)


def test_whole_face_and_head_move_the_centre_towards_the_forehead():
    landmarks = canonical()
    centre = landmarks[17:].min(0) + 100  # the unit square's centre in the image
    rows = {}
    for face_type in ("f", "wf", "head"):
        rows[face_type] = align.transform_points(centre, align.transform_matrix(landmarks, 100, face_type))[0]
    assert rows["f"][1] == pytest.approx(50, abs=1e-6)
    assert rows["f"][1] < rows["wf"][1] < rows["head"][1]  # the face sits lower in the crop
    half = 0.5 + 0.4 * np.sqrt(2)
    assert rows["wf"][1] == pytest.approx(100 * (half + 0.07) / (2 * half), abs=1e-6)


def test_face_type_names_short_and_long():
    assert align.face_type_name("wf") == align.face_type_name("WHOLE_FACE") == "whole_face"
    with pytest.raises(UsageError, match="did you mean") as info:
        align.face_type_name("whole")
    assert "\n" not in str(info.value)


def test_bad_landmarks_are_one_line():
    with pytest.raises(I2IError, match="expected 68"):
        align.transform_matrix(np.zeros((5, 2)), 64, "f")
    with pytest.raises(I2IError, match="coincide"):
        align.transform_matrix(np.ones((68, 2)), 64, "f")
    with pytest.raises(I2IError, match="NaN"):
        align.transform_matrix(np.full((68, 2), np.nan), 64, "f")


def test_integer_shift_copies_pixels_exactly_and_outside_is_black():
    image = np.random.default_rng(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    crop = align.warp_to_crop(image, np.array([[1.0, 0, -10], [0, 1, -20]]), 30)
    np.testing.assert_array_equal(crop[:20], image[20:40, 10:40])
    assert not crop[20:].any()
    for interpolation in ("nearest", "cubic"):
        same = align.warp_to_crop(
            image, np.array([[1.0, 0, -10], [0, 1, -5]]), 8, interpolation=interpolation
        )
        np.testing.assert_array_equal(same, image[5:13, 10:18])
    with pytest.raises(UsageError, match="interpolation"):
        align.warp_to_crop(image, np.eye(3)[:2], 8, interpolation="lanczos")


def test_inverse_warp_round_trip():
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float32)
    image = np.stack([xx / 160, yy / 120, 0.5 + 0.4 * np.sin(xx / 9) * np.cos(yy / 11)], -1)
    landmarks = align.transform_points(canonical(60, (50, 20)), similarity(12, 1.0, 0, 0))
    mat = align.transform_matrix(landmarks, 256, "wf")
    crop = align.warp_to_crop(image, mat, 256)
    assert crop.dtype == np.float32
    back = align.warp_from_crop(crop, mat, image.shape[:2])
    covered = align.warp_from_crop(np.ones((256, 256), np.float32), mat, image.shape[:2]) > 0.999
    inside = (
        covered[2:-2, 2:-2] & covered[:-4, 2:-2] & covered[4:, 2:-2] & covered[2:-2, :-4] & covered[2:-2, 4:]
    )
    error = np.abs(back[2:-2, 2:-2] - image[2:-2, 2:-2])[inside]
    assert inside.sum() > 2000
    assert error.mean() < 0.005 and error.max() < 0.05
    assert back[0, -1].max() == 0  # a corner far from the face


def test_masks_cover_the_face_and_the_eyes_and_mouth():
    landmarks = canonical(40, (12, 10))
    hull = align.hull_mask(landmarks, 64)
    x, y = landmarks[:, 0], landmarks[:, 1]
    outline = align.convex_hull(landmarks)
    area = 0.5 * abs(
        np.dot(outline[:, 0], np.roll(outline[:, 1], 1)) - np.dot(outline[:, 1], np.roll(outline[:, 0], 1))
    )
    assert hull.dtype == np.float32 and hull.shape == (64, 64)
    assert hull.sum() == pytest.approx(area, rel=0.08)
    assert hull[int(y[30]), int(x[30])] == 1 and hull[0, 0] == 0
    parts = align.eyes_mouth_mask(landmarks, 64)
    eye = landmarks[36:42].mean(0).round().astype(int)
    mouth = landmarks[[51, 57]].mean(0).round().astype(int)
    assert parts[eye[1], eye[0]] == 1 and parts[mouth[1], mouth[0]] == 1
    assert parts[int(y[30]), int(x[30])] == 0 and parts.sum() < hull.sum() / 4
