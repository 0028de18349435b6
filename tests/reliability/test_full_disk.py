"""A disk that fills up mid-run (ENOSPC, see `faults.FullDisk`): `translate`, `upscale` and `train` stop with
one line naming the file that could not be written and exit 1; no output is left partial (the files written
before are complete, nothing stands under the other names, no temporary file stays), the inputs are
untouched, and once there is room again `--skip-existing` / `--resume` finish the rest."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.paired import make_paired
from tests.conftest import tiny_checkpoint
from tests.reliability.faults import TINY, FullDisk, temporary_files, tree, unreadable_checkpoints


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    return {name: tiny_checkpoint(name, folder) for name in ("pix2pix", "esrgan")}


def _inputs(folder: Path, count: int = 4) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("error", "internal error"))]


@pytest.mark.parametrize("command", ["translate", "upscale"])
def test_a_disk_filling_up_mid_folder(command, weights, tmp_path, monkeypatch):
    inputs, out = _inputs(tmp_path / "in"), tmp_path / "out"
    before = tree(inputs)
    model = "pix2pix" if command == "translate" else "esrgan"
    args = [command, str(inputs), "-o", str(out), "--weights", str(weights[model]), "--device", "cpu",
            "--precision", "fp32", "--no-progress"]  # fmt: skip
    disk = FullDisk(room=2).install(monkeypatch)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    errors = _errors(result.output)
    written = sorted(p.name for p in out.iterdir())
    assert len(errors) == 1 and "No space left on device" in errors[0], result.output
    assert len(written) == 2 and str(out / "img2") in errors[0] and "--skip-existing" in errors[0]
    for name in written:  # complete images
        scale = 1 if command == "translate" else 4
        assert np.asarray(Image.open(out / name)).shape[:2] == (16 * scale, 20 * scale)
    assert temporary_files(out) == [] and tree(inputs) == before
    disk.free()
    again = CliRunner().invoke(app, [*args, "--skip-existing"])
    assert again.exit_code == 0, again.output
    assert "2 skipped" in again.output and len(list(out.iterdir())) == 4
    assert temporary_files(out) == [] and tree(inputs) == before


def test_a_disk_filling_up_during_training(tmp_path, monkeypatch):
    data = make_paired(tmp_path / "data", count=4, size=32, seed=3)
    before = tree(data)
    run = tmp_path / "run"
    args = ["train", "pix2pix", "--data", str(data), "--run-dir", str(run), "--steps", "4", "--save-every", "1",
            "--sample-every", "0", "--workers", "0", "--device", "cpu", "--no-progress", *TINY]  # fmt: skip
    disk = FullDisk(room=3).install(monkeypatch)  # run.json and the checkpoints of steps 1 and 2
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    errors = _errors(result.output)
    assert len(errors) == 1 and "No space left on device" in errors[0], result.output
    assert str(run / "checkpoints" / "step_00000003.safetensors") in errors[0]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_00000001.safetensors",
        "step_00000002.safetensors",
    ]
    assert unreadable_checkpoints(run) == [] and temporary_files(run) == []
    disk.free()
    resumed = CliRunner().invoke(
        app, ["train", "--run-dir", str(run), "--resume", "--no-progress", "--workers", "0"]
    )
    assert resumed.exit_code == 0, resumed.output
    assert re.search(r"from\s+step\s+2\b", resumed.output)
    assert i2i.load(weights=run / "model.safetensors", device="cpu").step == 4
    assert tree(data) == before
