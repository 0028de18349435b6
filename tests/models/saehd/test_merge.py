"""The SAEHD merge on whole frames (`i2i.models.saehd.merge.merge_frames`): crop, swap, mask, composite."""

from __future__ import annotations

import numpy as np
import torch

from i2i.data.faces.align import MEAN_FACE
from i2i.models.saehd.merge import MergeOptions, merge_frames

RES = 64


def _frame(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    """A smooth colourful frame (a sum of low-frequency waves), float32 RGB in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fy, fx, phase = rng.uniform(0.02, 0.06, 2).tolist() + [rng.uniform(0, 6)]
        channels.append(0.5 + 0.35 * np.sin(fy * yy + fx * xx + phase))
    return np.stack(channels, axis=-1).astype(np.float32)


def _face(centre_x: float, centre_y: float, side: float) -> np.ndarray:
    """68 landmarks of the canonical face, `side` pixels wide, centred at the given point."""
    return (MEAN_FACE - 0.5) * side + np.array([centre_x, centre_y])


def _identity(x: torch.Tensor):
    ones = torch.ones_like(x[:, :1])
    return x, ones, ones


def _paint(value: tuple[float, float, float]):
    """A "model" that paints every face one colour, with a mask that is 1 on the crop's central disc."""

    def predict(x: torch.Tensor):
        n, _, h, w = x.shape
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        disc = (((yy - h / 2) ** 2 + (xx - w / 2) ** 2) <= (h / 3) ** 2).float().expand(n, 1, h, w)
        return torch.tensor(value).view(1, 3, 1, 1).expand(n, 3, h, w), disc, torch.ones_like(disc)

    return predict


def _covered(frame_shape, landmarks) -> np.ndarray:
    """Where a crop of the faces lands in the frame (warping ones back)."""
    ones = merge_frames(
        [np.zeros(frame_shape, np.float32)],
        [landmarks],
        lambda x: (torch.ones_like(x), *_identity(x)[1:]),
        resolution=RES,
        face_type="f",
        options=MergeOptions(color_transfer="none"),
    )[0]
    return ones[..., 0] > 0


def test_identity_model_round_trips_the_frame():
    frame = _frame()
    landmarks = [_face(80, 62, 50)]
    out = merge_frames([frame], [landmarks], _identity, resolution=RES, face_type="f")[0]
    covered = _covered(frame.shape, landmarks)
    assert covered.sum() > 2000
    np.testing.assert_array_equal(out[~covered], frame[~covered])  # outside the mask: the input's pixels
    # inside: through the crop and back (bicubic both ways, crop about as large as the face)
    error = np.abs(out - frame)[covered]
    assert error.mean() < 0.01 and np.quantile(error, 0.99) < 0.05


def test_painted_face_lands_inside_the_mask_with_the_frames_colour():
    frame = _frame(seed=1)
    landmarks = [_face(80, 62, 60)]
    red = merge_frames(
        [frame], [landmarks], _paint((1.0, 0.0, 0.0)), resolution=RES, face_type="f",
        options=MergeOptions(color_transfer="none"),
    )[0]  # fmt: skip
    changed = np.abs(red - frame).max(axis=2) > 1e-6
    assert changed.sum() > 500
    ys, xs = np.nonzero(changed)
    assert abs(xs.mean() - 80) < 6 and abs(ys.mean() - 62) < 10
    np.testing.assert_allclose(red[70, 80], [1.0, 0.0, 0.0], atol=1e-5)
    # rct: the painted face takes the frame's colour statistics inside the mask (a flat face stays flat)
    matched = merge_frames([frame], [landmarks], _paint((1.0, 0.0, 0.0)), resolution=RES, face_type="f")[0]
    inside = frame[changed].mean(axis=0)
    assert np.abs(matched[70, 80] - inside).max() < np.abs(red[70, 80] - inside).max()


def test_erode_and_blur_shrink_what_changes():
    frame = _frame(seed=2)
    landmarks = [_face(80, 62, 60)]
    areas = []
    for options in (MergeOptions(), MergeOptions(erode=100), MergeOptions(erode=100, blur=100)):
        out = merge_frames([frame], [landmarks], _paint((0.0, 1.0, 0.0)), resolution=RES, face_type="f",
                           options=options)[0]  # fmt: skip
        areas.append(float(np.abs(out - frame).sum()))
    assert areas[0] > areas[1] > areas[2] > 0


def test_two_faces_in_one_frame_and_a_frame_without_faces():
    frames = [_frame(seed=3), _frame(seed=4)]
    faces = [[_face(45, 60, 40), _face(118, 58, 36)], []]
    calls = []

    def predict(x):
        calls.append(x.shape[0])
        return _paint((0.0, 0.0, 1.0))(x)

    out = merge_frames(frames, faces, predict, resolution=RES, face_type="f",
                       options=MergeOptions(color_transfer="none"))  # fmt: skip
    assert calls == [2]  # both faces in one batch
    changed = np.abs(out[0] - frames[0]).max(axis=2) > 1e-6
    assert changed[:, :80].sum() > 200 and changed[:, 82:].sum() > 200
    np.testing.assert_allclose(out[0][60, 45], [0, 0, 1], atol=1e-5)
    np.testing.assert_allclose(out[0][58, 118], [0, 0, 1], atol=1e-5)
    np.testing.assert_array_equal(out[1], frames[1])


def test_dst_hull_mode_follows_the_landmarks():
    frame = _frame(seed=5)
    landmarks = [_face(80, 62, 50)]
    out = merge_frames([frame], [landmarks], _paint((1.0, 1.0, 1.0)), resolution=RES, face_type="wf",
                       options=MergeOptions(mask_mode="dst", color_transfer="none"))[0]  # fmt: skip
    changed = np.abs(out - frame).max(axis=2) > 1e-6
    points = landmarks[0]
    ys, xs = np.nonzero(changed)
    assert xs.min() >= points[:, 0].min() - 5 and xs.max() <= points[:, 0].max() + 5
    assert ys.min() >= points[:, 1].min() - 5 and ys.max() <= points[:, 1].max() + 5
    assert changed.sum() > 0.6 * (np.ptp(points[:, 0]) * np.ptp(points[:, 1]))


def test_frames_are_looked_up_relative_to_the_landmarks_file(tmp_path):
    from i2i.models.saehd.merge import face_name

    landmarks = tmp_path / "landmarks.json"
    assert face_name(tmp_path / "shot" / "0001.png", landmarks) == "shot/0001.png"
    assert face_name(tmp_path.parent / "elsewhere.png", landmarks) == "elsewhere.png"
    assert face_name(tmp_path / "clip.mp4", None) == "clip.mp4"
    assert face_name(None, landmarks) is None
