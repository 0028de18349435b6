"""ESRGAN and Real-ESRGAN: "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks" (Wang et al.,
ECCVW 2018) and "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data" (2021).

Generators `G`: RRDBNet (any nf/nb/gc; x4, and x2/x1 through pixel-unshuffle as BasicSR; old-arch files with
other numbers of upsampling stages) or SRVGGNetCompact. Discriminators `D`: VGGStyleDiscriminator (128/256)
or UNetDiscriminatorSN. Official checkpoints in the old ESRGAN (`model.*`), new ESRGAN (`RRDB_trunk.*`) and
BasicSR (`body.*`) layouts load into the BasicSR layout, which is the one i2i stores.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from i2i.config import Option
from i2i.errors import I2IError
from i2i.model import Model, StateDict
from i2i.models._shared.losses import gan_loss
from i2i.models._shared.optim import adam
from i2i.models._shared.schedules import cosine_restarts
from i2i.models._shared.vgg import PerceptualLoss, VGGFeatures, load_vgg19_weights, vgg19_weights_path
from i2i.models.esrgan import demo, official
from i2i.models.esrgan.networks import (
    RRDBNet,
    SRVGGNetCompact,
    UNetDiscriminatorSN,
    VGGStyleDiscriminator,
    upsample_factors,
)
from i2i.runtime import float32_between_convolutions, resolve_device

GanType = Literal["vanilla", "lsgan", "wgan", "wgan_softplus", "hinge"]

Arch = Literal["rrdb", "srvgg"]


@dataclass(frozen=True)
class ESRGANConfig:
    """Field names are the reference's network arguments (BasicSR / Real-ESRGAN)."""

    arch: Arch = "rrdb"
    num_in_ch: int = 3
    num_out_ch: int = 3
    num_feat: int = 64
    #: RRDBNet
    num_block: int = 23
    num_grow_ch: int = 32
    scale: int = 4
    #: old ESRGAN files with other than two x2 stages (e.g. 3 for x8); None: BasicSR's network
    upsample_stages: int | None = None
    #: SRVGGNetCompact
    num_conv: int = 16
    upscale: int = 4
    #: not visible in a state dict without PReLU weights: an override (relu or leakyrelu)
    act_type: Literal["prelu", "relu", "leakyrelu"] = "prelu"
    #: discriminator
    d_type: Literal["vgg", "unet"] = "vgg"
    d_num_feat: int = 64
    d_input_size: int = 128
    #: training: "psnr" (L1 only) or "gan" (L1 + VGG19 perceptual + relativistic GAN, ESRGAN's second stage)
    stage: Literal["psnr", "gan"] = "psnr"
    #: "bicubic" (MATLAB-compatible, ESRGAN) or "realesrgan" (the second-order degradation pipeline)
    degradation: Literal["bicubic", "realesrgan"] = "bicubic"
    gt_size: int = 128
    use_hflip: bool = True
    use_rot: bool = True
    #: loss weights; None means the stage's default (psnr: pixel 1; gan: pixel 0.01, perceptual 1, gan 0.005)
    pixel_weight: float | None = None
    perceptual_weight: float = 1.0
    perceptual_layers: tuple[str, ...] = ("conv5_4",)
    perceptual_layer_weights: tuple[float, ...] = (1.0,)
    gan_weight: float = 0.005
    gan_type: GanType = "vanilla"
    relativistic: bool = True
    vgg19_weights: str | None = None
    #: optimiser: Adam, betas (0.9, 0.99); lr None means the stage's default (psnr 2e-4, gan 1e-4)
    lr: float | None = None
    beta1: float = 0.9
    beta2: float = 0.99
    ema_decay: float = 0.999
    #: iterations of the run without --steps/--epochs; None: the stage's (psnr 1,000,000; gan 400,000)
    total_iter: int | None = None
    #: psnr: cosine annealing with restarts over `periods`; gan: halve the lr at `milestones`
    periods: tuple[int, ...] = (250000, 250000, 250000, 250000)
    eta_min: float = 1e-7
    milestones: tuple[int, ...] = (50000, 100000, 200000, 300000)


