"""A training run SIGKILLed at seeded random moments (during start-up, steps and checkpoint writes) resumes
with `--resume` from its last checkpoint every time, never leaves a checkpoint half written, and ends with a
loadable `model.safetensors` equal to that of the run never killed.

The default suite kills once; `-m slow` kills 20 times (the README's figure)."""

from __future__ import annotations

import random
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import i2i
from i2i.data.paired import make_paired
from tests.reliability.faults import (
    I2I,
    TINY,
    child_env,
    run_and_kill,
    temporary_files,
    unreadable_checkpoints,
    wait_for,
)


def _last_step(run: Path) -> int | None:
    saved = sorted((run / "checkpoints").glob("step_*.safetensors"))
    return int(saved[-1].stem.split("_")[1]) if saved else None


def _commands(data: Path, run: Path, steps: int) -> tuple[list[str], list[str]]:
    start = [*I2I, "train", "pix2pix", "--data", str(data), "--run-dir", str(run), "--steps", str(steps),
             "--save-every", "1", "--keep-checkpoints", "2", "--sample-every", "0", "--log-every", "1",
             "--workers", "0", "--device", "cpu", "--precision", "fp32", "--seed", "1", "--no-progress",
             *TINY]  # fmt: skip
    resume = [*I2I, "train", "--run-dir", str(run), "--resume", "--no-progress", "--workers", "0"]
    return start, resume


def _first_kill(start: list[str], run: Path) -> float:
    """Start the run and kill it as soon as its first checkpoint is there (the first trial); the seconds
    that took on this machine set the scale of the later, random kill times."""
    began = time.monotonic()
    proc = subprocess.Popen(start, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _last_step(run) is not None or proc.poll() is not None)
        return time.monotonic() - began
    finally:
        proc.kill()
        proc.wait()


def kill_trials(
    tmp_path: Path, trials: int, steps: int, seed: int, *, compare: bool
) -> tuple[int, list[str]]:
    """Kill the run `trials` times (after its first checkpoint, then at random moments), resuming it each
    time, then let it finish; with `compare`, also against a run never killed. (kills, failures found)."""
    data = make_paired(tmp_path / "data", count=8, size=32, seed=3)
    run = tmp_path / "run"
    start, resume = _commands(data, run, steps)
    scale = _first_kill(start, run)
    rng = random.Random(seed)
    failures = [f"trial 0: {problem}" for problem in unreadable_checkpoints(run)]
    kills = 1
    for trial in range(1, trials):
        before = _last_step(run)
        resuming = (run / "run.json").is_file()
        # from early start-up to ~1.5 s of steps and checkpoint writes
        killed, err = run_and_kill(resume if resuming else start, rng.uniform(0.3 * scale, scale + 1.5))
        kills += killed
        if not killed:
            failures.append(f"trial {trial}: ended before the kill: {err.strip()[-300:]}")
        failures += [f"trial {trial}: {problem}" for problem in unreadable_checkpoints(run)]
        said = re.search(r"resuming\s.*?\sfrom\s+step\s+(\d+)", err, re.S)
        if said and int(said[1]) != before:
            failures.append(f"trial {trial}: resumed from step {said[1]}, the last checkpoint was {before}")
        if resuming and before is None and "starting it again" not in err and "Traceback" in err:
            failures.append(f"trial {trial}: a run without a checkpoint did not start again: {err[-300:]}")
        after = _last_step(run)
        if before is not None and (after is None or after < before):
            failures.append(f"trial {trial}: the last checkpoint went back from {before} to {after}")
    done = subprocess.run(
        resume if (run / "run.json").is_file() else start,
        env=child_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        failures.append(f"the last resume failed: {done.stderr.strip()[-500:]}")
        return kills, failures
    failures += unreadable_checkpoints(run)
    failures += [f"left behind: {p.name}" for p in temporary_files(run)]
    if i2i.load(weights=run / "model.safetensors", device="cpu").step != steps:
        failures.append("the final model is not at the last step")
    if not compare:
        return kills, failures
    straight = tmp_path / "straight"
    subprocess.run(_commands(data, straight, steps)[0], env=child_env(), check=True, capture_output=True)
    ours, theirs = load_file(run / "model.safetensors"), load_file(straight / "model.safetensors")
    if ours.keys() != theirs.keys() or any(not torch.equal(ours[k], theirs[k]) for k in ours):
        failures.append("the final model differs from that of the run never killed")
    return kills, failures


def test_training_killed_after_a_checkpoint_resumes_and_loses_nothing(tmp_path):
    kills, failures = kill_trials(tmp_path, trials=1, steps=8, seed=0, compare=False)
    assert failures == []
    assert kills == 1


@pytest.mark.slow
def test_training_killed_20_times_resumes_and_loses_nothing(tmp_path, capsys):
    kills, failures = kill_trials(tmp_path, trials=20, steps=300, seed=14, compare=True)
    with capsys.disabled():
        print(f"\ntraining SIGKILL: {kills} kills, {len(failures)} failures")
    assert failures == []
    assert kills == 20
