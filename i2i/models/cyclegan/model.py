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

from i2i.config import Option
from i2i.errors import UsageError
from i2i.models._shared.cyclegan_pix2pix.config import ReferenceNetworks, ReferenceTraining
from i2i.models._shared.cyclegan_pix2pix.model import ReferenceModel
from i2i.models._shared.cyclegan_pix2pix.networks import define_D, define_G
from i2i.models._shared.export import translation_graph
from i2i.models._shared.losses import GANLoss
from i2i.models._shared.optim import adam, set_requires_grad
from i2i.models.cyclegan import demo, official

Direction = Literal["AtoB", "BtoA"]


@dataclass(frozen=True)
class CycleGANLosses:
    """CycleGAN's loss settings and image pool (between the networks and training settings)."""

    gan_mode: Literal["lsgan", "vanilla", "wgangp"] = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50


@dataclass(frozen=True)
class CycleGANConfig(ReferenceTraining, CycleGANLosses, ReferenceNetworks):
    """Field names are the reference's command-line options (networks, losses, then training)."""

    no_dropout: bool = True
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


class CycleGAN(ReferenceModel):
    """CycleGAN behind the i2i contract; translation condition `direction` (AtoB runs G_A, BtoA G_B)."""

    name = "cyclegan"
    task = "unpaired translation"
    license = "BSD-3-Clause"
    description = "Two generators and two PatchGANs with cycle consistency (Zhu et al. 2017)"
    Config = CycleGANConfig
    inference_networks = ("G_A",)
    sample_visuals = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")
    data_layout = "unaligned"
    tiny_config = {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4, "load_size": 36, "crop_size": 32}
    plateau_losses = ("G_A", "G_B", "cycle_A", "cycle_B")
    catalogue = "catalogue.json"
    options = (Option("direction", "AtoB (G_A, the default) or BtoA (G_B): which way to translate."),)

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

    def export_graphs(self, conditions: dict[str, Any]) -> list[Any]:
        """`i2i export`: the generator of `direction` (a file that translates that way), then the other
        one where the weights hold it (written beside, named after it)."""
        first = _direction(conditions.get("direction"))
        directions = [first, *(d for d in ("AtoB", "BtoA") if d != first)]
        names = {"AtoB": "G_A", "BtoA": "G_B"}
        kept = [d for i, d in enumerate(directions) if i == 0 or names[d] in self.loaded]
        return [translation_graph(self, conditions | {"direction": d}, names[d]) for d in kept]

    # --------------------------------------------------------------------------------- training

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        from i2i.data.unaligned import UnalignedDataset

        return UnalignedDataset(
            data, serial_batches=self.config.serial_batches, seed=seed, **self.dataset_options()
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
        self.schedule()
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

    demo = classmethod(demo.run)

    # ------------------------------------------------------------------------ official checkpoints

    detect = classmethod(official.detect)
    import_official = classmethod(official.import_official)


def _direction(value: Any) -> Direction:
    direction = value or "AtoB"
    if direction not in ("AtoB", "BtoA"):
        raise UsageError(f"unknown {CycleGAN.flag('direction')} '{direction}'; use AtoB or BtoA")
    return direction
