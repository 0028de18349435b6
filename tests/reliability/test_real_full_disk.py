"""The full disk of `test_full_disk.py`, for real: each command writes to a tiny tmpfs in a private mount
namespace (`unshare --mount`, so nothing outside the test sees it), where the kernel answers ENOSPC once the
few pages are used: one line naming the file, exit 1, and only complete files in the folder. Skipped where
mount namespaces are not allowed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.data.paired import make_paired
from tests.conftest import tiny_checkpoint
from tests.reliability.faults import TINY, child_env, tree

# run the commands, then report each folder's files: complete (decodes in full) or not
CHILD = """
import json, sys
from pathlib import Path
from typer.testing import CliRunner
from i2i.cli import app
from i2i.io.checkpoint import read_safetensors
from PIL import Image

def complete(path):
    try:
        if path.suffix == ".safetensors":
            return read_safetensors(path).is_i2i
        if path.suffix == ".png":
            Image.open(path).load()
        return True
    except Exception:
        return False

report = []
for args, folder in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, args)
    files = {str(p.relative_to(folder)): complete(p) for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    report.append([result.exit_code, result.output, files])
print(json.dumps(report))
"""


def _namespace_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("util-linux unshare is not installed")
    prefix = [unshare, "--mount"] + ([] if _is_root() else ["--map-root-user"])
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"mount namespaces are not allowed here ({probe.stderr.strip()})")
    return prefix


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


@pytest.mark.slow
def test_a_real_full_disk(tmp_path):
    prefix = _namespace_prefix()
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(inputs / f"img{i}.png")
    data = make_paired(tmp_path / "data", count=4, size=32, seed=3)
    before = tree(inputs) | tree(data)
    weights = {name: tiny_checkpoint(name, tmp_path / "weights") for name in ("pix2pix", "esrgan")}
    # tmpfs sizes (pages of 4 KiB): room for a few PNGs; for run.json, log.jsonl and one checkpoint
    disks = {"translated": "12k", "upscaled": "12k", "run": "1200k"}
    for name in disks:
        (tmp_path / name).mkdir()
    common = ["--device", "cpu", "--precision", "fp32", "--no-progress"]
    commands = [
        [["translate", str(inputs), "-o", str(tmp_path / "translated"), "--weights", str(weights["pix2pix"]),
          *common], str(tmp_path / "translated")],
        [["upscale", str(inputs), "-o", str(tmp_path / "upscaled"), "--weights", str(weights["esrgan"]),
          *common], str(tmp_path / "upscaled")],
        [["train", "pix2pix", "--data", str(data), "--run-dir", str(tmp_path / "run"), "--steps", "4",
          "--save-every", "1", "--keep-checkpoints", "9", "--sample-every", "0", "--workers", "0", *common,
          *TINY], str(tmp_path / "run")],
    ]  # fmt: skip
    mounts = " && ".join(
        f"mount -t tmpfs -o size={size} tmpfs {tmp_path / name}" for name, size in disks.items()
    )
    script = f'{mounts} && exec "$0" -c "$1" "$2"'
    done = subprocess.run(
        [*prefix, "sh", "-c", script, sys.executable, CHILD, json.dumps(commands)],
        env=child_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for (code, output, files), name in zip(json.loads(done.stdout.splitlines()[-1]), disks, strict=True):
        errors = [line for line in output.splitlines() if "error" in line]
        assert code == 1, output
        assert (
            len(errors) == 1 and "No space left on device" in errors[0] and str(tmp_path / name) in errors[0]
        )
        assert files and all(files.values()), files  # something was written, and all of it is complete
        assert not any(Path(f).name.startswith(".") for f in files), files
    assert tree(inputs) | tree(data) == before
