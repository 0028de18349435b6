"""Training the Dense Mapping Network, reconstructed: upstream released the losses (`Pix2PixHDModel.forward`)
but no training script. Each step renders the image from its own mask with itself as the style reference,
then G: LSGAN + feature matching x lambda_feat + VGG19 x lambda_feat (+ i2i's optional L1); D: LSGAN on real and fake, each seen
with the one-hot mask. Adam(5e-5, (0.5, 0.999)). The VGG19 sees [-1, 1] images without ImageNet
normalisation (pix2pixHD's), and its weights are never downloaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from i2i.models._shared.optim import adam, set_requires_grad
from i2i.models._shared.vgg import VGGFeatures, load_vgg19_weights, vgg19_weights_path
from i2i.models.maskgan import networks as N
from i2i.models.maskgan.losses import discriminator_losses, generator_gan_losses

#: pix2pixHD's VGGLoss: relu1_1 ... relu5_1 (torchvision features indices) and their weights
VGG_RELUS = {1: 1 / 32, 6: 1 / 16, 11: 1 / 8, 20: 1 / 4, 29: 1.0}


class VGGLoss(nn.Module):
    """pix2pixHD's VGG loss: sum of weighted L1 distances of relu1_1..relu5_1 features (target detached)."""

    def __init__(self, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.vgg = VGGFeatures(("conv5_1",), weights)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for index, layer in enumerate(self.vgg.features[: max(VGG_RELUS) + 1]):
            x = layer(x)
            if index in VGG_RELUS:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self._features(x), self._features(y)
        return sum(w * F.l1_loss(a, b.detach()) for w, a, b in zip(VGG_RELUS.values(), fx, fy, strict=True))


def vgg_loss(config: Any) -> VGGLoss:
    """The VGG loss with local ImageNet weights (`vgg19_weights`, $I2I_VGG19_WEIGHTS or the hub cache)."""
    return VGGLoss(load_vgg19_weights(vgg19_weights_path(config.vgg19_weights)))


def optimizers(networks: dict[str, nn.Module], config: Any) -> dict[str, torch.optim.Optimizer]:
    """Adam for G and D with upstream's lr 5e-5 and betas (beta1, 0.999)."""
    return {
        name: adam(networks[name].parameters(), lr=config.lr, betas=(config.beta1, 0.999))
        for name in ("G", "D")
    }


def colour_labels(ids: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W ids -> their palette colours as N x 3 x H x W in [-1, 1] (for sample grids)."""
    from i2i.data.masks import PALETTE

    palette = torch.from_numpy(PALETTE.astype(np.float32) / 127.5 - 1).to(ids.device)
    return palette[ids[:, 0].clamp(0, len(palette) - 1)].permute(0, 3, 1, 2)


def step(
    networks: dict[str, nn.Module],
    opts: dict[str, torch.optim.Optimizer],
    batch: dict[str, Any],
    ctx: Any,
    config: Any,
    vgg: VGGLoss | None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One optimisation step of G then D; (losses, visuals)."""
    G, D = networks["G"], networks["D"]
    real, ids = ctx.to_device(batch["image"]), ctx.to_device(batch["label"])
    label = N.onehot(ids, config.label_nc)
    set_requires_grad([D], False)
    opts["G"].zero_grad()
    with ctx.autocast():
        fake = G(label, label, real)
        pred_fake = D(torch.cat([label, fake], 1))
        with torch.no_grad():
            pred_real = D(torch.cat([label, real], 1))
        loss_gan, loss_feat = generator_gan_losses(
            pred_fake, pred_real, config.n_layers_D, config.lambda_feat
        )
        if config.no_ganFeat_loss:
            loss_feat = loss_feat * 0
        loss_vgg = vgg(fake.float(), real.float()) * config.lambda_feat if vgg is not None else loss_feat * 0
        loss_l1 = F.l1_loss(fake.float(), real.float()) * config.lambda_L1
        loss_G = loss_gan + loss_feat + loss_vgg + loss_l1
    ctx.backward(loss_G)
    ctx.step(opts["G"])

    set_requires_grad([D], True)
    opts["D"].zero_grad()
    with ctx.autocast():
        d_real, d_fake = discriminator_losses(
            D(torch.cat([label, real], 1)), D(torch.cat([label, fake.detach()], 1))
        )
        loss_D = (d_real + d_fake) * 0.5
    ctx.backward(loss_D)
    ctx.step(opts["D"])
    losses = {
        "G_GAN": loss_gan,
        "G_GAN_Feat": loss_feat,
        "G_VGG": loss_vgg,
        "G_L1": loss_l1,
        "D_real": d_real,
        "D_fake": d_fake,
    }
    visuals = {"label": colour_labels(ids), "fake": fake.detach(), "real": real}
    return {k: v.detach() for k, v in losses.items()}, visuals
