"""The `i2i` command line: a thin layer over the Python API."""

from __future__ import annotations

import functools
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from i2i._version import __version__
from i2i.errors import I2IError, UsageError, unknown_name

app = typer.Typer(
    name="i2i",
    help="Image-to-image translation with GANs: pix2pix, CycleGAN, StarGAN v2, ESRGAN.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
data_app = typer.Typer(
    help="Datasets: the catalogue (list, pull), layout checks, synthetic data for offline tests and demos.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
weights_app = typer.Typer(help="Weights known by name: bundled and downloadable.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")
eval_app = typer.Typer(help="Measure a model against ground truth.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

out = Console()
err = Console(stderr=True)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        out.print(f"i2i {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug


def _one_line(exc: BaseException) -> str:
    """The user's message: rich markup escaped, and a DataLoader worker's re-raise unwrapped (it carries
    the worker's traceback, and the original message on its last line)."""
    text = str(exc)
    if "\nOriginal Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return escape(text)


def _note_warning(message, category, *_: Any, **__: Any) -> None:
    if category.__name__ == "LossyWriteWarning":
        err.print(f"[yellow]note:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    else:
        err.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def friendly_errors(command):
    """User errors become one line on stderr and an exit code (1, or 2 for usage); `--debug` re-raises."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                # what a chosen output format cannot keep: said once per run, as a note
                warnings.filterwarnings("once", message=r".* cannot hold ")
                warnings.showwarning = _note_warning
                return command(*args, **kwargs)
        except I2IError as exc:
            if _state["debug"]:
                raise
            err.print(f"[red]error:[/] {_one_line(exc)}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: still one line, the traceback on request
            if _state["debug"]:
                raise
            err.print(
                f"[red]internal error:[/] {type(exc).__name__}: {_one_line(exc)} "
                "(run `i2i --debug ...` for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _domains_option() -> Any:
    return typer.Option(
        "--domains",
        help="stargan-v2/stargan: names of the checkpoint's domains in label order, e.g. cat,dog,wild "
        "(official files carry none; i2i checkpoints store them).",
    )


def _precision_option() -> Any:
    return typer.Option("--precision", help="auto (the device's fast path), fp32, bf16 or fp16.")


def _check_destination(destination: Path, single_file: bool, count: int) -> None:
    """Say what is wrong with the output path before any work: one file for several images, a file where a
    folder must go, a file type i2i cannot write."""
    from i2i.io import imageio

    if single_file:
        imageio.normalise_format(destination.suffix)  # e.g. .gif: a usage error naming the formats
    elif destination.is_file():
        raise UsageError(f"{destination} is a file; {count} image(s) need an output folder")
    elif destination.suffix.lower() in imageio.IMAGE_SUFFIXES and not destination.exists():
        raise UsageError(
            f"{destination} looks like a file name, but {count} images need an output folder; "
            "give a folder (or one input for one output file)"
        )


def _check_counts(**given: int | None) -> None:
    """Options that count something must count at least one."""
    for name, value in given.items():
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {value}")


def _overrides(assignments: list[str] | None, domains: str | None = None) -> dict[str, str]:
    """`--set key=value` pairs, with `--domains` as the shortcut for `--set domains=...`."""
    from i2i.config import parse_assignments

    overrides = parse_assignments(assignments)
    if domains is not None:
        overrides["domains"] = domains
    return overrides


# ---------------------------------------------------------------------------------------------- models


@app.command()
@friendly_errors
def models(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the registered models (plugins included) with their weights.

    Example: `i2i models --json`
    """
    from i2i.api import list_models

    rows = list_models()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(
        title="i2i models", caption="* non-commercial: licence or training data (see `i2i weights list`)"
    )
    for column in ("name", "task", "licence", "description", "weights"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["status"] != "ok":
            table.add_row(f"[yellow]{row['name']}[/]", "[yellow]broken plugin[/]", "", row["error"], "")
        else:
            marked = [w + ("*" if w in row["weights_non_commercial"] else "") for w in row["weights"]]
            table.add_row(row["name"], row["task"], row["license"], row["description"], "\n".join(marked))
    out.print(table)


# ----------------------------------------------------------------------------------------------- train


@app.command()
@friendly_errors
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
    precision: Annotated[str, _precision_option()] = "auto",
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
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
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")
    ] = None,
    sample_every: Annotated[
        int, typer.Option("--sample-every", help="Write a sample grid every N steps (0: never).")
    ] = 500,
    save_every: Annotated[int, typer.Option("--save-every", help="Write a checkpoint every N steps.")] = 1000,
    log_every: Annotated[int, typer.Option("--log-every", help="Update losses every N steps.")] = 10,
    workers: Annotated[int, typer.Option("--workers", help="Data loading processes.")] = 2,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints")] = 3,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    stage: Annotated[
        str | None, typer.Option("--stage", help="For models with stages (esrgan: psnr, then gan).")
    ] = None,
    degradation: Annotated[
        str | None,
        typer.Option("--degradation", help="esrgan: bicubic (default) or realesrgan (second-order)."),
    ] = None,
    vgg19_weights: Annotated[
        str | None,
        typer.Option(
            "--vgg19-weights", help="ImageNet VGG19 weights for perceptual losses (never downloaded)."
        ),
    ] = None,
) -> None:
    """Train a model; the run folder ends with `model.safetensors`.

    Examples:
    - `i2i train pix2pix --data datasets/facades --steps 2000 --batch-size 4 --run-dir runs/facades`
    - `i2i train cyclegan --data horse2zebra --run-dir runs/h2z` (downloads the dataset on first use)
    - `i2i train --run-dir runs/facades --resume --steps 4000`
    - `i2i train esrgan --data DIV2K_train_HR --stage gan --weights runs/psnr/model.safetensors --vgg19-weights vgg19-dcbb9e9d.pth`
    - `torchrun --nproc_per_node=2 -m i2i train pix2pix --data DIR --device cpu`
    """
    from i2i.config import parse_assignments
    from i2i.train.loop import TrainOptions
    from i2i.train.loop import train as run_training

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
    )
    overrides = parse_assignments(set_)
    shortcuts = {"stage": stage, "degradation": degradation, "vgg19_weights": vgg19_weights}
    overrides |= {key: value for key, value in shortcuts.items() if value is not None}
    run_training(model, options, overrides)


# ------------------------------------------------------------------------------------------- translate


def _split_paths(paths: list[Path], output: Path | None) -> tuple[list[Path], Path]:
    if output is not None:
        if not paths:
            raise UsageError("give at least one input file or folder")
        return paths, output
    if len(paths) < 2:
        raise UsageError("give inputs and an output: `i2i translate ... INPUT... OUTPUT` (or -o OUTPUT)")
    return paths[:-1], paths[-1]


@app.command()
@friendly_errors
def translate(
    paths: Annotated[
        list[Path], typer.Argument(help="Input files/folders, then the output folder.", show_default=False)
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (optional with an i2i checkpoint).")
    ] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", "-w", help="Checkpoint path or catalogue name.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output folder (or file for one input).")
    ] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", help="AtoB or BtoA, for two-way models.")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode", help="pix2pix test behaviour: eval, train (reference test.py), train_dropout_off."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for stochastic models/modes.")] = None,
    target_domain: Annotated[
        str | None,
        typer.Option("--target-domain", "-t", help="Multi-domain models: the domain to translate into."),
    ] = None,
    reference: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference", "-r", help="stargan-v2: style reference image(s) (repeatable; one style each)."
        ),
    ] = None,
    psi: Annotated[
        float | None,
        typer.Option("--psi", help="stargan-v2: truncation towards the domain's mean style (0..1)."),
    ] = None,
    num_styles: Annotated[
        int, typer.Option("--num-styles", help="stargan-v2: latent styles per input (NAME_s0, NAME_s1, ...).")
    ] = 1,
    grid: Annotated[
        bool,
        typer.Option(
            "--grid", help="stargan-v2: also write OUTPUT/grid.png (a row per source, a column per style)."
        ),
    ] = False,
    attrs: Annotated[
        str | None,
        typer.Option("--attrs", help="stargan: attributes to set, e.g. Blond_Hair,Male (the others off)."),
    ] = None,
    domains: Annotated[str | None, _domains_option()] = None,
    fmt: Annotated[str, typer.Option("--format", help="same, png, jpeg, webp, tiff or bmp.")] = "same",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 1,
    device: Annotated[str, typer.Option("--device")] = "auto",
    precision: Annotated[str, _precision_option()] = "auto",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")
    ] = None,
    no_provenance: Annotated[
        bool, typer.Option("--no-provenance", help="Do not tag outputs with model/weights.")
    ] = False,
    max_pixels: Annotated[int | None, typer.Option("--max-pixels", help="Refuse larger images.")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress")] = False,
) -> None:
    """Translate images or folders (recursively, mirroring sub-folders).

    Examples:
    - `i2i translate --model pix2pix --weights latest_net_G.pth photos/ out/`
    - `i2i translate --weights runs/facades/model.safetensors label.png result.png`
    - `i2i translate --model cyclegan --weights zebra2horse.pth --direction BtoA zebras/ out/`
    - `i2i translate --model stargan-v2 --weights afhq.ckpt --target-domain dog --seed 7 --num-styles 4 --psi 0.7 --grid in/ out/`
    - `i2i translate --model stargan-v2 --weights W --target-domain dog --reference ref.png in/ out/`
    - `i2i translate --weights 100000_nets_ema.ckpt --domains cat,dog,wild --target-domain wild in/ out/`
    - `i2i translate --model stargan --weights 200000-G.ckpt --attrs Blond_Hair,Male faces/ out/`
    """
    from i2i import registry
    from i2i.api import load
    from i2i.io import imageio
    from i2i.jobs.translate import run_translation

    if model is not None:
        registry.entry(model)  # an unknown name fails before any file is touched
    inputs, destination = _split_paths(paths, output)
    given = {"direction": direction, "mode": mode, "seed": seed, "target_domain": target_domain, "psi": psi,
             "attrs": attrs}  # fmt: skip
    conditions = {k: v for k, v in given.items() if v is not None}
    references = list(reference or [])
    _check_counts(batch_size=batch_size, max_pixels=max_pixels, num_styles=num_styles)
    styled = num_styles > 1 or len(references) > 1 or grid
    if len(references) == 1 and not styled:
        conditions["reference"] = references[0]
    fmt = None if fmt == "same" else imageio.normalise_format(fmt)
    files = imageio.find_images(inputs, output=destination)
    if not files:
        raise I2IError(f"no images found in {', '.join(map(str, inputs))}")
    single_file = len(files) == 1 and inputs[0].is_file() and bool(destination.suffix)
    single_file = single_file and not destination.is_dir()
    _check_destination(destination, single_file, len(files))
    loaded = load(
        model,
        weights or _default_weights(model),
        device=device,
        precision=precision,
        **_overrides(set_, domains),
    )
    if note := loaded.default_note(conditions):
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    if styled:
        from i2i.jobs.translate import run_styles

        if not hasattr(loaded, "translate_styles"):
            raise UsageError(
                f"--num-styles, several --reference and --grid need a model with styles, not {loaded.name}"
            )
        if destination.suffix:
            raise UsageError("with --num-styles, several --reference or --grid, the output must be a folder")
        failures = run_styles(
            loaded,
            files,
            destination,
            num_styles=num_styles,
            references=references,
            conditions=conditions,
            grid=grid,
            fmt=fmt,
            provenance=not no_provenance,
            max_pixels=max_pixels,
            console=err,
        )
        if failures:
            raise typer.Exit(1)
        return
    failures = run_translation(
        loaded,
        files,
        destination,
        fmt=fmt,
        batch_size=batch_size,
        provenance=not no_provenance,
        max_pixels=max_pixels,
        conditions=conditions,
        single_file_output=single_file,
        console=err,
        progress=not no_progress,
    )
    if failures:
        raise typer.Exit(1)


