"""pix2pix: "Image-to-Image Translation with Conditional Adversarial Networks" (Isola et al., CVPR 2017).

Reproduces junyanz/pytorch-CycleGAN-and-pix2pix: U-Net (or ResNet) generator `G`, PatchGAN
discriminator `D` that sees cat(A, B), D step first, then G with GAN + 100 x L1.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from i2i.errors import I2IError, UsageError
from i2i.model import Model, StateDict
from i2i.models._shared.blocks import (
    GANLoss,
    define_D,
    define_G,
    detect_discriminator,
    detect_generator,
    generator_min_size,
    generator_size_multiple,
    gradient_penalty,
    init_weights,
    make_scheduler,
    rename_resnet_blocks,
    set_requires_grad,
)
from i2i.models._shared.optim import adam

TestMode = Literal["eval", "train", "train_dropout_off"]


@dataclass(frozen=True)
class Pix2PixConfig:
    """Field names are the reference's command-line options."""

    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    ndf: int = 64
    #: unet_256, unet_128, resnet_9blocks, resnet_6blocks, or any unet_<2^n> / resnet_<N>blocks
    netG: str = "unet_256"
    netD: Literal["basic", "n_layers", "pixel"] = "basic"
    n_layers_D: int = 3
    norm: Literal["batch", "instance", "instance_affine", "syncbatch", "none"] = "batch"
    no_dropout: bool = False
    #: not visible in a state dict (except 'zero'): an override for official files
    padding_type: Literal["reflect", "replicate", "zero"] = "reflect"
    #: ResNet upsampling: the reference's ConvTranspose2d, or resize + conv (other implementations)
    upsampling: Literal["transpose", "resize_conv"] = "transpose"
    init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "normal"
    init_gain: float = 0.02
    gan_mode: Literal["vanilla", "lsgan", "wgangp"] = "vanilla"
    lambda_L1: float = 100.0
    #: WGAN-GP gradient penalty weight; 0 as in the reference, which never applies it
    lambda_gp: float = 0.0
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
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    max_dataset_size: int | None = None
    #: test-time behaviour: eval (running BN stats, no dropout), or the reference test.py default
    #: 'train' (BN batch statistics, dropout active), or 'train_dropout_off' (batch stats, deterministic)
    test_mode: TestMode = "eval"


