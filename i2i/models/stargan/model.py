"""StarGAN (v1): "StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image
Translation" (Choi et al., CVPR 2018).

Reproduces yunjey/stargan: one generator `G(x, c)` that sees the target label `c` tiled over the image,
and a discriminator `D(x) -> (out_src, out_cls)` with a PatchGAN realness map and a domain classifier.
WGAN-GP training: D every step, G every `n_critic` steps (adversarial + classification + 10 x L1
reconstruction back to the original label).

Translation conditions (`model.translate(image, attrs=...)`, `i2i translate --attrs ...`):

* `attrs` (CelebA models): the attributes the output should have, e.g. `"Blond_Hair,Male"`; every
  attribute of `selected_attrs` that is not named is off, and hair colours are exclusive (see
  `i2i.data.attributes.attribute_vector`). The original attributes of an input image are unknown, so the
  target is absolute rather than the reference test script's "flip the others" labels.
* `target_domain` (domain-folder models, `dataset="rafd"`): a name of `domains` (or its index).
* `mode`: "train" (default, the official test behaviour: `Solver.test()` never calls `G.eval()`, so
  InstanceNorm uses each image's own statistics; the stored running statistics are neither used nor
  changed), or "eval" (the stored running statistics).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from i2i.config import Option
from i2i.errors import I2IError, UsageError, check_unique_names, unknown_name
from i2i.model import Model
from i2i.models._shared.losses import gradient_penalty
from i2i.models._shared.optim import adam, set_requires_grad
from i2i.models.stargan import official
from i2i.models.stargan.networks import Discriminator, Generator

TestMode = Literal["train", "eval"]
TEST_MODES = ("train", "eval")


@dataclass(frozen=True)
class StarGANConfig:
    """Field names are the reference's command-line options (`dataset` in lower case)."""

    c_dim: int = 5
    image_size: int = 128
    g_conv_dim: int = 64
    d_conv_dim: int = 64
    g_repeat_num: int = 6
    d_repeat_num: int = 6
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    #: "celeba": list_attr_celeba.txt + images/ with multi-hot labels; "rafd": one folder per domain
    dataset: Literal["celeba", "rafd"] = "celeba"
    selected_attrs: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
    #: rafd: the domain folders in label order (empty: every sub-folder, sorted; filled in by training)
    domains: tuple[str, ...] = ()
    celeba_crop_size: int = 178
    rafd_crop_size: int = 256
    #: CelebA images held out by the reference split (1999 upstream); 0 trains on all of them
    celeba_test_size: int = 1999
    n_critic: int = 5
    g_lr: float = 0.0001
    d_lr: float = 0.0001
    beta1: float = 0.5
    beta2: float = 0.999
    num_iters: int = 200000
    num_iters_decay: int = 100000
    lr_update_step: int = 1000
    #: InstanceNorm at test time: "train" (per-image statistics, the official behaviour) or "eval"
    test_mode: TestMode = "train"