@app.command()
@friendly_errors
def upscale(
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files or folders (recursively).", show_default=False)
    ],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name.")] = "esrgan",
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights", "-w", help="Checkpoint path or catalogue name (default: the model's default)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output folder (mirrors the inputs' sub-folders), or file for one input. "
            "Default: next to each input as NAME_x4.EXT.",
        ),
    ] = None,
    outscale: Annotated[
        float | None,
        typer.Option(
            "--outscale",
            help="Output size / input size, any factor (Lanczos resize). Default: the model's scale.",
        ),
    ] = None,
    tile: Annotated[
        int | None,
        typer.Option("--tile", help="Tile side in input pixels; 0: whole image. Default: from free memory."),
    ] = None,
    tile_pad: Annotated[
        int, typer.Option("--tile-pad", help="Context around each tile, in input pixels.")
    ] = 10,
    pre_pad: Annotated[
        int, typer.Option("--pre-pad", help="Reflect-pad the right and bottom edges by this much first.")
    ] = 0,
    tile_mode: Annotated[
        str,
        typer.Option(
            "--tile-mode",
            help="blend (overlapping tiles blended, no seams) or reference (Real-ESRGAN's tiles).",
        ),
    ] = "blend",
    alpha_upsampler: Annotated[
        str,
        typer.Option("--alpha-upsampler", help="model (alpha through the network) or resize (bilinear)."),
    ] = "model",
    fmt: Annotated[str, typer.Option("--format", help="same, png, jpeg, webp, tiff or bmp.")] = "same",
    device: Annotated[str, typer.Option("--device")] = "auto",
    precision: Annotated[str, _precision_option()] = "auto",
    no_provenance: Annotated[
        bool, typer.Option("--no-provenance", help="Do not tag outputs with model/weights.")
    ] = False,
    max_pixels: Annotated[int | None, typer.Option("--max-pixels", help="Refuse larger images.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Config override key=value, e.g. act_type=relu (repeatable)."),
    ] = None,
    denoise_strength: Annotated[
        float | None,
        typer.Option(
            "--denoise-strength",
            help="0..1, for weights with a weak-denoise twin (realesr-general-x4v3): blends the two networks.",
        ),
    ] = None,
    denoise_twin: Annotated[
        str | None,
        typer.Option(
            "--denoise-twin", help="The weak-denoise weights to blend with (default: from the catalogue)."
        ),
    ] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress")] = False,
) -> None:
    """Upscale images or folders with a super-resolution model, tile by tile (any image size).

    Alpha, greyscale, 16-bit and EXIF orientation are kept; outputs never overwrite an input.

    Examples:
    - `i2i upscale photo.jpg` (writes photo_x4.jpg beside it)
    - `i2i upscale photos/ -o large/ --outscale 2`
    - `i2i upscale scan.png -o scan-big.png --weights realesr-animevideov3 --tile 256 --device cpu`
    """
    from i2i import registry
    from i2i.api import load
    from i2i.io import imageio
    from i2i.jobs import tiling
    from i2i.jobs.upscale import UpscaleOptions, default_outscale, plan_outputs, run_upscale

    registry.entry(model)  # an unknown name fails before any file is touched
    if tile_mode not in tiling.MODES:
        raise UsageError(f"--tile-mode must be {' or '.join(tiling.MODES)}, not '{tile_mode}'")
    if alpha_upsampler not in tiling.ALPHA_UPSAMPLERS:
        raise UsageError(
            f"--alpha-upsampler must be {' or '.join(tiling.ALPHA_UPSAMPLERS)}, not '{alpha_upsampler}'"
        )
    if outscale is not None and not 0 < outscale < math.inf:
        raise UsageError(f"--outscale must be a finite number above 0, not {outscale:g}")
    if min(tile or 0, tile_pad, pre_pad) < 0:
        raise UsageError("--tile, --tile-pad and --pre-pad must not be negative")
    _check_counts(max_pixels=max_pixels)
    fmt_name = None if fmt == "same" else imageio.normalise_format(fmt)
    files = imageio.find_images(inputs)
    if not files:
        raise I2IError(f"no images found in {', '.join(map(str, inputs))}")
    if output is not None:
        single_file = len(files) == 1 and inputs[0].is_file() and bool(output.suffix)
        _check_destination(output, single_file and not output.is_dir(), len(files))
    chosen = weights or _default_weights(model)
    if denoise_strength is None:
        loaded = load(model, chosen, device=device, precision=precision, **_overrides(set_))
    else:
        loaded = _denoise_blend(
            model, chosen, denoise_twin, denoise_strength, device, precision, _overrides(set_)
        )
    options = UpscaleOptions(
        outscale=outscale,
        alpha_upsampler=alpha_upsampler,
        tile=tile,
        tile_pad=tile_pad,
        pre_pad=pre_pad,
        mode=tile_mode,
    )
    factor = outscale if outscale is not None else default_outscale(loaded)
    jobs, earlier = plan_outputs(inputs, files, output, factor, fmt_name)
    if earlier:
        err.print(f"note: left out {len(earlier)} earlier output(s) of this command, e.g. {earlier[0]}")
    failures = run_upscale(
        loaded,
        jobs,
        options=options,
        fmt=fmt_name,
        provenance=not no_provenance,
        max_pixels=max_pixels,
        console=err,
        progress=not no_progress,
    )
    if failures:
        raise typer.Exit(1)


