"""The VGG19 perceptual loss (BasicSR's `PerceptualLoss`): frozen VGG19 features by layer name, and the
ImageNet weights they need, found locally and never downloaded implicitly."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import I2IError

#: torchvision vgg19().features index of each layer name BasicSR uses (convX_Y: before its ReLU)
VGG19_LAYERS = {
    **{f"conv1_{i}": 2 * (i - 1) for i in (1, 2)},
    **{f"conv2_{i}": 5 + 2 * (i - 1) for i in (1, 2)},
    **{f"conv3_{i}": 10 + 2 * (i - 1) for i in (1, 2, 3, 4)},
    **{f"conv4_{i}": 19 + 2 * (i - 1) for i in (1, 2, 3, 4)},
    **{f"conv5_{i}": 28 + 2 * (i - 1) for i in (1, 2, 3, 4)},
}
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet weights (sha256 prefix dcbb9e9d)
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


def vgg19_weights_path(explicit: str | None) -> Path:
    """The VGG19 weights to use, never downloaded: the given path, then $I2I_VGG19_WEIGHTS, then an existing
    torch hub cache file; otherwise a clear error saying where to get it."""
    candidates = [explicit, os.environ.get("I2I_VGG19_WEIGHTS")]
    hub = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    for candidate in candidates:
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise I2IError(f"VGG19 weights not found at {path}")
            return path
    if hub.is_file():
        return hub
    raise I2IError(
        f"the GAN stage needs ImageNet VGG19 weights for its perceptual loss and i2i never downloads them "
        f"implicitly: download {VGG19_URL} (548 MB; or a .safetensors holding its features.* tensors) and pass "
        f"--vgg19-weights PATH, set I2I_VGG19_WEIGHTS, or place it at {hub}"
    )


class VGGFeatures(nn.Module):
    """VGG19 `features` up to the deepest requested layer, returning the pre-ReLU outputs by layer name,
    on ImageNet-normalised [0, 1] RGB input. Frozen."""

    def __init__(self, layers: tuple[str, ...], weights: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        import torchvision

        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise I2IError(f"unknown VGG19 layer(s) {', '.join(unknown)}; known: {', '.join(VGG19_LAYERS)}")
        self.indices = {VGG19_LAYERS[name]: name for name in layers}
        depth = max(self.indices) + 1
        self.features = torchvision.models.vgg19(weights=None).features[:depth]
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # the pre-ReLU tensors are kept
        if weights is not None:
            wanted = {
                k: v for k, v in weights.items() if k.startswith("features.") and int(k.split(".")[1]) < depth
            }
            state = {k.removeprefix("features."): v for k, v in wanted.items()}
            missing = set(self.features.state_dict()) - set(state)
            if missing:
                raise I2IError(
                    f"the VGG19 weights lack {len(missing)} tensors of the layers needed (e.g. features.{min(missing)})"
                )
            self.features.load_state_dict(state)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean) / self.std
        out = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.indices:
                out[self.indices[index]] = x
        return out


def load_vgg19_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a VGG19 weights file (torchvision keys `features.N.*`; .pth or .safetensors)."""
    from i2i.io import checkpoint, official

    content = official.read_any(path)
    tensors = content.tensors if isinstance(content, checkpoint.Checkpoint) else content
    if not official.is_state_dict(tensors) or not any(k.startswith("features.") for k in tensors):
        raise I2IError(f"{path}: not VGG19 weights (expected torchvision keys features.N.weight)")
    return tensors


class PerceptualLoss(nn.Module):
    """BasicSR's PerceptualLoss: sum over layers of w * L1(vgg(x), vgg(gt)), times `weight`."""

    def __init__(self, layer_weights: dict[str, float], vgg: VGGFeatures, weight: float = 1.0) -> None:
        super().__init__()
        self.layer_weights = layer_weights
        self.vgg = vgg
        self.weight = weight

    def forward(self, x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        x_features = self.vgg(x)
        gt_features = self.vgg(gt.detach())
        loss = sum(
            F.l1_loss(x_features[k].float(), gt_features[k].float()) * w
            for k, w in self.layer_weights.items()
        )
        return loss * self.weight
