"""Inference shared out over processes under torchrun (CPU, gloo): each input done once, the outputs those
of one process, one summary; `--skip-existing` finishes an interrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from tests.conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return tiny_checkpoint("pix2pix", tmp_path_factory.mktemp("weights"))


def _inputs(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        sub = folder / ("sub" if i % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24 + 4 * (i % 2), 32, 3), dtype=np.uint8)).save(
            sub / f"img{i}.png"
        )
    return folder


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): np.asarray(Image.open(p)).tobytes() for p in sorted(folder.rglob("*.png"))
    }


def test_two_processes_write_each_output_once_as_one_process_does(tiny_weights, tmp_path):
    inputs = _inputs(tmp_path / "in", 7)
    args = ["translate", "--weights", str(tiny_weights), "--device", "cpu", "--no-progress"]
    single = CliRunner().invoke(app, [*args, str(inputs), str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "i2i",
           *args, str(inputs), str(tmp_path / "two")]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _outputs(tmp_path / "two") == _outputs(tmp_path / "one")
    summaries = [line for line in done.stderr.splitlines() if "translated" in line]
    assert len(summaries) == 1 and "translated 7 of 7" in summaries[0] and "2 processes" in summaries[0]


def test_skip_existing_finishes_an_interrupted_run(tiny_weights, tmp_path):
    inputs = _inputs(tmp_path / "in", 4)
    args = ["translate", "--weights", str(tiny_weights), "--device", "cpu", "--no-progress"]
    first = CliRunner().invoke(app, [*args, str(inputs), str(tmp_path / "out")])
    assert first.exit_code == 0, first.output
    kept = tmp_path / "out" / "img1.png"
    stamp = kept.stat().st_mtime_ns
    (tmp_path / "out" / "img2.png").unlink()  # as if the run had stopped before it
    again = CliRunner().invoke(app, [*args, "--skip-existing", str(inputs), str(tmp_path / "out")])
    assert again.exit_code == 0, again.output
    assert "3 skipped" in again.output and (tmp_path / "out" / "img2.png").is_file()
    assert kept.stat().st_mtime_ns == stamp
