"""SAEHD learns a swap (slow): a small df-ud model trained on the two synthetic identities turns dst faces
into src's, measured against the unswapped input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import i2i
from i2i.data.faces import align
from i2i.data.faces.providers import read_landmarks_json
from i2i.data.faces.synth import make_faces
from i2i.data.files import open_rgb
from i2i.train.loop import TrainOptions, train
from tests.models.saehd.test_training import write_attestation

pytestmark = pytest.mark.usefixtures("one_thread")
R = 32
SETTINGS = {"archi": "df-ud", "resolution": R, "ae_dims": 64, "e_dims": 16, "d_dims": 16, "d_mask_dims": 8}


def _crops(folder):
    """The faces of a synthetic identity's frames as aligned crops (N, 3, R, R) and their hull masks."""
    images, masks = [], []
    for name, faces in sorted(read_landmarks_json(folder / "landmarks.json").items()):
        frame = np.asarray(open_rgb(folder / name), np.float32) / 255
        mat = align.transform_matrix(faces[0].landmarks, R, "f")
        images.append(align.warp_to_crop(frame, mat, R))
        masks.append(align.hull_mask(align.transform_points(faces[0].landmarks, mat), R))
    return torch.tensor(np.stack(images)).permute(0, 3, 1, 2), torch.tensor(np.stack(masks))[:, None]


def _face_colour(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The mean RGB colour inside the face masks, over all faces."""
    return ((images * masks).sum((2, 3)) / masks.sum((2, 3))).mean(0)


@pytest.mark.slow
def test_the_swap_moves_dst_faces_towards_src(tmp_path):
    data = make_faces(tmp_path / "faces", count=24, size=96, seed=0)
    options = TrainOptions(
        data=str(data), run_dir=str(tmp_path / "run"), steps=150, batch_size=4, workers=0, progress=False,
        sample_every=0, save_every=150, device="cpu", precision="fp32",
        consent=write_attestation(tmp_path / "consent.toml"),
    )  # fmt: skip
    # lr 5e-4 instead of DFL's 5e-5: the test has 150 steps, not DFL's hundreds of thousands
    final = train("saehd", options, {**{k: str(v) for k, v in SETTINGS.items()}, "lr": "5e-4"})
    model = i2i.load(weights=final, device="cpu", precision="fp32")

    src, src_masks = _crops(data / "src")
    dst, dst_masks = _crops(data / "dst")
    swapped, swapped_masks = model.swap_faces(dst)
    rebuilt, _ = model.swap_faces(dst, reconstruct=True)
    colour = {
        "src": _face_colour(src, src_masks),
        "dst": _face_colour(dst, dst_masks),
        "swap": _face_colour(swapped, dst_masks),
        "reconstruction": _face_colour(rebuilt, dst_masks),
    }
    input_to_src = float((colour["dst"] - colour["src"]).norm())
    swap_to_src = float((colour["swap"] - colour["src"]).norm())
    swap_to_dst = float((colour["swap"] - colour["dst"]).norm())
    rebuilt_to_dst = float((colour["reconstruction"] - colour["dst"]).norm())
    overlap = float((swapped_masks.round() * dst_masks).sum() / dst_masks.sum())
    print(f"face colour distance: input-src {input_to_src:.3f}, swap-src {swap_to_src:.3f}, "
          f"swap-dst {swap_to_dst:.3f}, reconstruction-dst {rebuilt_to_dst:.3f}; mask overlap {overlap:.3f}")  # fmt: skip
    # the swap carries src's colours, the dst path keeps dst's: the two decoders learned the two people
    assert swap_to_src < 0.25 * input_to_src
    assert swap_to_dst > 0.75 * input_to_src
    assert rebuilt_to_dst < 0.25 * input_to_src
    # the learned mask of the swap covers the dst face it replaces
    assert overlap > 0.8
