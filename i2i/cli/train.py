"""`i2i train`: a training run of any registered model, to a run folder that ends with `model.safetensors`."""

from __future__ import annotations

from typing import Annotated

import typer

from i2i.cli._common import Device, NoProgress, Precision, Settings, app, friendly_errors, overrides
from i2i.cli._flags import Declared, model_flags
from i2i.cli._safeguards import Consent, check_named
from i2i.errors import UsageError


@app.command()
@friendly_errors
@model_flags("train", conditions=False)
def train(
    model: Annotated[
        str | None, typer.Argument(help="Model to train, e.g. pix2pix (omit with --resume).")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset folder or catalogue name (`i2i data list`).")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Total optimisation steps of the run.")] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Total epochs (default: n_epochs + n_epochs_decay).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 1,
    precision: Precision = "auto",
    device: Device = "auto",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    run_dir: Annotated[
        str | None, typer.Option("--run-dir", help="Folder for everything of the run.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --run-dir from its last checkpoint.")
    ] = False,
    weights: Annotated[
        str | None, typer.Option("--weights", help="Start from these weights (fine-tuning).")
    ] = None,
    set_: Settings = None,
    sample_every: Annotated[
        int, typer.Option("--sample-every", help="Write a sample grid every N steps (0: never).")
    ] = 500,
    save_every: Annotated[int, typer.Option("--save-every", help="Write a checkpoint every N steps.")] = 1000,
    log_every: Annotated[int, typer.Option("--log-every", help="Update losses every N steps.")] = 10,
    workers: Annotated[int, typer.Option("--workers", help="Data loading processes.")] = 2,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints")] = 3,
    log: Annotated[
        list[str] | None,
        typer.Option("--log", help="Also log to tensorboard and/or wandb (repeatable; log.jsonl always)."),
    ] = None,
    eval_every: Annotated[
        int, typer.Option("--eval-every", help="Log held-out metrics every N steps (0: never).")
    ] = 0,
    eval_metrics: Annotated[
        str, typer.Option("--eval-metrics", help="FID/KID/LPIPS of --eval-every: fid,kid,lpips or all.")
    ] = "all",
    compile_: Annotated[
        str,
        typer.Option(
            "--compile",
            help="torch.compile the networks: auto (on CUDA for runs of 2000+ steps), on, off.",
        ),
    ] = "auto",
    deterministic: Annotated[
        bool,
        typer.Option(
            "--deterministic",
            help="Reproducible GPU runs: deterministic algorithms, no cuDNN autotuning, no TF32 (slower).",
        ),
    ] = False,
    no_progress: NoProgress = False,
    declared: Declared = None,
    consent: Consent = None,
) -> None:
    """Train a model; the run folder ends with `model.safetensors`.

    Examples:
    - `i2i train pix2pix --data datasets/facades --steps 2000 --batch-size 4 --run-dir runs/facades`
    - `i2i train cyclegan --data horse2zebra --run-dir runs/h2z` (downloads the dataset on first use)
    - `i2i train --run-dir runs/facades --resume --steps 4000`
    - `i2i train esrgan --data DIV2K_train_HR --stage gan --weights runs/psnr/model.safetensors --vgg19-weights vgg19-dcbb9e9d.pth`
    - `torchrun --nproc_per_node=2 -m i2i train pix2pix --data DIR --device cpu`
    - `i2i train cyclegan --data horse2zebra --device cuda --batch-size 8 --compile on --deterministic`
    - `i2i train pix2pix --data facades --log tensorboard --log wandb --eval-every 1000 --run-dir runs/f`
    - `i2i train saehd --data faces/ --consent consent.toml --steps 2000 --run-dir runs/swap`
    """
    from i2i import registry
    from i2i.jobs import held_out
    from i2i.runtime import COMPILE_MODES
    from i2i.train.loggers import check_kinds
    from i2i.train.loop import TrainOptions
    from i2i.train.loop import train as run_training

    check_named(model, consent)  # a model that needs consent, without it: one line, before anything else
    options = TrainOptions(
        data=data,
        run_dir=run_dir,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        precision=precision,
        device=device,
        seed=seed,
        resume=resume,
        weights=weights,
        sample_every=sample_every,
        save_every=save_every,
        log_every=log_every,
        workers=workers,
        keep_checkpoints=keep_checkpoints,
        progress=not no_progress,
        compile=compile_,
        deterministic=deterministic,
        log=list(check_kinds(log or [])),
        eval_every=eval_every,
        eval_metrics=eval_metrics,
        consent=str(consent) if consent is not None else None,
    )
    if compile_ not in COMPILE_MODES:
        raise UsageError(f"--compile must be one of {', '.join(COMPILE_MODES)}, not '{compile_}'")
    if eval_every < 0:
        raise UsageError("--eval-every must be 0 (never) or more")
    if eval_every and model:
        held_out.check_layout(registry.model_class(model).data_layout, model)
    run_training(model, options, overrides(set_, declared.settings), held_out.evaluate_held_out)
