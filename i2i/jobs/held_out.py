"""`i2i train --eval-every N`: the metrics of a held-out split of the training data, during the run.

The loop calls `evaluate_held_out` with the model being trained and the dataset folder; it measures
a copy of the model's networks (so inference never touches the training state: gradients, modes,
optimisers and random number streams stay as they were) with the evaluation of its data layout:

* `paired` (pix2pix): `evaluate_paired` on `val/` (else `test/`): L1, PSNR and the chosen metrics;
* `unaligned` (CycleGAN): `testA/` translated AtoB against the real `testB/` images and BtoA against
  `testA/` (FID/KID), with L1/PSNR/LPIPS too where `truth/` holds the ground truth;
* `domains` (StarGAN v2): `evaluate_domains` on `val/` (latent-guided), FID/KID per target domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from i2i.errors import I2IError, UsageError
from i2i.jobs import evaluate
from i2i.jobs.quality import Quality, QualityOptions, parse_metrics
from i2i.model import Model

LAYOUTS = ("paired", "unaligned", "domains")


def check_layout(layout: str | None, name: str) -> None:
    """A usage error when models of `layout` have no held-out evaluation."""
    if layout not in LAYOUTS:
        raise UsageError(
            f"--eval-every: {name} trains on '{layout}' data, which has no held-out evaluation "
            f"(supported: {', '.join(LAYOUTS)})"
        )


def evaluate_held_out(model: Model, data: Path, metrics: str = "all") -> dict[str, Any]:
    """The held-out report of `model` on its dataset folder `data` with the FID/KID/LPIPS named in
    `metrics` ("fid,kid,lpips", "all" or ""); see the module docstring."""
    check_layout(model.data_layout, model.name)
    quality = QualityOptions(parse_metrics(metrics))
    data = Path(data)
    cuda = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the run's random streams go on as if nothing happened
        copy = _inference_copy(model)
        if model.data_layout == "paired":
            phase = "val" if (data / "val").is_dir() else "test"
            return evaluate.evaluate_paired(copy, data, phase=phase, quality=quality)
        if model.data_layout == "domains":
            return evaluate.evaluate_domains(copy, data, phase="val", quality=quality)
        return {d: _unaligned(copy, data, d, quality) for d in ("AtoB", "BtoA")}


def _inference_copy(model: Model) -> Model:
    copy = type(model)(model.config, device=model.device, precision=model.precision)
    for name, net in model.networks.items():
        copy.networks[name].load_state_dict(net.state_dict())
    copy.loaded = set(model.networks)
    copy.step = model.step
    return copy


def _unaligned(model: Model, data: Path, direction: str, quality: QualityOptions) -> dict[str, Any]:
    source, target = ("testA", "testB") if direction == "AtoB" else ("testB", "testA")
    truth = data / "truth" / f"{source}_to_{target[-1]}"
    if truth.is_dir():
        return evaluate.evaluate_unpaired(model, data, direction=direction, quality=quality)
    from i2i.io import imageio

    files = {
        folder: [p for p, _ in imageio.find_images([data / folder])] if (data / folder).is_dir() else []
        for folder in (source, target)
    }
    if not files[source] or not files[target]:
        raise I2IError(f"{data}: --eval-every needs images in {source}/ and {target}/")
    measure = Quality(quality, model.device)  # no ground truth: FID/KID only
    step = quality.batch_size
    for start in range(0, len(files[target]), step):
        measure.add_real([imageio.read_image(p).pixels for p in files[target][start : start + step]])
    for start in range(0, len(files[source]), step):
        images = [imageio.read_image(p) for p in files[source][start : start + step]]
        measure.add_fake([o.pixels for o in model.translate_images(images, direction=direction)])
    return {"images": len(files[source]), "direction": direction, **measure.report()}
