"""Ctrl-C during training: the run stops after the step in progress with a checkpoint of it, exit 130, and
`--resume` continues from that step to a loadable model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.paired import make_paired

TINY = ["--set", "netG=resnet_6blocks", "--set", "ngf=4", "--set", "ndf=4", "--set", "load_size=36",
        "--set", "crop_size=32"]  # fmt: skip


def test_ctrl_c_saves_the_current_step_and_resume_continues(tmp_path):
    data = make_paired(tmp_path / "data", count=8, size=32, seed=3)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "i2i", "train", "pix2pix", "--data", str(data), "--run-dir", str(run),
           "--steps", "100000", "--save-every", "100000", "--sample-every", "0", "--log-every", "1",
           "--workers", "0", "--device", "cpu", "--no-progress", *TINY]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True
    )
    log = run / "log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "stopped at step" in err and "--resume" in err
    saved = sorted((run / "checkpoints").glob("step_*.safetensors"))
    assert len(saved) == 1
    step = int(saved[0].stem.split("_")[1])
    assert step >= 3 and json.loads(log.read_text().splitlines()[-1])["step"] >= step
    result = CliRunner().invoke(app, ["train", "--run-dir", str(run), "--resume", "--steps", str(step + 2),
                                      "--no-progress", "--workers", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert i2i.load(weights=run / "model.safetensors", device="cpu").step == step + 2
