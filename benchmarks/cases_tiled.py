"""Bounded-memory translation benchmark cases (`i2i.ops.tiled_translate`): peak RSS and time of
`translate` on a mid-size photo, whole and with `--tile 256` (layer by layer for networks with whole-image
normalisation statistics, in tiles otherwise), for the CycleGAN ResNet-9, pix2pix U-Net-256 (its default
per-image statistics, and `--mode eval`) and StarGAN generators (random weights, published sizes, fp32),
and the PSNR between the two.

Each run is a subprocess, so its peak RSS (`ru_maxrss`) is its own. `python benchmarks/cases_tiled.py`
prints the full-size rows (1024x768: the figures in the README); `--big` runs a 6000x4000 photo through
the CycleGAN ResNet-9 generator as a user gets it (no `--tile`), reporting seconds and peak RSS.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: the child: load, translate one synthetic photo, report seconds and peak RSS, save the output
_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
import i2i
from i2i.io.imageio import ImageData
spec = json.loads(sys.argv[1])
torch.manual_seed(0)
model = i2i.load(spec["model"], device=spec["device"], precision="fp32", **spec["settings"])
h, w = spec["size"]
rng = np.random.default_rng(0)
image = np.zeros((h, w, 3), np.float32)
for s in (4, 16, 64, 256):  # noise at several scales: a photo-like spread of frequencies
    n = torch.from_numpy(rng.random((h // s + 2, w // s + 2, 3)).astype(np.float32)).permute(2, 0, 1)[None]
    image += torch.nn.functional.interpolate(n, size=(h, w), mode="bicubic")[0].permute(1, 2, 0).numpy() * s
image = np.clip(image / image.max(), 0, 1)
model.translate_tile = spec["tile"]
start = time.perf_counter()
out = model.translate_images([ImageData(image, None, 8)], **spec["conditions"])[0].pixels
seconds = time.perf_counter() - start
np.save(spec["out"], out)
print(json.dumps({"s": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(spec: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "child failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def measure(
    model: str,
    settings: dict,
    size: tuple[int, int],
    tile: int,
    device: str = "cpu",
    conditions: dict | None = None,
) -> dict:
    """Whole and bounded-memory runs of `model`: seconds, peak RSS (MB) of each, and the PSNR (dB) between
    them."""
    with tempfile.TemporaryDirectory() as folder:
        rows = {}
        for name, side in (("untiled", 0), ("tiled", tile)):
            spec = {"model": model, "settings": settings, "size": size, "tile": side, "device": device,
                    "conditions": conditions or {}, "out": str(Path(folder) / f"{name}.npy")}  # fmt: skip
            rows[name] = _run(spec)
        whole, bounded = np.load(Path(folder) / "untiled.npy"), np.load(Path(folder) / "tiled.npy")
    levels = float(np.abs(whole.astype(np.float64) - bounded).max() * 255)
    return rows | {"psnr_db": _psnr(whole, bounded), "max_levels": round(levels, 2)}


Case = tuple[str, dict, tuple[int, int], int, dict]


def _cases_for(quick: bool) -> list[Case]:
    if quick:  # small networks, a small image: the same paths in seconds
        return [
            ("cyclegan", {"netG": "resnet_9blocks", "ngf": 8}, (384, 512), 128, {}),
            ("pix2pix", {"netG": "unet_128", "ngf": 8}, (384, 512), 128, {}),
        ]
    return [
        ("cyclegan", {"netG": "resnet_9blocks", "ngf": 64}, (768, 1024), 256, {}),
        ("pix2pix", {"netG": "unet_256", "ngf": 64}, (768, 1024), 256, {}),
        ("pix2pix", {"netG": "unet_256", "ngf": 64, "test_mode": "eval"}, (768, 1024), 256, {}),
        ("stargan", {}, (768, 1024), 256, {"attrs": ["Black_Hair", "Male"]}),
    ]


def _label(model: str, settings: dict) -> str:
    return " ".join([model, *(f"{k}={v}" for k, v in settings.items())])


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`: per model, whole and bounded-memory translation in one
    case."""
    found = []
    for model, settings, size, tile, conditions in _cases_for(quick):

        def case(model=model, settings=settings, size=size, tile=tile, conditions=conditions) -> dict:
            r = measure(model, settings, size, tile, "cpu" if device == "auto" else device, conditions)
            tiled, whole = r["tiled"], r["untiled"]
            return {
                "median_ms": tiled["s"] * 1000,
                "images_per_s": 1 / tiled["s"],
                "note": (
                    f"{size[1]}x{size[0]} {_label(model, settings)}, --tile {tile}: {tiled['s']:.1f} s, "
                    f"peak RSS {tiled['rss_mb']:.0f} MB; whole {whole['s']:.1f} s, {whole['rss_mb']:.0f} MB; "
                    f"PSNR against whole {r['psnr_db']:.1f} dB, at most {r['max_levels']:.0f} of 255 levels apart"
                ),
            }

        found.append(("bounded-memory translate", f"{_label(model, settings)} {size[1]}x{size[0]}", case))
    return found


def big(model: str = "cyclegan", settings: dict | None = None, size: tuple[int, int] = (4000, 6000)) -> dict:
    """One run of `translate` on a `size` photo (default 6000x4000) with tiles sized automatically (as a
    user gets them): seconds and peak RSS; no untiled run (it would need tens of GB)."""
    settings = settings or {"netG": "resnet_9blocks", "ngf": 64}
    with tempfile.TemporaryDirectory() as folder:
        spec = {"model": model, "settings": settings, "size": size, "tile": None, "device": "cpu",
                "conditions": {}, "out": str(Path(folder) / "big.npy")}  # fmt: skip
        return _run(spec)


if __name__ == "__main__":
    if "--big" in sys.argv:  # the 24-megapixel figure in the README (minutes on 2 cores)
        print("cyclegan resnet_9blocks ngf=64 6000x4000", json.dumps(big()), flush=True)
        sys.exit(0)
    for model, settings, size, tile, conditions in _cases_for("--quick" in sys.argv):
        row = measure(model, settings, size, tile, conditions=conditions)
        print(_label(model, settings), size, tile, json.dumps(row), flush=True)
