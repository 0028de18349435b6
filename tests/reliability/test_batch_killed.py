"""`i2i translate` / `i2i upscale` SIGKILLed mid-folder at seeded random moments: every file under an output
name is complete and correct (the killed write is a hidden temporary file), and a re-run with
`--skip-existing` keeps what was done, removes the temporary files and finishes the rest.

The default suite kills `translate` once (`upscale` shares its file loop and writer); `-m slow` kills each
command 10 times (the README's figure)."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from tests.conftest import tiny_checkpoint
from tests.reliability.faults import I2I, child_env, temporary_files, tree, wait_for

COUNT = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("batch")
    inputs = folder / "in"
    (inputs / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(COUNT):
        pixels = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(inputs / ("sub" if i % 4 == 0 else "") / f"img{i:02d}.png")
    return inputs, {name: tiny_checkpoint(name, folder / "weights") for name in ("pix2pix", "esrgan")}


def _args(command: str, inputs: Path, out: Path, weights: dict[str, Path]) -> list[str]:
    model = "pix2pix" if command == "translate" else "esrgan"
    return [command, str(inputs), "-o", str(out), "--weights", str(weights[model]), "--device", "cpu",
            "--precision", "fp32", "--no-progress"]  # fmt: skip


def _images(folder: Path) -> dict[str, np.ndarray]:
    """The outputs under `folder` (hidden temporary files aside), decoded in full."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            with Image.open(path) as image:
                found[str(path.relative_to(folder))] = np.asarray(image.convert("RGB"), np.int16)
    return found


def _differs(ours: np.ndarray, reference: np.ndarray) -> bool:
    # the killed process runs on one thread, the reference on two: float sums may round 1 level apart
    return ours.shape != reference.shape or int(np.abs(ours - reference).max()) > 1


def kill_trials(command: str, setup, tmp_path: Path, trials: int, seed: int) -> tuple[int, list[str]]:
    """Kill `command` mid-folder `trials` times, re-running each with --skip-existing; (kills, failures)."""
    inputs, weights = setup
    before = tree(inputs)
    reference_run = CliRunner().invoke(app, _args(command, inputs, tmp_path / "reference", weights))
    assert reference_run.exit_code == 0, reference_run.output
    reference = _images(tmp_path / "reference")
    assert len(reference) == COUNT
    rng = random.Random(seed)
    failures: list[str] = []
    kills = 0
    for trial in range(trials):
        out = tmp_path / f"out{trial}"
        cmd = [*I2I, *_args(command, inputs, out, weights)]
        # once `after` outputs have landed, within the time one more takes: mid-folder, any phase of an image
        after, fraction = rng.randint(2, COUNT - 2), rng.random()
        killed, err = run_and_kill_mid_folder(cmd, out, after, fraction)
        kills += killed
        if not killed:
            failures.append(f"trial {trial}: ended before the kill: {err.strip()[-300:]}")
        done = _images(out)
        failures += [f"trial {trial}: {name} is not an output" for name in done if name not in reference]
        failures += [
            f"trial {trial}: {name} is partial or wrong"
            for name, pixels in done.items()
            if name in reference and _differs(pixels, reference[name])
        ]
        stamps = {name: (out / name).stat().st_mtime_ns for name in done}
        again = CliRunner().invoke(app, [*_args(command, inputs, out, weights), "--skip-existing"])
        if again.exit_code != 0 or (done and f"{len(done)} skipped" not in again.output):
            failures.append(f"trial {trial}: the re-run failed: {again.output.strip()[-300:]}")
        final = _images(out)
        if final.keys() != reference.keys() or any(_differs(final[k], reference[k]) for k in final):
            failures.append(f"trial {trial}: the re-run did not finish with the right outputs")
        if any((out / name).stat().st_mtime_ns != stamp for name, stamp in stamps.items()):
            failures.append(f"trial {trial}: the re-run wrote again what was done")
        failures += [f"trial {trial}: left behind {p.name}" for p in temporary_files(out)]
    if tree(inputs) != before:
        failures.append("the inputs changed")
    return kills, failures


def run_and_kill_mid_folder(cmd: list[str], out: Path, after: int, fraction: float) -> tuple[bool, str]:
    """Run `cmd`; once `after` (>= 2) outputs exist, SIGKILL it `fraction` of the mean time between outputs
    later (measured in this run, so the kill lands mid-folder on a fast machine as on a slow one). Returns
    (killed, stderr)."""
    proc = subprocess.Popen(
        cmd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )

    def outputs() -> int:
        return sum(1 for _ in out.rglob("*.png")) if out.is_dir() else 0

    wait_for(lambda: proc.poll() is not None or outputs() >= 1)
    first = time.monotonic()
    wait_for(lambda: proc.poll() is not None or outputs() >= after)
    interval = (time.monotonic() - first) / (after - 1)
    try:
        _, err = proc.communicate(timeout=fraction * interval)
        return False, err
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return True, err


def test_translate_killed_once_mid_folder_then_finished(setup, tmp_path):
    kills, failures = kill_trials("translate", setup, tmp_path, trials=1, seed=1)
    assert failures == [] and kills == 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["translate", "upscale"])
def test_killed_10_times_mid_folder_then_finished(command, setup, tmp_path, capsys):
    kills, failures = kill_trials(command, setup, tmp_path, trials=10, seed=2)
    with capsys.disabled():
        print(f"\n{command} SIGKILL: {kills} kills, {len(failures)} failures")
    assert failures == [] and kills == 10
