"""Training SAEHD on the shared loop, written from the description of DeepFaceLab's (§1.3.3-1.5 of the
face-swap reference).

Each step autoencodes a batch of warped src faces and one of warped dst faces (`networks.autoencode`), and
minimises src_loss + dst_loss, each per sample: the structural DSSIM term, 10 x MSE (both on the images times
the blurred target mask when `masked_training`), 10 x MSE of the predicted mask against the target mask and,
with `eyes_mouth_prio`, 300 x L1 inside the eyes and mouth. The per-sample sums are averaged over the batch.
One optimiser ("src_dst": DeepFaceLab's AdaBelief, or RMSprop) updates every network; with LIAE and
`random_warp` off, `inter_AB` is frozen as in DeepFaceLab. Networks see BGR like DeepFaceLab's; batches and
sample grids are RGB.

With `true_face_power` > 0 (df only, as DeepFaceLab), a code discriminator (`code_discriminator`, its own
optimiser "D_code") learns to tell dst codes (real) from src codes (fake), and the src loss gains
true_face_power x BCE(D(src code), real): the src code is pushed towards what dst faces encode to.

Not (yet) implemented: the GAN, face-style and background-style terms, pretraining, and the sampler's
colour transfer / HSV jitter / uniform-yaw options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2i.data.faces.layout import SIDES
from i2i.errors import UsageError
from i2i.models._shared.losses import gan_loss
from i2i.models._shared.optim import set_requires_grad
from i2i.models.saehd import networks
from i2i.models.saehd.losses import reconstruction_losses
from i2i.models.saehd.optim import SAEHD_LR, lr_dropout_value, make_optimizer
from i2i.models.saehd.sampler import FacePairDataset, find_faces


@dataclass(frozen=True)
class SAEHDTraining:
    """SAEHD's training options under DeepFaceLab's names and defaults (the batch size is the loop's
    `--batch-size`; DeepFaceLab's default is 8)."""

    #: multiply the image terms by the blurred face mask (DeepFaceLab asks only for wf/head; on otherwise)
    masked_training: bool = True
    #: + 300 x L1 inside the eyes and mouth
    eyes_mouth_prio: bool = False
    #: random warp of the inputs (turn off late in training for sharpness; freezes inter_AB with LIAE)
    random_warp: bool = True
    #: lr dropout: y, n or cpu (DeepFaceLab's choices; cpu only chose where masks were drawn), or true/false
    lr_dropout: str = "n"
    #: DeepFaceLab's AdaBelief (else RMSprop)
    adabelief: bool = True
    #: clip gradients to a global norm of 1.0
    clipgrad: bool = False
    lr: float = SAEHD_LR
    random_src_flip: bool = False
    random_dst_flip: bool = True
    #: weight of the true-face term (df only; DeepFaceLab suggests 0.01 and up to 1)
    true_face_power: float = 0.0


#: the networks only training uses (not part of a swap model DeepFaceLab's converter reads)
TRAINING_NETWORKS = ("code_discriminator",)


class CodeDiscriminator(nn.Module):
    """DeepFaceLab's true-face discriminator on the inter code: 1 + code_res // 8 convolutions (kernel 4, then
    3; stride 2; 256 x min(2^i, 8) channels; leaky ReLU 0.1), then a 1x1 convolution to one logit per place."""

    def __init__(self, in_ch: int, code_res: int, ch: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(1 + code_res // 8):
            kernel, out = (4 if i == 0 else 3), ch * min(2**i, 8)
            layers += [nn.Conv2d(in_ch, out, kernel, stride=2, padding=(kernel - 1) // 2), nn.LeakyReLU(0.1)]
            in_ch = out
        self.convs = nn.Sequential(*layers)
        self.out_conv = nn.Conv2d(in_ch, 1, 1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.out_conv(self.convs(code))


def training_networks(config: Any, nets: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """The networks the training options add to the swap's: the code discriminator with true face (df)."""
    if config.true_face_power <= 0 or "inter" not in nets:
        return {}
    inter = nets["inter"]
    code_res = inter.lowest * (1 if inter.upscale1 is None else 2)
    return {"code_discriminator": CodeDiscriminator(inter.out_ch, code_res)}


#: the sample grid's columns
SAMPLE_VISUALS = ("src", "pred_src_src", "dst", "pred_dst_dst", "pred_src_dst")


def training_dataset(model: Any, data: Path, *, seed: int) -> FacePairDataset:
    """Samples of `data/src/` and `data/dst/` at the model's resolution and face type."""
    c = model.config
    src, dst = (find_faces(Path(data) / side) for side in SIDES)
    return FacePairDataset(
        src,
        dst,
        resolution=c.resolution,
        face_type=c.face_type,
        random_warp=c.random_warp,
        random_src_flip=c.random_src_flip,
        random_dst_flip=c.random_dst_flip,
        seed=seed,
    )


def frozen_networks(model: Any) -> list[str]:
    """The networks the src_dst optimiser leaves alone: LIAE's inter_AB when random warp is off."""
    return ["inter_AB"] if "inter_AB" in model.networks and not model.config.random_warp else []


def setup_training(model: Any) -> None:
    """The optimisers: "src_dst" over every swap network that trains, "D_code" for the code discriminator."""
    try:
        lr_dropout_value(model.config.lr_dropout)
    except ValueError as exc:
        raise UsageError(f"saehd: {exc}") from None
    frozen = frozen_networks(model)
    params = []
    for name, net in model.networks.items():
        set_requires_grad([net], name not in frozen)
        net.train()
        if name not in frozen and name not in TRAINING_NETWORKS:
            params.extend(net.parameters())
    model.optimizers = {"src_dst": make_optimizer(params, model.config)}
    if "code_discriminator" in model.networks:
        model.optimizers["D_code"] = make_optimizer(
            model.networks["code_discriminator"].parameters(), model.config
        )
    model.schedulers = {}


def step_inputs(config: Any, step: int) -> str:
    """What the networks see at `step` (the count of steps done): the warped faces, but Quick96 trains
    every third step on the unwarped targets."""
    unwarped = config.preset == "quick96" and step % 3 == 0
    return "target" if unwarped else "warped"


def _bgr(x: torch.Tensor) -> torch.Tensor:
    return x.flip(1)


def training_step(model: Any, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
    """One update of every trained network on a batch of `FacePairDataset`; src_loss and dst_loss (and
    D_code, the code discriminator's loss, with true face)."""
    c = model.config
    get = {k: ctx.to_device(v) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    optimizer = model.optimizers["src_dst"]
    optimizer.zero_grad()
    with ctx.autocast():
        seen = step_inputs(c, model.step)
        out = networks.autoencode(model.networks, c.archi, _bgr(get[f"{seen}_src"]), _bgr(get[f"{seen}_dst"]))
    totals = {}
    for side in SIDES:
        terms = reconstruction_losses(
            out[f"pred_{side}_{side}"].float(),
            out[f"pred_{side}_{side}m"].float(),
            _bgr(get[f"target_{side}"]),
            get[f"target_mask_{side}"],
            get[f"em_mask_{side}"],
            resolution=c.resolution,
            masked_training=c.masked_training,
            eyes_mouth_prio=c.eyes_mouth_prio,
        )
        totals[side] = sum(terms.values())
    discriminator = model.networks.get("code_discriminator")
    if discriminator is not None:
        set_requires_grad([discriminator], False)
        with ctx.autocast():
            fooled = discriminator(out["src_code"])
        totals["src"] = totals["src"] + c.true_face_power * gan_loss(fooled, True, "vanilla")
    loss = (totals["src"] + totals["dst"]).mean()
    ctx.backward(loss)
    ctx.step(optimizer)
    losses = {f"{side}_loss": totals[side].detach().mean() for side in SIDES}
    if discriminator is not None:
        set_requires_grad([discriminator], True)
        model.optimizers["D_code"].zero_grad()
        with ctx.autocast():
            real = gan_loss(discriminator(out["dst_code"].detach()), True, "vanilla")
            fake = gan_loss(discriminator(out["src_code"].detach()), False, "vanilla")
        losses["D_code"] = (real + fake) / 2
        ctx.backward(losses["D_code"])
        ctx.step(model.optimizers["D_code"])
        losses["D_code"] = losses["D_code"].detach()
    model._visuals = {
        "src": get["target_src"],
        "pred_src_src": _bgr(out["pred_src_src"].detach().float()),
        "dst": get["target_dst"],
        "pred_dst_dst": _bgr(out["pred_dst_dst"].detach().float()),
        "pred_src_dst": _bgr(out["pred_src_dst"].detach().float()),
    }
    return losses


def visuals(model: Any) -> dict[str, torch.Tensor]:
    """The last step's faces (RGB, in the model's value range): src, its reconstruction, dst, its
    reconstruction and the swap (src's face from dst)."""
    lo, hi = model.value_range
    return {k: lo + v.detach() * (hi - lo) for k, v in getattr(model, "_visuals", {}).items()}
