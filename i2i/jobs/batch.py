"""The per-file loop every batch command runs (translate, upscale): each input has its planned outputs;
an output claimed by two inputs, or one that would overwrite an input, fails that input alone; a file that
cannot be read, processed or written is reported in one line and the others still run (but a full disk or
an unwritable folder stops the run at once); a progress bar, then one summary line.

Under `torchrun` the jobs are shared out: process k of n takes every n-th job from the k-th, so each input
is done once and its outputs are what one process writes; rank 0 prints one summary for all. With
`skip_existing`, inputs whose outputs are all there already (an interrupted run) are skipped; the temporary
files a killed run left beside its outputs are deleted first."""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from i2i.errors import I2IError
from i2i.io.files import WHOLE_FOLDER_ERRORS, remove_unfinished
from i2i.train.distributed import ProcessGroup

#: an input and the outputs it writes
Job = tuple[Path, tuple[Path, ...]]


def named_error(path: Path, exc: Exception) -> str:
    """The first line of `exc`, prefixed by `path` unless it already names it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if str(path) in text else f"{path}: {text}"


class FileLoop:
    """One run over many files: `run` calls `process` on chunks of the jobs that may go ahead, which reports
    what fails with `fail`; `run` ends with the summary line and returns the failures."""

    def __init__(
        self,
        title: str,
        *,
        console: Console | None = None,
        progress: bool = True,
        overwrite_advice: str = "choose another output folder",
        clash_advice: str = "rename one of them or keep the formats (--format same)",
        group: ProcessGroup | None = None,
        skip_existing: bool = False,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.group = group or ProcessGroup()
        self.skip_existing = skip_existing
        self.failures: list[tuple[Path, str]] = []
        self._advice = (overwrite_advice, clash_advice)
        self._bar = Progress(
            TextColumn(title),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not progress or not self.group.is_main,
        )
        self._detail = None

    def fail(self, path: Path, message: str) -> None:
        """Report that `path` failed (one line) and go on with the others."""
        self.failures.append((path, message))
        self.console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def write_failed(self, path: Path, target: Path, exc: Exception) -> None:
        """The output `target` of `path` could not be written: a full disk or an unwritable folder stops the
        run with one line (every next file would fail alike); another error fails `path` alone."""
        number = getattr(exc, "errno", None)
        if number in WHOLE_FOLDER_ERRORS:
            raise I2IError(
                f"{named_error(target, exc)}; stopped there, the files written so far are complete: free "
                "space or make the folder writable, then finish with --skip-existing"
            )
        self.fail(path, named_error(target, exc))

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def detail(self, done: int, total: int) -> None:
        """Progress within the current file (e.g. its tiles), on a second bar."""
        if self._detail is not None:
            self._bar.update(self._detail, completed=done, total=total, visible=True)

    def _claimed(self, jobs: Sequence[Job]) -> list[Job]:
        """The jobs that may go ahead; the others fail, each with its reason. Every process decides over
        all the jobs (so all agree), and reports only its own share."""
        inputs = {path.resolve() for path, _ in jobs}
        owners: dict[Path, Path] = {}  # output -> the input writing it (a.jpg and a.webp -> a.png clash)
        overwrite, clash = self._advice
        rank, size = self.group.rank, self.group.world_size
        ready = []
        for index, (path, targets) in enumerate(jobs):
            problem = None
            for target in targets:
                if target.resolve() in inputs:
                    problem = f"{path}: the output {target} would overwrite an input; {overwrite}"
                    break
                other = owners.setdefault(target.resolve(), path)
                if other != path:
                    problem = f"{path}: its output {target} is also the output of {other}; {clash}"
                    break
            if index % size != rank:
                continue
            if problem is not None:
                self.fail(path, problem)
            else:
                ready.append((path, targets))
        return ready

    def run(
        self,
        jobs: Sequence[Job],
        process: Callable[[list[Job]], None],
        *,
        summary: Callable[[int, int], str],
        chunk: int = 1,
    ) -> list[tuple[Path, str]]:
        """Run `process` over `jobs` (this process's share of them) in chunks of `chunk`, then print
        `summary(done, total)` followed by the time taken and, if any, how many were skipped and failed.
        Returns the failures (of every process)."""
        start = time.perf_counter()
        ready = self._claimed(jobs)
        _remove_unfinished(ready)  # what a killed run was writing: it is written again (or skipped)
        skipped = 0
        if self.skip_existing:
            todo = [job for job in ready if not all(t.is_file() for t in job[1])]
            skipped, ready = len(ready) - len(todo), todo
        size = max(1, chunk)
        with self._bar:
            files = self._bar.add_task("images", total=len(ready))
            self._detail = self._bar.add_task("tiles", total=None, visible=False)
            for i in range(0, len(ready), size):
                batch = ready[i : i + size]
                self._bar.update(self._detail, completed=0, total=None)
                process(batch)
                self._bar.advance(files, len(batch))
            self._bar.update(self._detail, visible=False)
        failures, skipped = self._gather(skipped)
        elapsed = time.perf_counter() - start
        done = len(jobs) - len(failures) - skipped
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"{summary(done, len(jobs))} in {elapsed:.1f}s ({rate:.2f} images/s)"
        if self.group.active:
            line += f" with {self.group.world_size} processes"
        if skipped:
            line += f"; {skipped} skipped (outputs already there)"
        if failures:
            line += f"; [red]{len(failures)} failed[/]"
        if self.group.is_main:
            self.console.print(line, highlight=False, soft_wrap=True)
        return failures

    def _gather(self, skipped: int) -> tuple[list[tuple[Path, str]], int]:
        """Every process's failures and skipped count, in all processes."""
        if not self.group.active:
            return self.failures, skipped
        parts: list = [None] * self.group.world_size
        dist.all_gather_object(parts, (self.failures, skipped))
        return [f for failures, _ in parts for f in failures], sum(n for _, n in parts)


def _remove_unfinished(jobs: Sequence[Job]) -> None:
    """Delete the temporary files a killed run left beside these outputs (`i2i.io.files.atomic_path`)."""
    names: dict[Path, set[str]] = {}
    for _, targets in jobs:
        for target in targets:
            names.setdefault(target.parent, set()).add(target.name)
    for folder, wanted in names.items():
        remove_unfinished(folder, wanted)


def join_processes(device: str) -> tuple[ProcessGroup, str]:
    """The process group `torchrun` describes (one process otherwise) and the device this process uses:
    with several processes on CUDA, each takes the GPU of its local rank."""
    from i2i.runtime import resolve_device
    from i2i.train.distributed import init_from_environment, shutdown

    group = init_from_environment("cpu")  # gloo: inference shares out files and gathers a summary only
    if group.active:
        atexit.register(shutdown, group)
    if group.active and resolve_device(device).type == "cuda" and ":" not in device:
        device = f"cuda:{group.local_rank % max(1, torch.cuda.device_count())}"
    return group, device
