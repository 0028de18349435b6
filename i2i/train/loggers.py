"""Where a training run is watched besides `log.jsonl`: TensorBoard and Weights & Biases (`--log`).

The loop hands over what it already has, at the moments it already has it: each `log.jsonl` record
(every `--log-every` steps: losses, learning rates), each sample grid written, each held-out evaluation.
This module adds throughput (steps and images per second since the previous record) and accelerator
memory (peak allocated since the previous record) to the scalars it forwards, and sends the resolved
config once as hyper-parameters. No per-step work: nothing here runs between records.

`jsonl` is always on (the loop writes it); `tensorboard` writes event files to `RUN/tensorboard/`
(`tensorboard --logdir RUN/tensorboard`); `wandb` logs to the project `$WANDB_PROJECT` (default `i2i`)
with files under `RUN/wandb/`, in offline mode when `WANDB_MODE` says so, when `I2I_OFFLINE` is set, or
when api.wandb.ai cannot be reached within two seconds (`wandb sync RUN/wandb/offline-run-*` uploads it
later): a run never waits for the network. Under torchrun only rank 0 logs. The packages are the extras
`i2i[tensorboard]` and `i2i[wandb]`.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i.errors import I2IError, UsageError

KINDS = ("jsonl", "tensorboard", "wandb")


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """The `--log` values, checked and without repeats (jsonl is implied)."""
    out = []
    for kind in kinds:
        if kind not in KINDS:
            raise UsageError(f"--log {kind}: choose from {', '.join(KINDS)}")
        if kind != "jsonl" and kind not in out:
            out.append(kind)
    return tuple(out)


def flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as one level of `a/b` keys whose values are numbers, booleans or strings."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, f"{name}/"))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif value is not None:
            out[name] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
    return out


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a `log.jsonl` record as `group/name` scalars: losses under `loss/`, learning rates
    under `lr/`, evaluation metrics under `eval/`; `step` and `epoch` are the axis, not scalars."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in ("step", "time"):
            continue
        if key == "epoch":
            out["progress/epoch"] = float(value)
        elif isinstance(value, dict):
            group = "lr" if key == "lr" else key
            out.update({f"{group}/{k}": float(v) for k, v in flat(value).items() if _number(v)})
        elif _number(value):
            out[f"loss/{key}"] = float(value)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class RunLoggers:
    """The `--log` destinations of one run (nothing when `kinds` is empty or this is not rank 0)."""

    def __init__(
        self,
        kinds: Iterable[str],
        run_dir: Path,
        *,
        name: str,
        config: dict[str, Any],
        batch_size: int,
        device: torch.device,
        main: bool = True,
    ) -> None:
        self.kinds = check_kinds(kinds) if main else ()
        self.run_dir, self.batch_size, self.device = Path(run_dir), batch_size, device
        self._tensorboard: Any = None
        self._wandb: Any = None
        self._last: tuple[int, float] | None = None
        if "tensorboard" in self.kinds:
            self._tensorboard = _tensorboard(self.run_dir, config)
        if "wandb" in self.kinds:
            self._wandb = _wandb(self.run_dir, name, config)

    @property
    def active(self) -> bool:
        return self._tensorboard is not None or self._wandb is not None

    def record(self, record: dict[str, Any]) -> None:
        """A `log.jsonl` record (losses and learning rates, or held-out metrics under "eval"); loss records
        get throughput and memory added."""
        if not self.active:
            return
        step = int(record["step"])
        values = scalars(record)
        if "eval" not in record:
            values.update(self._throughput(step))
        self._scalars(step, values)

    def image(self, step: int, path: Path, tag: str = "samples") -> None:
        """A sample grid written at `step` (read back from its PNG, exactly what the run folder holds)."""
        if not self.active:
            return
        from i2i.io import imageio

        pixels = imageio.read_image(path).pixels
        rgb = pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(pixels, 3, axis=2)
        if self._tensorboard is not None:
            self._tensorboard.add_image(tag, rgb, step, dataformats="HWC")
            self._tensorboard.flush()
        if self._wandb is not None:
            import wandb

            self._wandb.log({tag: wandb.Image(rgb)}, step=step)

    def close(self) -> None:
        """Flush and close every destination."""
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None

    # ---- internals

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        if self._tensorboard is not None:
            for key, value in values.items():
                self._tensorboard.add_scalar(key, value, step)
            self._tensorboard.flush()
        if self._wandb is not None:
            self._wandb.log(values, step=step)

    def _throughput(self, step: int) -> dict[str, float]:
        now = time.perf_counter()
        out: dict[str, float] = {}
        if self._last is not None and step > self._last[0] and now > self._last[1]:
            rate = (step - self._last[0]) / (now - self._last[1])
            out = {"perf/steps_per_s": rate, "perf/images_per_s": rate * self.batch_size}
        self._last = (step, now)
        if self.device.type == "cuda":
            out["perf/max_memory_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
            torch.cuda.reset_peak_memory_stats(self.device)
        return out


def _tensorboard(run_dir: Path, config: dict[str, Any]) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError:
        raise I2IError("--log tensorboard needs TensorBoard: pip install 'i2i[tensorboard]'") from None
    writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
    experiment, start, end = hparams(flat(config), {})
    for summary in (experiment, start, end):
        writer.file_writer.add_summary(summary)
    writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)
    return writer


def wandb_offline() -> bool:
    """Whether W&B must log offline: `WANDB_MODE=offline|disabled`, `I2I_OFFLINE`, or no answer from its
    server within two seconds."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("offline", "dryrun", "disabled"):
        return True
    if os.environ.get("I2I_OFFLINE", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    if mode == "online":
        return False
    try:
        socket.create_connection(("api.wandb.ai", 443), timeout=2).close()
    except OSError:
        return True
    return False


def _wandb(run_dir: Path, name: str, config: dict[str, Any]) -> Any:
    try:
        import wandb
    except ImportError:
        raise I2IError("--log wandb needs Weights & Biases: pip install 'i2i[wandb]'") from None
    disabled = os.environ.get("WANDB_MODE", "").strip().lower() == "disabled"
    mode = "disabled" if disabled else "offline" if wandb_offline() else "online"
    return wandb.init(
        project=os.environ.get("WANDB_PROJECT", "i2i"),
        name=name,
        dir=str(run_dir),
        config=config,
        mode=mode,
        settings=wandb.Settings(silent=True, init_timeout=30),
    )
