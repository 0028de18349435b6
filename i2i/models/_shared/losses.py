"""Adversarial losses shared by the models: one GAN loss for every formulation they use (the reference's
`GANLoss` and BasicSR's `GANLoss`), and the WGAN-GP gradient penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import I2IError

#: `wgangp` is the reference's name for `wgan` (the penalty is added apart, by `gradient_penalty`)
GAN_TYPES = ("vanilla", "lsgan", "wgan", "wgangp", "wgan_softplus", "hinge")


def gan_loss(
    pred: torch.Tensor, target_is_real: bool, gan_type: str, *, is_disc: bool = False
) -> torch.Tensor:
    """The GAN loss of `pred` (logits) against real or fake, computed in fp32: `vanilla` (BCE with logits),
    `lsgan` (MSE to 1/0), `wgan`/`wgangp` (-mean / +mean), `wgan_softplus`, `hinge` (`is_disc` tells the
    discriminator's hinge from the generator's -mean)."""
    pred = pred.float()
    if gan_type == "hinge":
        if not is_disc:
            return -pred.mean()
        return F.relu(1 - pred).mean() if target_is_real else F.relu(1 + pred).mean()
    if gan_type in ("wgan", "wgangp"):
        return -pred.mean() if target_is_real else pred.mean()
    if gan_type == "wgan_softplus":
        return F.softplus(-pred).mean() if target_is_real else F.softplus(pred).mean()
    target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
    if gan_type == "lsgan":
        return F.mse_loss(pred, target)
    if gan_type == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, target)
    raise I2IError(f"unknown gan_type '{gan_type}'")


class GANLoss(nn.Module):
    """The reference's GAN loss: `lsgan`, `vanilla` or `wgangp` (see `gan_loss`)."""

    def __init__(self, gan_mode: str) -> None:
        super().__init__()
        if gan_mode not in ("lsgan", "vanilla", "wgangp"):
            raise ValueError(f"unknown gan_mode '{gan_mode}'")
        self.gan_mode = gan_mode

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        return gan_loss(prediction, target_is_real, self.gan_mode)


def gradient_penalty(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates (the reference's 'mixed')."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = netD(mixed)
    (grad,) = torch.autograd.grad(out.float().sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
