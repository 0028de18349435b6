"""The losses of clovaai/stargan-v2 (`compute_d_loss`, `compute_g_loss`): non-saturating adversarial terms,
the R1 penalty on real images, style reconstruction, diversity sensitivity and cycle consistency."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from i2i.models._shared.losses import gan_loss
from i2i.models.stargan_v2.fan import FAN


def r1_penalty(d_out: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """Zero-centred gradient penalty on real images: 0.5 * mean over the batch of |dD/dx|^2."""
    (grad,) = torch.autograd.grad(d_out.sum(), x_in, create_graph=True)
    return 0.5 * grad.float().pow(2).flatten(1).sum(1).mean(0)


def discriminator_loss(
    nets: Mapping[str, nn.Module],
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    *,
    z_trg: torch.Tensor | None = None,
    x_ref: torch.Tensor | None = None,
    masks: tuple[torch.Tensor, torch.Tensor] | None = None,
    lambda_reg: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Upstream's `compute_d_loss`: real + fake + lambda_reg * R1, the fake made from a latent `z_trg` or a
    reference `x_ref` of domain `y_trg`. Returns the total and its terms `real`, `fake`, `reg` (detached)."""
    x_real = x_real.detach().requires_grad_()
    out = nets["discriminator"](x_real, y_org)
    loss_real = gan_loss(out, True, "vanilla")
    loss_reg = r1_penalty(out, x_real)
    with torch.no_grad():
        if z_trg is not None:
            s_trg = nets["mapping_network"](z_trg, y_trg)
        else:
            s_trg = nets["style_encoder"](x_ref, y_trg)
        x_fake = nets["generator"](x_real, s_trg, masks=masks)
    loss_fake = gan_loss(nets["discriminator"](x_fake, y_trg), False, "vanilla")
    loss = loss_real + loss_fake + lambda_reg * loss_reg
    return loss, {"real": loss_real.detach(), "fake": loss_fake.detach(), "reg": loss_reg.detach()}


def generator_loss(
    nets: Mapping[str, nn.Module],
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    *,
    z_trgs: tuple[torch.Tensor, torch.Tensor] | None = None,
    x_refs: tuple[torch.Tensor, torch.Tensor] | None = None,
    masks: tuple[torch.Tensor, torch.Tensor] | None = None,
    fan: FAN | None = None,
    lambda_sty: float = 1.0,
    lambda_ds: float = 1.0,
    lambda_cyc: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Upstream's `compute_g_loss`: adv + lambda_sty * sty - lambda_ds * ds + lambda_cyc * cyc, with the two
    styles from latents `z_trgs` or references `x_refs`; the cycle pass takes masks made by `fan` from the
    fake (w_hpf > 0). Returns the total, its terms `adv`, `sty`, `ds`, `cyc` (detached) and the images
    `x_fake`, `x_rec` (detached)."""
    G, E = nets["generator"], nets["style_encoder"]

    def style(index: int) -> torch.Tensor:
        if z_trgs is not None:
            return nets["mapping_network"](z_trgs[index], y_trg)
        return E(x_refs[index], y_trg)

    s_trg = style(0)
    x_fake = G(x_real, s_trg, masks=masks)
    loss_adv = gan_loss(nets["discriminator"](x_fake, y_trg), True, "vanilla")
    loss_sty = torch.mean(torch.abs(E(x_fake, y_trg).float() - s_trg.float()))
    with torch.no_grad():
        x_fake2 = G(x_real, style(1), masks=masks)
    loss_ds = torch.mean(torch.abs(x_fake.float() - x_fake2.float()))
    cycle_masks = fan.get_heatmap(x_fake) if fan is not None else None
    x_rec = G(x_fake, E(x_real, y_org), masks=cycle_masks)
    loss_cyc = torch.mean(torch.abs(x_rec.float() - x_real.float()))
    loss = loss_adv + lambda_sty * loss_sty - lambda_ds * loss_ds + lambda_cyc * loss_cyc
    terms = {"adv": loss_adv, "sty": loss_sty, "ds": loss_ds, "cyc": loss_cyc}
    images = {"x_fake": x_fake.detach(), "x_rec": x_rec.detach()}
    return loss, {k: v.detach() for k, v in terms.items()}, images
