"""`--eval-every`'s held-out evaluation of unaligned data: both directions against the real images of the
other domain, on a copy that leaves the trained networks as they were."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch

import i2i
from i2i import registry
from i2i.data.layouts import make_for_layout
from i2i.jobs.held_out import evaluate_held_out

fe = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")


@pytest.mark.slow
def test_unaligned_held_out_without_truth_gives_kid_both_ways(tmp_path):
    data = make_for_layout("unaligned", tmp_path / "data", count=10, size=32)
    shutil.rmtree(data / "truth")  # real unaligned datasets have no ground truth
    with (
        mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None),
        mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}),
    ):
        net = fe.FeatureExtractorInceptionV3("random", ["2048"])
    cache = Path(os.environ["I2I_HOME"]) / "weights"
    cache.mkdir(parents=True)
    torch.save(net.state_dict(), cache / "fid-inception-v3.pth")  # where the catalogue name is cached

    model = i2i.load(
        "cyclegan", device="cpu", precision="fp32", **registry.model_class("cyclegan").tiny_config
    )
    model.setup_training()
    before = {k: v.clone() for k, v in model.networks["G_A"].state_dict().items()}
    report = evaluate_held_out(model, data, "kid")
    assert set(report) == {"AtoB", "BtoA"}
    for direction, result in report.items():
        assert result["direction"] == direction and result["images"] >= 2
        assert "kid_mean" in result and result["kid_std"] >= 0 and "fid" not in result
    after = model.networks["G_A"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in model.networks["G_A"].parameters())  # still trainable
