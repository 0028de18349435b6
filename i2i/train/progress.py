"""What a run shows while it trains: the progress bar (steps, rate, losses) and the sample grids of the
model's visuals written to `samples/`."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.utils
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from i2i.io import imageio
from i2i.model import Model


class ProgressScope:
    """A progress bar of `total` steps, `done` of them already; as a context manager it yields the bar and
    its task (losses go to the task's `losses` field)."""

    def __init__(self, title: str, console: Console, total: int, done: int, *, show: bool) -> None:
        self.bar = Progress(
            TextColumn(f"[bold]{title}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=console,
            disable=not show,
        )
        self.total, self.done = total, done

    def __enter__(self):
        self.bar.start()
        task = self.bar.add_task("train", total=self.total, completed=self.done, losses="")
        return self.bar, task

    def __exit__(self, *exc) -> None:
        self.bar.stop()


def write_samples(model: Model, path: Path) -> None:
    """A grid of the model's `sample_visuals` for up to four items of the last batch (one row each)."""
    visuals = model.visuals()
    names = [n for n in model.sample_visuals if n in visuals]
    if not names:
        return
    lo, hi = model.value_range
    rows = []
    for i in range(min(4, visuals[names[0]].shape[0])):
        for n in names:
            img = visuals[n][i].detach().float().cpu()
            img = ((img - lo) / (hi - lo)).clamp(0, 1)
            rows.append(img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3])
    # visuals of two domains may differ in size (CycleGAN with preprocess=none): pad to one size
    height, width = max(r.shape[1] for r in rows), max(r.shape[2] for r in rows)
    rows = [
        torch.nn.functional.pad(r, (0, width - r.shape[2], 0, height - r.shape[1]), value=1.0) for r in rows
    ]
    grid = torchvision.utils.make_grid(rows, nrow=len(names), padding=2, pad_value=1.0)
    pixels = grid.permute(1, 2, 0).contiguous().numpy()
    imageio.write_image(path, imageio.ImageData(pixels=pixels, alpha=None, bit_depth=8))


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text("-- it/s" if task.speed is None else f"{task.speed:.2f} it/s")
