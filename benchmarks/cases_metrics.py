"""Quality-metric benchmark cases: FID/KID feature extraction (torch-fidelity's Inception-v3, 8-bit images
resized to 299 x 299) and LPIPS (AlexNet) through `i2i.ops.quality`, in images (pairs) per second. The
networks are randomly initialised with the real architectures: the time does not depend on the weights,
and nothing is downloaded."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from timing import median_ms


def _random_weights(folder: Path) -> tuple[Path, Path]:
    import torchvision
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    with (
        mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None),
        mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}),
    ):
        inception = fe.FeatureExtractorInceptionV3("random", ["2048"])
    torch.save(inception.state_dict(), folder / "inception.pth")
    torch.save(torchvision.models.alexnet().state_dict(), folder / "alexnet.pth")
    return folder / "inception.pth", folder / "alexnet.pth"


def cases(quick: bool, device: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """(group, case, function) for `make bench`; `quick` uses fewer images and repeats."""
    from i2i.ops import quality
    from i2i.runtime import resolve_device

    count, repeats, side = (16, 2, 256) if quick else (64, 5, 256)
    rng = np.random.default_rng(0)
    images = [rng.random((side, side, 3), dtype=np.float32) for _ in range(count)]
    where = resolve_device(device)

    def features() -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            inception, _ = _random_weights(Path(tmp))
            net = quality.inception(inception, where)
        ms = median_ms(lambda: quality.features(net, images, batch_size=16), repeats)
        return {
            "median_ms": ms,
            "images_per_s": count * 1000 / ms,
            "note": f"{count} images {side}x{side} -> 299x299, batch 16, 2048-d features ({where})",
        }

    def lpips() -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            _, alexnet = _random_weights(Path(tmp))
            net = quality.lpips_net(alexnet, where)
        pairs = list(zip(images[: count // 2], images[count // 2 :], strict=True))
        ms = median_ms(lambda: [quality.lpips_distance(net, a, b) for a, b in pairs], repeats)
        return {
            "median_ms": ms,
            "images_per_s": len(pairs) * 1000 / ms,
            "note": f"{len(pairs)} pairs {side}x{side}, one pair per call, AlexNet v0.1 ({where})",
        }

    return [("metrics", "fid_features", features), ("metrics", "lpips_pairs", lpips)]
