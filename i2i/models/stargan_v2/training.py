"""One training iteration of clovaai/stargan-v2 (`Solver.train`): the discriminator on a latent fake and on
a reference fake, the generator, mapping network and style encoder on latents, the generator on references,
then the moving averages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from i2i.errors import I2IError
from i2i.models._shared.optim import adam
from i2i.models.stargan_v2.losses import discriminator_loss, generator_loss
from i2i.models.stargan_v2.networks import AVERAGED, TRAINED


def prepare(nets: Mapping[str, nn.Module], loaded: set[str], config: Any) -> dict[str, torch.optim.Optimizer]:
    """Networks set for training (moving averages not in `loaded` start as copies of their networks), and
    Adam for G, F (lr f_lr), E and D with upstream's betas and weight decay."""
    if config.w_hpf > 0 and "fan" not in loaded:
        raise I2IError(
            f"training with w_hpf={config.w_hpf:g} needs face masks from the FAN landmark network: give its "
            "weights with --set fan_weights=PATH (upstream's wing.ckpt: stargan-v2-wing), or train "
            "without the mask path with --set w_hpf=0"
        )
    for name in AVERAGED:
        if f"{name}_ema" not in loaded:
            nets[f"{name}_ema"].load_state_dict(nets[name].state_dict())
        nets[f"{name}_ema"].requires_grad_(False).eval()
    for name in TRAINED:
        nets[name].requires_grad_(True).train()
    if "fan" in nets:
        nets["fan"].requires_grad_(False).eval()
    return {
        name: adam(
            nets[name].parameters(),
            lr=config.f_lr if name == "mapping_network" else config.lr,
            betas=(config.beta1, config.beta2),
            weight_decay=config.weight_decay,
        )
        for name in TRAINED
    }


def lambda_ds(config: Any, step: int) -> float:
    """The diversity-sensitive weight at `step`: linear decay to 0 over ds_iter steps (from the step, so a
    resumed run continues the decay; upstream restarts it)."""
    progress = min(1.0, step / config.ds_iter) if config.ds_iter > 0 else 0.0
    return config.lambda_ds * (1.0 - progress)


def iteration(
    nets: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    batch: dict[str, Any],
    ctx: Any,
    config: Any,
    step: int,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Upstream's iteration on `batch` (the loop's `ctx` moves, casts and steps); returns the losses and the
    visuals of the step."""
    c = config
    x_real, y_org = ctx.to_device(batch["x"]), ctx.to_device(batch["y"])
    x_ref, x_ref2 = ctx.to_device(batch["x_ref"]), ctx.to_device(batch["x_ref2"])
    y_trg = ctx.to_device(batch["y_ref"])
    n = x_real.shape[0]
    # drawn on the CPU from the global RNG, as upstream, so runs and resumes do not depend on the device
    z_trg = ctx.to_device(torch.randn(n, c.latent_dim))
    z_trg2 = ctx.to_device(torch.randn(n, c.latent_dim))
    fan = nets["fan"] if c.w_hpf > 0 else None
    masks = fan.get_heatmap(x_real) if fan is not None else None
    losses: dict[str, torch.Tensor] = {}

    for branch, style in (("latent", {"z_trg": z_trg}), ("ref", {"x_ref": x_ref})):
        _zero_grad(optimizers)
        with ctx.autocast():
            loss, terms = discriminator_loss(
                nets, x_real, y_org, y_trg, masks=masks, lambda_reg=c.lambda_reg, **style
            )
        ctx.backward(loss)
        ctx.step(optimizers["discriminator"])
        ctx.end_step()  # the fp16 scaler allows one step per optimizer between updates
        losses |= {f"D_{branch}": loss.detach(), **{f"D_{branch}_{k}": v for k, v in terms.items()}}

    weight_ds = lambda_ds(c, step)
    nets["discriminator"].requires_grad_(False)
    images: dict[str, dict[str, torch.Tensor]] = {}
    branches = (
        ("latent", {"z_trgs": (z_trg, z_trg2)}, AVERAGED),
        ("ref", {"x_refs": (x_ref, x_ref2)}, ("generator",)),
    )
    for branch, styles, stepped in branches:
        _zero_grad(optimizers)
        for name in AVERAGED:
            nets[name].requires_grad_(name in stepped)
        with ctx.autocast():
            loss, terms, images[branch] = generator_loss(
                nets,
                x_real,
                y_org,
                y_trg,
                masks=masks,
                fan=fan,
                lambda_sty=c.lambda_sty,
                lambda_ds=weight_ds,
                lambda_cyc=c.lambda_cyc,
                **styles,
            )
        ctx.backward(loss)
        for name in stepped:
            ctx.step(optimizers[name])
        if branch == "latent":
            ctx.end_step()
        losses |= {f"G_{branch}": loss.detach(), **{f"G_{branch}_{k}": v for k, v in terms.items()}}
    for name in TRAINED:
        nets[name].requires_grad_(True)
    update_ema(nets, c.ema_decay)
    losses["lambda_ds"] = torch.tensor(weight_ds)
    visuals = {
        "x_real": x_real,
        "x_fake_latent": images["latent"]["x_fake"],
        "x_ref": x_ref,
        "x_fake_ref": images["ref"]["x_fake"],
        "x_rec": images["latent"]["x_rec"],
    }
    return losses, visuals


def _zero_grad(optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
    for optimizer in optimizers.values():
        optimizer.zero_grad(set_to_none=True)


@torch.no_grad()
def update_ema(nets: Mapping[str, nn.Module], decay: float) -> None:
    """`<name>_ema` <- lerp(`<name>`, `<name>_ema`, decay) for every averaged network."""
    for name in AVERAGED:
        ema = dict(nets[f"{name}_ema"].named_parameters())
        for key, param in nets[name].named_parameters():
            ema[key].copy_(torch.lerp(param, ema[key], decay))
