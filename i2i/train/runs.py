"""The run folder: the options of a run (`TrainOptions`), where it lives, what `--resume` may and may not
change, and the files it keeps besides checkpoints (`run.json`, `log.jsonl`)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from i2i.errors import I2IError, UsageError
from i2i.io.files import atomic_write_text, write_error

RUN_FILE = "run.json"
LOG_FILE = "log.jsonl"
MODEL_FILE = "model.safetensors"
CHECKPOINTS = "checkpoints"


@dataclasses.dataclass
class TrainOptions:
    """What the loop needs besides the model config (all of it stored in `run.json`)."""

    data: str | None = None
    run_dir: str | None = None
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 1
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    weights: str | None = None
    sample_every: int = 500
    save_every: int = 1000
    log_every: int = 10
    workers: int = 2
    keep_checkpoints: int = 3
    progress: bool = True
    #: `torch.compile` the networks: auto (on CUDA, for runs of at least `COMPILE_AUTO_STEPS`), on, off
    compile: str = "auto"
    #: reproducible GPU runs: deterministic algorithms, no cuDNN autotuning, no TF32
    deterministic: bool = False
    #: `--log` destinations besides log.jsonl (`i2i.train.loggers`)
    log: list[str] = dataclasses.field(default_factory=list)
    #: held-out evaluation every N steps (0: never) with these FID/KID/LPIPS (`--eval-every`, `--eval-metrics`)
    eval_every: int = 0
    eval_metrics: str = "all"
    #: the consent attestation a safeguarded model needs (`--consent`; `i2i.io.consent`), re-read on resume
    consent: str | None = None
    #: set when --resume found a run that had saved nothing yet, which then starts again from step 0
    restarted: bool = False


def prepare_run(
    model_name: str | None, options: TrainOptions, overrides: dict[str, str]
) -> tuple[str, TrainOptions, dict[str, str], Path]:
    """Resolve the run folder, and on --resume the stored run merged with what was given now: the model
    name, the options, the config overrides and the folder."""
    if options.resume:
        if not options.run_dir:
            raise UsageError("--resume needs --run-dir (the folder of the run to continue)")
        run_dir = Path(options.run_dir)
        run_file = run_dir / RUN_FILE
        if not run_file.is_file():
            raise I2IError(f"{run_dir}: no run to resume here ({RUN_FILE} is missing)")
        stored = json.loads(run_file.read_text())
        if model_name and model_name != stored["model"]:
            raise UsageError(f"{run_dir} is a {stored['model']} run, not {model_name}")
        merged = TrainOptions(**{**stored["options"], "resume": True, "run_dir": str(run_dir)})
        _check_unchanged(stored, options, overrides)
        for key in (
            *("steps", "epochs", "progress", "workers", "sample_every", "save_every", "log_every"),
            *("log", "eval_every", "eval_metrics", "compile", "consent"),
        ):
            given = getattr(options, key)
            if given != getattr(TrainOptions(), key):
                setattr(merged, key, given)
        if options.steps is not None or options.epochs is not None:
            merged.steps, merged.epochs = options.steps, options.epochs
        if options.data and Path(options.data) != Path(stored["options"]["data"]):
            merged.data = options.data
        if not _saved_anything(run_dir):
            # the run stopped before its first checkpoint: nothing to continue, so it starts again as stored
            merged.resume = False
            merged.restarted = True
            (run_dir / LOG_FILE).unlink(missing_ok=True)
        return stored["model"], merged, stored.get("overrides", {}), run_dir
    if model_name is None:
        raise UsageError("name the model to train, e.g. `i2i train pix2pix --data DIR`")
    if not options.data:
        raise UsageError("--data is required: a dataset folder or a catalogue name (`i2i data list`)")
    run_dir = Path(options.run_dir) if options.run_dir else _new_run_dir(model_name)
    if (run_dir / RUN_FILE).exists():
        if _saved_anything(run_dir):
            raise I2IError(
                f"{run_dir} already holds a run; continue it with --resume or choose another --run-dir"
            )
        # a run that stopped before its first checkpoint left nothing to continue: start it again
        (run_dir / LOG_FILE).unlink(missing_ok=True)
    return model_name, options, overrides, run_dir


def write_run_file(
    run_dir: Path, model_name: str, options: TrainOptions, overrides: dict[str, str], config: dict[str, Any]
) -> None:
    """Record what the run reads in `run.json` (a resumed run starts from it)."""
    record = {
        "model": model_name,
        "options": dataclasses.asdict(options) | {"resume": False, "restarted": False},
        "overrides": overrides,
        "config": config,
    }
    try:
        atomic_write_text(run_dir / RUN_FILE, json.dumps(record, indent=2, default=str))
    except OSError as exc:  # a full disk, a read-only folder: one line naming the file
        raise write_error(run_dir / RUN_FILE, exc) from None


def append_log(run_dir: Path, record: dict[str, Any]) -> None:
    """Add one line to the run's `log.jsonl`."""
    try:
        with open(run_dir / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    except OSError as exc:
        raise write_error(run_dir / LOG_FILE, exc) from None


def trim_log(run_dir: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a resumed run restarts from (they will come again)."""
    log = run_dir / LOG_FILE
    if not log.exists():
        return
    kept = [line for line in log.read_text().splitlines() if json.loads(line).get("step", 0) <= step]
    try:
        atomic_write_text(log, "".join(f"{line}\n" for line in kept))
    except OSError as exc:
        raise write_error(log, exc) from None


def _new_run_dir(model_name: str) -> Path:
    return Path("runs") / f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _saved_anything(run_dir: Path) -> bool:
    return (run_dir / MODEL_FILE).exists() or any((run_dir / CHECKPOINTS).glob("step_*.safetensors"))


def _check_unchanged(stored: dict[str, Any], options: TrainOptions, overrides: dict[str, str]) -> None:
    """A resumed run continues exactly: settings that change what it computes cannot change on the way."""
    defaults = TrainOptions()
    for key, flag in (("batch_size", "--batch-size"), ("seed", "--seed"), ("weights", "--weights")):
        given, before = getattr(options, key), stored["options"].get(key)
        if given != getattr(defaults, key) and given != before:
            raise UsageError(
                f"{flag} {given} differs from the run's {before}: --resume continues a run exactly as it "
                "started; start a new run (--weights RUN/model.safetensors) to change it"
            )
    config = stored.get("config", {})
    for key, value in overrides.items():
        before = stored.get("overrides", {}).get(key, config.get(key))
        if str(value) != str(before) and not _same_value(value, before):
            raise UsageError(
                f"--set {key}={value} differs from the run's {key}={before}: --resume continues a run exactly "
                "as it started; start a new run (--weights RUN/model.safetensors) to change settings"
            )


def _same_value(given: str, before: Any) -> bool:
    """Whether `--set` text names the value run.json stored (numbers, booleans, lists as "a,b")."""
    try:
        return json.loads(given) == before
    except ValueError:
        return isinstance(before, list) and str(given).replace(" ", "").split(",") == list(map(str, before))
