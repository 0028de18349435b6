"""MaskGAN's training losses (pix2pixHD's, as `Pix2PixHDModel.forward` combines them): LSGAN on the last
output of each discriminator scale, and feature matching over the intermediate features."""

from __future__ import annotations

import torch
import torch.nn.functional as F

Predictions = list[list[torch.Tensor]]


def lsgan(preds: Predictions, target_is_real: bool) -> torch.Tensor:
    """Sum over scales of the MSE between each scale's prediction and 1 (real) or 0 (fake)."""
    loss = preds[0][-1].new_zeros(())
    for feats in preds:
        pred = feats[-1]
        loss = loss + F.mse_loss(pred, torch.full_like(pred, 1.0 if target_is_real else 0.0))
    return loss


def discriminator_losses(real: Predictions, fake: Predictions) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss_D_real, loss_D_fake)."""
    return lsgan(real, True), lsgan(fake, False)


def generator_gan_losses(
    fake: Predictions, real: Predictions, n_layers: int, lambda_feat: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss_G_GAN, loss_G_GAN_Feat): fooling D, and L1 between D's features of fake and (detached) real,
    weighted 1/num_D per scale and 4/(n_layers+1) per layer, times lambda_feat."""
    d_weight, feat_weight = 1.0 / len(fake), 4.0 / (n_layers + 1)
    feat = fake[0][-1].new_zeros(())
    for fake_feats, real_feats in zip(fake, real, strict=True):
        for f, r in zip(fake_feats[:-1], real_feats[:-1], strict=True):
            feat = feat + d_weight * feat_weight * F.l1_loss(f, r.detach()) * lambda_feat
    return lsgan(fake, True), feat
