"""CycleGAN: "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"
(Zhu et al., ICCV 2017).

Reproduces junyanz/pytorch-CycleGAN-and-pix2pix: generators `G_A` (A -> B) and `G_B` (B -> A), PatchGAN
discriminators `D_A` (judges B) and `D_B` (judges A); the G step first (LSGAN + 10 x cycle L1 + 0.5 x 10 x
identity L1), then the D step on fakes drawn from an image pool of 50.
"""

from __future__ import annotations

import random
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
    init_weights,
    make_scheduler,
    rename_resnet_blocks,
    set_requires_grad,
)
from i2i.models._shared.optim import adam
from i2i.models.pix2pix.model import check_training_crop, reference_options

Direction = Literal["AtoB", "BtoA"]


@dataclass(frozen=True)
class CycleGANConfig:
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
    no_dropout: bool = True
    #: not visible in a state dict (except 'zero'): an override for official files
    padding_type: Literal["reflect", "replicate", "zero"] = "reflect"
    #: ResNet upsampling: the reference's ConvTranspose2d, or resize + conv (PyTorch-GAN checkpoints)
    upsampling: Literal["transpose", "resize_conv"] = "transpose"
    init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "normal"
    init_gain: float = 0.02
    gan_mode: Literal["lsgan", "vanilla", "wgangp"] = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
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
    #: which folder is A when training (BtoA swaps trainA and trainB)
    direction: Direction = "AtoB"
    serial_batches: bool = False
    max_dataset_size: int | None = None


