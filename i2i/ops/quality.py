"""Distribution and perceptual metrics: FID and KID (torch-fidelity) and LPIPS (the `lpips` package).

The numbers are those papers report: FID and KID use torch-fidelity's port of the TensorFlow Inception
graph of the original FID code (`FeatureExtractorInceptionV3`, the 2048-d pool features), fed 8-bit RGB
images that it resizes to 299 x 299 with its TensorFlow-1.x-compatible bilinear resize; torch-fidelity's
own statistics and kernel functions turn the features into FID and KID (mean and standard deviation of
the unbiased polynomial-kernel MMD over random subsets). LPIPS is v0.1 with the AlexNet backbone, the
linear layers shipped inside the `lpips` wheel, on [0, 1] images mapped to [-1, 1].

Weights are never bundled: callers pass local files (catalogue names are resolved by `i2i.hub`). The
Inception file is torch-fidelity's state dict (`weights-inception-2015-12-05-*.pth`); the LPIPS backbone
file is torchvision's AlexNet state dict (`alexnet-owt-*.pth`). Both load with `weights_only=True`.
The packages are the optional extra `i2i[metrics]`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i.errors import I2IError

#: KID defaults of torch-fidelity (and of the KID paper's code): 100 subsets of 1000 images
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
#: the smallest side AlexNet's five pooled stages of LPIPS accept
LPIPS_MIN_SIDE = 31


def require(module: str) -> Any:
    """Import a package of the `metrics` extra, or one line saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise I2IError(
            f"FID/KID/LPIPS need the package '{module.split('.')[0]}': pip install 'i2i[metrics]'"
        ) from None


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise I2IError(f"{path}: cannot read these feature-network weights ({exc})") from None
    if not isinstance(state, dict):
        raise I2IError(f"{path}: expected a PyTorch state dict of feature-network weights")
    return state


@contextlib.contextmanager
def _weights_given(module: Any, state: dict[str, torch.Tensor]) -> Iterator[None]:
    """torch-fidelity's extractor loads its weights while it is built, from its URL or with an unsafe
    `torch.load` of a path; while this context is open it receives `state` (read safely) instead."""
    original = module.load_state_dict_from_url
    module.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        yield
    finally:
        module.load_state_dict_from_url = original


def inception(weights: Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """torch-fidelity's FID Inception-v3 with the weights in `weights`, giving 2048-d features."""
    module = require("torch_fidelity.feature_extractor_inceptionv3")
    state = _state_dict(weights)
    try:
        with _weights_given(module, state):
            net = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    except RuntimeError as exc:
        raise I2IError(f"{weights}: not the weights of torch-fidelity's FID Inception-v3 ({exc})") from None
    return net.to(device)


def to_uint8(pixels: np.ndarray) -> torch.Tensor:
    """An H x W x C [0, 1] image as a 3 x H x W uint8 tensor (rounded as a PNG is written; grey repeated
    to RGB, alpha dropped): what the FID Inception reads."""
    rgb = pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    return torch.from_numpy(
        np.ascontiguousarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    ).permute(2, 0, 1)


@torch.no_grad()
def features(net: torch.nn.Module, images: Iterable[np.ndarray], batch_size: int = 16) -> torch.Tensor:
    """Inception features (N x 2048 float32, as torch-fidelity keeps them) of [0, 1] H x W x C images;
    images of different sizes are fine (each is resized to 299 x 299)."""
    device = next(net.parameters()).device
    rows: list[torch.Tensor] = []
    pending: list[torch.Tensor] = []

    def flush() -> None:
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, tensor in enumerate(pending):
            by_shape.setdefault(tuple(tensor.shape), []).append(index)
        out: list[torch.Tensor | None] = [None] * len(pending)
        for indices in by_shape.values():
            (feats,) = net(torch.stack([pending[i] for i in indices]).to(device))
            for i, row in zip(indices, feats.float().cpu(), strict=True):
                out[i] = row
        rows.extend(t for t in out if t is not None)
        pending.clear()

    for pixels in images:
        pending.append(to_uint8(pixels))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    if not rows:
        return torch.zeros(0, 2048)
    return torch.stack(rows)


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet Inception Distance between two sets of Inception features (torch-fidelity's formula)."""
    metric_fid = require("torch_fidelity.metric_fid")
    if min(len(real), len(fake)) < 2:
        raise I2IError(f"FID needs at least 2 images in each set, got {len(real)} and {len(fake)}")
    stats = [metric_fid.fid_features_to_statistics(f) for f in (real, fake)]
    return float(metric_fid.fid_statistics_to_metric(*stats, verbose=False)[metric_fid.KEY_METRIC_FID])


def kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 2020,
) -> tuple[float, float]:
    """Kernel Inception Distance (mean, standard deviation over `subsets` random subsets of
    `subset_size` images, fewer when a set is smaller) by torch-fidelity's `kid_features_to_metric`;
    seed 2020 is torch-fidelity's default."""
    metric_kid = require("torch_fidelity.metric_kid")
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise I2IError(f"KID needs at least 2 images in each set, got {len(real)} and {len(fake)}")
    result = metric_kid.kid_features_to_metric(
        real, fake, kid_subsets=subsets, kid_subset_size=size, rng_seed=seed, verbose=False
    )
    return float(result[metric_kid.KEY_METRIC_KID_MEAN]), float(result[metric_kid.KEY_METRIC_KID_STD])


def lpips_net(backbone: Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """LPIPS v0.1 (AlexNet): the linear layers from the `lpips` wheel, the backbone from `backbone` (a
    torchvision AlexNet state dict, whose `features.N.*` are the backbone's slices)."""
    lpips = require("lpips")
    state = _state_dict(backbone)
    with contextlib.redirect_stdout(None), _quiet_torchvision():
        net = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
    slices = net.net.state_dict()
    mapped = {}
    for key in slices:
        _, index, param = key.split(".", 2)  # "slice2.3.weight" is features.3.weight of AlexNet
        source = f"features.{index}.{param}"
        if source not in state:
            raise I2IError(f"{backbone}: not a torchvision AlexNet state dict (no {source})")
        mapped[key] = state[source]
    try:
        net.net.load_state_dict(mapped)
    except RuntimeError as exc:
        raise I2IError(f"{backbone}: not a torchvision AlexNet state dict ({exc})") from None
    return net.eval().requires_grad_(False).to(device)


@contextlib.contextmanager
def _quiet_torchvision() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():  # lpips builds AlexNet with torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        yield


@torch.no_grad()
def lpips_distance(net: torch.nn.Module, a: np.ndarray, b: np.ndarray) -> float:
    """LPIPS between two H x W x C [0, 1] images of the same size (grey repeated to RGB, alpha dropped)."""
    device = next(net.parameters()).device
    x, y = (to_uint8(p).float().div(255)[None].to(device) for p in (a, b))
    if x.shape != y.shape:
        raise I2IError(
            f"LPIPS compares images of one size, got {tuple(x.shape[2:])} and {tuple(y.shape[2:])}"
        )
    if min(x.shape[2:]) < LPIPS_MIN_SIDE:
        raise I2IError(
            f"LPIPS (AlexNet) needs images of at least {LPIPS_MIN_SIDE} pixels a side, got {tuple(x.shape[2:])}"
        )
    return float(net(x, y, normalize=True).flatten()[0])
