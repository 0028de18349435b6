"""GPU benchmark cases (`make bench` on a machine with CUDA, or `DEVICE=cuda`): for each model, training
steps and translation through `translate_images` against the reference path, and `i2i upscale` of a
2400x1800 photo through the CLI.

The reference path runs the networks as the reference code does: fp32, NCHW, cuDNN autotuning on,
PyTorch's default Adam (foreach), no compilation. i2i's path is what `i2i train` / `i2i translate` run by
default on CUDA (`--precision auto`: bf16; fused Adam; NCHW for training), with and without `--compile`.
Each time is taken after warm-up with the device synchronised; FLOPs come from PyTorch's FLOP counter
(one step, counted once), MFU is against the GPU's dense bf16 peak where it is known.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from timing import timed

import i2i
from i2i.io.imageio import ImageData
from i2i.runtime import autocast, compile_networks, configure_backends
from i2i.train.context import StepContext

#: dense bf16 tensor-core peak in FLOP/s (vendor data sheets, SXM parts)
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12}

DEVICE = torch.device("cuda")


def _peak() -> float | None:
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def _flops(fn: Callable[[], object]) -> int | None:
    """FLOPs of one call (None where the counter cannot follow it, e.g. a double backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except RuntimeError:
        return None
    return counter.get_total_flops()


def _finish(result: dict, flops: int | None, items: int) -> dict:
    result["images_per_s"] = items / result["median_s"]
    result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    if flops:
        result["tflop_per_s"] = flops / result["median_s"] / 1e12
        if (peak := _peak()) is not None:
            result["mfu"] = flops / result["median_s"] / peak
    torch.cuda.reset_peak_memory_stats()
    return result


def _one_batch(model, batch: int, size: int) -> dict:
    """A training batch of the model's own dataset class, from a synthetic dataset of its layout."""
    layout = model.dataset_layout()
    folder = Path(tempfile.mkdtemp(prefix="i2i-bench-"))
    root, _ = layout.synth(folder, count=2 * batch + 8, size=size, seed=0, extra={})
    dataset = model.training_dataset(root, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=False, pin_memory=True)
    return next(iter(loader))


def train_step_case(name: str, batch: int, size: int, repeats: int, *, reference: bool, compiled: bool = False,
                    **settings) -> dict:  # fmt: skip
    """One optimisation step at `batch` x `size`^2: the reference path or i2i's (auto precision)."""
    configure_backends(DEVICE)
    model = i2i.load(name, device=DEVICE, precision="fp32" if reference else "auto", **settings)
    model.setup_training()
    if reference:
        model.optimizers = {
            key: torch.optim.Adam(o.param_groups[0]["params"], lr=o.param_groups[0]["lr"],
                                  betas=o.param_groups[0]["betas"])
            for key, o in model.optimizers.items()
        }  # fmt: skip
    if compiled:
        compile_networks(model.networks.values(), DEVICE, "on")
    ctx = StepContext(DEVICE, model.precision)
    batch_data = _one_batch(model, batch, size)

    def step():
        model.training_step(batch_data, ctx)
        ctx.end_step()

    flops = None if compiled else _flops(step)
    return _finish(timed(step, repeats, 10 if compiled else 3, sync=torch.cuda.synchronize), flops, batch)


def translate_case(name: str, batch: int, size: int, repeats: int, precision: str, *, bare: bool,
                   **settings) -> dict:  # fmt: skip
    """`translate_images` on `batch` decoded images (host pixels in, host pixels out), or the bare network
    on a tensor already on the device (`bare`)."""
    configure_backends(DEVICE)
    model = i2i.load(name, device=DEVICE, precision=precision, **settings)
    rng = np.random.default_rng(0)
    images = [ImageData(rng.random((size, size, 3), dtype=np.float32), None, 8) for _ in range(batch)]
    if bare:
        model.translate_images(images[:1])  # layout and requires_grad as inference sets them
        x = torch.rand(batch, 3, size, size, device=DEVICE) * 2 - 1
        if model._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)

        def run():
            with torch.inference_mode(), autocast(DEVICE, model.precision):
                model.forward_tensor(x)
    else:

        def run():
            model.translate_images(images, batch_size=batch)

    return _finish(timed(run, repeats, 3, sync=torch.cuda.synchronize), None, batch)


def upscale_cli_case(repeats: int) -> dict:
    """Wall time of `i2i upscale` of a 2400x1800 PNG to 9600x7200 (Real-ESRGAN x4plus architecture, random
    weights), process start, decoding and encoding included."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = i2i.load("esrgan", device="cpu", precision="fp32").save(folder / "x4plus.safetensors")
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (225, 300, 3), dtype=np.uint8)
        Image.fromarray(base).resize((2400, 1800), Image.BICUBIC).save(folder / "photo.png")
        cmd = [sys.executable, "-m", "i2i", "upscale", str(folder / "photo.png"), "-o", str(folder / "big.png"),
               "--weights", str(weights), "--device", "cuda", "--no-progress"]  # fmt: skip
        samples = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env={**os.environ})
            samples.append(time.perf_counter() - start)
        samples = samples[1:]  # the first run fills the OS file cache
        return {"median_s": statistics.median(samples), "min_s": min(samples), "repeats": repeats,
                "images_per_s": 1 / statistics.median(samples)}  # fmt: skip


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench` on CUDA."""
    if device != "cuda":
        return []
    r = 5 if quick else 20
    ref = "fp32 NCHW (reference path)"
    auto = "auto (bf16)"
    found: list[tuple[str, str, Callable[[], dict]]] = []
    afhq = {"num_domains": 3, "w_hpf": 0}
    for name, settings in (("pix2pix", {}), ("cyclegan", {}), ("stargan-v2", afhq)):
        for b in (1, 32):
            group = f"[cuda] {name} translate 256x256, batch {b}"
            for precision in ("fp32", "auto"):
                label = "fp32" if precision == "fp32" else auto
                found += [
                    (group, f"{label}, bare network",
                     lambda n=name, b=b, p=precision, s=settings: translate_case(n, b, 256, r, p, bare=True, **s)),
                    (group, f"{label}, translate_images",
                     lambda n=name, b=b, p=precision, s=settings: translate_case(n, b, 256, r, p, bare=False, **s)),
                ]  # fmt: skip
    for name, batches, settings in (
        ("cyclegan", (1, 8), {}),
        ("pix2pix", (1, 16), {}),
        ("stargan-v2", (1, 8), afhq),
    ):
        for b in batches:
            group = f"[cuda] {name} train step 256x256, batch {b}"
            found += [
                (group, ref, lambda n=name, b=b, s=settings: train_step_case(n, b, 256, r, reference=True, **s)),
                (group, auto, lambda n=name, b=b, s=settings: train_step_case(n, b, 256, r, reference=False, **s)),
            ]  # fmt: skip
    found.append(("[cuda] i2i upscale 2400x1800 -> 9600x7200 (x4plus, CLI wall time)", auto,
                  lambda: upscale_cli_case(2 if quick else 3)))  # fmt: skip
    for b in (1, 8):  # last: compiling takes about a minute per configuration
        found.append((f"[cuda] cyclegan train step 256x256, batch {b}", auto + " + compile",
                      lambda b=b: train_step_case("cyclegan", b, 256, r, reference=False, compiled=True)))  # fmt: skip
    return found