class ImagePool:
    """The reference's history of generated images: once full, each query returns a stored image instead
    of the new one with probability 0.5 (Python's `random`, as upstream)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                index = random.randint(0, self.size - 1)
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class CycleGAN(Model):
    name = "cyclegan"
    task = "unpaired translation"
    license = "BSD-3-Clause"
    description = "Two generators and two PatchGANs with cycle consistency (Zhu et al. 2017)"
    Config = CycleGANConfig
    output_rounding = "truncate"  # the reference's tensor2im truncates
    inference_networks = ("G_A",)
    sample_visuals = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")
    data_layout = "unaligned"
    tiny_config = {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4, "load_size": 36, "crop_size": 32}
    plateau_losses = ("G_A", "G_B", "cycle_A", "cycle_B")

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config

        def generator(inputs: int, outputs: int) -> nn.Module:
            return define_G(
                inputs, outputs, c.ngf, c.netG, c.norm, not c.no_dropout, c.padding_type, c.upsampling
            )

        return {
            "G_A": generator(c.input_nc, c.output_nc),
            "G_B": generator(c.output_nc, c.input_nc),
            "D_A": define_D(c.output_nc, c.ndf, c.netD, c.n_layers_D, c.norm),
            "D_B": define_D(c.input_nc, c.ndf, c.netD, c.n_layers_D, c.norm),
        }

    def init_weights(self) -> None:
        for net in self.networks.values():
            init_weights(net, self.config.init_type, self.config.init_gain)

    def size_multiple(self) -> int:
        return generator_size_multiple(self.config.netG)

    def min_size(self) -> int:
        return generator_min_size(self.config.netG)

    # -------------------------------------------------------------------------------- inference

    def required_networks(self, conditions: dict[str, Any]) -> tuple[str, ...]:
        return ("G_B",) if _direction(conditions.get("direction")) == "BtoA" else ("G_A",)

    def input_channels_for(self, conditions: dict[str, Any]) -> int:
        backwards = _direction(conditions.get("direction")) == "BtoA"
        return self.config.output_nc if backwards else self.config.input_nc

    def forward_tensor(self, x: torch.Tensor, *, direction: Direction | None = None) -> torch.Tensor:
        """`direction` AtoB (default) runs G_A, BtoA runs G_B."""
        G = self.networks["G_B" if _direction(direction) == "BtoA" else "G_A"]
        G.eval()
        return G(x)

    # --------------------------------------------------------------------------------- training

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        from i2i.data.unaligned import UnalignedDataset

        c = self.config
        check_training_crop(c, self.size_multiple(), self.min_size())
        return UnalignedDataset(
            data,
            phase="train",
            preprocess=c.preprocess,
            load_size=c.load_size,
            crop_size=c.crop_size,
            no_flip=c.no_flip,
            direction=c.direction,
            input_nc=c.input_nc,
            output_nc=c.output_nc,
            serial_batches=c.serial_batches,
            seed=seed,
            max_dataset_size=c.max_dataset_size,
            network=(self.size_multiple(), self.min_size()),
        )

    def setup_training(self) -> None:
        c = self.config
        nets = self.networks
        self.criterion_gan = GANLoss(c.gan_mode).to(self.device)
        betas = (c.beta1, 0.999)
        self.optimizers = {
            "G": adam([*nets["G_A"].parameters(), *nets["G_B"].parameters()], lr=c.lr, betas=betas),
            "D": adam([*nets["D_A"].parameters(), *nets["D_B"].parameters()], lr=c.lr, betas=betas),
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
        self.pools = {"A": ImagePool(c.pool_size), "B": ImagePool(c.pool_size)}
        for net in nets.values():
            net.train()

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        c = self.config
        G_A, G_B, D_A, D_B = (self.networks[n] for n in ("G_A", "G_B", "D_A", "D_B"))
        real_A, real_B = ctx.to_device(batch["A"]), ctx.to_device(batch["B"])
        l1 = nn.functional.l1_loss

        with ctx.autocast():
            fake_B = G_A(real_A)
            rec_A = G_B(fake_B)
            fake_A = G_B(real_B)
            rec_B = G_A(fake_A)

        set_requires_grad([D_A, D_B], False)
        self.optimizers["G"].zero_grad()
        with ctx.autocast():
            losses: dict[str, torch.Tensor] = {}
            if c.lambda_identity > 0:
                idt_A = G_A(real_B)
                losses["idt_A"] = l1(idt_A.float(), real_B.float()) * c.lambda_B * c.lambda_identity
                idt_B = G_B(real_A)
                losses["idt_B"] = l1(idt_B.float(), real_A.float()) * c.lambda_A * c.lambda_identity
            losses["G_A"] = self.criterion_gan(D_A(fake_B), True)
            losses["G_B"] = self.criterion_gan(D_B(fake_A), True)
            losses["cycle_A"] = l1(rec_A.float(), real_A.float()) * c.lambda_A
            losses["cycle_B"] = l1(rec_B.float(), real_B.float()) * c.lambda_B
            # The reference's order: the sum's graph decides the order gradients accumulate in, and with
            # it the float rounding of the near-zero gradients of the conv biases InstanceNorm cancels.
            loss_G = losses["G_A"] + losses["G_B"] + losses["cycle_A"] + losses["cycle_B"]
            if c.lambda_identity > 0:
                loss_G = loss_G + losses["idt_A"] + losses["idt_B"]
        ctx.backward(loss_G)
        ctx.step(self.optimizers["G"])

        set_requires_grad([D_A, D_B], True)
        self.optimizers["D"].zero_grad()
        losses["D_A"] = self._discriminator_loss(D_A, real_B, self.pools["B"].query(fake_B), ctx)
        losses["D_B"] = self._discriminator_loss(D_B, real_A, self.pools["A"].query(fake_A), ctx)
        ctx.step(self.optimizers["D"])

        self._visuals = {
            "real_A": real_A,
            "fake_B": fake_B,
            "rec_A": rec_A,
            "real_B": real_B,
            "fake_A": fake_A,
            "rec_B": rec_B,
        }
        if c.lambda_identity > 0:
            self._visuals |= {"idt_A": idt_A, "idt_B": idt_B}
        return {k: v.detach() for k, v in losses.items()}

    def _discriminator_loss(
        self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, ctx: Any
    ) -> torch.Tensor:
        with ctx.autocast():
            loss_real = self.criterion_gan(D(real), True)
            loss_fake = self.criterion_gan(D(fake.detach()), False)
            loss = (loss_real + loss_fake) * 0.5
        ctx.backward(loss)
        return loss

    def visuals(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in getattr(self, "_visuals", {}).items()}

    def training_state(self) -> dict[str, Any]:
        return {name: list(pool.images) for name, pool in getattr(self, "pools", {}).items()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        for name, images in state.items():
            self.pools[name].images = [image.to(self.device) for image in images]

    # ------------------------------------------------------------------------ official checkpoints

    @classmethod
    def detect(cls, states: dict[str, StateDict]) -> float:
        score = 0.0
        for role, state in states.items():
            g = detect_generator(state)
            if role in ("G_A", "G_B", "D_A", "D_B"):
                score = max(score, 0.95)
            elif g and "error" not in g:
                resnet_in = g["netG"].startswith("resnet") and g["norm"].startswith("instance")
                score = max(score, 0.8 if resnet_in else 0.3)
        return score

    @classmethod
    def import_official(
        cls, states: dict[str, StateDict], options: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, StateDict]]:
        """A model-zoo file (one generator, loaded as G_A), or a training run's G_A/G_B/D_A/D_B files."""
        settings = reference_options(cls.Config, options)
        networks: dict[str, StateDict] = {}
        generators: dict[str, dict] = {}
        discriminators: dict[str, dict] = {}
        for role, state in states.items():
            found = detect_generator(state)
            if found is not None:
                if "error" in found:
                    raise I2IError(f"unsupported CycleGAN generator: {found['error']}")
                name = role if role in ("G_A", "G_B") else _free(("G_A", "G_B"), networks, role)
                networks[name], generators[name] = rename_resnet_blocks(state), found
                continue
            found = detect_discriminator(state)
            if found is None:
                raise I2IError(
                    f"{role or 'checkpoint'}: keys match no CycleGAN network (first keys: "
                    f"{', '.join(list(state)[:3])}); expected a ResNet/U-Net generator (model.1.weight + "
                    "model.N.conv_block..., or model.model.0.weight) or a PatchGAN (model.0.weight / net.0.weight)"
                )
            name = role if role in ("D_A", "D_B") else _free(("D_A", "D_B"), networks, role)
            networks[name], discriminators[name] = state, found
        first = generators.get("G_A") or generators.get("G_B")
        if first:
            settings.update({k: v for k, v in first.items() if k not in ("input_nc", "output_nc")})
            if "G_A" in generators:
                settings["input_nc"], settings["output_nc"] = (
                    generators["G_A"]["input_nc"],
                    generators["G_A"]["output_nc"],
                )
            else:
                settings["input_nc"], settings["output_nc"] = (
                    generators["G_B"]["output_nc"],
                    generators["G_B"]["input_nc"],
                )
        for name, found in discriminators.items():
            found = dict(found)
            channels = found.pop("d_input_nc")
            if first:
                found.pop("norm", None)  # the generators decide the shared `norm`
            settings.update(found)
            side = "output_nc" if name == "D_A" else "input_nc"  # D_A judges B images, D_B judges A images
            settings.setdefault(side, channels)
            if settings[side] != channels:
                raise I2IError(f"{name} takes {channels} channels but the generators make {settings[side]}")
        return settings, networks


def _direction(value: Any) -> Direction:
    direction = value or "AtoB"
    if direction not in ("AtoB", "BtoA"):
        raise UsageError(f"unknown direction '{direction}'; use AtoB or BtoA")
    return direction


def _free(names: tuple[str, str], taken: dict, role: str) -> str:
    for name in names:
        if name not in taken:
            return name
    raise I2IError(f"more than two networks of kind {names[0][0]} given ({role or 'unnamed'})")
