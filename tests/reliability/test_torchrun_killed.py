"""A training run under `torchrun` (2 processes, CPU, gloo) whose worker is SIGKILLed at a seeded random
moment: the other process stops with one line saying so (not a traceback, not a hang), every checkpoint on
disk loads, and `torchrun ... i2i train --run-dir RUN --resume` continues from the last checkpoint to a
loadable model. Slow (each torchrun start takes seconds); `-m slow` gives the README's figure."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import i2i
from i2i.data.paired import make_paired
from tests.reliability.faults import TINY, child_env, unreadable_checkpoints, wait_for

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "i2i"]


def _last_step(run: Path) -> int:
    saved = sorted((run / "checkpoints").glob("step_*.safetensors"))
    return int(saved[-1].stem.split("_")[1]) if saved else 0


def _worker(launcher: int, rank: int) -> int | None:
    """The pid of the worker process of `rank` that the torchrun process `launcher` started."""
    for pid in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        try:
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environment:
            return int(pid)
    return None


def worker_kill_trials(tmp_path: Path, trials: int, seed: int) -> tuple[list[float], list[str]]:
    """Kill one worker (rank chosen at random) `trials` times, resuming under torchrun each time, then let
    the run finish; (seconds from each kill to the end of torchrun, failures)."""
    data = make_paired(tmp_path / "data", count=8, size=32, seed=3)
    run = tmp_path / "run"
    steps = 60
    start = [*TORCHRUN, "train", "pix2pix", "--data", str(data), "--run-dir", str(run), "--steps", str(steps),
             "--save-every", "2", "--sample-every", "0", "--workers", "0", "--device", "cpu", "--no-progress",
             *TINY]  # fmt: skip
    resume = [*TORCHRUN, "train", "--run-dir", str(run), "--resume", "--workers", "0", "--no-progress"]
    rng = random.Random(seed)
    failures: list[str] = []
    stops: list[float] = []
    for trial in range(trials):
        before = _last_step(run)
        proc = subprocess.Popen(
            start if trial == 0 else resume,
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        # a new checkpoint shows the run is training; then a random moment within ~2 steps' time
        if not wait_for(lambda b=before, p=proc: _last_step(run) > b or p.poll() is not None, timeout=300):
            failures.append(f"trial {trial}: no new checkpoint")
        time.sleep(rng.uniform(0.0, 1.0))
        rank = rng.randrange(2)
        victim = _worker(proc.pid, rank) if proc.poll() is None else None
        if victim is None:
            proc.kill()
            failures.append(f"trial {trial}: the run ended before the kill: {proc.communicate()[0][-500:]}")
            continue
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        try:
            output, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0]
            failures.append(f"trial {trial}: the other process did not stop")
        stops.append(time.monotonic() - killed_at)
        ours = [line for line in output.splitlines() if re.match(r"(internal )?error:", line)]
        if len(ours) != 1 or "another process of the run stopped" not in ours[0] or "--resume" not in ours[0]:
            failures.append(f"trial {trial} (rank {rank} killed): said {ours or output[-1000:]}")
        failures += [f"trial {trial}: {problem}" for problem in unreadable_checkpoints(run)]
    done = subprocess.run(resume, env=child_env(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        failures.append(f"the last resume failed: {done.stderr[-1000:]}")
    elif re.search(r"resuming\s.*?\sfrom\s+step", done.stderr, re.S) is None:
        failures.append("the last run did not resume")
    elif i2i.load(weights=run / "model.safetensors", device="cpu").step != steps:
        failures.append("the final model is not at the last step")
    return stops, failures


@pytest.mark.slow
def test_a_worker_killed_under_torchrun(tmp_path, capsys):
    stops, failures = worker_kill_trials(tmp_path, trials=3, seed=5)
    with capsys.disabled():
        print(
            f"\ntorchrun worker SIGKILL: {len(stops)} kills, {len(failures)} failures, stopped after {stops} s"
        )
    assert failures == [] and len(stops) == 3
