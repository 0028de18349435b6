"""The settings CycleGAN and pix2pix share: the reference's base and train options, with the reference's base
defaults (each model changes some, as upstream's `modify_commandline_options` does), and the check that
training crops suit the generator.

The settings are split in two groups so that each model's config keeps the reference's field order: the
networks first, then the model's own loss settings, then the optimisation and data settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from i2i.errors import UsageError


@dataclass(frozen=True)
class ReferenceNetworks:
    """Field names are the reference's command-line options."""

    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    ndf: int = 64
    #: unet_256, unet_128, resnet_9blocks, resnet_6blocks, or any unet_<2^n> / resnet_<N>blocks
    netG: str = "resnet_9blocks"
    netD: Literal["basic", "n_layers", "pixel"] = "basic"
    n_layers_D: int = 3
    norm: Literal["instance", "instance_affine", "batch", "syncbatch", "none"] = "instance"
    no_dropout: bool = False
    #: not visible in a state dict (except 'zero'): an override for official files
    padding_type: Literal["reflect", "replicate", "zero"] = "reflect"
    #: ResNet upsampling: the reference's ConvTranspose2d, or resize + conv (PyTorch-GAN checkpoints)
    upsampling: Literal["transpose", "resize_conv"] = "transpose"
    init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "normal"
    init_gain: float = 0.02


@dataclass(frozen=True)
class ReferenceTraining:
    """Optimisation and data settings under the reference's option names."""

    lr: float = 0.0002
    beta1: float = 0.5
    lr_policy: Literal["linear", "step", "plateau", "cosine"] = "linear"
    n_epochs: int = 100
    n_epochs_decay: int = 100
    epoch_count: int = 1
    lr_decay_iters: int = 50
    preprocess: Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"] = (
        "resize_and_crop"
    )
    load_size: int = 286
    crop_size: int = 256
    no_flip: bool = False
    #: which side is the input: BtoA swaps A and B
    direction: Literal["AtoB", "BtoA"] = "AtoB"


def check_training_crop(config: Any, multiple: int, least: int) -> None:
    """Training crops must suit the generator (a U-Net halves them down to 1x1, a ResNet to a quarter)."""
    if "crop" not in config.preprocess:
        return
    if config.crop_size % multiple or config.crop_size < least:
        raise UsageError(
            f"crop_size={config.crop_size} does not suit netG={config.netG}: training crops must be multiples "
            f"of {multiple} and at least {max(multiple, least)} (--set crop_size=..., or another netG)"
        )
