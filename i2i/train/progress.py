"""What a run shows while it trains: the progress bar (steps, rate, losses) and the sample grids of the
model's visuals written to `samples/`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

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
    its task (losses go to the task's `losses` field). Where the output is not a terminal (piped, or
    redirected to a file) the bar is replaced by plain lines, one per logged step (`PlainProgress`)."""

    def __init__(self, title: str, console: Console, total: int, done: int, *, show: bool) -> None:
        self.plain = PlainProgress(title, console, total) if show and not _on_a_terminal(console) else None
        self.bar = Progress(
            TextColumn(f"[bold]{title}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=console,
            disable=not show or self.plain is not None,
        )
        self.total, self.done = total, done

    def __enter__(self):
        if self.plain is not None:
            return self.plain, None
        self.bar.start()
        task = self.bar.add_task("train", total=self.total, completed=self.done, losses="")
        return self.bar, task

    def __exit__(self, *exc) -> None:
        self.bar.stop()


class PlainProgress:
    """The progress of a run whose output is not a terminal: a line per logged step (`--log-every`), e.g.
    `cyclegan step 200/1000 (20%) 3.41 it/s  G_GAN 0.693  D_A 0.250`, with `Progress.update`'s signature
    so the loop drives either."""

    def __init__(self, title: str, console: Console, total: int) -> None:
        self.title, self.console, self.total = title, console, total
        self.started: tuple[float, int] | None = None

    def update(self, task: Any, *, completed: int, losses: str | None = None) -> None:
        """Record that `completed` steps are done; print a line when the step's losses are given."""
        now = time.perf_counter()
        if self.started is None:
            self.started = (now, completed - 1)
        if losses is None:
            return
        since, first = self.started
        rate = (completed - first) / (now - since) if now > since else 0.0
        share = completed / max(1, self.total)
        self.console.print(
            f"{self.title} step {completed}/{self.total} ({share:.0%}) {rate:.2f} it/s  {losses}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip


def _on_a_terminal(console: Console) -> bool:
    """Whether a live bar can be drawn: the bar's stream and standard output are both terminals (`2>&1 |`
    or `| tee` gets plain lines)."""
    return console.is_terminal and sys.stdout.isatty()


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
