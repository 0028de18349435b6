"""Evaluation of translations against ground truth (`i2i eval ...`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from i2i.io.imageio import ImageData
from i2i.jobs.quality import Quality, QualityOptions
from i2i.model import Model
from i2i.ops.metrics import psnr


def evaluate_paired(
    model: Model,
    data: Path,
    *,
    phase: str = "test",
    batch_size: int = 8,
    quality: QualityOptions | None = None,
    **conditions: Any,
) -> dict:
    """Mean L1 and PSNR (RGB, [0, 1]) of `model` on the `phase` split of a paired dataset, next to the
    same metrics for the input itself (the identity baseline). The model prepares the split as it is
    evaluated on it (`Model.paired_evaluation_dataset`: the reference's test.py resizes to crop_size, no
    flip). `quality` adds FID/KID (outputs against the targets) and LPIPS (each output to its target)."""
    dataset = model.paired_evaluation_dataset(Path(data), phase)
    measure = Quality(quality or QualityOptions(), model.device)
    l1, peak, base_l1, base_peak = [], [], [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        inputs = [_to_image(item["A"], model.value_range) for item in items]
        outputs = model.translate_images(inputs, batch_size=batch_size, **conditions)
        targets = [_to_image(item["B"], model.value_range).pixels for item in items]
        measure.add_real(targets)
        measure.add_fake([o.pixels for o in outputs])
        measure.add_pairs([o.pixels for o in outputs], targets)
        for target, source, result in zip(targets, inputs, outputs, strict=True):
            l1.append(float(np.abs(result.pixels - target).mean()))
            peak.append(psnr(result.pixels, target, data_range=1.0))
            if source.pixels.shape == target.shape:
                base_l1.append(float(np.abs(source.pixels - target).mean()))
                base_peak.append(psnr(source.pixels, target, data_range=1.0))
    report = {
        "images": len(dataset),
        "phase": phase,
        "l1": float(np.mean(l1)),
        "psnr_db": float(np.mean(peak)),
    }
    if base_l1:
        report["identity_l1"] = float(np.mean(base_l1))
        report["identity_psnr_db"] = float(np.mean(base_peak))
    return {**report, **measure.report()}


def _to_image(tensor, value_range: tuple[float, float]) -> ImageData:
    lo, hi = value_range
    pixels = ((tensor.float() - lo) / (hi - lo)).clamp(0, 1).permute(1, 2, 0).numpy()
    return ImageData(np.ascontiguousarray(pixels, dtype=np.float32), None, 8)


def evaluate_unpaired(
    model: Model,
    data: Path,
    *,
    direction: str = "AtoB",
    batch_size: int = 8,
    quality: QualityOptions | None = None,
) -> dict:
    """Mean L1 and PSNR of a two-way model against known ground truth: `DATA/testA` translated AtoB is
    compared with `DATA/truth/testA_to_B/<same name>` (`i2i data synth --task unpaired` writes these), and
    likewise BtoA; with the same metrics for the untranslated input (the identity baseline). `quality`
    adds FID/KID of the translations against the real test images of the target domain (`DATA/testB`
    for AtoB, as CycleGAN papers report them) and LPIPS of each translation to its ground truth."""
    from i2i.errors import I2IError
    from i2i.io import imageio

    source, truth = ("testA", "testA_to_B") if direction == "AtoB" else ("testB", "testB_to_A")
    truth_dir = Path(data) / "truth" / truth
    files = (
        [path for path, _ in imageio.find_images([Path(data) / source])]
        if (Path(data) / source).is_dir()
        else []
    )
    pairs = [(path, truth_dir / path.name) for path in files if (truth_dir / path.name).is_file()]
    if not pairs:
        raise I2IError(
            f"{data}: no {source}/ images with ground truth in truth/{truth}/ (same file names) to compare"
        )
    measure = Quality(quality or QualityOptions(), model.device)
    if measure.wants_features:
        real_dir = Path(data) / ("testB" if direction == "AtoB" else "testA")
        real = [path for path, _ in imageio.find_images([real_dir])] if real_dir.is_dir() else []
        if not real:
            raise I2IError(f"{real_dir}: no real images of the target domain to compute FID/KID against")
        for start in range(0, len(real), batch_size):
            measure.add_real([imageio.read_image(p).pixels for p in real[start : start + batch_size]])
    l1, peak, base_l1, base_peak = [], [], [], []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        inputs = [imageio.read_image(path) for path, _ in chunk]
        outputs = model.translate_images(inputs, batch_size=batch_size, direction=direction)
        measure.add_fake([o.pixels for o in outputs])
        measure.add_pairs([o.pixels for o in outputs], [imageio.read_image(t).pixels for _, t in chunk])
        for (_, truth_path), source_image, result in zip(chunk, inputs, outputs, strict=True):
            target = imageio.read_image(truth_path).pixels
            l1.append(float(np.abs(result.pixels - target).mean()))
            peak.append(psnr(result.pixels, target, data_range=1.0))
            base_l1.append(float(np.abs(source_image.pixels - target).mean()))
            base_peak.append(psnr(source_image.pixels, target, data_range=1.0))
    return {
        "images": len(pairs),
        "direction": direction,
        "l1": float(np.mean(l1)),
        "psnr_db": float(np.mean(peak)),
        "identity_l1": float(np.mean(base_l1)),
        "identity_psnr_db": float(np.mean(base_peak)),
        **measure.report(),
    }


_SR_METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


def evaluate_sr(
    model: Any,
    hr_dir: str | Path,
    *,
    scale: int | None = None,
    crop_border: int | None = None,
    batch_size: int = 1,
    quality: QualityOptions | None = None,
) -> dict:
    """PSNR and SSIM of a super-resolution model on a folder of high-resolution images (the ESRGAN/BasicSR
    protocol), next to plain MATLAB-bicubic upscaling as the baseline.

    Each HR image (searched recursively) is mod-cropped to a multiple of `scale` (default: the factor the
    weights are published for, `i2i.jobs.upscale.default_outscale`; an x4 network published as x2 has its
    output resized to x2 with Lanczos4 as `i2i upscale` does);
    its LR input is MATLAB-bicubic `imresize(hr, 1 / scale)` rounded to 8 bits, as the benchmark LR PNGs
    are. The model output and the bicubic `imresize(lr, scale)` are rounded to 8 bits, as saved PNGs, and
    compared with the 8-bit HR on the BT.601 Y channel ("_y") and on RGB ("_rgb"), after dropping
    `crop_border` pixels (default `scale`) on each side. Grey HR images are compared on their one channel
    in both (their Y is the grey value). Alpha is ignored. Metrics are on the [0, 255] scale; identical
    images give a PSNR of inf. `quality` adds FID/KID of the outputs against the HR images and LPIPS of
    each output to its HR image (whole images, no border crop).

    Returns {"images", "scale", "crop_border", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb" (means),
    "bicubic": {the same four}, "per_image": [{"path" (relative to hr_dir), the four, "bicubic"}]}.
    """
    from i2i.errors import I2IError
    from i2i.io import imageio
    from i2i.jobs.upscale import default_outscale
    from i2i.ops import metrics
    from i2i.ops.resize import imresize, mod_crop, resize

    published = int(default_outscale(model))
    scale = int(scale if scale is not None else published)
    border = scale if crop_border is None else crop_border
    files = imageio.find_images([hr_dir])
    if not files:
        raise I2IError(f"{hr_dir}: no images to evaluate; expected a folder of high-resolution images")
    per_image = []
    measure = Quality(quality or QualityOptions(), getattr(model, "device", "cpu"))
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        targets, inputs = [], []
        for path, _ in chunk:
            hr = imageio.quantize(mod_crop(imageio.read_image(path).pixels, scale), 8)
            if min(hr.shape[:2]) - 2 * border < metrics.SSIM_WINDOW:
                raise I2IError(
                    f"{path}: {hr.shape[1]}x{hr.shape[0]} after cropping to a multiple of {scale} is too small "
                    f"for SSIM with crop border {border} (needs {metrics.SSIM_WINDOW + 2 * border} pixels a side)"
                )
            lr = imageio.quantize(imresize(hr.astype(np.float32) / 255, 1 / scale), 8)
            targets.append(hr)
            inputs.append(ImageData(lr.astype(np.float32) / 255, None, 8, source=path))
        outputs = model.translate_images(inputs, batch_size=batch_size)
        for (path, relative), hr, source, result in zip(chunk, targets, inputs, outputs, strict=True):
            output = imageio.quantize(result.pixels, 8)
            native = tuple(n * model.scale for n in source.pixels.shape[:2])
            if scale == published != model.scale and output.shape[:2] == native:  # x4 network, x2 file
                output = resize(output, (hr.shape[1], hr.shape[0]), kernel="lanczos4")
            if output.shape != hr.shape:
                raise I2IError(
                    f"{path}: the model turned a {source.pixels.shape} input into {output.shape}, but the "
                    f"ground truth is {hr.shape}; is the model's scale {scale}?"
                )
            bicubic = imageio.quantize(imresize(source.pixels, scale), 8)
            measure.add_real([hr.astype(np.float32) / 255])
            measure.add_fake([output.astype(np.float32) / 255])
            measure.add_pairs([output.astype(np.float32) / 255], [hr.astype(np.float32) / 255])
            per_image.append(
                {
                    "path": str(relative),
                    **_sr_metrics(output, hr, border),
                    "bicubic": _sr_metrics(bicubic, hr, border),
                }
            )
    return {
        "images": len(per_image),
        "scale": scale,
        "crop_border": border,
        **{name: float(np.mean([item[name] for item in per_image])) for name in _SR_METRICS},
        "bicubic": {
            name: float(np.mean([item["bicubic"][name] for item in per_image])) for name in _SR_METRICS
        },
        **measure.report(),
        "per_image": per_image,
    }


def _sr_metrics(output: np.ndarray, target: np.ndarray, border: int) -> dict[str, float]:
    from i2i.ops import metrics

    return {
        f"{metric.__name__}_{suffix}": metric(output, target, crop_border=border, test_y_channel=y)
        for suffix, y in (("y", True), ("rgb", False))
        for metric in (metrics.psnr, metrics.ssim)
    }


def domain_classifier(data: Path, domains: Sequence[str], *, steps: int = 300, seed: int = 0):
    """A small CNN trained on `data/train/<domain>/` images: returns `classify(pixels) -> domain index`.
    Enough to tell synthetic domains apart; not a perceptual metric."""
    import torch
    from torch import nn

    from i2i.io import imageio

    images, labels = [], []
    for index, name in enumerate(domains):
        for path, _ in imageio.find_images([Path(data) / "train" / name]):
            pixels = imageio.read_image(path).pixels
            images.append(torch.from_numpy(np.repeat(pixels, 3, 2) if pixels.shape[2] == 1 else pixels))
            labels.append(index)
    side = min(min(i.shape[0], i.shape[1]) for i in images)
    x = torch.stack(
        [torch.nn.functional.interpolate(i.permute(2, 0, 1)[None], size=(side, side))[0] for i in images]
    )
    y = torch.tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, len(domains)),
        )  # fmt: skip
    optimizer = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(steps):
        batch = torch.randint(0, len(x), (32,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
        optimizer.step()
    net.eval()

    def classify(pixels: np.ndarray) -> int:
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
            return int(net(torch.nn.functional.interpolate(t, size=(side, side))).argmax())

    return classify


def evaluate_domains(
    model: Model,
    data: Path,
    *,
    phase: str = "val",
    reference_guided: bool = False,
    quality: QualityOptions | None = None,
) -> dict:
    """How often translations land in the target domain, by a classifier trained on the training split,
    next to how often the untranslated sources are classified as that domain. Every `phase` image of every
    domain is translated into every other domain (latent-guided with one seed per image, or guided by the
    first `phase` image of the target domain). `quality` adds FID/KID per target domain (all translations
    into it against its real `phase` images, in "per_domain") and their mean over domains."""
    from i2i.io import imageio

    names = list(model.domain_names)
    classify = domain_classifier(data, names)
    files = {name: [p for p, _ in imageio.find_images([Path(data) / phase / name])] for name in names}
    measures = {name: Quality(quality or QualityOptions(), model.device) for name in names}
    for name, measure in measures.items():
        if measure.wants_features:
            measure.add_real([imageio.read_image(p).pixels for p in files[name]])
    hits = source_hits = total = 0
    for source in names:
        for target_index, target in enumerate(names):
            if target == source:
                continue
            reference = files[target][0] if reference_guided else None
            for path in files[source]:
                image = imageio.read_image(path)
                (out,) = model.translate_images(
                    [image], target_domain=target, reference=reference, seed=total
                )
                hits += classify(out.pixels) == target_index
                measures[target].add_fake([out.pixels])
                source_hits += classify(image.pixels) == target_index
                total += 1
    per_domain = {name: measure.report() for name, measure in measures.items()}
    means = {
        key: float(np.mean([r[key] for r in per_domain.values()]))
        for key in ("fid", "kid_mean", "kid_std")
        if all(key in r for r in per_domain.values()) and per_domain
    }
    return {
        "translations": total,
        "mode": "reference" if reference_guided else "latent",
        "in_target_domain": hits / max(1, total),
        "sources_in_target_domain": source_hits / max(1, total),
        **means,
        **({"per_domain": per_domain} if means else {}),
    }
