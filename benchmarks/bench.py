"""i2i benchmarks: `make bench` (JSON + the table in BENCHMARKS.md).

Each case is timed after warm-up calls; the median and the minimum of the repetitions are reported.
"fp32 NCHW (reference path)" runs the same network the way the reference code does (fp32, contiguous
tensors, no autocast), in the same process, so the speed-ups are measured side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from timing import timed

import i2i
from i2i.io.imageio import ImageData
from i2i.runtime import environment_report, resolve_precision
from i2i.train.loop import StepContext, training_channels_last

MARK_BEGIN = "<!-- bench:begin -->"
MARK_END = "<!-- bench:end -->"


def _images(n: int, size: int) -> list[ImageData]:
    rng = np.random.default_rng(0)
    return [ImageData(rng.random((size, size, 3), dtype=np.float32), None, 8) for _ in range(n)]


def translate_case(model_name: str, precision: str, batch: int, size: int, repeats: int, **overrides) -> dict:
    model = i2i.load(model_name, device="cpu", precision=precision, **overrides)
    images = _images(batch, size)
    result = timed(lambda: model.translate_images(images, batch_size=batch), repeats, warmup=2)
    result["images_per_s"] = batch / result["median_s"]
    return result


def reference_forward_case(
    model_name: str, network: str, batch: int, size: int, repeats: int, **overrides
) -> dict:
    model = i2i.load(model_name, device="cpu", precision="fp32", **overrides)
    net = model.networks[network].eval()
    x = torch.rand(batch, model.input_channels, size, size) * 2 - 1

    def run():
        with torch.no_grad():
            net(x)

    result = timed(run, repeats, warmup=2)
    result["images_per_s"] = batch / result["median_s"]
    return result


def train_step_case(
    model_name: str, precision: str, batch: int, size: int, repeats: int, reference: bool, **overrides
):
    """One optimisation step. `reference`: fp32, NCHW and PyTorch's default Adam, as the reference code
    runs; otherwise i2i's training path (the precision given, the loop's layout, fused Adam)."""
    model = i2i.load(model_name, device="cpu", precision=precision, **overrides)
    channels_last = False if reference else training_channels_last(torch.device("cpu"))
    if channels_last:
        for net in model.networks.values():
            net.to(memory_format=torch.channels_last)
    model.setup_training()
    if reference:
        model.optimizers = {
            name: torch.optim.Adam(
                opt.param_groups[0]["params"],
                lr=opt.param_groups[0]["lr"],
                betas=opt.param_groups[0]["betas"],
            )
            for name, opt in model.optimizers.items()
        }
    ctx = StepContext(torch.device("cpu"), model.precision, channels_last=channels_last)
    rng = torch.Generator().manual_seed(0)
    data = {k: torch.rand(batch, 3, size, size, generator=rng) * 2 - 1 for k in ("A", "B")}

    def step():
        model.training_step(data, ctx)
        ctx.end_step()

    return timed(step, repeats, warmup=1)


def cases(quick: bool) -> list[tuple[str, str, Callable[[], dict]]]:
    r = 3 if quick else 7
    auto = f"auto ({resolve_precision('auto', torch.device('cpu'))})"
    ref = "fp32 NCHW (reference path)"
    found = []
    # pix2pix defaults: unet_256, ngf 64, batch norm, dropout
    translate = "pix2pix translate 256x256, batch 1"
    found += [
        (translate, ref, lambda: reference_forward_case("pix2pix", "G", 1, 256, r)),
        (translate, "fp32", lambda: translate_case("pix2pix", "fp32", 1, 256, r)),
        (translate, auto, lambda: translate_case("pix2pix", "auto", 1, 256, r)),
        (
            "pix2pix translate 256x256, batch 8",
            auto,
            lambda: translate_case("pix2pix", "auto", 8, 256, max(2, r // 2)),
        ),
    ]
    step = "pix2pix train step 256x256, batch 1"
    found += [
        (step, ref, lambda: train_step_case("pix2pix", "fp32", 1, 256, r, reference=True)),
        (step, "fp32", lambda: train_step_case("pix2pix", "fp32", 1, 256, r, reference=False)),
        (step, auto, lambda: train_step_case("pix2pix", "auto", 1, 256, r, reference=False)),
    ]
    # CycleGAN defaults: two resnet_9blocks generators (ngf 64, instance norm), two basic PatchGANs
    translate = "cyclegan translate 256x256, batch 1"
    found += [
        (translate, ref, lambda: reference_forward_case("cyclegan", "G_A", 1, 256, r)),
        (translate, "fp32", lambda: translate_case("cyclegan", "fp32", 1, 256, r)),
        (translate, auto, lambda: translate_case("cyclegan", "auto", 1, 256, r)),
    ]
    for batch in (1, 4):
        step = f"cyclegan train step 256x256, batch {batch}"
        reps = 2 if quick or batch > 1 else 3
        found += [
            (
                step,
                ref,
                lambda b=batch, n=reps: train_step_case("cyclegan", "fp32", b, 256, n, reference=True),
            ),
            (
                step,
                auto,
                lambda b=batch, n=reps: train_step_case("cyclegan", "auto", b, 256, n, reference=False),
            ),
        ]
    # ESRGAN: Real-ESRGAN x4plus (RRDBNet nb 23, 36 MFLOP per input pixel) and realesr-animevideov3 (SRVGG);
    # random weights of the same architecture run at the same speed as the real ones.
    archs = {"x4plus": {}, "animevideov3": {"arch": "srvgg", "num_conv": 16, "upscale": 4}}
    for label, settings in archs.items():
        for size in (64, 256) if label == "animevideov3" else (64,):
            case = f"esrgan {label} upscale {size}x{size} -> {size * 4}x{size * 4}"
            found += [
                (case, ref, lambda s=size, o=settings: sr_case(o, "fp32", s, r, reference=True)),
                (case, "fp32", lambda s=size, o=settings: sr_case(o, "fp32", s, r)),
                (case, auto, lambda s=size, o=settings: sr_case(o, "auto", s, r)),
            ]
    # sr (spandrel's architectures, random weights of the published sizes): i2i's tiled path against
    # spandrel's own call (fp32, whole image), the reference path
    for label, arch in SPANDREL_NETWORKS.items():
        case = f"sr {label} upscale 64x64"
        found += [
            (
                case,
                "spandrel call, fp32 (reference path)",
                lambda a=arch: spandrel_case(a, "fp32", 64, r, True),
            ),
            (case, "fp32", lambda a=arch: spandrel_case(a, "fp32", 64, r)),
            (case, auto, lambda a=arch: spandrel_case(a, "auto", 64, r)),
        ]
    # StarGAN v2 with the AFHQ configuration (img 256, w_hpf 0, 3 domains): latent-guided, F then G;
    # StarGAN v1 with its CelebA configuration (c_dim 5) at 256x256
    afhq = {"num_domains": 3, "w_hpf": 0}
    case = "stargan-v2 translate 256x256 (AFHQ config), batch 1"
    found += [
        (case, ref, lambda: stargan_v2_reference_case(r, **afhq)),
        (case, "fp32", lambda: translate_case("stargan-v2", "fp32", 1, 256, r, **afhq)),
        (case, auto, lambda: translate_case("stargan-v2", "auto", 1, 256, r, **afhq)),
    ]
    case = "stargan translate 256x256 (CelebA config), batch 1"
    found += [
        (case, ref, lambda: reference_stargan_v1_case(r)),
        (case, "fp32", lambda: translate_case("stargan", "fp32", 1, 256, r)),
        (case, auto, lambda: translate_case("stargan", "auto", 1, 256, r)),
    ]
    return found


def stargan_v2_reference_case(repeats: int, **settings) -> dict:
    """G(x, F(z, y)) in fp32 NCHW, as the reference runs it."""
    model = i2i.load("stargan-v2", device="cpu", precision="fp32", **settings)
    G, F = model.networks["generator"].eval(), model.networks["mapping_network"].eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    z, y = torch.randn(1, model.config.latent_dim), torch.zeros(1, dtype=torch.long)

    def run():
        with torch.no_grad():
            G(x, F(z, y))

    result = timed(run, repeats, warmup=2)
    result["images_per_s"] = 1 / result["median_s"]
    return result


def reference_stargan_v1_case(repeats: int) -> dict:
    """G(x, c) in fp32 NCHW; the reference keeps the generator in train mode (per-image statistics)."""
    model = i2i.load("stargan", device="cpu", precision="fp32")
    G = model.networks["G"].train()
    x, c = torch.rand(1, 3, 256, 256) * 2 - 1, torch.zeros(1, model.config.c_dim)

    def run():
        with torch.no_grad():
            G(x, c)

    result = timed(run, repeats, warmup=2)
    result["images_per_s"] = 1 / result["median_s"]
    return result


def sr_case(settings: dict, precision: str, size: int, repeats: int, reference: bool = False) -> dict:
    """Megapixels per second (output) of an ESRGAN generator: through `translate_images` (i2i's path) or
    the bare network in fp32 NCHW (the reference's path)."""
    model = i2i.load("esrgan", device="cpu", precision=precision, **settings)
    if reference:
        net = model.networks["G"].eval()
        x = torch.rand(1, 3, size, size)

        def run():
            with torch.no_grad():
                net(x)

        result = timed(run, repeats, warmup=1)
    else:
        images = _images(1, size)
        result = timed(lambda: model.translate_images(images), repeats, warmup=1)
    result["output_megapixels_per_s"] = (size * model.scale) ** 2 / 1e6 / result["median_s"]
    result["input_megapixels_per_s"] = size**2 / 1e6 / result["median_s"]
    return result


def _swinir_light():
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(upscale=4, img_size=64, window_size=8, embed_dim=60, depths=[6, 6, 6, 6], num_heads=[6] * 4,
                  mlp_ratio=2, upsampler="pixelshuffledirect")  # fmt: skip


def _span():
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4)


def _realcugan():
    from spandrel.architectures.RealCUGAN import UpCunet2x

    return UpCunet2x(in_channels=3, out_channels=3)


#: published sizes: SwinIR-light x4 (classical lightweight SR), SPAN x4 (48 channels), Real-CUGAN 2x
SPANDREL_NETWORKS = {"SwinIR-light x4": _swinir_light, "SPAN x4": _span, "Real-CUGAN x2": _realcugan}


def spandrel_case(build: Callable, precision: str, size: int, repeats: int, reference: bool = False) -> dict:
    """Output megapixels per second of a spandrel architecture (random weights): through the `sr` model's
    `translate_images` (tiles, blend), or spandrel's own descriptor call in fp32 (the reference path)."""
    import spandrel

    torch.manual_seed(0)
    state = build().state_dict()
    if reference:
        descriptor = spandrel.ModelLoader().load_from_state_dict(dict(state)).eval()
        x = torch.rand(1, 3, size, size)
        result = timed(lambda: descriptor(x), repeats, warmup=1)
        scale = descriptor.scale
    else:
        cls = i2i.registry.model_class("sr")
        settings, networks = cls.import_official({"": state})
        model = i2i.load("sr", device="cpu", precision=precision, **settings)
        model.load_networks(networks)
        images = _images(1, size)
        result = timed(lambda: model.translate_images(images), repeats, warmup=1)
        scale = model.scale
    result["output_megapixels_per_s"] = (size * scale) ** 2 / 1e6 / result["median_s"]
    result["input_megapixels_per_s"] = size**2 / 1e6 / result["median_s"]
    return result


def _ms(seconds: float, unit: bool = True) -> str:
    value = seconds * 1000
    text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{text} ms" if unit else text


def write_markdown(path: Path, results: list[dict], machine: dict, begin=MARK_BEGIN, end=MARK_END) -> None:
    """Replace the table between the `begin`/`end` markers of `path` (append it when they are absent)."""
    lines = [
        begin,
        f"Measured {machine['date']} on {machine.get('gpu') or machine['cpu']}"
        + ("" if machine.get("gpu") else f" ({machine['threads']} threads)")
        + f", torch {machine['torch']}; median of the repetitions (min in brackets).",
        "",
        "| case | precision | time per call | throughput |"
        + (" peak memory | TFLOP/s (MFU) |" if machine.get("gpu") else ""),
        "|---|---|---|---|" + ("---|---|" if machine.get("gpu") else ""),
    ]
    for r in results:
        throughput = f"{r['images_per_s']:.2f} images/s" if "images_per_s" in r else ""
        if "output_megapixels_per_s" in r:
            throughput = f"{r['output_megapixels_per_s']:.3f} output MP/s"
        if "frames_per_s" in r:
            throughput = f"{r['frames_per_s']:.2f} frames/s"
        row = f"| {r['case']} | {r['precision']} | {_ms(r['median_s'])} ({_ms(r['min_s'], unit=False)}) | {throughput} |"
        if machine.get("gpu"):
            memory = f"{r['peak_memory_gib']:.2f} GiB" if "peak_memory_gib" in r else ""
            flops = f"{r['tflop_per_s']:.1f}" if "tflop_per_s" in r else ""
            if "mfu" in r:
                flops += f" ({r['mfu'] * 100:.1f} %)"
            row += f" {memory} | {flops} |"
        lines.append(row)
    lines.append(end)
    block = "\n".join(lines)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n`make bench` writes this table.\n\n"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument("--markdown", type=Path, default=None, help="BENCHMARKS.md to update")
    parser.add_argument("--readme", type=Path, default=None, help="README.md whose table to update")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", default="", help="run the cases whose name contains this text")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--device",
        default=os.environ.get("DEVICE") or "auto",
        choices=("auto", "cpu", "cuda"),
        help="cpu: the CPU cases; cuda: the GPU cases; auto: cuda where present (env DEVICE)",
    )
    parser.add_argument(
        "--from-json", type=Path, default=None, help="only write the tables of an earlier run's JSON"
    )
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        tag = "-cuda" if saved["machine"].get("gpu") else ""
        for path, mark in ((args.markdown, "bench"), (args.readme, "readme-bench")):
            if path:
                write_markdown(path, saved["results"], saved["machine"], f"<!-- {mark}{tag}:begin -->",
                               f"<!-- {mark}{tag}:end -->")  # fmt: skip
        return
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    env = environment_report()
    machine = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "env": env,
    }
    with contextlib.suppress(OSError, StopIteration):
        machine["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    if device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    target = args.json if device == "cpu" else args.json.with_name(f"{args.json.stem}-{device}.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for case, precision, run in all_cases(args.quick, device):
        if args.only and args.only not in case:
            continue
        try:
            result = {"case": case, "precision": precision, **normalised(run())}
        except Exception as exc:  # one case that cannot run here (a missing extra, memory) is reported
            print(f"{case:45s} {precision:28s} failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        results.append(result)
        extra = f", {result['images_per_s']:.2f} images/s" if "images_per_s" in result else ""
        if "output_megapixels_per_s" in result:
            extra = f", {result['output_megapixels_per_s']:.3f} output MP/s"
        print(f"{case:45s} {precision:28s} {result['median_s'] * 1000:8.1f} ms{extra}", flush=True)
        target.write_text(json.dumps({"machine": machine, "results": results}, indent=2))  # so far
    target.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    tag = "" if device == "cpu" else f"-{device}"
    if args.markdown:
        write_markdown(
            args.markdown, results, machine, f"<!-- bench{tag}:begin -->", f"<!-- bench{tag}:end -->"
        )
    if args.readme:
        write_markdown(
            args.readme,
            results,
            machine,
            f"<!-- readme-bench{tag}:begin -->",
            f"<!-- readme-bench{tag}:end -->",
        )


def all_cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """The CPU cases of this file (on the CPU), then those of every `benchmarks/cases_*.py` module (a
    `cases(quick, device)` function each)."""
    found = cases(quick) if device == "cpu" else []
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    for path in sorted(here.glob("cases_*.py")):
        module = importlib.import_module(path.stem)
        found += module.cases(quick, device)
    return found


def normalised(result: dict) -> dict:
    """Results in seconds: cases that report milliseconds (`median_ms`, `min_ms`) are converted."""
    if "median_s" not in result and "median_ms" in result:
        result["median_s"] = result["median_ms"] / 1000
        result["min_s"] = result.get("min_ms", result["median_ms"]) / 1000
    result.setdefault("min_s", result["median_s"])
    return result


if __name__ == "__main__":
    main()
