"""`i2i eval paired|unpaired|domains|sr`: a model measured against ground truth.

Each sub-command is a function of its own arguments, a `load` callable that returns the model and the
`quality` options (FID/KID/LPIPS, `i2i.jobs.quality`); the `evaluation` decorator gives it what all
share, written once: the `--weights`, `--model`, `--device`, `--precision`, `--metrics` (with the feature
networks' weights) and `--json` flags, the model-declared settings (e.g. `--domains`), loading, and
printing the report (its lines, or JSON).
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
from i2i.jobs.quality import INCEPTION, LPIPS_BACKBONE, QualityOptions, quality_line
from i2i.ops.quality import KID_SUBSET_SIZE

eval_app = common.group("eval", "Measure a model against ground truth.")

#: what a measurement returns: the report (printed as JSON with --json) and its lines otherwise
Measured = tuple[Any, Iterable[str]]

Metrics = Annotated[
    str,
    typer.Option(
        "--metrics", help="Also compute fid, kid and/or lpips (comma-separated, or all); see README."
    ),
]
Inception = Annotated[
    str, typer.Option("--inception", help="FID/KID Inception weights: catalogue name or .pth path.")
]
LpipsWeights = Annotated[
    str, typer.Option("--lpips-weights", help="LPIPS AlexNet backbone: catalogue name or .pth path.")
]
KidSubsetSize = Annotated[int, typer.Option("--kid-subset-size", help="KID subset size (capped at the set).")]


def _shared_parameters(weights_required: bool, default_model: str | None) -> list[inspect.Parameter]:
    weights = common.RequiredWeights if weights_required else common.Weights
    shared = [
        ("weights", weights, inspect.Parameter.empty if weights_required else None),
        ("model", common.ModelName, default_model),
        ("device", common.Device, "auto"),
        ("precision", common.Precision, "auto"),
        ("metrics", Metrics, ""),
        ("inception", Inception, INCEPTION),
        ("lpips_weights", LpipsWeights, LPIPS_BACKBONE),
        ("kid_subset_size", KidSubsetSize, KID_SUBSET_SIZE),
        ("as_json", common.JsonFlag, False),
        ("declared", Declared, None),
    ]
    return [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, a, d in shared
    ]


def evaluation(
    name: str, folder_help: str, *, weights_required: bool = True, default_model: str | None = None
) -> Callable:
    """Register `measure(load, quality, folder: Path, **options) -> (report, lines)` as
    `i2i eval NAME FOLDER`: the folder argument (`folder_help`), then the shared flags and the
    measurement's own options; `load()` loads the model they name, `quality` says which of FID/KID/LPIPS
    to add."""

    def decorate(measure: Callable[..., Measured]) -> Callable[..., Measured]:
        own = list(inspect.signature(measure, eval_str=True).parameters.values())[2:]
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        own[0] = own[0].replace(annotation=Annotated[Path, typer.Argument(help=folder_help)])
        shared = _shared_parameters(weights_required, default_model)

        @functools.wraps(measure)
        def command(
            *, weights, model, device, precision, metrics, inception, lpips_weights, kid_subset_size,
            as_json, declared, **options: Any,
        ) -> None:  # fmt: skip
            from i2i.api import load
            from i2i.jobs.quality import parse_metrics

            def load_model():
                chosen = weights or common.default_weights(model)
                return load(model, chosen, device=device, precision=precision, **declared.settings)

            quality = QualityOptions(
                parse_metrics(metrics), inception, lpips_weights, kid_subset_size=kid_subset_size
            )
            report, lines = measure(load_model, quality, **options)
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
    extra = quality_line(r)
    return f"{text}; {extra}" if extra else text


@evaluation("paired", "Paired dataset folder (aligned or A/ B/ layout).")
def eval_paired(
    load: Callable,
    quality: QualityOptions,
    data: Path,
    phase: Annotated[str, typer.Option("--phase", help="Split to evaluate: test, val or train.")] = "test",
) -> Measured:
    """Mean L1 and PSNR of a paired model on a dataset split, with the identity baseline.

    Example: `i2i eval paired datasets/shapes --weights pix2pix-synth-shapes`
    """
    from i2i.jobs.evaluate import evaluate_paired

    report = evaluate_paired(load(), data, phase=phase, quality=quality)
    return report, [f"{report['images']} {phase} images: {_scores(report)}"]


@evaluation("unpaired", "Folder with testA/ (testB/) and truth/testA_to_B/ (truth/testB_to_A/).")
def eval_unpaired(
    load: Callable,
    quality: QualityOptions,
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
    reports = [evaluate_unpaired(loaded, data, direction=d, quality=quality) for d in directions]
    return reports, [f"{r['direction']}: {r['images']} images: {_scores(r)}" for r in reports]


@evaluation("domains", "Multi-domain dataset: train/<domain>/ (classifier) and val/<domain>/.")
def eval_domains(
    load: Callable,
    quality: QualityOptions,
    data: Path,
    phase: Annotated[str, typer.Option("--phase", help="Split whose images are translated.")] = "val",
    protocol: Annotated[
        str,
        typer.Option("--protocol", help="classifier, or stargan-v2: FID per domain pair, LPIPS diversity."),
    ] = "classifier",
    outputs_per_image: Annotated[
        int, typer.Option("--outputs-per-image", help="stargan-v2 protocol: styles per source image.")
    ] = 10,
) -> Measured:
    """How often translations land in the target domain (a small classifier trained on the train split),
    latent- and reference-guided, next to how often the sources are classified as that domain; or, with
    `--protocol stargan-v2`, the StarGAN v2 paper's FID per domain pair and LPIPS diversity.

    Examples:
    - `i2i eval domains datasets/palettes --weights stargan-v2-synth-palettes`
    - `i2i eval domains datasets/palettes --weights stargan-v2-synth-palettes --protocol stargan-v2`
    """
    from i2i.jobs.diversity import evaluate_stargan_v2_protocol
    from i2i.jobs.evaluate import evaluate_domains

    if protocol not in ("classifier", "stargan-v2"):
        raise UsageError(f"--protocol must be classifier or stargan-v2, not '{protocol}'")
    loaded = load()
    if protocol == "stargan-v2":
        protocol_reports = [
            evaluate_stargan_v2_protocol(
                loaded, data, reference_guided=r, outputs_per_image=outputs_per_image, quality=quality
            )
            for r in (False, True)
        ]
        return protocol_reports, [
            f"{r['mode']}-guided, {r['outputs_per_image']} outputs per image: FID {r['fid_mean']:.2f}, "
            f"LPIPS {r['lpips_mean']:.4f} (means over {len(r['tasks'])} domain pairs; --json for each)"
            for r in protocol_reports
        ]
    reports = [
        evaluate_domains(loaded, data, phase=phase, reference_guided=r, quality=quality)
        for r in (False, True)
    ]
    return reports, [
        f"{r['mode']}-guided: {r['translations']} translations, {r['in_target_domain']:.1%} in the target "
        f"domain (the sources themselves: {r['sources_in_target_domain']:.1%})"
        + (f"; mean over target domains: {quality_line(r)}" if quality_line(r) else "")
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
    quality: QualityOptions,
    hr_dir: Path,
    crop_border: Annotated[int | None, typer.Option("--crop-border", help="Default: the scale.")] = None,
) -> Measured:
    """PSNR/SSIM (Y channel and RGB) of a super-resolution model on HR images downscaled with MATLAB bicubic,
    next to plain bicubic upscaling.

    Example: `i2i eval sr --model esrgan --weights realesrgan-x4plus datasets/Set5/`
    """
    from i2i.jobs.evaluate import evaluate_sr

    report = evaluate_sr(load(), hr_dir, crop_border=crop_border, quality=quality)
    b = report["bicubic"]
    return report, [
        f"{report['images']} images, x{report['scale']}, crop {report['crop_border']}: "
        f"PSNR Y {report['psnr_y']:.2f} dB, SSIM Y {report['ssim_y']:.4f}, "
        f"PSNR RGB {report['psnr_rgb']:.2f} dB, SSIM RGB {report['ssim_rgb']:.4f} "
        f"(bicubic: {b['psnr_y']:.2f} / {b['ssim_y']:.4f} / {b['psnr_rgb']:.2f} / {b['ssim_rgb']:.4f})"
        + (f"; {quality_line(report)}" if quality_line(report) else "")
    ]
