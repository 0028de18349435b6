"""The shared training loop: exact resume, run folder contents, multi-process training under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.paired import make_paired

TINY = [
    "--set", "netG=resnet_6blocks", "--set", "ngf=4", "--set", "ndf=4",
    "--set", "load_size=36", "--set", "crop_size=32",
]  # fmt: skip


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return make_paired(tmp_path_factory.mktemp("data") / "shapes", count=24, size=32, seed=3)


def _train(*args: str) -> None:
    result = CliRunner().invoke(app, ["train", *args, "--no-progress", "--workers", "0"])
    assert result.exit_code == 0, result.output


def test_resume_is_exact(shapes, tmp_path):
    # 20 training images at batch 3 -> 7 steps per epoch: the runs cross epoch boundaries and resume mid-epoch.
    common = ["--data", str(shapes), "--batch-size", "3", "--seed", "5", "--sample-every", "4", *TINY]
    _train("pix2pix", *common, "--run-dir", str(tmp_path / "straight"), "--steps", "10")
    _train("pix2pix", *common, "--run-dir", str(tmp_path / "resumed"), "--steps", "4")
    _train("--run-dir", str(tmp_path / "resumed"), "--resume", "--steps", "10")
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


def test_run_folder(shapes, tmp_path):
    run = tmp_path / "run"
    _train(
        "pix2pix", "--data", str(shapes), "--run-dir", str(run), "--steps", "3", "--sample-every", "2", *TINY
    )
    assert json.loads((run / "run.json").read_text())["config"]["ngf"] == 4
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_00000002.png", "step_00000003.png"]
    assert (run / "checkpoints" / "step_00000003.safetensors").exists()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 and {"G_GAN", "G_L1", "D_real", "D_fake"} <= log[-1].keys()
    model = i2i.load(weights=run / "model.safetensors", device="cpu")
    assert model.name == "pix2pix" and model.config.netG == "resnet_6blocks" and model.step == 3
    again = CliRunner().invoke(
        app, ["train", "pix2pix", "--data", str(shapes), "--run-dir", str(run), "--steps", "1"]
    )
    assert again.exit_code == 1 and "--resume" in again.output


def test_torchrun_two_processes_average_gradients(shapes, tmp_path):
    """2 processes x batch 1 take the same steps as 1 process x batch 2 (instance norm, no dropout)."""
    settings = [
        *TINY,
        "--set",
        "norm=instance",
        "--set",
        "no_dropout=true",
        "--precision",
        "fp32",
        "--seed",
        "1",
    ]
    common = ["--data", str(shapes), "--steps", "2", "--device", "cpu", "--sample-every", "0", *settings]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "i2i", "train",
           "pix2pix", "--run-dir", str(tmp_path / "ddp"), "--batch-size", "1", "--no-progress", "--workers", "0",
           *common]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    _train("pix2pix", "--run-dir", str(tmp_path / "single"), "--batch-size", "2", *common)
    ddp = load_file(tmp_path / "ddp" / "model.safetensors")
    single = load_file(tmp_path / "single" / "model.safetensors")
    diff = torch.cat([(ddp[k].float() - single[k].float()).abs().flatten() for k in single])
    # Adam turns float noise on near-zero gradients into +-lr steps, so a few weights may differ by
    # ~lr; without gradient averaging, most of them would.
    assert (diff > 1e-5).float().mean() < 0.02
