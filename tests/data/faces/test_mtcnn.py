"""MTCNN (`mtcnn5`): the cascade against facenet-pytorch's own on the same networks, the 5 points as 68
landmarks, weight files read safely, and one-line errors when they are missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from i2i.data.faces import align, mtcnn, providers, synth
from i2i.errors import I2IError


def crafted_networks(seed: int) -> tuple[mtcnn.PNet, mtcnn.RNet, mtcnn.ONet]:
    """Random networks whose classifiers lean towards "face", so that every stage passes boxes on."""
    torch.manual_seed(seed)
    nets = (mtcnn.PNet(), mtcnn.RNet(), mtcnn.ONet())
    with torch.no_grad():
        for layer in (nets[0].conv4_1, nets[1].dense5_1, nets[2].dense6_1):
            layer.weight.mul_(0.5)
            layer.bias.copy_(torch.tensor([-2.0, 2.0]))
        for layer in (nets[0].conv4_2, nets[1].dense5_2, nets[2].dense6_2):
            layer.weight.mul_(0.1)
    return tuple(net.eval() for net in nets)  # type: ignore[return-value]


def save(nets, folder):
    folder.mkdir(exist_ok=True)
    for net, name in zip(nets, mtcnn.WEIGHT_FILES, strict=True):
        torch.save(net.state_dict(), folder / name)
    return folder


def sorted_rows(boxes, points):
    rows = np.concatenate([boxes, points.reshape(len(points), -1)], 1)
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_cascade_matches_facenet_pytorch(seed):
    reference = pytest.importorskip("facenet_pytorch.models.utils.detect_face")
    nets = crafted_networks(seed)
    image = np.random.default_rng(seed).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    boxes, points = mtcnn.detect(image, nets)
    with torch.no_grad():
        ref_boxes, ref_points = reference.detect_face(image, 20, *nets, [0.6, 0.7, 0.7], 0.709, "cpu")
    assert len(boxes) > 10 and points.shape == (len(boxes), 5, 2)
    # equal scores may leave the final suppression in another order: compare the sets
    np.testing.assert_allclose(
        sorted_rows(boxes, points),
        sorted_rows(np.asarray(ref_boxes[0], float), np.asarray(ref_points[0], float)),
        atol=1e-4,
    )


def test_provider_reads_weight_files_and_places_the_canonical_face(tmp_path):
    folder = save(crafted_networks(3), tmp_path / "weights")
    provider = providers.get_provider("mtcnn5", weights=folder)
    image = np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    faces = provider.detect(image)
    boxes, points = mtcnn.detect(image, crafted_networks(3))
    assert len(faces) == len(boxes) > 0
    for face, box, five in zip(faces, boxes, points, strict=True):
        assert face.rect == pytest.approx(tuple(box[:4]))
        np.testing.assert_allclose(face.keypoints, five)
        assert face.landmarks.shape == (68, 2)


def test_five_points_give_the_five_point_alignment():
    similarity = np.array(
        [[0.8 * np.cos(0.4), -0.8 * np.sin(0.4), 40], [0.8 * np.sin(0.4), 0.8 * np.cos(0.4), 15]]
    )
    five = align.transform_points(providers.FIVE_POINTS * 100, similarity)
    landmarks = providers.from_five_points(five)
    np.testing.assert_allclose(
        landmarks, align.transform_points(align.MEAN_FACE * 100, similarity), atol=1e-9
    )
    eyes = align.transform_points(landmarks[[36, 45]], align.transform_matrix(landmarks, 64, "f"))
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1  # upright


def test_real_weights_find_synthetic_faces():
    if importlib.util.find_spec("facenet_pytorch") is None:
        pytest.skip("facenet-pytorch (MTCNN's weight files) is not installed")
    provider = providers.get_provider("mtcnn5")
    rng = np.random.default_rng(5)
    found = 0
    for who in ("src", "dst"):
        for _ in range(2):
            image, landmarks = synth.render_face(synth.IDENTITIES[who], rng, 128)
            faces = provider.detect(image)
            if len(faces) != 1:
                continue
            found += 1
            eyes = np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0)])
            between = np.linalg.norm(eyes[1] - eyes[0])
            assert np.linalg.norm(faces[0].keypoints[:2] - eyes, axis=1).max() < 0.2 * between
    assert found >= 3


def test_missing_or_wrong_weights_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(mtcnn.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(I2IError, match="pip install --no-deps facenet-pytorch") as info:
        providers.get_provider("mtcnn5")
    assert "\n" not in str(info.value)
    with pytest.raises(I2IError, match="no MTCNN weight file pnet.pt, rnet.pt, onet.pt"):
        providers.get_provider("mtcnn5", weights=tmp_path)
    folder = save(crafted_networks(0), tmp_path / "w")
    torch.save({"conv1.weight": torch.zeros(1)}, folder / "rnet.pt")
    with pytest.raises(I2IError, match="rnet.pt: not MTCNN weights"):
        providers.get_provider("mtcnn5", weights=folder)
    torch.save({"nets": [torch.nn.Linear(1, 1)]}, folder / "rnet.pt")  # a pickled module: refused
    with pytest.raises(I2IError, match="rnet.pt: not MTCNN weights"):
        providers.get_provider("mtcnn5", weights=folder)


def test_extract_with_mtcnn5_from_the_cli(tmp_path):
    if importlib.util.find_spec("facenet_pytorch") is None:
        pytest.skip("facenet-pytorch (MTCNN's weight files) is not installed")
    from typer.testing import CliRunner

    from i2i.cli import app
    from i2i.data.faces.faceset import iter_faceset

    synth.make_faces(tmp_path / "ds", count=2, size=128, seed=1)
    args = ["faces", "extract", str(tmp_path / "ds" / "src"), str(tmp_path / "out"), "--provider", "mtcnn5"]
    result = CliRunner().invoke(app, [*args, "--size", "64"])
    assert result.exit_code == 0, result.output
    faces = list(iter_faceset(tmp_path / "out"))
    assert faces and all(f.landmarks.shape == (68, 2) and f.image.shape == (64, 64, 3) for f in faces)
