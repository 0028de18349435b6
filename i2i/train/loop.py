"""The shared training loop. Models supply the dataset, optimisers and `training_step`; the loop owns
devices, precision, multi-process training, progress, sample grids, checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from i2i import config as configs
from i2i import registry
from i2i.errors import I2IError, UsageError
from i2i.hub import catalogue
from i2i.io import checkpoint, imageio
from i2i.model import Model
from i2i.runtime import autocast, resolve_device, resolve_precision
from i2i.train import distributed

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


def training_channels_last(device: torch.device) -> bool:
    """channels_last pays for training on CUDA; on CPU the fused optimiser and the backward convolutions
    then spend more time converting layouts than they save (pix2pix step on 2 cores: 298 vs 268 ms)."""
    return device.type == "cuda"


class StepContext:
    """What a model's `training_step` uses: device transfer, autocast, backward and optimiser steps
    (with the fp16 GradScaler and gradient averaging across processes)."""

    def __init__(
        self,
        device: torch.device,
        precision: str = "fp32",
        group: distributed.ProcessGroup | None = None,
        *,
        channels_last: bool | None = None,
    ) -> None:
        self.device = device
        self.precision = precision
        self.group = group or distributed.ProcessGroup()
        self.channels_last = training_channels_last(device) if channels_last is None else channels_last
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self) -> AbstractContextManager:
        return autocast(self.device, self.precision)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.to(self.device, non_blocking=True)
        if self.channels_last and tensor.ndim == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        distributed.average_gradients((p for g in optimizer.param_groups for p in g["params"]), self.group)
        self.scaler.step(optimizer)

    def end_step(self) -> None:
        self.scaler.update()


# ------------------------------------------------------------------------------------------- run folder


def _new_run_dir(model_name: str) -> Path:
    return Path("runs") / f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _prepare_run(model_name: str | None, options: TrainOptions, overrides: dict[str, str]):
    """Resolve the run folder, and on --resume the stored run merged with what was given now."""
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
        for key in ("steps", "epochs", "progress", "workers", "sample_every", "save_every", "log_every"):
            given = getattr(options, key)
            if given != getattr(TrainOptions(), key):
                setattr(merged, key, given)
        if options.steps is not None or options.epochs is not None:
            merged.steps, merged.epochs = options.steps, options.epochs
        if options.data and Path(options.data) != Path(stored["options"]["data"]):
            merged.data = options.data
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


# ------------------------------------------------------------------------------------------------ state


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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclasses.dataclass
class RunPosition:
    step: int = 0
    epoch: int = 0
    position: int = 0  # batches of the current epoch already consumed
    epoch_losses: dict[str, float] = dataclasses.field(default_factory=dict)
    epoch_batches: int = 0


# ------------------------------------------------------------------------------------------------- loop


class Trainer:
    def __init__(
        self, model_name: str | None, options: TrainOptions, overrides: dict[str, str] | None = None
    ):
        name, self.options, self.overrides, self.run_dir = _prepare_run(model_name, options, overrides or {})
        self.model_name = name
        device = resolve_device(self.options.device)
        self.group = distributed.init_from_environment(device.type)
        if self.group.active and device.type == "cuda":
            device = torch.device("cuda", self.group.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self.precision = resolve_precision(self.options.precision, device)
        self.console = Console(stderr=True)

    # ---- set-up

    def _build(self) -> Model:
        from i2i.api import load

        opts = self.options
        if opts.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if opts.workers < 0:
            raise UsageError("--workers must be 0 (load in the training process) or more")
        _seed_everything(opts.seed)
        if opts.weights:
            model = load(
                self.model_name, opts.weights, device=self.device, precision=self.precision, **self.overrides
            )
            fresh = registry.model_class(self.model_name)(
                model.config, device=self.device, precision=self.precision
            )
            fresh.init_weights()
            for name in set(model.networks) - model.loaded:  # e.g. no D in a generator-only file
                model.networks[name].load_state_dict(fresh.networks[name].state_dict())
        else:
            model = load(self.model_name, device=self.device, precision=self.precision, **self.overrides)
        distributed.broadcast_state(model.networks.values(), self.group)
        # Different dropout masks per process, as with any data-parallel run.
        torch.manual_seed(opts.seed + self.group.rank)
        for net in model.networks.values():
            if training_channels_last(self.device):
                net.to(memory_format=torch.channels_last)
        try:
            model.setup_training()  # still knows which networks came from the weights file
        except ValueError as exc:  # e.g. Adam refusing beta1=2
            raise UsageError(f"{self.model_name}: {exc}; check the --set values") from None
        model.loaded = set(model.networks)
        return model

    def _write_run_file(self, model: Model) -> None:
        record = {
            "model": self.model_name,
            "options": dataclasses.asdict(self.options) | {"resume": False},
            "overrides": self.overrides,
            "config": configs.to_dict(model.config),
        }
        checkpoint.atomic_write_text(self.run_dir / RUN_FILE, json.dumps(record, indent=2, default=str))

    # ---- data order: a pure function of (seed, epoch), so a resumed run sees the same batches

    def _epoch_batches(self, epoch: int, n: int, steps_per_epoch: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.options.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g).tolist()
        per_rank = math.ceil(n / self.group.world_size)
        order = (order * math.ceil(per_rank * self.group.world_size / n + 1))[
            : per_rank * self.group.world_size
        ]
        mine = order[self.group.rank :: self.group.world_size]
        bs = self.options.batch_size
        return [mine[i * bs : (i + 1) * bs] for i in range(steps_per_epoch)]

    def _loader(self, dataset) -> tuple[torch.utils.data.DataLoader, _EpochBatches]:
        """One loader for the whole run, so worker processes start once (not once per epoch)."""
        batches = _EpochBatches()
        workers = self.options.workers
        loader = torch.utils.data.DataLoader(
            _EpochIndexed(dataset),
            batch_sampler=batches,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.device.type == "cuda",
            # its own generator: the loader must not draw from the global RNG that dropout uses
            generator=torch.Generator().manual_seed(self.options.seed),
        )
        return loader, batches

    def _batches(
        self, loader, batches, epoch: int, start: int, steps_per_epoch: int
    ) -> Iterator[dict[str, Any]]:
        order = self._epoch_batches(epoch, len(loader.dataset), steps_per_epoch)[start:]
        batches.items = [[(epoch, index) for index in batch] for batch in order]
        yield from loader

    # ---- the run

    def run(self) -> Path:
        try:
            return self._run()
        finally:
            distributed.shutdown(self.group)

    def _run(self) -> Path:
        opts = self.options
        # an unknown or broken model is the first thing to report, before any dataset is looked at or pulled
        model_class = registry.model_class(self.model_name)
        # a catalogue name is pulled on first use; every rank may do it (the pull is locked and atomic)
        data = catalogue.resolve_dataset(opts.data)
        opts.data = str(data)  # run.json records the folder actually read
        if not opts.resume and not opts.weights:
            # what the data decides (e.g. the number of domains), unless given explicitly
            found = model_class.settings_from_data(data)
            self.overrides = {**found, **self.overrides}
        model = self._build()
        dataset = model.training_dataset(data, seed=opts.seed)
        if len(dataset) == 0:
            raise I2IError(f"{data}: the dataset is empty")
        per_rank = math.ceil(len(dataset) / self.group.world_size)
        steps_per_epoch = math.ceil(per_rank / opts.batch_size)
        total = self._total_steps(model, steps_per_epoch)
        ctx = StepContext(self.device, self.precision, self.group)
        state = RunPosition()
        if opts.resume:
            state = self._restore(model, ctx)
            if self.group.is_main:
                self._trim_log(state.step)
                self._write_run_file(model)  # what this invocation read (e.g. a moved --data folder)
        elif self.group.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._write_run_file(model)
        if state.step >= total:
            self.console.print(
                f"[yellow]{self.run_dir}: already at step {state.step} of {total}; nothing to do"
            )
        loader, batches = self._loader(dataset)
        with self._progress(total, state.step) as (bar, task):
            while state.step < total:
                for batch in self._batches(loader, batches, state.epoch, state.position, steps_per_epoch):
                    losses = model.training_step(batch, ctx)
                    ctx.end_step()
                    state.step += 1
                    state.position += 1
                    model.step = state.step
                    if model.scheduler_interval == "step":
                        for scheduler in getattr(model, "schedulers", {}).values():
                            scheduler.step()
                    self._accumulate(state, losses)
                    epoch_done = state.position >= steps_per_epoch
                    if epoch_done:
                        self._end_epoch(model, state)
                    self._after_step(model, ctx, state, total, losses, bar, task)
                    if state.step >= total or epoch_done:
                        break
        if self.group.is_main:
            final = model.save(self.run_dir / MODEL_FILE)
            self.console.print(f"[green]done[/] {state.step} steps; model written to {escape(str(final))}")
        distributed.barrier(self.group)
        return self.run_dir / MODEL_FILE

    def _total_steps(self, model: Model, steps_per_epoch: int) -> int:
        opts = self.options
        if opts.steps is not None and opts.epochs is not None:
            raise UsageError("give --steps or --epochs, not both")
        if opts.steps is not None:
            if opts.steps < 1:
                raise UsageError("--steps must be at least 1")
            return opts.steps
        epochs = opts.epochs
        if epochs is None:
            if model.default_total_steps() is not None:
                return model.default_total_steps()
            cfg = model.config
            epochs = getattr(cfg, "n_epochs", 1) + getattr(cfg, "n_epochs_decay", 0)
        return epochs * steps_per_epoch

    def _accumulate(self, state: RunPosition, losses: dict[str, torch.Tensor]) -> None:
        state.epoch_batches += 1
        for key, value in losses.items():
            state.epoch_losses[key] = state.epoch_losses.get(key, 0.0) + value  # tensors: no host sync

    def _end_epoch(self, model: Model, state: RunPosition) -> None:
        means = {k: float(v) / max(1, state.epoch_batches) for k, v in state.epoch_losses.items()}
        metric = sum(means.get(k, 0.0) for k in getattr(model, "plateau_losses", ()))
        epoch_schedulers = getattr(model, "schedulers", {}) if model.scheduler_interval == "epoch" else {}
        for scheduler in epoch_schedulers.values():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(metric)
            else:
                scheduler.step()
        state.epoch += 1
        state.position = 0
        state.epoch_losses = {}
        state.epoch_batches = 0

    def _after_step(self, model, ctx, state, total, losses, bar, task) -> None:
        opts = self.options
        last = state.step >= total
        if state.step % max(1, opts.log_every) == 0 or last:
            values = {k: float(v) for k, v in losses.items()}
            diverged = [f"{k} = {v}" for k, v in values.items() if not math.isfinite(v)]
            if diverged:
                saved = sorted((self.run_dir / CHECKPOINTS).glob("step_*.safetensors"))
                kept = f"its last checkpoint is {saved[-1].name}" if saved else "no checkpoint was written"
                raise I2IError(
                    f"training diverged at step {state.step} ({', '.join(diverged)}); stopped, {kept}. "
                    "Lower the learning rate or loss weights (--set), or use --precision fp32"
                )
            if bar is not None:
                bar.update(
                    task, completed=state.step, losses="  ".join(f"{k} {v:.3f}" for k, v in values.items())
                )
            if self.group.is_main:
                self._log({"step": state.step, "epoch": state.epoch, "lr": self._lrs(model), **values})
        elif bar is not None:
            bar.update(task, completed=state.step)
        if self.group.is_main and opts.sample_every > 0 and (state.step % opts.sample_every == 0 or last):
            self._write_samples(model, state.step)
        if opts.save_every > 0 and (state.step % opts.save_every == 0 or last):
            self._save(model, ctx, state)

    def _lrs(self, model: Model) -> dict[str, float]:
        return {k: o.param_groups[0]["lr"] for k, o in getattr(model, "optimizers", {}).items()}

    def _trim_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint a resumed run restarts from (they will come again)."""
        log = self.run_dir / LOG_FILE
        if not log.exists():
            return
        kept = [line for line in log.read_text().splitlines() if json.loads(line).get("step", 0) <= step]
        checkpoint.atomic_write_text(log, "".join(f"{line}\n" for line in kept))

    def _log(self, record: dict[str, Any]) -> None:
        with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    # ---- outputs

    def _write_samples(self, model: Model, step: int) -> None:
        import torchvision.utils

        visuals = model.visuals()
        names = [n for n in model.sample_visuals if n in visuals]
        if not names:
            return
        lo, hi = model.value_range
        rows = []
        for i in range(min(4, visuals[names[0]].shape[0])):
            for n in names:
                img = visuals[n][i].detach().float().cpu()
                img = ((img - lo) / (hi - lo)).clamp(0, 1)
                rows.append(img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3])
        # visuals of two domains may differ in size (CycleGAN with preprocess=none): pad to one size
        height, width = max(r.shape[1] for r in rows), max(r.shape[2] for r in rows)
        rows = [
            torch.nn.functional.pad(r, (0, width - r.shape[2], 0, height - r.shape[1]), value=1.0)
            for r in rows
        ]
        grid = torchvision.utils.make_grid(rows, nrow=len(names), padding=2, pad_value=1.0)
        pixels = grid.permute(1, 2, 0).contiguous().numpy()
        imageio.write_image(
            self.run_dir / "samples" / f"step_{step:08d}.png",
            imageio.ImageData(pixels=pixels, alpha=None, bit_depth=8),
        )

    def _save(self, model: Model, ctx: StepContext, state: RunPosition) -> None:
        if not self.group.is_main:
            return
        training_state = {
            "progress": dataclasses.asdict(state)
            | {"epoch_losses": {k: float(v) for k, v in state.epoch_losses.items()}},
            "optimizers": {k: o.state_dict() for k, o in getattr(model, "optimizers", {}).items()},
            "schedulers": {k: s.state_dict() for k, s in getattr(model, "schedulers", {}).items()},
            "scaler": ctx.scaler.state_dict(),
            "rng": _rng_state(),
            "model": model.training_state(),
        }
        folder = self.run_dir / CHECKPOINTS
        model.save(folder / f"step_{state.step:08d}.safetensors", training_state=training_state)
        kept = sorted(folder.glob("step_*.safetensors"))
        for old in kept[: max(0, len(kept) - max(1, self.options.keep_checkpoints))]:
            old.unlink(missing_ok=True)

    def _restore(self, model: Model, ctx: StepContext) -> RunPosition:
        found = sorted((self.run_dir / CHECKPOINTS).glob("step_*.safetensors"))
        if not found:
            raise I2IError(
                f"{self.run_dir}: no checkpoint to resume from in {CHECKPOINTS}/ (the run stopped before its "
                "first save); start it again without --resume"
            )
        ckpt = checkpoint.read_safetensors(found[-1])
        training = ckpt.training_state()
        if training is None:
            raise I2IError(f"{found[-1]}: holds no training state; cannot resume from it")
        model.load_networks(ckpt.network_tensors())
        for net in model.networks.values():
            if training_channels_last(self.device):
                net.to(memory_format=torch.channels_last)
        for key, opt in getattr(model, "optimizers", {}).items():
            opt.load_state_dict(training["optimizers"][key])
            _match_parameter_layout(opt)
        for key, sched in getattr(model, "schedulers", {}).items():
            sched.load_state_dict(training["schedulers"][key])
        ctx.scaler.load_state_dict(training["scaler"])
        model.load_training_state(training["model"])
        _set_rng_state(training["rng"])
        progress = RunPosition(**training["progress"])
        model.step = progress.step
        self.console.print(
            f"resuming {escape(str(self.run_dir))} from step {progress.step} ({found[-1].name})"
        )
        return progress

    def _progress(self, total: int, done: int):
        show = self.options.progress and self.group.is_main
        bar = Progress(
            TextColumn(f"[bold]{self.model_name}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=self.console,
            disable=not show,
        )
        return _ProgressScope(bar, total, done)


class _EpochBatches:
    """The batches of the current epoch as (epoch, index) pairs; the loop replaces `items` each epoch."""

    def __init__(self) -> None:
        self.items: list[list[tuple[int, int]]] = []

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class _EpochIndexed(torch.utils.data.Dataset):
    """Indexed by (epoch, index): the epoch reaches the dataset's random draws inside worker processes too."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text("-- it/s" if task.speed is None else f"{task.speed:.2f} it/s")


class _ProgressScope:
    def __init__(self, bar: Progress, total: int, done: int) -> None:
        self.bar, self.total, self.done = bar, total, done

    def __enter__(self):
        self.bar.start()
        task = self.bar.add_task("train", total=self.total, completed=self.done, losses="")
        return self.bar, task

    def __exit__(self, *exc) -> None:
        self.bar.stop()


def train(model_name: str | None, options: TrainOptions, overrides: dict[str, str] | None = None) -> Path:
    """Train (or with `options.resume`, continue) a model; returns the path of the final model file."""
    return Trainer(model_name, options, overrides).run()
