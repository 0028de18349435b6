"""`i2i eval paired|unpaired|domains|sr`: a model measured against ground truth.

Each sub-command is a function of its own arguments and a `load` callable that returns the model; the
`evaluation` decorator gives it what all share, written once: the `--weights`, `--model`, `--device`,
`--precision` and `--json` flags, the model-declared settings (e.g. `--domains`), loading, and printing
the report (its lines, or JSON).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from i2i.cli import _common as common
from i2i.cli._flags import Declared, model_flags
from i2i.errors import UsageError

eval_app = common.group("eval", "Measure a model against ground truth.")

#: what a measurement returns: the report (printed as JSON with --json) and its lines otherwise
Measured = tuple[Any, Iterable[str]]


def _shared_parameters(weights_required: bool, default_model: str | None) -> list[inspect.Parameter]:
    weights = common.RequiredWeights if weights_required else common.Weights
    shared = [
        ("weights", weights, inspect.Parameter.empty if weights_required else None),
        ("model", common.ModelName, default_model),
        ("device", common.Device, "auto"),
        ("precision", common.Precision, "auto"),
        ("as_json", common.JsonFlag, False),
        ("declared", Declared, None),
    ]
    return [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, a, d in shared
    ]


def evaluation(
    name: str, folder_help: str, *, weights_required: bool = True, default_model: str | None = None
) -> Callable:
    """Register `measure(load, folder: Path, **options) -> (report, lines)` as `i2i eval NAME FOLDER`: the
    folder argument (`folder_help`), then the shared flags and the measurement's own options; `load()`
    loads the model they name."""

    def decorate(measure: Callable[..., Measured]) -> Callable[..., Measured]:
        own = list(inspect.signature(measure, eval_str=True).parameters.values())[1:]
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        own[0] = own[0].replace(annotation=Annotated[Path, typer.Argument(help=folder_help)])
        shared = _shared_parameters(weights_required, default_model)

        @functools.wraps(measure)
        def command(*, weights, model, device, precision, as_json, declared, **options: Any) -> None:
            from i2i.api import load

            def load_model():
                chosen = weights or common.default_weights(model)
                return load(model, chosen, device=device, precision=precision, **declared.settings)

            report, lines = measure(load_model, **options)
            if as_json:
                common.print_json(report)
                return
            for line in lines:
                common.out.print(line, highlight=False)

        # the argument, the shared model flags, the command's own options, the rest of the shared flags
        params = [own[0], *shared[:2], *own[1:], *shared[2:]]
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # Typer must read the signature above, not the measurement's
        eval_app.command(name)(common.friendly_errors(model_flags("eval", conditions=False)(command)))
        return measure

    return decorate


def _scores(r: dict) -> str:
    """L1 and PSNR of a report, with the identity baseline where it has one."""
    text = f"L1 {r['l1']:.4f}, PSNR {r['psnr_db']:.2f} dB"
    if "identity_l1" in r:
        text += f" (input itself: L1 {r['identity_l1']:.4f}, PSNR {r['identity_psnr_db']:.2f} dB)"
    return text


@evaluation("paired", "Paired dataset folder (aligned or A/ B/ layout).")
def eval_paired(
    load: Callable,
    data: Path,
    phase: Annotated[str, typer.Option("--phase", help="Split to evaluate: test, val or train.")] = "test",
) -> Measured:
    """Mean L1 and PSNR of a paired model on a dataset split, with the identity baseline.

    Example: `i2i eval paired datasets/shapes --weights pix2pix-synth-shapes`
    """
    from i2i.jobs.evaluate import evaluate_paired

    report = evaluate_paired(load(), data, phase=phase)
    return report, [f"{report['images']} {phase} images: {_scores(report)}"]


@evaluation("unpaired", "Folder with testA/ (testB/) and truth/testA_to_B/ (truth/testB_to_A/).")
def eval_unpaired(
    load: Callable,
    data: Path,
    direction: Annotated[str, typer.Option("--direction", help="AtoB, BtoA or both.")] = "both",
) -> Measured:
    """Mean L1 and PSNR of a two-way model against known ground truth, with the identity baseline.

    Example: `i2i eval unpaired datasets/day2night --weights cyclegan-synth-day2night`
    """
    from i2i.jobs.evaluate import evaluate_unpaired

    if direction not in ("AtoB", "BtoA", "both"):
        raise UsageError(f"--direction must be AtoB, BtoA or both, not '{direction}'")
    loaded = load()
    directions = ("AtoB", "BtoA") if direction == "both" else (direction,)
    reports = [evaluate_unpaired(loaded, data, direction=d) for d in directions]
    return reports, [f"{r['direction']}: {r['images']} images: {_scores(r)}" for r in reports]


@evaluation("domains", "Multi-domain dataset: train/<domain>/ (classifier) and val/<domain>/.")
def eval_domains(
    load: Callable,
    data: Path,
    phase: Annotated[str, typer.Option("--phase", help="Split whose images are translated.")] = "val",
) -> Measured:
    """How often translations land in the target domain (a small classifier trained on the train split),
    latent- and reference-guided, next to how often the sources are classified as that domain.

    Example: `i2i eval domains datasets/palettes --weights stargan-v2-synth-palettes`
    """
    from i2i.jobs.evaluate import evaluate_domains

    loaded = load()
    reports = [evaluate_domains(loaded, data, phase=phase, reference_guided=r) for r in (False, True)]
    return reports, [
        f"{r['mode']}-guided: {r['translations']} translations, {r['in_target_domain']:.1%} in the target "
        f"domain (the sources themselves: {r['sources_in_target_domain']:.1%})"
        for r in reports
    ]


# the model `i2i upscale` runs by default is the one whose upscaling this measures
@evaluation(
    "sr",
    "Folder of high-resolution images (the ground truth).",
    weights_required=False,
    default_model=common.default_model("upscale"),
)
def eval_sr(
    load: Callable,
    hr_dir: Path,
    crop_border: Annotated[int | None, typer.Option("--crop-border", help="Default: the scale.")] = None,
) -> Measured:
    """PSNR/SSIM (Y channel and RGB) of a super-resolution model on HR images downscaled with MATLAB bicubic,
    next to plain bicubic upscaling.

    Example: `i2i eval sr --model esrgan --weights realesrgan-x4plus datasets/Set5/`
    """
    from i2i.jobs.evaluate import evaluate_sr

    report = evaluate_sr(load(), hr_dir, crop_border=crop_border)
    b = report["bicubic"]
    return report, [
        f"{report['images']} images, x{report['scale']}, crop {report['crop_border']}: "
        f"PSNR Y {report['psnr_y']:.2f} dB, SSIM Y {report['ssim_y']:.4f}, "
        f"PSNR RGB {report['psnr_rgb']:.2f} dB, SSIM RGB {report['ssim_rgb']:.4f} "
        f"(bicubic: {b['psnr_y']:.2f} / {b['ssim_y']:.4f} / {b['psnr_rgb']:.2f} / {b['ssim_rgb']:.4f})"
    ]
