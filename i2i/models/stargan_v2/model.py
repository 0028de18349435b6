"""StarGAN v2: "StarGAN v2: Diverse Image Synthesis for Multiple Domains" (Choi et al., CVPR 2020).

Reproduces clovaai/stargan-v2: a generator `generator(x, s, masks)` that renders image `x` in the style code
`s`, a `mapping_network(z, y)` from a latent to the style of domain `y`, a `style_encoder(x, y)` reading the
style of a reference image, and a multi-head `discriminator(x, y)`. Networks, keys and call signatures are
upstream's, so released checkpoints load as they are.

Face models (`w_hpf > 0`, the CelebA-HQ release) also need face masks from a landmark network, the FAN of
`i2i.models.stargan_v2.fan`: it travels as the network `fan` (the released `*_nets_ema.ckpt` holds it as its `fan`
entry; upstream's `wing.ckpt` is given with `fan_weights`). Without it translation refuses to run unless
`allow_no_masks` is set, because the generator without masks is a different function (no high-pass skips and
no shortcuts).

Training keeps exponential moving averages of the generator, mapping network and style encoder as the
networks `generator_ema`, `mapping_network_ema` and `style_encoder_ema`; translation uses them when present.
A released `*_nets_ema.ckpt` holds those averages under the plain names, and loads as `generator`, ...
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i.config import Option
from i2i.errors import I2IError, UsageError, check_unique_names, unknown_name
from i2i.model import Model, StateDict
from i2i.models.stargan_v2 import demo, export, official, training
from i2i.models.stargan_v2.fan import FAN
from i2i.models.stargan_v2.networks import AVERAGED, TRAINED, build_network, he_init
from i2i.models.stargan_v2.official import load_fan_file
from i2i.models.stargan_v2.styles import MEAN_STYLE_LATENTS, latents, mean_style, style_conditions, truncate


@dataclass(frozen=True)
class StarGANv2Config:
    """Field names are the reference's `main.py` options; `domains`, `dim_in`, `fan_weights`,
    `allow_no_masks` and `ema_decay` are i2i's."""

    img_size: int = 256
    style_dim: int = 64
    latent_dim: int = 16
    num_domains: int = 2
    max_conv_dim: int = 512
    #: mapping-network width (upstream declares --hidden_dim but hard-codes 512)
    hidden_dim: int = 512
    #: > 0: face masks and high-pass skips instead of decoder shortcuts (CelebA-HQ); 0 for AFHQ
    w_hpf: float = 1.0
    #: width of the first level of G, E and D; None: upstream's 2**14 // img_size (every released file)
    dim_in: int | None = None
    #: domain names by index (sorted folder names); empty: domain0, domain1, ...
    domains: tuple[str, ...] = ()
    #: FAN weights for w_hpf > 0 when the weights hold none: a path or catalogue name (stargan-v2-wing:
    #: upstream's wing.ckpt), or any checkpoint holding a `fan` network or entry
    fan_weights: str | None = None
    #: translate a w_hpf > 0 model without masks (a degraded function: no high-pass skips, no shortcuts)
    allow_no_masks: bool = False
    lambda_reg: float = 1.0
    lambda_cyc: float = 1.0
    lambda_sty: float = 1.0
    #: diversity-sensitive weight, decayed linearly to 0 over ds_iter steps (upstream trains AFHQ with 2)
    lambda_ds: float = 1.0
    ds_iter: int = 100_000
    total_iters: int = 100_000
    #: probability of a RandomResizedCrop (scale 0.8-1, ratio 0.9-1.1) per training image
    randcrop_prob: float = 0.5
    lr: float = 1e-4
    #: learning rate of the mapping network
    f_lr: float = 1e-6
    beta1: float = 0.0
    beta2: float = 0.99
    weight_decay: float = 1e-4
    ema_decay: float = 0.999


_MISSING_MASKS = (
    "these stargan-v2 weights (w_hpf={w_hpf:g}) need face masks from the FAN landmark network, which they do "
    "not include: without masks the generator runs without its high-pass skips and without shortcuts, so the "
    "identity and detail of the input are lost. Give the FAN weights with --set fan_weights=PATH (upstream's "
    "wing.ckpt, also known as stargan-v2-wing, or a *_nets_ema.ckpt holding a 'fan' entry), or accept the "
    "degraded output with --set allow_no_masks=true"
)


