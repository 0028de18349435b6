"""Training checkpoints and exact resume: the run position, the optimiser, scheduler, gradient-scaler and
random-generator state saved beside the networks, and restored so that a resumed run computes bit for bit
what the uninterrupted one would have."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i.errors import I2IError
from i2i.io import checkpoint
from i2i.io.files import remove_unfinished
from i2i.model import Model
from i2i.train.context import StepContext
from i2i.train.runs import CHECKPOINTS


@dataclasses.dataclass
class RunPosition:
    """Where a run stands: its step, its epoch, and within that epoch the batches consumed and the losses
    summed so far (the epoch means drive plateau schedulers)."""

    step: int = 0
    epoch: int = 0
    position: int = 0  # batches of the current epoch already consumed
    epoch_losses: dict[str, float] = dataclasses.field(default_factory=dict)
    epoch_batches: int = 0


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's training checkpoints, oldest first."""
    return sorted((run_dir / CHECKPOINTS).glob("step_*.safetensors"))


def save_checkpoint(model: Model, ctx: StepContext, state: RunPosition, run_dir: Path, keep: int) -> None:
    """Write `checkpoints/step_<step>.safetensors` with everything a resume needs; keep the last `keep`."""
    training_state = {
        "progress": dataclasses.asdict(state)
        | {"epoch_losses": {k: float(v) for k, v in state.epoch_losses.items()}},
        "optimizers": {k: o.state_dict() for k, o in model.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in model.schedulers.items()},
        "scaler": ctx.scaler.state_dict(),
        "rng": _rng_state(),
        "model": model.training_state(),
    }
    model.save(run_dir / CHECKPOINTS / f"step_{state.step:08d}.safetensors", training_state=training_state)
    kept = checkpoints(run_dir)
    for old in kept[: max(0, len(kept) - max(1, keep))]:
        old.unlink(missing_ok=True)


def restore_checkpoint(
    model: Model, ctx: StepContext, run_dir: Path, channels_last: bool
) -> tuple[RunPosition, Path]:
    """Load the run's last checkpoint into `model`, its optimisers and schedulers, `ctx`'s scaler and the
    global generators; the position to continue from and the file read."""
    for folder in (run_dir, run_dir / CHECKPOINTS, run_dir / "samples"):
        remove_unfinished(folder)  # the temporary files of a run killed while writing
    found = checkpoints(run_dir)
    if not found:
        raise I2IError(
            f"{run_dir}: no checkpoint to resume from in {CHECKPOINTS}/ (the run stopped before its "
            "first save); start it again without --resume"
        )
    ckpt = checkpoint.read_safetensors(found[-1])
    training = ckpt.training_state()
    if training is None:
        raise I2IError(f"{found[-1]}: holds no training state; cannot resume from it")
    model.load_networks(ckpt.network_tensors())
    if channels_last:
        for net in model.networks.values():
            net.to(memory_format=torch.channels_last)
    for key, opt in model.optimizers.items():
        opt.load_state_dict(training["optimizers"][key])
        _match_parameter_layout(opt)
    for key, sched in model.schedulers.items():
        sched.load_state_dict(training["schedulers"][key])
    ctx.scaler.load_state_dict(training["scaler"])
    model.load_training_state(training["model"])
    _set_rng_state(training["rng"])
    progress = RunPosition(**training["progress"])
    model.step = progress.step
    return progress, found[-1]


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _match_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Checkpoints store contiguous tensors; give optimiser state its parameter's memory layout again so
    that the resumed updates are bit-identical to the uninterrupted ones."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            channels_last = param.ndim == 4 and param.is_contiguous(memory_format=torch.channels_last)
            if not channels_last or param.is_contiguous():
                continue
            state = optimizer.state.get(param, {})
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    state[name] = value.contiguous(memory_format=torch.channels_last)
