"""pix2pix: "Image-to-Image Translation with Conditional Adversarial Networks" (Isola et al., CVPR 2017).

Reproduces junyanz/pytorch-CycleGAN-and-pix2pix: U-Net (or ResNet) generator `G`, PatchGAN
discriminator `D` that sees cat(A, B), D step first, then G with GAN + 100 x L1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from i2i.config import Option
from i2i.errors import UsageError
from i2i.models._shared.cyclegan_pix2pix.config import ReferenceNetworks, ReferenceTraining
from i2i.models._shared.cyclegan_pix2pix.model import ReferenceModel
from i2i.models._shared.cyclegan_pix2pix.networks import batch_statistics_forward, define_D, define_G
from i2i.models._shared.losses import GANLoss, gradient_penalty
from i2i.models._shared.optim import adam, set_requires_grad
from i2i.models.pix2pix import demo, official

TestMode = Literal["eval", "train", "train_dropout_off"]


@dataclass(frozen=True)
class Pix2PixLosses:
    """pix2pix's loss settings (between the networks and training settings)."""

    gan_mode: Literal["vanilla", "lsgan", "wgangp"] = "vanilla"
    lambda_L1: float = 100.0
    #: WGAN-GP gradient penalty weight; 0 as in the reference, which never applies it
    lambda_gp: float = 0.0


@dataclass(frozen=True)
class Pix2PixConfig(ReferenceTraining, Pix2PixLosses, ReferenceNetworks):
    """Field names are the reference's command-line options (networks, losses, then training)."""

    netG: str = "unet_256"
    norm: Literal["batch", "instance", "instance_affine", "syncbatch", "none"] = "batch"
    max_dataset_size: int | None = None
    #: test-time behaviour. Default 'train_dropout_off': as the reference's test.py without --eval (batch
    #: statistics of each image, the paper's protocol), but without dropout, so outputs are deterministic
    #: (dropout at test time only adds noise); 'train' adds the dropout; 'eval' uses the running statistics
    #: (better only for models trained with large batches)
    test_mode: TestMode = "train_dropout_off"


class Pix2Pix(ReferenceModel):
    """pix2pix behind the i2i contract; translation conditions `mode` (test behaviour) and `seed`."""

    name = "pix2pix"
    task = "paired translation"
    license = "BSD-3-Clause"
    description = "Conditional GAN, U-Net generator + PatchGAN discriminator (Isola et al. 2017)"
    Config = Pix2PixConfig
    sample_visuals = ("real_A", "fake_B", "real_B")
    data_layout = "paired"
    tiny_config = {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4, "load_size": 36, "crop_size": 32}
    plateau_losses = ("G_GAN", "G_L1")
    catalogue = "catalogue.json"
    options = (
        Option(
            "mode",
            "test behaviour: train_dropout_off (default: each image's own BatchNorm statistics, as the "
            "reference test.py, no dropout), train (with dropout), eval (running statistics).",
        ),
        Option("seed", "Seed for stochastic models/modes.", type="int"),
    )

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        return {
            "G": define_G(
                c.input_nc, c.output_nc, c.ngf, c.netG, c.norm, not c.no_dropout, c.padding_type, c.upsampling
            ),
            "D": define_D(c.input_nc + c.output_nc, c.ndf, c.netD, c.n_layers_D, c.norm),
        }

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
            raise UsageError(
                f"unknown test mode {self.flag('mode')} '{mode}'; use eval, train or train_dropout_off"
            )
        return batch_statistics_forward(G, x, dropout=mode == "train", seed=seed)

    def paired_evaluation_dataset(self, data: Path, phase: str) -> torch.utils.data.Dataset:
        """The split resized to crop_size, unflipped, in the config's direction and channels (the
        reference's test.py options)."""
        from i2i.data.paired import PairedDataset

        c = self.config
        return PairedDataset(
            data,
            phase=phase,
            preprocess=c.preprocess,
            load_size=c.crop_size,
            crop_size=c.crop_size,
            no_flip=True,
            direction=c.direction,
            input_nc=c.input_nc,
            output_nc=c.output_nc,
        )

    demo = classmethod(demo.run)

    # --------------------------------------------------------------------------------- training

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        from i2i.data.paired import PairedDataset

        return PairedDataset(data, seed=seed, **self.dataset_options())

    def setup_training(self) -> None:
        c = self.config
        self.criterion_gan = GANLoss(c.gan_mode).to(self.device)
        self.optimizers = {
            name: adam(self.networks[name].parameters(), lr=c.lr, betas=(c.beta1, 0.999))
            for name in ("G", "D")
        }
        self.schedule()
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

    detect = classmethod(official.detect)
    import_official = classmethod(official.import_official)