class StarGAN(Model):
    """StarGAN behind the i2i contract; translation conditions `attrs`, `target_domain` and `mode`."""

    name = "stargan"
    task = "multi-domain translation"
    license = "MIT"
    description = (
        "One generator for every attribute/domain target, WGAN-GP + domain classifier (Choi et al. 2018)"
    )
    Config = StarGANConfig
    sample_visuals = ("real", "fake", "rec")
    data_layout = "attributes"
    tiny_config = {
        "g_conv_dim": 4,
        "d_conv_dim": 4,
        "g_repeat_num": 1,
        "d_repeat_num": 3,
        "image_size": 32,
        "celeba_crop_size": 32,
        "celeba_test_size": 2,
        "n_critic": 1,
    }
    catalogue = "catalogue.json"
    options = (
        Option("target_domain", "The domain to translate into.", short="-t"),
        Option("attrs", "attributes to set, e.g. Blond_Hair,Male (the others off)."),
        # the same flag as stargan-v2's `domains`, written out: the registry reads options as literals
        Option(
            "domains",
            "names of the checkpoint's domains in label order, e.g. cat,dog,wild (official files carry none; "
            "i2i checkpoints store them).",
            setting=True,
            commands=("translate", "convert", "eval"),
        ),
    )

    def __init__(self, config: StarGANConfig | None = None, **kwargs: Any) -> None:
        if config is not None and config.domains and config.dataset == "celeba":
            # domain names only mean something to a folder-trained model: naming them says it is one
            config = replace(config, dataset="rafd")
        super().__init__(config, **kwargs)

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        check_unique_names("domains", c.domains)
        check_unique_names("selected_attrs", c.selected_attrs)
        if c.image_size % 2**c.d_repeat_num:
            raise UsageError(
                f"image_size {c.image_size} must be a multiple of 2^d_repeat_num = {2**c.d_repeat_num} "
                "(the classifier's kernel covers the discriminator's last feature map)"
            )
        return {
            "G": Generator(c.g_conv_dim, c.c_dim, c.g_repeat_num),
            "D": Discriminator(c.image_size, c.d_conv_dim, c.c_dim, c.d_repeat_num),
        }

    def size_multiple(self) -> int:
        return 4

    def min_size(self) -> int:
        return 8  # instance norm needs more than one value per channel after the two downsamplings

    # -------------------------------------------------------------------------------- inference

    @property
    def label_names(self) -> tuple[str, ...]:
        """The name of each label entry: `selected_attrs` (celeba) or `domains` (rafd)."""
        c = self.config
        return c.selected_attrs if c.dataset == "celeba" else c.domains

    def target_label(
        self, attrs: str | Sequence[str] | None = None, target_domain: str | int | None = None
    ) -> torch.Tensor:
        """The (1, c_dim) label `G` is given for these conditions (see the module docstring)."""
        from i2i.data.attributes import attribute_vector

        c = self.config
        unnamed = c.dataset == "celeba" and len(c.selected_attrs) != c.c_dim and not attrs
        if c.dataset == "celeba" and not (unnamed and target_domain is not None):
            if target_domain is not None:
                attrs_flag, domain_flag = self.flag("attrs"), self.flag("target_domain")
                raise UsageError(
                    f"this StarGAN was trained on CelebA attributes: choose the target with {attrs_flag} "
                    f"(e.g. {attrs_flag} {c.selected_attrs[0]}), not {domain_flag}"
                )
            self._check_label_names("selected_attrs")
            return torch.tensor([attribute_vector(attrs, c.selected_attrs)])
        if attrs:
            raise UsageError(
                "this StarGAN was trained on domain folders: choose the target with "
                f"{self.flag('target_domain')}, not {self.flag('attrs')}"
            )
        index = self._domain_index(target_domain)
        return F.one_hot(torch.tensor([index]), c.c_dim).float()

    def default_note(self, conditions: dict[str, Any]) -> str | None:
        c = self.config
        if c.dataset == "celeba" and not conditions.get("attrs") and conditions.get("target_domain") is None:
            return f"no {self.flag('attrs')}: every attribute off ({', '.join(c.selected_attrs)})"
        return None

    def _check_label_names(self, field: str) -> None:
        names, c_dim = self.label_names, self.config.c_dim
        if len(names) != c_dim:
            folders = (
                f"; if it was trained on domain folders (RaFD-like), choose the target with --target-domain "
                f"0..{c_dim - 1} or name the domains with --domains"
                if field == "selected_attrs"
                else ""
            )
            raise I2IError(
                f"this model takes {c_dim} labels but {field} names {len(names)} "
                f"({', '.join(names) or 'none'}); set {field} to the {c_dim} names it was "
                f"trained with, in order (--set {field}=A,B,...){folders}"
            )

    def _domain_index(self, target_domain: str | int | None) -> int:
        c_dim = self.config.c_dim
        domains = self.config.domains if self.config.dataset == "rafd" else ()
        if target_domain is None:
            choices = ", ".join(domains) if domains else f"an index 0..{c_dim - 1}"
            raise UsageError(f"choose the target domain ({self.flag('target_domain')}): {choices}")
        if domains:
            self._check_label_names("domains")
        if str(target_domain) in domains:
            return domains.index(str(target_domain))
        if isinstance(target_domain, int) or re.fullmatch(r"-?\d+", str(target_domain).strip()):
            index = int(target_domain)
            if not 0 <= index < c_dim:
                raise UsageError(
                    f"{self.flag('target_domain')} {index} is out of range: this model has {c_dim} domains"
                )
            return index
        if not domains:
            raise UsageError(
                f"this model has no domain names: give the target domain as an index 0..{c_dim - 1}, or name "
                "the domains with --domains NAME,NAME,... (its training folders, sorted)"
            )
        raise unknown_name("domain", str(target_domain), domains)

    def forward_tensor(
        self,
        x: torch.Tensor,
        *,
        attrs: str | Sequence[str] | None = None,
        target_domain: str | int | None = None,
        mode: TestMode | None = None,
    ) -> torch.Tensor:
        """`attrs` (CelebA) or `target_domain` (domain folders) choose the target; `mode` overrides
        `config.test_mode`: "train" normalises each image with its own statistics (the official test
        behaviour), "eval" with the stored running statistics."""
        mode = mode or self.config.test_mode
        if mode not in TEST_MODES:
            raise unknown_name("test mode", mode, TEST_MODES)
        label = self.target_label(attrs, target_domain).to(x.device).expand(x.shape[0], -1)
        G = self.networks["G"]
        G.eval()
        G.use_instance_statistics(mode == "train")
        return G(x, label)

    # --------------------------------------------------------------------------------- training

    @classmethod
    def settings_from_data(cls, data: Path) -> dict[str, Any]:
        """CelebA files (`list_attr_celeba.txt`, `images/`) mean attribute training; otherwise the folders
        are domains (RaFD-like): their number and names, as `i2i data check` reads the same folder."""
        from i2i.data.attributes import ATTRIBUTE_FILE, IMAGE_FOLDER, find_domains

        data = Path(data)
        if (data / ATTRIBUTE_FILE).exists() or (data / IMAGE_FOLDER).is_dir():
            return {}
        names = tuple(find_domains(data).domains)
        return {"dataset": "rafd", "c_dim": len(names), "domains": names}

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        from i2i.data.attributes import CelebADataset, DomainFolderDataset

        c = self.config
        if c.dataset == "celeba":
            if len(c.selected_attrs) != c.c_dim:
                raise UsageError(
                    f"selected_attrs names {len(c.selected_attrs)} attributes but c_dim is {c.c_dim}; use --set "
                    f"c_dim={len(c.selected_attrs)}"
                )
            return CelebADataset(
                data,
                selected_attrs=c.selected_attrs,
                split="train",
                test_size=c.celeba_test_size,
                crop_size=c.celeba_crop_size,
                image_size=c.image_size,
                seed=seed,
            )
        dataset = DomainFolderDataset(
            data, domains=c.domains, crop_size=c.rafd_crop_size, image_size=c.image_size, seed=seed
        )
        if len(dataset.domains) != c.c_dim:
            raise I2IError(
                f"{data}: {len(dataset.domains)} domain folders ({', '.join(dataset.domains)}) but c_dim is "
                f"{c.c_dim}; use --set c_dim={len(dataset.domains)}"
            )
        # the folder names become part of the config, so translate can name the domains
        self.config = replace(c, domains=dataset.domains)
        return dataset

    def setup_training(self) -> None:
        c = self.config
        self.optimizers = {
            "G": adam(self.networks["G"].parameters(), lr=c.g_lr, betas=(c.beta1, c.beta2)),
            "D": adam(self.networks["D"].parameters(), lr=c.d_lr, betas=(c.beta1, c.beta2)),
        }
        for net in self.networks.values():
            net.train()

    def _lr_factor(self, step: int) -> float:
        """The reference decay: lr0 / num_iters_decay less after every `lr_update_step`-th iteration of the
        last `num_iters_decay`, so 1e-4 falls only to 9.99e-5 over a default run (effectively constant)."""
        c = self.config
        start = c.num_iters - c.num_iters_decay
        if step <= start or c.num_iters_decay <= 0:
            return 1.0
        return 1.0 - (step // c.lr_update_step - start // c.lr_update_step) / c.num_iters_decay

    def default_total_steps(self) -> int | None:
        return self.config.num_iters

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        c = self.config
        G, D = self.networks["G"], self.networks["D"]
        # set from the step count, as the reference's update_lr (so resuming needs no scheduler state)
        factor = self._lr_factor(self.step)
        for name, lr in (("G", c.g_lr), ("D", c.d_lr)):
            for group in self.optimizers[name].param_groups:
                group["lr"] = lr * factor
        x_real = ctx.to_device(batch["image"])
        label_org = batch["label"]
        # random target labels: the batch's own labels, permuted (global RNG, saved by the loop)
        label_trg = label_org[torch.randperm(label_org.shape[0])]
        label_org, label_trg = label_org.to(self.device), label_trg.to(self.device)
        c_org, c_trg = self._as_condition(label_org), self._as_condition(label_trg)

        set_requires_grad([D], True)
        self.optimizers["D"].zero_grad()
        with ctx.autocast():
            out_src, out_cls = D(x_real)
            d_loss_real = -out_src.float().mean()
            d_loss_cls = self._classification_loss(out_cls, label_org)
            with torch.no_grad():
                x_fake = G(x_real, c_trg)
            out_src, _ = D(x_fake)
            d_loss_fake = out_src.float().mean()
            d_loss_gp = gradient_penalty(lambda x: D(x)[0], x_real, x_fake)
            d_loss = d_loss_real + d_loss_fake + c.lambda_cls * d_loss_cls + c.lambda_gp * d_loss_gp
        ctx.backward(d_loss)
        ctx.step(self.optimizers["D"])
        losses = {"D_real": d_loss_real, "D_fake": d_loss_fake, "D_cls": d_loss_cls, "D_gp": d_loss_gp}
        self._visuals = {"real": x_real, "fake": x_fake}

        if (self.step + 1) % c.n_critic == 0:
            set_requires_grad([D], False)
            self.optimizers["G"].zero_grad()
            with ctx.autocast():
                x_fake = G(x_real, c_trg)
                out_src, out_cls = D(x_fake)
                g_loss_fake = -out_src.float().mean()
                g_loss_cls = self._classification_loss(out_cls, label_trg)
                x_rec = G(x_fake, c_org)
                g_loss_rec = (x_real.float() - x_rec.float()).abs().mean()
                g_loss = g_loss_fake + c.lambda_rec * g_loss_rec + c.lambda_cls * g_loss_cls
            ctx.backward(g_loss)
            ctx.step(self.optimizers["G"])
            losses |= {"G_fake": g_loss_fake, "G_rec": g_loss_rec, "G_cls": g_loss_cls}
            self._visuals = {"real": x_real, "fake": x_fake.detach(), "rec": x_rec.detach()}
        return {k: v.detach() for k, v in losses.items()}

    def _as_condition(self, label: torch.Tensor) -> torch.Tensor:
        if self.config.dataset == "celeba":
            return label.float()
        return F.one_hot(label, self.config.c_dim).float()

    def _classification_loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """CelebA: BCE with logits summed over attributes, averaged over images; domains: cross-entropy."""
        logits = logits.float()
        if self.config.dataset == "celeba":
            return (
                F.binary_cross_entropy_with_logits(logits, label.float(), reduction="sum") / logits.shape[0]
            )
        return F.cross_entropy(logits, label)

    def visuals(self) -> dict[str, torch.Tensor]:
        return getattr(self, "_visuals", {})

    # ------------------------------------------------------------------------ official checkpoints

    detect = classmethod(official.detect)
    import_official = classmethod(official.import_official)