class ESRGAN(Model):
    """ESRGAN / Real-ESRGAN behind the i2i contract: `i2i upscale`'s default model; reads ncnn files."""

    name = "esrgan"
    task = "super-resolution"
    license = "Apache-2.0 (BasicSR), BSD-3-Clause (Real-ESRGAN)"
    description = "RRDBNet / SRVGGNetCompact super-resolution: ESRGAN, Real-ESRGAN, BasicSR checkpoints"
    Config = ESRGANConfig
    value_range = (0.0, 1.0)
    inference_networks = ("G",)
    tiny_config = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "d_num_feat": 2}
    scheduler_interval = "step"  # BasicSR steps its schedulers every iteration
    data_layout = "images"
    sample_visuals = ("lq", "output", "gt")
    catalogue = "catalogue.json"
    default_for = ("upscale",)
    foreign_suffixes = (".param", ".bin")
    options = (
        Option("stage", "training stage: psnr (L1 only), then gan.", setting=True, commands=("train",)),
        Option(
            "degradation",
            "bicubic (default) or realesrgan (second-order).",
            setting=True,
            commands=("train",),
        ),
        Option(
            "vgg19_weights",
            "ImageNet VGG19 weights for perceptual losses (never downloaded).",
            setting=True,
            commands=("train",),
        ),
    )

    def __init__(self, config: Any = None, *, device: Any = "cpu", precision: str = "fp32") -> None:
        rrdb = (config if config is not None else self.Config()).arch == "rrdb"
        if rrdb and (precision or "auto").strip().lower() == "auto" and resolve_device(device).type == "cpu":
            # `auto` is fp32 for RRDBNet on CPU: bf16 (convolutions only, see _prepare_inference) is within
            # 54 dB / 8 levels of fp32 but was not measured at 1.7x its speed (benchmarks/cases_precision.py)
            precision = "fp32"
        super().__init__(config, device=device, precision=precision)

    @property
    def scale(self) -> int:  # type: ignore[override]
        c = self.config
        return c.upscale if c.arch == "srvgg" else c.scale

    @property
    def input_channels(self) -> int:
        return self.config.num_in_ch

    @property
    def output_channels(self) -> int:
        return self.config.num_out_ch

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        if c.arch == "srvgg":
            G: nn.Module = SRVGGNetCompact(
                c.num_in_ch, c.num_out_ch, c.num_feat, c.num_conv, c.upscale, c.act_type
            )
        else:
            G = RRDBNet(
                c.num_in_ch, c.num_out_ch, c.scale, c.num_feat, c.num_block, c.num_grow_ch, c.upsample_stages
            )
        if c.d_type == "unet":
            D: nn.Module = UNetDiscriminatorSN(c.num_out_ch, c.d_num_feat)
        else:
            D = VGGStyleDiscriminator(c.num_out_ch, c.d_num_feat, c.d_input_size)
        # G_ema: the exponential moving average of G that training keeps (BasicSR's `params_ema`); translation
        # uses it when it is there.
        return {"G": G, "D": D, "G_ema": copy.deepcopy(G)}

    def init_weights(self) -> None:
        """BasicSR's init: Kaiming-normal x 0.1 for every RRDB conv (other layers keep PyTorch's)."""
        G = self.networks["G"]
        if isinstance(G, RRDBNet):
            for module in G.body.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight)
                    module.weight.data.mul_(0.1)
                    nn.init.zeros_(module.bias)
        self.networks["G_ema"].load_state_dict(G.state_dict())

    def required_networks(self, conditions: dict[str, Any]) -> tuple[str, ...]:
        return ("G_ema",) if "G_ema" in self.loaded else ("G",)

    def size_multiple(self) -> int:
        if self.config.arch == "rrdb" and self.config.upsample_stages is None:
            return {4: 1, 2: 2, 1: 4}[self.config.scale]
        return 1

    def _prepare_inference(self) -> None:
        super()._prepare_inference()
        if self.precision == "bf16" and self.device.type == "cpu":
            # bf16 rounding of RRDBNet's long residual stream drifts visibly (40-46 dB from fp32 on
            # photos): only the convolutions run in bf16; the one reading the pixels and those after the
            # trunk run in fp32 (the first alone is worth 3 dB)
            for name in self.inference_networks + ("G_ema",):
                if name in self.networks:
                    net = self.networks[name]
                    float32_between_convolutions(net, float32_last=self._float32_tail(), float32_first=1)

    def _float32_tail(self) -> int:
        """The convolutions at the output's resolution and after: RRDBNet's upsampling stages, conv_hr
        and conv_last; SRVGGNetCompact's last convolution."""
        if self.config.arch != "rrdb":
            return 1
        return len(upsample_factors(self.config.scale, self.config.upsample_stages)[1]) + 2

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        G = self.networks[self.required_networks({})[0]]
        G.eval()
        return G(x)

    def translate_images(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """Upscaled tile by tile (`i2i.tiling`: tiles sized to free memory, blended seams, alpha through
        the network), so any image size fits; `batch_size` is ignored: one tile runs at a time."""
        from i2i.ops.tiling import upscale_image

        self.check_conditions(conditions)
        return [upscale_image(self, image) for image in images]

    demo = classmethod(demo.run)

    # --------------------------------------------------------------------------------- training

    def _stage(self, psnr: Any, gan: Any) -> Any:
        return gan if self.config.stage == "gan" else psnr

    def default_total_steps(self) -> int | None:
        return self.config.total_iter or self._stage(1_000_000, 400_000)

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        from i2i.data.sr import SRDataset

        c = self.config
        return SRDataset(
            data,
            scale=self.scale,
            gt_size=c.gt_size,
            use_hflip=c.use_hflip,
            use_rot=c.use_rot,
            seed=seed,
            degradation=c.degradation,
        )

    def setup_training(self) -> None:
        c = self.config
        nets = self.networks
        if "G_ema" not in self.loaded:  # fine-tuning from a file without an EMA: start it at G
            nets["G_ema"].load_state_dict(nets["G"].state_dict())
        nets["G_ema"].requires_grad_(False).eval()
        lr = c.lr if c.lr is not None else self._stage(2e-4, 1e-4)
        betas = (c.beta1, c.beta2)
        self.optimizers = {"G": adam(nets["G"].parameters(), lr=lr, betas=betas)}
        if c.stage == "gan":
            self.optimizers["D"] = adam(nets["D"].parameters(), lr=lr, betas=betas)
            if len(c.perceptual_layers) != len(c.perceptual_layer_weights):
                raise I2IError("perceptual_layers and perceptual_layer_weights must have the same length")
            weights = load_vgg19_weights(vgg19_weights_path(c.vgg19_weights))
            vgg = VGGFeatures(c.perceptual_layers, weights).to(self.device)
            layer_weights = dict(zip(c.perceptual_layers, c.perceptual_layer_weights, strict=True))
            self.perceptual = PerceptualLoss(layer_weights, vgg, c.perceptual_weight)
        sched = torch.optim.lr_scheduler
        if c.stage == "gan":
            self.schedulers = {
                k: sched.MultiStepLR(o, list(c.milestones), 0.5) for k, o in self.optimizers.items()
            }
        else:
            factor = cosine_restarts(c.periods, lr, c.eta_min)
            self.schedulers = {k: sched.LambdaLR(o, factor) for k, o in self.optimizers.items()}
        nets["G"].train()
        nets["D"].train()
        if c.degradation == "realesrgan":
            from i2i.data.degradations import RealESRGANDegradation

            self.degrade = RealESRGANDegradation(scale=self.scale)
            # the pipeline's own random draws: seeded from the run's RNG, saved with the training state
            self.degrade_rng = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        c = self.config
        G, D = self.networks["G"], self.networks["D"]
        lq, gt, gt_sharp = self._pair(batch, ctx)
        pixel_weight = c.pixel_weight if c.pixel_weight is not None else self._stage(1.0, 0.01)
        losses: dict[str, torch.Tensor] = {}
        gan = c.stage == "gan"
        if gan:
            D.requires_grad_(False)
        self.optimizers["G"].zero_grad()
        with ctx.autocast():
            output = G(lq)
            # Real-ESRGAN compares pixels and features with the sharpened GT, and keeps the plain GT for D
            losses["l_g_pix"] = F.l1_loss(output.float(), gt_sharp.float()) * pixel_weight
            total = losses["l_g_pix"]
            if gan:
                losses["l_g_percep"] = self.perceptual(output, gt_sharp)
                real_pred = D(gt).detach()
                fake_pred = D(output)
                if c.relativistic:
                    l_real = gan_loss(real_pred - fake_pred.mean(), False, c.gan_type, is_disc=False)
                    l_fake = gan_loss(fake_pred - real_pred.mean(), True, c.gan_type, is_disc=False)
                    losses["l_g_gan"] = c.gan_weight * (l_real + l_fake) / 2
                else:
                    losses["l_g_gan"] = c.gan_weight * gan_loss(fake_pred, True, c.gan_type, is_disc=False)
                total = total + losses["l_g_percep"] + losses["l_g_gan"]
        ctx.backward(total)
        ctx.step(self.optimizers["G"])
        if gan:
            losses |= self._discriminator_step(D, output, gt, ctx)
        self._update_ema()
        self._visuals = {"lq": lq, "output": output.detach(), "gt": gt}
        return {k: v.detach() for k, v in losses.items()}

    def _discriminator_step(self, D: nn.Module, output: torch.Tensor, gt: torch.Tensor, ctx: Any) -> dict:
        c = self.config
        D.requires_grad_(True)
        self.optimizers["D"].zero_grad()
        with ctx.autocast():
            fake_pred = D(output.detach()).detach()
            real_pred = D(gt)
            if c.relativistic:
                l_real = gan_loss(real_pred - fake_pred.mean(), True, c.gan_type, is_disc=True) * 0.5
            else:
                l_real = gan_loss(real_pred, True, c.gan_type, is_disc=True)
        ctx.backward(l_real)
        with ctx.autocast():
            fake_pred = D(output.detach())
            if c.relativistic:
                l_fake = (
                    gan_loss(fake_pred - real_pred.detach().mean(), False, c.gan_type, is_disc=True) * 0.5
                )
            else:
                l_fake = gan_loss(fake_pred, False, c.gan_type, is_disc=True)
        ctx.backward(l_fake)
        ctx.step(self.optimizers["D"])
        return {
            "l_d_real": l_real,
            "l_d_fake": l_fake,
            "out_d_real": real_pred.detach().float().mean(),
            "out_d_fake": fake_pred.detach().float().mean(),
        }

    def _pair(self, batch: dict[str, Any], ctx: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(lq, gt, gt for the pixel and perceptual losses): the bicubic pairs of the dataset, or the
        Real-ESRGAN degradation of the GT made here, on the device (with the USM-sharpened GT)."""
        if self.config.degradation != "realesrgan":
            gt = ctx.to_device(batch["gt"])
            return ctx.to_device(batch["lq"]), gt, gt
        kernels = (ctx.to_device(batch[k]) for k in ("kernel1", "kernel2", "sinc_kernel"))
        lq, gt, gt_usm = self.degrade(ctx.to_device(batch["gt"]), *kernels, generator=self.degrade_rng)
        return lq.contiguous(), gt, gt_usm

    def training_state(self) -> dict[str, Any]:
        return {"degrade_rng": self.degrade_rng.get_state()} if hasattr(self, "degrade_rng") else {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        if "degrade_rng" in state:
            self.degrade_rng.set_state(state["degrade_rng"])

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        ema = dict(self.networks["G_ema"].named_parameters())
        for name, param in self.networks["G"].named_parameters():
            ema[name].mul_(decay).add_(param.detach(), alpha=1 - decay)

    def visuals(self) -> dict[str, torch.Tensor]:
        if not hasattr(self, "_visuals"):
            return {}
        v = self._visuals
        # the low-resolution input, enlarged (nearest) to the output size so the grid lines up
        lq = F.interpolate(v["lq"].float(), size=v["output"].shape[-2:], mode="nearest")
        return {"lq": lq, "output": v["output"], "gt": v["gt"]}

    # ------------------------------------------------------------------------ official checkpoints

    detect = classmethod(official.detect)
    import_official = classmethod(official.import_official)

    @classmethod
    def read_foreign_file(cls, path: Path) -> tuple[dict[str, StateDict], dict[str, Any]]:
        """An ncnn model (its `.param` or `.bin`, the other beside it): `{"G": state}` and the settings its
        graph shows (e.g. act_type, outscale)."""
        from i2i.models.esrgan import ncnn

        return ncnn.load_pair(path)
