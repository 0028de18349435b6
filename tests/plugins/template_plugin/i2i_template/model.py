"""A template i2i model: copy it to add a model of your own (in a plugin, or as a folder of i2i).

How to add a model
==================
1. **Config.** A frozen dataclass of the settings that describe the networks and their training, under
   the names the reference implementation uses. `i2i train --set key=value` and `i2i.load(..., key=value)`
   parse values by each field's type; every checkpoint stores the resolved config.
2. **Model.** A subclass of `i2i.Model` with the class attributes below and the methods marked "required".
   `build_networks` returns the networks by the reference's names; `forward_tensor` translates a batch in
   `value_range`, already padded to `size_multiple()` (i2i pads, crops, batches, handles alpha, greyscale,
   16-bit files and precision around it).
3. **Options.** `options` declares the model's command-line flags: conditions of its translation (keyword
   arguments of `forward_tensor`) and shortcuts for config settings. Write them with literal arguments:
   the CLI reads them from this file without importing it. Any condition is also `--cond name=value`.
4. **Training.** `dataset_layout` (a layout of `i2i.data.layouts`, or one of your own as here),
   `training_dataset`, `setup_training` (optimisers and schedulers by name) and `training_step` (one
   optimisation step through `ctx`, which handles precision, gradient scaling and torchrun). The shared
   loop gives run folders, checkpoints, exact `--resume`, sample grids (`visuals`) and logs.
5. **Official files.** `detect` and `import_official` turn the reference's checkpoints (any wrapper i2i
   unwraps: `state_dict`, `params_ema`, `module.` prefixes) into your networks' state dicts, with the
   settings read from tensor shapes, so that `i2i.load(weights="their_file.pth")` needs no flags.
6. **Catalogue.** `catalogue` names a JSON file beside this module with weights and datasets by name
   (`file` for bundled weights, relative to that JSON file; `url` (+ `sha256`, `size`) for downloads).
7. **Register** the class in your `pyproject.toml` under `[project.entry-points."i2i.models"]` and install
   the package: `i2i models` lists it, and every i2i command and the contract test suite
   (`tests/models/test_contract.py`) work with it. A built-in model is a folder under `i2i/models/` plus
   its entry point in i2i's own `pyproject.toml`.

This template learns a per-channel affine colour transform (a 1x1 convolution) towards each training
image's negative, a task small enough to train in seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

import i2i
from i2i.config import Option
from i2i.data import layouts
from i2i.data.layouts import Layout, LayoutReport
from i2i.io import imageio


@dataclasses.dataclass(frozen=True)
class TemplateConfig:
    input_nc: int = 3
    output_nc: int = 3
    lr: float = 0.01
    n_epochs: int = 10


class Template(i2i.Model):
    # ---------------------------------------------------------------------------- declarations
    name = "template"
    task = "template translation"
    license = "CC0-1.0"
    description = "A 1x1 convolution that learns to invert colours: a copyable example of a model plugin"
    Config = TemplateConfig
    value_range = (0.0, 1.0)
    data_layout = "template-images"
    catalogue = "catalogue.json"
    tiny_config = {"n_epochs": 1}
    sample_visuals = ("real", "fake", "target")
    scheduler_interval = "step"
    options = (
        Option(
            name="strength",
            type="float",
            help="How much of the learned transform to apply (0: the input, 1: the full transform).",
        ),
    )

    # ------------------------------------------------------------------------- networks (required)
    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        G = nn.Conv2d(c.input_nc, c.output_nc, 1)
        with torch.no_grad():  # start from the identity
            G.weight.copy_(torch.eye(c.output_nc, c.input_nc)[:, :, None, None])
            G.bias.zero_()
        return {"G": G}

    def forward_tensor(self, x: torch.Tensor, *, strength: float | None = None) -> torch.Tensor:
        y = self.networks["G"](x)
        return y if strength is None else x + float(strength) * (y - x)

    # ------------------------------------------------------------------------------------ training
    @classmethod
    def dataset_layout(cls) -> Layout:
        return IMAGES

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        return NegativesDataset(data)

    def default_total_steps(self) -> int | None:
        return None

    def setup_training(self) -> None:
        self.optimizers = {"G": torch.optim.Adam(self.networks["G"].parameters(), lr=self.config.lr)}

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        real, target = ctx.to_device(batch["A"]), ctx.to_device(batch["B"])
        self.optimizers["G"].zero_grad(set_to_none=True)
        with ctx.autocast():
            fake = self.networks["G"](real)
            loss = nn.functional.l1_loss(fake.float(), target.float())
        ctx.backward(loss)
        ctx.step(self.optimizers["G"])
        ctx.end_step()
        self._visuals = {"real": real.detach(), "fake": fake.detach(), "target": target.detach()}
        return {"L1": loss.detach()}

    def visuals(self) -> dict[str, torch.Tensor]:
        return getattr(self, "_visuals", {})

    # ------------------------------------------------------------------------------ official files
    @classmethod
    def detect(cls, states: dict[str, dict[str, torch.Tensor]]) -> float:
        state = next(iter(states.values()), {})
        weight = state.get("weight")
        return (
            0.9
            if set(state) == {"weight", "bias"} and weight is not None and weight.shape[2:] == (1, 1)
            else 0.0
        )

    @classmethod
    def import_official(
        cls, states, options=None
    ) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
        state = states.get("G") or next(iter(states.values()))
        out_nc, in_nc = state["weight"].shape[:2]
        return {"input_nc": int(in_nc), "output_nc": int(out_nc)}, {"G": state}


# ------------------------------------------------------------------------------- the dataset layout


def _images(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in imageio.IMAGE_SUFFIXES)


def check_images(root: Path, *, max_checked: int = 2000) -> LayoutReport:
    """Every problem of a template dataset (a folder of images) at once."""
    report = LayoutReport()
    if not Path(root).is_dir():
        report.problems.append(f"{root}: no such folder")
        return report
    found = _images(root)
    if not found:
        report.problems.append(f"{root}: no images; a template dataset is a folder of images")
    report.summary = f"template dataset: {len(found)} images"
    return report


def synth_images(
    out_dir: Path, *, count: int, size: int, seed: int, extra: dict[str, Any]
) -> tuple[Path, str]:
    """`count` random colour fields of `size` x `size` pixels."""
    if extra:
        raise i2i.UsageError(f"the template-images task takes no {', '.join(sorted(extra))}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        colours = rng.integers(0, 256, (2, 2, 3), dtype=np.uint8)
        Image.fromarray(colours).resize((size, size), Image.BILINEAR).save(out_dir / f"{i:04d}.png")
    return out_dir, f"{count} {size}x{size} images"


IMAGES = Layout(
    name="template-images",
    description="a folder of images (the template model learns their negatives)",
    check=check_images,
    synth=synth_images,
)
layouts.register_layout(IMAGES)


class NegativesDataset(torch.utils.data.Dataset):
    """Each image (A) with its negative (B), in [0, 1]."""

    def __init__(self, root: Path) -> None:
        self.files = _images(root)
        if not self.files:
            raise i2i.I2IError(f"{root}: no images to train on")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pixels = np.asarray(Image.open(self.files[index]).convert("RGB"), np.float32) / 255.0
        a = torch.from_numpy(pixels).permute(2, 0, 1)
        return {"A": a, "B": 1.0 - a}
