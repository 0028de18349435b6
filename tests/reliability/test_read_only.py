"""A read-only output folder (mode 0o555): `translate`, `upscale` and `train`'s checkpoint writes stop with
one line naming the file that could not be written, exit 1, leave nothing in the folder and the inputs
untouched. The commands run in a child process where the permission binds: as root, without the
capability that lets root write anywhere (`faults.without_root_override`)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from i2i.data.paired import make_paired
from tests.conftest import tiny_checkpoint
from tests.reliability.faults import TINY, child_env, tree, without_root_override

CHILD = """
import json, sys
from typer.testing import CliRunner
from i2i.cli import app
print(json.dumps([[r.exit_code, r.output] for r in (CliRunner().invoke(app, a) for a in json.loads(sys.argv[1]))]))
"""


def test_a_read_only_output_folder(tmp_path):
    try:
        prefix = without_root_override()
    except LookupError as exc:
        pytest.skip(str(exc))
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(inputs / f"img{i}.png")
    data = make_paired(tmp_path / "data", count=4, size=32, seed=3)
    before = tree(inputs) | {f"data/{k}": v for k, v in tree(data).items()}
    weights = {name: tiny_checkpoint(name, tmp_path / "weights") for name in ("pix2pix", "esrgan")}
    outs = {name: tmp_path / name for name in ("translated", "upscaled", "run/checkpoints")}
    common = ["--device", "cpu", "--precision", "fp32", "--no-progress"]
    commands = [
        ["translate", str(inputs), "-o", str(outs["translated"]), "--weights", str(weights["pix2pix"]), *common],
        ["upscale", str(inputs), "-o", str(outs["upscaled"]), "--weights", str(weights["esrgan"]), *common],
        ["train", "pix2pix", "--data", str(data), "--run-dir", str(tmp_path / "run"), "--steps", "2",
         "--sample-every", "0", "--workers", "0", *common, *TINY],
    ]  # fmt: skip
    for folder in outs.values():
        folder.mkdir(parents=True)
        folder.chmod(0o555)
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", CHILD, json.dumps(commands)],
            env=child_env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        results = json.loads(done.stdout.splitlines()[-1])
        contents = {name: sorted(p.name for p in folder.iterdir()) for name, folder in outs.items()}
    finally:
        for folder in outs.values():
            folder.chmod(0o755)
    expected = {"translated": "img0.png", "upscaled": "img0", "run/checkpoints": "step_00000002.safetensors"}
    for (code, output), (name, first) in zip(results, expected.items(), strict=True):
        errors = [line for line in output.splitlines() if "error" in line]
        assert code == 1, output
        assert len(errors) == 1 and "Permission denied" in errors[0], output
        assert str(outs[name] / first) in errors[0], output
        assert contents[name] == [], contents
    assert tree(inputs) | {f"data/{k}": v for k, v in tree(data).items()} == before
