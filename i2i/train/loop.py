"""The shared training loop. Models supply the dataset, optimisers and `training_step`; the loop owns
devices, precision, multi-process training, progress, sample grids, checkpoints and exact resume (with the
run folder in `runs`, checkpoints in `state`, the data order in `batches` and the display in `progress`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape

from i2i import config as configs
from i2i import registry
from i2i.api import load
from i2i.errors import I2IError, UsageError
from i2i.hub.resolve import resolve_dataset
from i2i.io import consent
from i2i.io.files import write_error
from i2i.model import Model
from i2i.runtime import compile_networks, configure_backends, resolve_device, resolve_precision
from i2i.train import distributed
from i2i.train.batches import EpochLoader
from i2i.train.context import StepContext, training_channels_last
from i2i.train.interrupts import StopRequest
from i2i.train.loggers import RunLoggers
from i2i.train.progress import ProgressScope, write_samples
from i2i.train.runs import (
    MODEL_FILE,
    TrainOptions,
    append_log,
    prepare_run,
    trim_log,
    write_run_file,
)
from i2i.train.state import RunPosition, checkpoints, restore_checkpoint, save_checkpoint, seed_everything

#: `--compile auto` compiles runs of at least this many steps (on CUDA)
COMPILE_AUTO_STEPS = 2000

__all__ = ["StepContext", "TrainOptions", "Trainer", "train", "training_channels_last"]


class Trainer:
    """One training run of a model: `run()` trains (or continues) it and returns the final model file."""

    def __init__(
        self,
        model_name: str | None,
        options: TrainOptions,
        overrides: dict[str, str] | None = None,
        evaluate: Callable[[Model, Path, str], dict] | None = None,
    ):
        name, self.options, self.overrides, self.run_dir = prepare_run(model_name, options, overrides or {})
        self.model_name = name
        self.restarted = self.options.restarted
        device = resolve_device(self.options.device)
        self.group = distributed.init_from_environment(device.type)
        if self.group.active and device.type == "cuda":
            device = torch.device("cuda", self.group.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self.precision = resolve_precision(self.options.precision, device)
        configure_backends(device, deterministic=self.options.deterministic)
        self.channels_last = training_channels_last(device)
        self.console = Console(stderr=True)
        #: held-out metrics every `options.eval_every` steps (`i2i.jobs.held_out`), and the --log loggers
        self.evaluate = evaluate
        self.loggers: RunLoggers | None = None

    def run(self) -> Path:
        """Train to the last step; the path of the model file written."""
        try:
            return self._run()
        except RuntimeError as exc:  # under torchrun: another process died (killed, out of memory)
            if not self.group.active or (lost := distributed.lost_peer(exc)) is None:
                raise
            raise I2IError(
                f"process {self.group.rank} of {self.group.world_size}: another process of the run stopped "
                f"({lost}); stopping too, continue with `i2i train --run-dir {self.run_dir} --resume`"
            ) from None
        finally:
            if self.loggers is not None:
                self.loggers.close()
            distributed.shutdown(self.group)

    # ---- set-up

    def _build(self) -> Model:
        opts = self.options
        if opts.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if opts.workers < 0:
            raise UsageError("--workers must be 0 (load in the training process) or more")
        seed_everything(opts.seed)
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
        if self.channels_last:
            for net in model.networks.values():
                net.to(memory_format=torch.channels_last)
        try:
            model.setup_training()  # still knows which networks came from the weights file
        except ValueError as exc:  # e.g. Adam refusing beta1=2
            raise UsageError(f"{self.model_name}: {exc}; check the --set values") from None
        model.loaded = set(model.networks)
        return model

    def _compile(self, model: Model, total: int) -> None:
        mode = self.options.compile
        if mode == "auto" and total < COMPILE_AUTO_STEPS:
            mode = "off"  # compiling takes about a minute: short runs finish sooner without
        done = compile_networks(model.networks.values(), self.device, mode)
        if done and self.group.is_main:
            self.console.print(f"note: {done}")

    def _write_run_file(self, model: Model) -> None:
        config = configs.to_dict(model.config)
        write_run_file(self.run_dir, self.model_name, self.options, self.overrides, config)

    # ---- the run

    def _run(self) -> Path:
        opts = self.options
        # an unknown or broken model is the first thing to report, before any dataset is looked at or pulled
        model_class = registry.model_class(self.model_name)
        attestation = consent.for_model(model_class, opts.consent)  # refuses a safeguarded model without
        # a catalogue name is pulled on first use; every rank may do it (the pull is locked and atomic)
        data = resolve_dataset(opts.data)
        opts.data = str(data)  # run.json records the folder actually read
        if self.restarted and self.group.is_main:
            self.console.print(
                f"note: {escape(str(self.run_dir))} stopped before its first checkpoint; starting it again"
            )
        if not opts.resume and not opts.weights:
            # what the data decides (e.g. the number of domains), unless given explicitly
            found = model_class.settings_from_data(data)
            taken = {k: v for k, v in found.items() if k not in self.overrides}
            if taken and self.group.is_main:
                shown = ", ".join(
                    f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in taken.items()
                )
                self.console.print(
                    f"note: settings from the data: {escape(shown)} (--set KEY=VALUE to change)"
                )
            self.overrides = {**found, **self.overrides}
        model = self._build()
        if attestation is not None:
            model.attest(attestation)  # its sha256 goes into every checkpoint's metadata
        dataset = model.training_dataset(data, seed=opts.seed)
        if len(dataset) == 0:
            raise I2IError(f"{data}: the dataset is empty")
        per_rank = math.ceil(len(dataset) / self.group.world_size)
        steps_per_epoch = math.ceil(per_rank / opts.batch_size)
        total = self._total_steps(model, steps_per_epoch)
        self._compile(model, total)
        ctx = StepContext(self.device, self.precision, self.group)
        state = RunPosition()
        if opts.resume:
            state, found = restore_checkpoint(model, ctx, self.run_dir, self.channels_last)
            self.console.print(f"resuming {escape(str(self.run_dir))} from step {state.step} ({found.name})")
            if self.group.is_main:
                trim_log(self.run_dir, state.step)
                self._write_run_file(model)  # what this invocation read (e.g. a moved --data folder)
        elif self.group.is_main:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # e.g. a read-only parent folder: one line naming it
                raise write_error(self.run_dir, exc, "the run folder") from None
            self._write_run_file(model)
        if state.step >= total:
            self.console.print(
                f"[yellow]{self.run_dir}: already at step {state.step} of {total}; nothing to do"
            )
        loader = EpochLoader(
            dataset,
            seed=opts.seed,
            batch_size=opts.batch_size,
            workers=opts.workers,
            pin_memory=self.device.type == "cuda",
            group=self.group,
        )
        config = {"model": self.model_name, "options": vars(opts), "config": configs.to_dict(model.config)}
        self.loggers = RunLoggers(
            opts.log, self.run_dir, name=self.run_dir.name, config=config, batch_size=opts.batch_size,
            device=self.device, main=self.group.is_main,
        )  # fmt: skip
        show = opts.progress and self.group.is_main
        stop = StopRequest(self.group, opts.log_every)
        with stop, ProgressScope(self.model_name, self.console, total, state.step, show=show) as (bar, task):
            while state.step < total:
                for batch in loader.epoch(state.epoch, state.position, steps_per_epoch):
                    losses = model.training_step(batch, ctx)
                    ctx.end_step()
                    state.step += 1
                    state.position += 1
                    model.step = state.step
                    if model.scheduler_interval == "step":
                        for scheduler in model.schedulers.values():
                            scheduler.step()
                    self._accumulate(state, losses)
                    epoch_done = state.position >= steps_per_epoch
                    if epoch_done:
                        self._end_epoch(model, state)
                    self._after_step(model, ctx, state, total, losses, bar, task)
                    if state.step < total and stop.due(state.step):
                        self._stop_here(model, ctx, state)
                    if state.step >= total or epoch_done:
                        break
        if self.group.is_main:
            final = model.save(self.run_dir / MODEL_FILE)
            self.console.print(f"[green]done[/] {state.step} steps; model written to {escape(str(final))}")
        distributed.barrier(self.group)
        return self.run_dir / MODEL_FILE

    def _stop_here(self, model: Model, ctx: StepContext, state: RunPosition) -> None:
        """Ctrl-C: a checkpoint of the step just finished (unless there is one), then `KeyboardInterrupt`."""
        if self.group.is_main:
            if not any(p.name == f"step_{state.step:08d}.safetensors" for p in checkpoints(self.run_dir)):
                save_checkpoint(model, ctx, state, self.run_dir, self.options.keep_checkpoints)
            self.console.print(
                f"stopped at step {state.step} with a checkpoint; continue with "
                f"`i2i train --run-dir {escape(str(self.run_dir))} --resume`"
            )
        distributed.barrier(self.group)
        raise KeyboardInterrupt

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

    # ---- each step

    def _accumulate(self, state: RunPosition, losses: dict[str, torch.Tensor]) -> None:
        state.epoch_batches += 1
        for key, value in losses.items():
            state.epoch_losses[key] = state.epoch_losses.get(key, 0.0) + value  # tensors: no host sync

    def _end_epoch(self, model: Model, state: RunPosition) -> None:
        means = {k: float(v) / max(1, state.epoch_batches) for k, v in state.epoch_losses.items()}
        metric = sum(means.get(k, 0.0) for k in model.plateau_losses)
        epoch_schedulers = model.schedulers if model.scheduler_interval == "epoch" else {}
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
                saved = checkpoints(self.run_dir)
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
                lrs = {k: o.param_groups[0]["lr"] for k, o in model.optimizers.items()}
                append_log(self.run_dir, {"step": state.step, "epoch": state.epoch, "lr": lrs, **values})
                self.loggers.record({"step": state.step, "epoch": state.epoch, "lr": lrs, **values})
        elif bar is not None:
            bar.update(task, completed=state.step)
        if self.group.is_main and opts.sample_every > 0 and (state.step % opts.sample_every == 0 or last):
            write_samples(model, self.run_dir / "samples" / f"step_{state.step:08d}.png")
            self.loggers.image(state.step, self.run_dir / "samples" / f"step_{state.step:08d}.png")
        if self.group.is_main and opts.eval_every > 0 and (state.step % opts.eval_every == 0 or last):
            self._evaluate_held_out(model, state.step)
        if self.group.is_main and opts.save_every > 0 and (state.step % opts.save_every == 0 or last):
            save_checkpoint(model, ctx, state, self.run_dir, self.options.keep_checkpoints)

    def _evaluate_held_out(self, model: Model, step: int) -> None:
        """`--eval-every`: the held-out metrics as a log.jsonl record `{"step", "eval": report}`."""
        if self.evaluate is not None:
            opts = self.options
            record = {"step": step, "eval": self.evaluate(model, Path(opts.data), opts.eval_metrics)}
            append_log(self.run_dir, record)
            self.loggers.record(record)


def train(
    model_name: str | None,
    options: TrainOptions,
    overrides: dict[str, str] | None = None,
    evaluate: Callable[[Model, Path, str], dict] | None = None,
) -> Path:
    """Train (or with `options.resume`, continue) a model; returns the path of the final model file."""
    return Trainer(model_name, options, overrides, evaluate).run()