def _denoise_blend(
    model: str,
    weights: str,
    twin: str | None,
    strength: float,
    device: str,
    precision: str,
    overrides: dict[str, str],
):
    """Real-ESRGAN's `-dn`: strength x weights + (1 - strength) x their weak-denoise twin (weight blending)."""
    from i2i.api import interpolate
    from i2i.hub.catalogue import weights_entries

    if not 0.0 <= strength <= 1.0:
        raise UsageError(f"--denoise-strength must be between 0 and 1, not {strength:g}")
    twin = twin or weights_entries().get(weights, {}).get("denoise_twin")
    if twin is None:
        raise UsageError(
            "--denoise-strength needs weights with a weak-denoise twin, e.g. --weights realesr-general-x4v3-pth, "
            f"or --denoise-twin PATH; '{weights}' has none"
        )
    return interpolate(twin, weights, strength, model=model, device=device, precision=precision, **overrides)


def _default_weights(model: str | None) -> str:
    from i2i.hub.catalogue import default_weights

    if model is None:
        raise UsageError("give --weights (a checkpoint or catalogue name) or --model")
    return default_weights(model)


# --------------------------------------------------------------------------------------------- convert


@app.command()
@friendly_errors
def convert(
    source: Annotated[
        str, typer.Argument(help="Official checkpoint (.pth), run folder, i2i checkpoint or name.")
    ],
    destination: Annotated[Path, typer.Argument(help="i2i checkpoint to write (.safetensors).")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (detected from the keys if omitted).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")
    ] = None,
    networks: Annotated[
        str | None, typer.Option("--networks", help="Keep only these networks, comma-separated (e.g. G).")
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Store weights as fp32, fp16 or bf16.")] = "fp32",
    domains: Annotated[str | None, _domains_option()] = None,
) -> None:
    """Turn an official checkpoint (or any i2i checkpoint) into a self-describing i2i checkpoint.

    Examples:
    - `i2i convert latest_net_G.pth facades.safetensors --set padding_type=reflect`
    - `i2i convert runs/shapes/model.safetensors shapes-G.safetensors --networks G --dtype fp16`
    - `i2i convert 100000_nets_ema.ckpt afhq.safetensors --domains cat,dog,wild`
    """
    import torch

    from i2i.api import load

    if destination.suffix != ".safetensors":
        raise UsageError(f"{destination}: the output must be a .safetensors file")
    dtypes = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
    if dtype not in dtypes:
        raise UsageError(f"--dtype must be one of {', '.join(dtypes)}")
    loaded = load(model, source, device="cpu", precision="fp32", **_overrides(set_, domains))
    keep = [n.strip() for n in networks.split(",") if n.strip()] if networks else None
    loaded.save(destination, networks=keep, dtype=dtypes[dtype])
    nets = ", ".join(keep or sorted(loaded.loaded))
    out.print(f"wrote {destination}: {loaded.name} ({nets})")


# ------------------------------------------------------------------------------------------------- env


@app.command()
@friendly_errors
def env(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Versions, devices and the precision `auto` picks on each.

    Example: `i2i env --json`
    """
    from i2i.runtime import environment_report

    report = environment_report()
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table(title="i2i environment", show_header=False)
    for key, value in report.items():
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    out.print(table)


# ------------------------------------------------------------------------------------------------ data


@data_app.command("synth")
@friendly_errors
def data_synth(
    destination: Annotated[Path, typer.Argument(help="Folder to write the dataset to.")],
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="paired (labels2shapes, pix2pix), unpaired (day2night, CycleGAN), domains (StarGAN v2), "
            "attributes (CelebA format, StarGAN) or images (super-resolution).",
        ),
    ] = "paired",
    domains: Annotated[int, typer.Option("--domains", help="Domains of the `domains` task.")] = 3,
    count: Annotated[
        int, typer.Option("--count", help="Number of images over all splits (per domain if unpaired).")
    ] = 200,
    size: Annotated[int, typer.Option("--size", help="Side of each image in pixels.")] = 64,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    layout: Annotated[
        str, typer.Option("--layout", help="Paired only: aligned (A|B side by side) or folders (A/, B/).")
    ] = "aligned",
) -> None:
    """Generate a synthetic dataset (offline tests and demos).

    Examples:
    - `i2i data synth datasets/shapes --count 400 --size 128`
    - `i2i data synth datasets/day2night --task unpaired --count 200`
    - `i2i data synth datasets/palettes --task domains --domains 3 --size 64`
    """
    from i2i.data import synth

    t0 = time.perf_counter()
    if task == "paired":
        written = synth.make_paired(destination, count=count, size=size, seed=seed, layout=layout)
        what = f"{count} {size}x{size} pairs"
    elif task == "unpaired":
        written = synth.make_unpaired(destination, count=count, size=size, seed=seed)
        what = f"{count} {size}x{size} images per domain"
        layout = "unaligned"
    elif task == "domains":
        written = synth.make_domains(destination, count=count, size=size, seed=seed, domains=domains)
        what, layout = f"{count} {size}x{size} images in {domains} domains", "domains"
    elif task == "attributes":
        written = synth.make_attributes(destination, count=count, size=size, seed=seed)
        what, layout = f"{count} {size}x{size} images with attributes", "attributes"
    elif task == "images":
        written = synth.make_images(destination, count=count, size=size, seed=seed)
        what, layout = f"{count} {size}x{size} images", "images"
    else:
        raise UsageError(
            f"unknown synthetic task '{task}'; available: paired, unpaired, domains, attributes, images"
        )
    out.print(f"wrote {what} to {written} in {time.perf_counter() - t0:.1f}s ({layout} layout)")


@data_app.command("list")
@friendly_errors
def data_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the datasets known by name, their licences and whether they are downloaded.

    A pix2pix dataset (paired) and a CycleGAN dataset (unaligned) keep their upstream name; where both
    exist, the CycleGAN one is `NAME-unaligned`. Example: `i2i data list --json`
    """
    from i2i.hub.catalogue import list_datasets

    rows = list_datasets()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="i2i datasets")
    for column in ("name", "layout", "size", "licence", "cached"):
        table.add_column(column, overflow="fold")
    for row in rows:
        size = f"{row['approx_size_mb']} MB" if row["approx_size_mb"] else "?"
        licence = f"[yellow]{row['license']} (non-commercial)[/]" if row["non_commercial"] else row["license"]
        cached = "yes" if row["cached"] else "manual download" if row["manual"] else "no"
        table.add_row(row["name"], row["layout"], size, licence, cached)
    out.print(table)


@data_app.command("pull")
@friendly_errors
def data_pull(name: Annotated[str, typer.Argument(help="Catalogue dataset name (`i2i data list`).")]) -> None:
    """Download and extract a dataset into the cache ($I2I_HOME) and print its folder.

    Example: `i2i data pull horse2zebra`
    """
    from i2i.hub.download import pull_dataset

    out.print(str(pull_dataset(name)), highlight=False, soft_wrap=True)


@data_app.command("check")
@friendly_errors
def data_check(
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model that will train on it.")],
) -> None:
    """Check that a folder has the layout a model trains on; one line per problem (exit 1 if any).

    Example: `i2i data check datasets/horse2zebra --model cyclegan`
    """
    from i2i import registry
    from i2i.data.layouts import check_layout

    layout = registry.model_class(model).data_layout
    if layout is None:
        raise I2IError(f"model '{model}' does not declare the dataset layout it trains on")
    report = check_layout(root, layout)
    for problem in report.problems:
        out.print(problem, highlight=False, soft_wrap=True)
    for note in report.notes:
        out.print(f"note: {note}", highlight=False, soft_wrap=True)
    if report.problems:
        raise typer.Exit(1)
    out.print(f"{root}: {report.summary} (fits {model})", highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------------------------- weights


@weights_app.command("list")
@friendly_errors
def weights_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the weights known by name: model, licence, source, and whether bundled or downloaded.

    Example: `i2i weights list --json`
    """
    from i2i.hub.catalogue import list_weights

    rows = list_weights()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="i2i weights")
    for column in ("name", "model", "licence", "source", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        mark = " [yellow](non-commercial)[/]" if row["non_commercial"] else ""
        table.add_row(row["name"], row["model"], row["license"] + mark, row["source"], row["status"])
    out.print(table)


@weights_app.command("pull")
@friendly_errors
def weights_pull(
    name: Annotated[str, typer.Argument(help="Catalogue weights name (`i2i weights list`).")],
) -> None:
    """Download weights into the cache ($I2I_HOME) and print the file's path.

    Example: `i2i weights pull cyclegan-horse2zebra`
    """
    from i2i.hub.catalogue import resolve_weights, weights_entries

    if name not in weights_entries():
        raise unknown_name("weights", name, weights_entries())
    path, _ = resolve_weights(name)
    out.print(str(path), highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------------------ eval


@eval_app.command("paired")
@friendly_errors
def eval_paired(
    data: Annotated[Path, typer.Argument(help="Paired dataset folder (aligned or A/ B/ layout).")],
    weights: Annotated[str, typer.Option("--weights", "-w", help="Checkpoint path or catalogue name.")],
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    phase: Annotated[str, typer.Option("--phase", help="Split to evaluate: test, val or train.")] = "test",
    device: Annotated[str, typer.Option("--device")] = "auto",
    precision: Annotated[str, _precision_option()] = "auto",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Mean L1 and PSNR of a paired model on a dataset split, with the identity baseline.

    Example: `i2i eval paired datasets/shapes --weights pix2pix-synth-shapes`
    """
    from i2i.api import load
    from i2i.jobs.evaluate import evaluate_paired

    report = evaluate_paired(load(model, weights, device=device, precision=precision), data, phase=phase)
    if as_json:
        out.print_json(json.dumps(report))
        return
    line = f"{report['images']} {phase} images: L1 {report['l1']:.4f}, PSNR {report['psnr_db']:.2f} dB"
    if "identity_l1" in report:
        line += f" (input itself: L1 {report['identity_l1']:.4f}, PSNR {report['identity_psnr_db']:.2f} dB)"
    out.print(line, highlight=False)


@eval_app.command("unpaired")
@friendly_errors
def eval_unpaired(
    data: Annotated[
        Path, typer.Argument(help="Folder with testA/ (testB/) and truth/testA_to_B/ (truth/testB_to_A/).")
    ],
    weights: Annotated[str, typer.Option("--weights", "-w", help="Checkpoint path or catalogue name.")],
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    direction: Annotated[str, typer.Option("--direction", help="AtoB, BtoA or both.")] = "both",
    device: Annotated[str, typer.Option("--device")] = "auto",
    precision: Annotated[str, _precision_option()] = "auto",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Mean L1 and PSNR of a two-way model against known ground truth, with the identity baseline.

    Example: `i2i eval unpaired datasets/day2night --weights cyclegan-synth-day2night`
    """
    from i2i.api import load
    from i2i.jobs.evaluate import evaluate_unpaired

    if direction not in ("AtoB", "BtoA", "both"):
        raise UsageError(f"--direction must be AtoB, BtoA or both, not '{direction}'")
    loaded = load(model, weights, device=device, precision=precision)
    directions = ("AtoB", "BtoA") if direction == "both" else (direction,)
    reports = [evaluate_unpaired(loaded, data, direction=d) for d in directions]
    if as_json:
        out.print_json(json.dumps(reports))
        return
    for r in reports:
        out.print(
            f"{r['direction']}: {r['images']} images: L1 {r['l1']:.4f}, PSNR {r['psnr_db']:.2f} dB "
            f"(input itself: L1 {r['identity_l1']:.4f}, PSNR {r['identity_psnr_db']:.2f} dB)",
            highlight=False,
        )


@eval_app.command("domains")
@friendly_errors
def eval_domains(
    data: Annotated[
        Path, typer.Argument(help="Multi-domain dataset: train/<domain>/ (classifier) and val/<domain>/.")
    ],
    weights: Annotated[str, typer.Option("--weights", "-w", help="Checkpoint path or catalogue name.")],
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    phase: Annotated[str, typer.Option("--phase", help="Split whose images are translated.")] = "val",
    device: Annotated[str, typer.Option("--device")] = "auto",
    precision: Annotated[str, _precision_option()] = "auto",
    domains: Annotated[str | None, _domains_option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """How often translations land in the target domain (a small classifier trained on the train split),
    latent- and reference-guided, next to how often the sources are classified as that domain.

    Example: `i2i eval domains datasets/palettes --weights stargan-v2-synth-palettes`
    """
    from i2i.api import load
    from i2i.jobs.evaluate import evaluate_domains

    loaded = load(model, weights, device=device, precision=precision, **_overrides(None, domains))
    reports = [evaluate_domains(loaded, data, phase=phase, reference_guided=r) for r in (False, True)]
    if as_json:
        out.print_json(json.dumps(reports))
        return
    for r in reports:
        out.print(
            f"{r['mode']}-guided: {r['translations']} translations, {r['in_target_domain']:.1%} in the target "
            f"domain (the sources themselves: {r['sources_in_target_domain']:.1%})",
            highlight=False,
        )


@eval_app.command("sr")
@friendly_errors
def eval_sr(
    hr_dir: Annotated[Path, typer.Argument(help="Folder of high-resolution images (the ground truth).")],
    weights: Annotated[
        str | None, typer.Option("--weights", "-w", help="Checkpoint path or catalogue name.")
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m")] = "esrgan",
    crop_border: Annotated[int | None, typer.Option("--crop-border", help="Default: the scale.")] = None,
    device: Annotated[str, typer.Option("--device")] = "auto",
    precision: Annotated[str, _precision_option()] = "auto",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """PSNR/SSIM (Y channel and RGB) of a super-resolution model on HR images downscaled with MATLAB bicubic,
    next to plain bicubic upscaling.

    Example: `i2i eval sr --model esrgan --weights realesrgan-x4plus datasets/Set5/`
    """
    from i2i.api import load
    from i2i.jobs.evaluate import evaluate_sr

    loaded = load(model, weights or _default_weights(model), device=device, precision=precision)
    report = evaluate_sr(loaded, hr_dir, crop_border=crop_border)
    if as_json:
        out.print_json(json.dumps(report))
        return
    b = report["bicubic"]
    out.print(
        f"{report['images']} images, x{report['scale']}, crop {report['crop_border']}: "
        f"PSNR Y {report['psnr_y']:.2f} dB, SSIM Y {report['ssim_y']:.4f}, "
        f"PSNR RGB {report['psnr_rgb']:.2f} dB, SSIM RGB {report['ssim_rgb']:.4f} "
        f"(bicubic: {b['psnr_y']:.2f} / {b['ssim_y']:.4f} / {b['psnr_rgb']:.2f} / {b['ssim_rgb']:.4f})",
        highlight=False,
    )


@weights_app.command("interp")
@friendly_errors
def weights_interp(
    weights_a: Annotated[str, typer.Argument(help="Weights A (alpha 0): a path or catalogue name.")],
    weights_b: Annotated[str, typer.Argument(help="Weights B (alpha 1).")],
    destination: Annotated[Path, typer.Argument(help="i2i checkpoint to write (.safetensors).")],
    alpha: Annotated[float, typer.Option("--alpha", help="(1 - alpha) x A + alpha x B.")] = 0.8,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
) -> None:
    """Network interpolation of two weights of the same architecture (ESRGAN's net_interp.py).

    Example: `i2i weights interp RRDB_PSNR_x4.pth RRDB_ESRGAN_x4.pth interp_08.safetensors --alpha 0.8`
    """
    from i2i.api import interpolate

    if destination.suffix != ".safetensors":
        raise UsageError(f"{destination}: the output must be a .safetensors file")
    merged = interpolate(weights_a, weights_b, alpha, model=model)
    merged.save(destination)
    out.print(f"wrote {destination}: {merged.weights_name}", highlight=False)


# ------------------------------------------------------------------------------------------------ demo


@app.command()
@friendly_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the results.")] = Path("demo-out"),
    device: Annotated[str, typer.Option("--device")] = "auto",
) -> None:
    """Run the offline demo: bundled weights on bundled sample images.

    Example: `i2i demo --out demo-out`
    """
    from i2i.jobs.demo import run_demo

    for line in run_demo(out_dir, device=device):
        out.print(line)


def main() -> None:
    app(prog_name="i2i")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
