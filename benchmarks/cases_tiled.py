"""Tiled translation benchmark cases (`i2i.ops.tiled_translate`): peak RSS and time of `translate` on a
mid-size photo, untiled and in tiles (with the whole-image normalisation statistics), for the CycleGAN
ResNet-9 and pix2pix U-Net-256 generators (random weights, ngf=64, fp32), and the PSNR between the two.

Each run is a subprocess, so its peak RSS (`ru_maxrss`) is its own. `python benchmarks/cases_tiled.py`
prints the full-size rows (1024x768, tiles of 256: the figures in the README).
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
out = model.translate_images([ImageData(image, None, 8)])[0].pixels
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


def measure(model: str, settings: dict, size: tuple[int, int], tile: int, device: str = "cpu") -> dict:
    """Untiled and tiled runs of `model`: seconds, peak RSS (MB) of each, and the PSNR (dB) between them."""
    with tempfile.TemporaryDirectory() as folder:
        rows = {}
        for name, side in (("untiled", 0), ("tiled", tile)):
            spec = {"model": model, "settings": settings, "size": size, "tile": side, "device": device,
                    "out": str(Path(folder) / f"{name}.npy")}  # fmt: skip
            rows[name] = _run(spec)
        psnr = _psnr(np.load(Path(folder) / "untiled.npy"), np.load(Path(folder) / "tiled.npy"))
    return rows | {"psnr_db": psnr}


def _cases_for(quick: bool) -> list[tuple[str, dict, tuple[int, int], int]]:
    if quick:  # small networks, a small image: the same paths in seconds
        return [
            ("cyclegan", {"netG": "resnet_9blocks", "ngf": 8}, (384, 512), 128),
            ("pix2pix", {"netG": "unet_128", "ngf": 8}, (384, 512), 128),
        ]
    return [
        ("cyclegan", {"netG": "resnet_9blocks", "ngf": 64}, (768, 1024), 256),
        ("pix2pix", {"netG": "unet_256", "ngf": 64}, (768, 1024), 256),
    ]


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`: per model, untiled and tiled translation in one case."""
    found = []
    for model, settings, size, tile in _cases_for(quick):

        def case(model=model, settings=settings, size=size, tile=tile) -> dict:
            r = measure(model, settings, size, tile, "cpu" if device == "auto" else device)
            tiled, whole = r["tiled"], r["untiled"]
            return {
                "median_ms": tiled["s"] * 1000,
                "images_per_s": 1 / tiled["s"],
                "note": (
                    f"{size[1]}x{size[0]} {settings['netG']} ngf={settings['ngf']}, tiles of {tile}: "
                    f"{tiled['s']:.1f} s, peak RSS {tiled['rss_mb']:.0f} MB; untiled {whole['s']:.1f} s, "
                    f"{whole['rss_mb']:.0f} MB; PSNR tiled vs untiled {r['psnr_db']:.1f} dB"
                ),
            }

        found.append(("tiled translate", f"{model} {settings['netG']} {size[1]}x{size[0]}", case))
    return found


if __name__ == "__main__":
    for model, settings, size, tile in _cases_for("--quick" in sys.argv):
        print(model, settings, size, tile, json.dumps(measure(model, settings, size, tile)), flush=True)
