"""Official checkpoints (`i2i.io.official`): what a file holds decides the message when it holds no network
weights, and reference run folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import i2i
from i2i.errors import I2IError
from i2i.io import official

OPTIMISER = {"state": {0: {"exp_avg": torch.zeros(2)}}, "param_groups": [{"lr": 1e-4, "params": [0]}]}


def test_optimiser_state_is_named_as_such():
    with pytest.raises(I2IError, match=r"holds optimiser state \(state, param_groups\), not network weights"):
        official.as_roles(OPTIMISER, Path("100000_optims.ckpt"))


@pytest.mark.parametrize("content, found", [([torch.zeros(1)], "list"), ({"epoch": 3}, "dict"), ("G", "str")])
def test_other_content_is_no_model_checkpoint(content, found):
    message = rf"holds no state dict of tensors \(found {found}\); not a model checkpoint"
    with pytest.raises(I2IError, match=message):
        official.as_roles(content, Path("x.pth"))


def test_loading_says_what_a_file_holds(tmp_path):
    torch.save(OPTIMISER, tmp_path / "100000_optims.ckpt")
    with pytest.raises(I2IError, match="holds optimiser state"):
        i2i.load(weights=tmp_path / "100000_optims.ckpt", device="cpu")
    torch.save({"epoch": 3, "note": "no tensors"}, tmp_path / "meta.pth")
    with pytest.raises(I2IError, match=r"meta\.pth: holds no state dict of tensors \(found dict\)"):
        i2i.load(weights=tmp_path / "meta.pth", device="cpu")


def test_roles_from_reference_file_names(tmp_path):
    assert official.role(Path("latest_net_G_A.pth")) == "G_A"
    assert official.role(Path("200000-D.ckpt")) == "D"
    state = {"w": torch.ones(1)}
    for epoch in (5, 10):
        torch.save(state, tmp_path / f"{epoch}_net_G.pth")
    (tmp_path / "train_opt.txt").write_text("----- Options -----\nmodel: cycle_gan  [default: pix2pix]\n")
    states, options = official.read_run_folder(tmp_path)
    assert list(states) == ["G"] and options == {"model": "cycle_gan"}
