"""Video and export benchmark cases: ONNX Runtime against PyTorch on the CPU for two exported networks
(realesr-animevideov3's SRVGG x4 and CycleGAN's ResNet-9 generator, randomly initialised: the time does not
depend on the weights, and nothing is downloaded), and video upscaling in frames per second (the SRVGG x4
through `i2i.jobs.video` on a synthetic 480p clip: decode, tiles, encode)."""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from timing import median_ms

ANIMEVIDEO = {"arch": "srvgg", "num_feat": 64, "num_conv": 16, "upscale": 4, "act_type": "prelu"}


def _onnx_vs_torch(model_name: str, overrides: dict, side: int, repeats: int) -> dict:
    import i2i
    from i2i.io import onnx_files
    from i2i.models._shared.export import export_model

    model = i2i.load(model_name, device="cpu", precision="fp32", **overrides)
    x = torch.rand(1, 3, side, side) * 2 - 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.onnx"
        written = export_model(model, path, "onnx")[0]
        session = onnx_files.session(path)
        ort_ms = median_ms(lambda: onnx_files.run_session(session, {"x": x}), repeats)
    with torch.inference_mode():
        torch_ms = median_ms(lambda: model.forward_tensor(x), repeats)
    return {
        "median_ms": ort_ms,
        "images_per_s": 1000 / ort_ms,
        "note": f"ONNX Runtime {ort_ms:.0f} ms vs PyTorch fp32 {torch_ms:.0f} ms per {side}x{side} image "
        f"({torch_ms / ort_ms:.2f}x); export max error {written.max_error:.1e}",
    }


def _clip(path: Path, frames: int, size: tuple[int, int]) -> Path:
    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 24)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 4 * i, axis=1), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _video_fps(frames: int, size: tuple[int, int], device: str) -> dict:
    import i2i
    from i2i.jobs import video
    from i2i.ops import tiling

    model = i2i.load("esrgan", device=device, precision="auto", **ANIMEVIDEO)
    with tempfile.TemporaryDirectory() as tmp:
        clip = _clip(Path(tmp) / "clip.mp4", frames, size)
        process = video.upscale_process(model, lambda m, image: tiling.enhance(m, image))
        start = time.perf_counter()
        quiet = Console(file=io.StringIO())
        failures = video.run_videos(
            [(clip, Path(tmp) / "out.mp4")], process, title="bench", progress=False, console=quiet
        )
        seconds = time.perf_counter() - start
    if failures:
        raise RuntimeError(failures[0][1])
    return {
        "median_ms": 1000 * seconds / frames,
        "images_per_s": frames / seconds,
        "note": f"{frames} frames {size[0]}x{size[1]} -> x4, H.264 out, {model.device.type} {model.precision}",
    }


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` uses smaller inputs, fewer frames and repeats."""
    repeats = 2 if quick else 5
    sr_side, gan_side = (64, 128) if quick else (128, 256)
    frames, size = (2, (426, 240)) if quick else (4, (854, 480))
    cyclegan = {"netG": "resnet_9blocks", "ngf": 64}
    return [
        ("export", f"onnxruntime cpu: animevideov3 srvgg x4 {sr_side}px",
         lambda: _onnx_vs_torch("esrgan", ANIMEVIDEO, sr_side, repeats)),
        ("export", f"onnxruntime cpu: cyclegan resnet_9blocks {gan_side}px",
         lambda: _onnx_vs_torch("cyclegan", cyclegan, gan_side, repeats)),
        ("video", f"animevideov3 srvgg x4 video {size[1]}p ({device})", lambda: _video_fps(frames, size, device)),
    ]  # fmt: skip