class Pix2Pix(Model):
    name = "pix2pix"
    task = "paired translation"
    license = "BSD-3-Clause"
    description = "Conditional GAN, U-Net generator + PatchGAN discriminator (Isola et al. 2017)"
    Config = Pix2PixConfig
    output_rounding = "truncate"  # the reference's tensor2im truncates
    sample_visuals = ("real_A", "fake_B", "real_B")
    data_layout = "paired"
    tiny_config = {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4, "load_size": 36, "crop_size": 32}
    plateau_losses = ("G_GAN", "G_L1")

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        return {
            "G": define_G(
                c.input_nc, c.output_nc, c.ngf, c.netG, c.norm, not c.no_dropout, c.padding_type, c.upsampling
            ),
            "D": define_D(c.input_nc + c.output_nc, c.ndf, c.netD, c.n_layers_D, c.norm),
        }

    def init_weights(self) -> None:
        for net in self.networks.values():
            init_weights(net, self.config.init_type, self.config.init_gain)

    def size_multiple(self) -> int:
        return generator_size_multiple(self.config.netG)

    def min_size(self) -> int:
        return generator_min_size(self.config.netG)

    # -------------------------------------------------------------------------------- inference

    def forward_tensor(
        self, x: torch.Tensor, *, mode: TestMode | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """`mode` overrides `config.test_mode`; `seed` makes the dropout of mode 'train' repeatable."""
        mode = mode or self.config.test_mode
        G = self.networks["G"]
        if mode == "eval":
            G.eval()
            return G(x)
        if mode not in ("train", "train_dropout_off"):
            raise UsageError(f"unknown test mode '{mode}'; use eval, train or train_dropout_off")
        return batch_statistics_forward(G, x, dropout=mode == "train", seed=seed)

    # --------------------------------------------------------------------------------- training

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        from i2i.data.paired import PairedDataset

        c = self.config
        check_training_crop(c, self.size_multiple(), self.min_size())
        return PairedDataset(
            data,
            phase="train",
            preprocess=c.preprocess,
            load_size=c.load_size,
            crop_size=c.crop_size,
            no_flip=c.no_flip,
            direction=c.direction,
            input_nc=c.input_nc,
            output_nc=c.output_nc,
            seed=seed,
            max_dataset_size=c.max_dataset_size,
            network=(self.size_multiple(), self.min_size()),
        )

    def setup_training(self) -> None:
        c = self.config
        self.criterion_gan = GANLoss(c.gan_mode).to(self.device)
        self.optimizers = {
            name: adam(self.networks[name].parameters(), lr=c.lr, betas=(c.beta1, 0.999))
            for name in ("G", "D")
        }
        self.schedulers = {
            name: make_scheduler(
                opt,
                c.lr_policy,
                n_epochs=c.n_epochs,
                n_epochs_decay=c.n_epochs_decay,
                epoch_count=c.epoch_count,
                lr_decay_iters=c.lr_decay_iters,
            )
            for name, opt in self.optimizers.items()
        }
        for net in self.networks.values():
            net.train()

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        G, D = self.networks["G"], self.networks["D"]
        opt_G, opt_D = self.optimizers["G"], self.optimizers["D"]
        real_A, real_B = ctx.to_device(batch["A"]), ctx.to_device(batch["B"])
        with ctx.autocast():
            fake_B = G(real_A)

        set_requires_grad([D], True)
        opt_D.zero_grad()
        with ctx.autocast():
            fake_AB = torch.cat((real_A, fake_B), 1).detach()
            loss_D_fake = self.criterion_gan(D(fake_AB), False)
            loss_D_real = self.criterion_gan(D(torch.cat((real_A, real_B), 1)), True)
            loss_D = (loss_D_fake + loss_D_real) * 0.5
            if self.config.lambda_gp > 0:
                loss_D = loss_D + self.config.lambda_gp * gradient_penalty(
                    D, torch.cat((real_A, real_B), 1), fake_AB
                )
        ctx.backward(loss_D)
        ctx.step(opt_D)

        set_requires_grad([D], False)
        opt_G.zero_grad()
        with ctx.autocast():
            loss_G_GAN = self.criterion_gan(D(torch.cat((real_A, fake_B), 1)), True)
            loss_G_L1 = nn.functional.l1_loss(fake_B.float(), real_B.float()) * self.config.lambda_L1
            loss_G = loss_G_GAN + loss_G_L1
        ctx.backward(loss_G)
        ctx.step(opt_G)

        self._visuals = {"real_A": real_A, "fake_B": fake_B.detach(), "real_B": real_B}
        losses = {"G_GAN": loss_G_GAN, "G_L1": loss_G_L1, "D_real": loss_D_real, "D_fake": loss_D_fake}
        return {k: v.detach() for k, v in losses.items()}

    def visuals(self) -> dict[str, torch.Tensor]:
        return getattr(self, "_visuals", {})

    # ------------------------------------------------------------------------ official checkpoints

    @classmethod
    def detect(cls, states: dict[str, StateDict]) -> float:
        score = 0.0
        for state in states.values():
            g = detect_generator(state)
            if g and "error" not in g:
                score = max(score, 0.9 if g["netG"].startswith("unet") else 0.4)
            d = detect_discriminator(state)
            if d:
                score = max(
                    score, 0.9 if d["d_input_nc"] % 2 == 0 and d["d_input_nc"] >= 2 and g is None else 0.3
                )
        return score

    @classmethod
    def import_official(
        cls, states: dict[str, StateDict], options: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, StateDict]]:
        settings = reference_options(cls.Config, options)
        networks: dict[str, StateDict] = {}
        d_info = None
        for role, state in states.items():
            found = detect_generator(state)
            if found is not None:
                if "error" in found:
                    raise I2IError(f"unsupported pix2pix generator: {found['error']}")
                settings.update(found)
                networks["G"] = rename_resnet_blocks(state)
                continue
            d_info = detect_discriminator(state)
            if d_info is None:
                raise I2IError(
                    f"{role or 'checkpoint'}: keys match no pix2pix network (first keys: {', '.join(list(state)[:3])});"
                    " expected a U-Net/ResNet generator (model.model.0.weight / model.1.weight) or a PatchGAN"
                    " discriminator (model.0.weight / net.0.weight)"
                )
            networks["D"] = state
        if d_info is not None:
            d_input = d_info.pop("d_input_nc")
            # the generator decides the shared `norm` when both are given
            settings.update({k: v for k, v in d_info.items() if k != "norm" or "G" not in networks})
            expected = settings.get("input_nc", 3) + settings.get("output_nc", 3)
            if "G" in networks and d_input != expected:
                raise I2IError(
                    f"the discriminator takes {d_input} channels but a pix2pix D sees cat(A, B) = {expected}"
                )
            if "G" not in networks:
                settings.setdefault("input_nc", d_input // 2)
                settings.setdefault("output_nc", d_input - d_input // 2)
        return settings, networks


def reference_options(config_cls: type, options: dict[str, str] | None) -> dict[str, Any]:
    """The settings of a reference `train_opt.txt` that are fields of `config_cls`, parsed by field type.

    The reference writes `max_dataset_size: inf` (i2i: None); values i2i cannot parse are left out."""
    from i2i.config import _coerce, field_types

    fields = field_types(config_cls)
    settings: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key not in fields:
            continue
        if key == "max_dataset_size" and value.strip().lower() == "inf":
            value = "none"
        try:
            settings[key] = _coerce(value, fields[key], key)
        except UsageError:
            continue
    return settings


def check_training_crop(config: Any, multiple: int, least: int) -> None:
    """Training crops must suit the generator (a U-Net halves them down to 1x1, a ResNet to a quarter)."""
    if "crop" not in config.preprocess:
        return
    if config.crop_size % multiple or config.crop_size < least:
        raise UsageError(
            f"crop_size={config.crop_size} does not suit netG={config.netG}: training crops must be multiples "
            f"of {multiple} and at least {max(multiple, least)} (--set crop_size=..., or another netG)"
        )


def batch_statistics_forward(
    net: nn.Module, x: torch.Tensor, *, dropout: bool, seed: int | None
) -> torch.Tensor:
    """Forward in train mode (BatchNorm uses the batch's statistics, as the reference's test.py does
    without --eval) without changing the stored running statistics."""
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    net.train()
    if not dropout:
        for module in net.modules():
            if isinstance(module, nn.Dropout):
                module.eval()
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    try:
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            return net(x)
    finally:
        net.eval()
        with torch.no_grad():
            for key, value in net.named_buffers():
                value.copy_(buffers[key])
