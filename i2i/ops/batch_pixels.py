"""A batch of decoded images to one tensor on the device, and the network's output back, with one transfer
each way: stacking, channel conversion, scaling to the model's value range and padding happen once per
batch (on the device where the batch goes), not once per image on the host."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from i2i.io.pixels import ImageData, luma, resize_alpha
from i2i.ops.padding import pad_to


def to_device_batch(
    images: Sequence[ImageData],
    device: torch.device,
    *,
    channels: int,
    value_range: tuple[float, float],
    padded: tuple[int, int] | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Images of one shape (H x W x c float pixels in [0, 1]) -> N x `channels` x H x W in `value_range`
    on `device` (padded to `padded` = (height, width) by reflection, centred, if given). Grey images
    become three equal channels for a colour network; colour becomes its luma for a grey one."""
    pixels = images[0].pixels if len(images) == 1 else np.stack([im.pixels for im in images])
    if pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.shape[3] == 3 and channels == 1:
        pixels = np.stack([luma(p) for p in pixels])  # the host's luma, as single images get it
    host = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    if device.type == "cuda":
        host = host.pin_memory()
    x = host.to(device, non_blocking=True).permute(0, 3, 1, 2)
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    lo, hi = value_range
    x = x * (hi - lo) + lo  # a new NCHW tensor (channels_last in memory from the permute)
    if padded is not None:
        x = pad_to(x, *padded)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def from_device_batch(
    y: torch.Tensor,
    images: Sequence[ImageData],
    *,
    value_range: tuple[float, float],
    input_channels: int = 3,
    truncate: bool = False,
) -> list[ImageData]:
    """N x C x h x w network output -> one `ImageData` per input image (its bit depth, source, format,
    and alpha resized to the output if needed), mapped to [0, 1] on the device and copied back at once.
    A grey image that went through a colour network as three equal channels comes back grey; `truncate`
    floors 8-bit outputs to their level (upstream CycleGAN's `tensor2im`)."""
    lo, hi = value_range
    values = ((y.float() - lo) / (hi - lo)).clamp_(0, 1).permute(0, 2, 3, 1).contiguous().cpu().numpy()
    results = []
    for pixels, image in zip(values, images, strict=True):
        if image.pixels.shape[2] == 1 and pixels.shape[2] == 3 and input_channels == 3:
            pixels = luma(pixels)  # greyscale in, greyscale out
        if truncate and image.bit_depth == 8:
            pixels = np.floor(pixels * 255.0) / 255.0
        alpha = image.alpha
        if alpha is not None and alpha.shape[:2] != pixels.shape[:2]:
            alpha = resize_alpha(alpha, (pixels.shape[1], pixels.shape[0]))
        results.append(
            ImageData(
                pixels=np.ascontiguousarray(pixels, dtype=np.float32),
                alpha=alpha,
                bit_depth=image.bit_depth,
                source=image.source,
                format=image.format,
            )
        )
    return results
