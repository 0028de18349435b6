"""MaskGAN learns (slow): a short run of the reconstructed DMN training on synthetic faces, after which an
edited mask moves the rendering towards the edited classes' colours, region by region, compared with the
rendering of the unedited mask."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.masks import make_masks, render_face
from i2i.models.maskgan.demo import follow_counts

SETTINGS = {
    "ngf": 16,
    "n_downsample_global": 2,
    "n_blocks_global": 2,
    "enc_n_downsample": 4,
    "loadSize": 64,
    "ndf": 16,
    "n_layers_D": 2,
    "feature_scale": 16,
    "no_vgg_loss": True,
    "lambda_L1": 100,
    "lr": 2e-4,
}


def edits(ids: np.ndarray) -> list[np.ndarray]:
    """A bald version (hair -> background) and one with a fringe (the forehead above the brows -> hair)."""
    bald = ids.copy()
    bald[ids == 13] = 0
    fringe = ids.copy()
    rows = np.arange(ids.shape[0])[:, None]
    brows = np.nonzero(np.isin(ids, (6, 7)))[0].min()
    fringe[(ids == 1) & (rows < brows - 2)] = 13
    return [bald, fringe]


def followed_share(model: i2i.Model, count: int = 6) -> float:
    rng = np.random.default_rng(99)
    followed = edited = 0
    for _ in range(count):
        ids, image = render_face(rng, 64)
        style = model.encode_style(image, ids)
        baseline = model.render(ids, style, as_array=True) / 255.0
        for target in edits(ids):
            result = model.render(target, style, as_array=True) / 255.0
            f, e = follow_counts(image / 255.0, ids, target, result, baseline)
            followed, edited = followed + f, edited + e
    return followed / edited


@pytest.mark.slow
def test_training_makes_the_output_follow_an_edited_mask(tmp_path):
    data = make_masks(tmp_path / "data", count=300, size=64, seed=5)
    settings = [x for k, v in SETTINGS.items() for x in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(
        app,
        ["train", "maskgan", "--data", str(data), "--run-dir", str(tmp_path / "run"), "--steps", "500",
         "--batch-size", "8", "--workers", "0", "--no-progress", "--precision", "fp32", "--device", "cpu",
         *settings],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    untrained = i2i.load("maskgan", device="cpu", precision="fp32", **SETTINGS)
    trained = i2i.load(weights=tmp_path / "run" / "model.safetensors", device="cpu", precision="fp32")
    before, after = followed_share(untrained), followed_share(trained)
    assert after > 0.75 and after > before + 0.15, (before, after)
