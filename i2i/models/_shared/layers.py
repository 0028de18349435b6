"""Layers and initialisation shared by several models: the one instance norm, the reference's norm choice
and weight init (junyanz/pytorch-CycleGAN-and-pix2pix)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["batch", "instance", "instance_affine", "syncbatch", "none"]
NORMS = ("batch", "instance", "instance_affine", "syncbatch", "none")


class InstanceNorm2d(nn.InstanceNorm2d):
    """`nn.InstanceNorm2d` (same parameters, buffers and keys) that is also right, and fast, for channels_last.

    PyTorch's CPU instance-norm kernel (2.14) returns a wrong input gradient for channels_last batches of
    one image, and converts channels_last tensors to NCHW. For those, group norm with one group per channel
    (the same function) runs instead: correct gradients, channels_last kept, 10-20x faster on CPU.
    Contiguous tensors use the native kernel, so NCHW training matches the reference bit for bit.

    `group_norm=True` takes the group-norm path for every CPU input (StarGAN v2: 3x faster on CPU than the
    native kernel). On CUDA the native kernel always runs: it is right for every layout, and faster there
    (CycleGAN bf16 training step on an H200, batch 8: 118 ms with the native kernel on contiguous tensors,
    170 ms with channels_last through group norm). With `track_running_stats`, setting
    `instance_statistics` makes eval mode normalise each image with its own statistics without updating
    the running ones (StarGAN's official test behaviour).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        *,
        group_norm: bool = False,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.group_norm = group_norm
        self.instance_statistics = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.track_running_stats and (self.training or not self.instance_statistics):
            return super().forward(x)  # the running statistics: updated in training, used in eval
        if x.device.type == "cpu" and (self.group_norm or not x.is_contiguous()):
            # num_features, not x.shape[1]: a traced export needs the group count as a constant
            return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)
        if self.track_running_stats:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps)
        return super().forward(x)


def reflect_pad_by_slices(x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Reflection padding (left, right, top, bottom) made of flipped slices: the same values as
    `F.pad(..., mode="reflect")`, with a gradient of plain copies (deterministic on every device)."""
    left, right, top, bottom = padding
    width, height = x.shape[-1], x.shape[-2]
    x = torch.cat([x[..., 1 : left + 1].flip(-1), x, x[..., width - right - 1 : width - 1].flip(-1)], -1)
    return torch.cat(
        [x[..., 1 : top + 1, :].flip(-2), x, x[..., height - bottom - 1 : height - 1, :].flip(-2)], -2
    )


class ReflectionPad2d(nn.ReflectionPad2d):
    """`nn.ReflectionPad2d` (no parameters, no keys) whose backward is deterministic when PyTorch's
    deterministic algorithms are on (`--deterministic`): CUDA's own kernel accumulates with atomics and
    refuses to run then, so the padding is made of flipped slices instead."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and torch.are_deterministic_algorithms_enabled():
            return reflect_pad_by_slices(x, self.padding)
        return super().forward(x)


def norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """The reference `get_norm_layer`; `instance_affine` covers checkpoints of other implementations."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "syncbatch":
        return functools.partial(nn.SyncBatchNorm, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "instance_affine":
        return functools.partial(InstanceNorm2d, affine=True, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm '{norm}'; choose from {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by a norm has a bias in the reference's networks."""
    # Only for InstanceNorm; with norm='none' such convs get neither a norm nor a bias (a quirk official
    # checkpoints depend on).
    return norm in ("instance", "instance_affine")


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> None:
    """The reference `init_weights`: N(0, gain) convs/linears with zero bias, N(1, gain) BatchNorm2d."""

    def init(m: nn.Module) -> None:
        name = type(m).__name__
        if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=init_gain)
            else:
                raise ValueError(f"unknown init_type '{init_type}'")
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0.0)
        elif "BatchNorm2d" in name and getattr(m, "weight", None) is not None:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.constant_(m.bias, 0.0)

    net.apply(init)