class StarGANv2(Model):
    """StarGAN v2 behind the i2i contract. Translation conditions (see `forward_tensor`): `target_domain`,
    `reference`, `seed`, `psi`, `style_index`; `translate_styles` (and `translate_variants`, with
    `num_styles` or several references) makes several styles per image."""

    name = "stargan-v2"
    task = "multi-domain translation"
    license = "CC BY-NC 4.0 (clovaai/stargan-v2 code and released weights)"
    description = "One generator for many domains, styled by a latent or a reference image (Choi et al. 2020)"
    Config = StarGANv2Config
    inference_networks = ("generator", "mapping_network", "style_encoder")
    sample_visuals = ("x_real", "x_fake_latent", "x_ref", "x_fake_ref", "x_rec")
    data_layout = "domains"
    scheduler_interval = "step"
    tiny_config = {
        "img_size": 32,
        "dim_in": 8,
        "max_conv_dim": 16,
        "style_dim": 8,
        "latent_dim": 4,
        "hidden_dim": 16,
        "num_domains": 3,
        "w_hpf": 0,
    }
    catalogue = "catalogue.json"
    #: not tiled by `translate`: the generator sees every image resized to img_size (bounded memory as is)
    tile_context = None
    options = (
        Option("target_domain", "The domain to translate into.", short="-t"),
        Option(
            "reference",
            "style reference image(s) (repeatable; one style each).",
            type="path",
            short="-r",
            multiple=True,
        ),
        Option("seed", "Seed for stochastic models/modes.", type="int"),
        Option("psi", "truncation towards the domain's mean style (0..1).", type="float"),
        Option("num_styles", "latent styles per input (NAME_s0, NAME_s1, ...).", type="int", minimum=1),
        # the same flag as stargan's `domains`, written out: the registry reads options as literals
        Option(
            "domains",
            "names of the checkpoint's domains in label order, e.g. cat,dog,wild (official files carry none; "
            "i2i checkpoints store them).",
            setting=True,
            commands=("translate", "convert", "eval"),
        ),
    )

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        self._mean_styles: dict[tuple[str, int], torch.Tensor] = {}
        super().__init__(config, **kwargs)

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        check_unique_names("domains", c.domains)
        if c.domains and len(c.domains) != c.num_domains:
            raise I2IError(
                f"domains={','.join(c.domains)} names {len(c.domains)} domains, but the model has "
                f"num_domains={c.num_domains}; give {c.num_domains} comma-separated names"
            )
        nets = {name: build_network(name, c) for name in TRAINED}
        nets |= {f"{name}_ema": build_network(name, c) for name in AVERAGED}
        if c.w_hpf > 0:
            nets["fan"] = FAN().eval()
        return nets

    def init_weights(self) -> None:
        """He init (upstream's) for G, F, E and D; the moving averages start as copies of them (upstream's
        start at PyTorch's default init, an artefact of copying before the init). The FAN is not a trained
        network: without `fan_weights` it stays unloaded."""
        for name in TRAINED:
            he_init(self.networks[name])
        for name in AVERAGED:
            self.networks[f"{name}_ema"].load_state_dict(self.networks[name].state_dict())
        self.loaded.discard("fan")
        self._load_fan_file()

    def load_networks(self, networks: dict[str, StateDict], *, strict: bool = True) -> None:
        super().load_networks(networks, strict=strict)
        self._mean_styles.clear()
        if "fan" not in networks:
            self._load_fan_file()

    def _load_fan_file(self) -> None:
        if self.config.fan_weights and "fan" in self.networks:
            load_fan_file(self.networks["fan"], self.config.fan_weights)
            self.loaded.add("fan")

    # --------------------------------------------------------------------------------------- domains

    @property
    def domain_names(self) -> tuple[str, ...]:
        """The name of each domain by index: `config.domains`, else domain0, domain1, ..."""
        return self.config.domains or tuple(f"domain{i}" for i in range(self.config.num_domains))

    def domain_index(self, domain: str | int | None) -> int:
        """The index of a domain given by name or index (None: domain 0); a did-you-mean error otherwise."""
        names = self.domain_names
        if domain is None:
            return 0
        if isinstance(domain, str) and domain not in names and re.fullmatch(r"-?\d+", domain.strip()):
            domain = int(domain)
        if isinstance(domain, int):
            if not 0 <= domain < len(names):
                raise UsageError(
                    f"target domain {domain} is out of range: this model has {len(names)} domains "
                    f"(0-{len(names) - 1}: {', '.join(names)})"
                )
            return domain
        if domain not in names and not self.config.domains:
            raise UsageError(
                f"unknown target domain '{domain}': this checkpoint does not name its domains (official files "
                f"never do); give them in label order with --domains NAME,NAME,... ({len(names)} names), or "
                f"use an index 0-{len(names) - 1}"
            )
        if domain not in names:
            raise unknown_name("target domain", str(domain), names)
        return names.index(domain)

    # ------------------------------------------------------------------------------------- inference

    def _net(self, name: str) -> str:
        """The moving average of `name` when loaded, else `name` itself."""
        return f"{name}_ema" if f"{name}_ema" in self.loaded else name

    def required_networks(self, conditions: dict[str, Any]) -> tuple[str, ...]:
        styler = "style_encoder" if conditions.get("reference") is not None else "mapping_network"
        return (self._net("generator"), self._net(styler))

    def translate_images(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """`ImageData` in, `ImageData` out; conditions as `forward_tensor` (the reference is read once).
        `reference` may also be a list of one image, and `num_styles` 1 (several: `translate_variants`)."""
        conditions = self.prepare_conditions(conditions)
        return super().translate_images(images, batch_size=batch_size, **conditions)

    def prepare_conditions(self, conditions: dict[str, Any]) -> dict[str, Any]:
        """The conditions of one style checked, the domain as an index and the reference read (what
        `translate_images` and `export_graphs` hand to `forward_tensor` / `style_code`)."""
        conditions = dict(conditions)
        num_styles = conditions.pop("num_styles", 1)
        if num_styles != 1:
            raise UsageError(f"num_styles={num_styles}: one output per input here; use translate_variants")
        if isinstance(conditions.get("reference"), (list, tuple)) and len(conditions["reference"]) == 1:
            conditions["reference"] = conditions["reference"][0]
        self.check_conditions(conditions)
        psi = conditions.get("psi")
        if psi is not None and not 0.0 <= float(psi) <= 1.0:  # NaN fails too
            raise UsageError(
                f"{self.flag('psi')} must be between 0 (the domain's mean style) and 1 (no truncation), "
                f"not {psi}"
            )
        if conditions.get("reference") is not None and conditions.get("psi", 1.0) != 1.0:
            raise UsageError(
                f"{self.flag('psi')} (truncation) applies to latent-guided translation, not to a style "
                f"reference ({self.flag('reference')})"
            )
        conditions["target_domain"] = self.domain_index(conditions.get("target_domain"))
        if conditions.get("reference") is not None:
            conditions["reference"] = self._reference_tensor(conditions["reference"])
        self._check_masks()
        return conditions

    def export_graphs(self, conditions: dict[str, Any]) -> list[Any]:
        """`i2i export`: the translation in one style (see `export.graphs`), the mapping network and the
        style encoder."""
        return export.graphs(self, self.prepare_conditions(conditions))

    def default_note(self, conditions: dict[str, Any]) -> str | None:
        if conditions.get("target_domain") is None:
            names = self.domain_names
            return f"no {self.flag('target_domain')}: translating into '{names[0]}' (domains: {', '.join(names)})"
        return None

    def translate_styles(
        self,
        images: Sequence[Any],
        *,
        target_domain: str | int | None = None,
        num_styles: int = 1,
        reference: Any = None,
        seed: int = 0,
        psi: float = 1.0,
        batch_size: int = 1,
    ) -> list[list[Any]]:
        """Each image in several styles: `result[i][k]` is image i in style k (`ImageData`; inputs may be
        `ImageData`, paths, PIL images or arrays).

        Latent-guided: styles 0..num_styles-1 are latents 0..num_styles-1 of `seed` (style k equals a
        `translate(..., seed=seed, style_index=k)`). Reference-guided: `reference` is one image or a list
        of images, one style each (then `num_styles` must be 1 or their number)."""
        from i2i.io.imageio import ImageData, read_image

        decoded = [im if isinstance(im, ImageData) else read_image(im) for im in images]
        styles = style_conditions(num_styles, _references(reference), seed, psi)
        columns = [
            self.translate_images(decoded, batch_size=batch_size, target_domain=target_domain, **style)
            for style in styles
        ]
        return [list(row) for row in zip(*columns, strict=True)]

    def variant_count(self, conditions: dict[str, Any]) -> int:
        """One output per reference when several are given, else `num_styles` (latent styles)."""
        references = _references(conditions.get("reference"))
        num_styles = conditions.get("num_styles")
        return len(references) if len(references) > 1 else 1 if num_styles is None else int(num_styles)

    def translate_variants(
        self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any
    ) -> list[list[Any]]:
        """`translate_styles` with the conditions of `translate_images` (`reference` one image or several,
        `num_styles`): `result[i][k]` is image i in style k. One style is plain translation."""
        if self.variant_count(conditions) == 1:
            return super().translate_variants(images, batch_size=batch_size, **conditions)
        if "style_index" in conditions:
            raise UsageError("style_index picks one latent style; num_styles makes styles 0..num_styles-1")
        self.check_conditions({k: v for k, v in conditions.items() if k != "num_styles"})
        references = _references(conditions.pop("reference", None))
        return self.translate_styles(
            images, reference=references or None, batch_size=batch_size, **conditions
        )

    def forward_tensor(
        self,
        x: torch.Tensor,
        *,
        target_domain: str | int | None = None,
        reference: Any = None,
        seed: int = 0,
        psi: float = 1.0,
        style_index: int = 0,
    ) -> torch.Tensor:
        """Translate `x` (N x 3 x H x W in [-1, 1]) into `target_domain` (name or index; default 0).

        The style is latent-guided: z = latent `style_index` of `seed` through the mapping network, pulled
        towards the domain's mean style by `psi` < 1 (truncation); or reference-guided: the style encoder's
        code of `reference` (a path, PIL image, array or `ImageData`; grey is used as RGB, alpha ignored),
        read as an image of the target domain. Every image of the batch gets the same style. Inputs are
        resized to img_size x img_size (the size the networks were trained at) and the output back to H x W;
        masks come from the FAN when w_hpf > 0."""
        x_in = _resize(x, (self.config.img_size, self.config.img_size))
        s = self.style_code(target_domain, reference, seed, psi, style_index, dtype=x_in.dtype)
        return self.generate(x, s, x_in)

    def style_code(
        self,
        target_domain: str | int | None = None,
        reference: Any = None,
        seed: int = 0,
        psi: float = 1.0,
        style_index: int = 0,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """(1, style_dim): the style `forward_tensor` gives every image for these conditions."""
        y = self.domain_index(target_domain)
        labels = torch.full((1,), y, dtype=torch.long, device=self.device)
        if reference is not None:
            E = self.networks[self._net("style_encoder")].eval()
            return E(self._reference_tensor(reference).to(dtype), labels)
        F_map = self.networks[self._net("mapping_network")].eval()
        z = latents(seed, style_index + 1, self.config.latent_dim)[style_index:].to(self.device)
        s = F_map(z, labels)
        return truncate(s, self._mean_style(y), psi) if psi != 1.0 else s

    def generate(self, x: torch.Tensor, s: torch.Tensor, x_in: torch.Tensor | None = None) -> torch.Tensor:
        """The generator on `x` (resized to img_size and back; `x_in`: already resized) in style `s`."""
        size = (self.config.img_size, self.config.img_size)
        x_in = _resize(x, size) if x_in is None else x_in
        G = self.networks[self._net("generator")].eval()
        out = G(x_in, s.expand(x.shape[0], -1), masks=self._masks(x_in))
        return _resize(out, tuple(x.shape[2:]))

    def _mean_style(self, y: int) -> torch.Tensor:
        key = (self._net("mapping_network"), y)
        if key not in self._mean_styles:
            z = latents(0, MEAN_STYLE_LATENTS, self.config.latent_dim).to(self.device)
            self._mean_styles[key] = mean_style(self.networks[key[0]].eval(), y, z)
        return self._mean_styles[key]

    def _reference_tensor(self, reference: Any) -> torch.Tensor:
        """1 x 3 x img_size x img_size in [-1, 1] on the device (a tensor is taken as already prepared)."""
        from i2i.io.imageio import ImageData, read_image

        if isinstance(reference, torch.Tensor):
            return reference
        if isinstance(reference, (list, tuple)):
            raise UsageError("reference is one image here; translate_styles takes several (one style each)")
        image = reference if isinstance(reference, ImageData) else read_image(reference)
        size = (self.config.img_size, self.config.img_size)
        return _resize(self.to_input_tensor(image, 3), size).to(self.device)

    def _check_masks(self) -> None:
        c = self.config
        if c.w_hpf > 0 and "fan" not in self.loaded and not c.allow_no_masks:
            raise I2IError(_MISSING_MASKS.format(w_hpf=c.w_hpf))

    def _masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        self._check_masks()
        if self.config.w_hpf <= 0 or "fan" not in self.loaded:
            return None
        return self.networks["fan"].eval().get_heatmap(x)

    # --------------------------------------------------------------------------------------- training

    def default_total_steps(self) -> int | None:
        return self.config.total_iters

    @classmethod
    def settings_from_data(cls, data: Path) -> dict[str, Any]:
        """The number and names of the domains: the sub-folders of the training data; and `w_hpf=0`, the
        AFHQ setting: the CelebA-HQ setting (`--set w_hpf=1`) needs aligned faces and FAN weights for the
        masks, which a folder of images does not promise."""
        from i2i.data.domains import find_domains

        names = find_domains(Path(data), "train").names
        # a tuple: names may hold commas
        return {"num_domains": len(names), "domains": tuple(names), "w_hpf": 0.0}

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        """One sub-folder per domain (`i2i.data.domains`); the folder names become `config.domains`."""
        from i2i.data.domains import DomainDataset

        c = self.config
        dataset = DomainDataset(data, img_size=c.img_size, randcrop_prob=c.randcrop_prob, seed=seed)
        names = dataset.domains
        if len(names) != c.num_domains:
            raise I2IError(
                f"{data} has {len(names)} domains ({', '.join(names)}) but the model has num_domains="
                f"{c.num_domains}; use --set num_domains={len(names)} (or give {c.num_domains} domain folders)"
            )
        if c.domains and c.domains != names:
            raise I2IError(
                f"{data} has the domains {', '.join(names)} but the model's are {', '.join(c.domains)}; the "
                "index of a domain is its position in the sorted folder names: rename the folders to match"
            )
        self.config = dataclasses.replace(c, domains=names)
        return dataset

    def setup_training(self) -> None:
        """Adam for G, F, E and D; moving averages start at the loaded networks when the weights file has
        none (`training.prepare`)."""
        self.optimizers = training.prepare(self.networks, self.loaded, self.config)
        self.schedulers = {}
        self._mean_styles.clear()

    def lambda_ds_now(self) -> float:
        """The diversity-sensitive weight at the current step (see `training.lambda_ds`)."""
        return training.lambda_ds(self.config, self.step)

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        """Upstream's iteration (`training.iteration`)."""
        losses, self._visuals = training.iteration(
            self.networks, self.optimizers, batch, ctx, self.config, self.step
        )
        self._mean_styles.clear()
        return losses

    def visuals(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in getattr(self, "_visuals", {}).items()}

    demo = classmethod(demo.run)

    # ------------------------------------------------------------------------ official checkpoints

    detect = classmethod(official.detect)
    import_official = classmethod(official.import_official)


def _references(reference: Any) -> list[Any]:
    """The reference images of a condition: none, one, or a list of them."""
    if reference is None:
        return []
    return list(reference) if isinstance(reference, (list, tuple)) else [reference]


def _resize(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Bilinear resize with antialiasing (as PIL's), in float32: the CPU kernel has no bf16 version."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
