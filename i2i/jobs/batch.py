"""The per-file loop every batch command runs (translate, upscale): each input has its planned outputs;
an output claimed by two inputs, or one that would overwrite an input, fails that input alone; a file that
cannot be read, processed or written is reported in one line and the others still run; a progress bar,
then one summary line."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    ) -> None:
        self.console = console or Console(stderr=True)
        self.failures: list[tuple[Path, str]] = []
        self._advice = (overwrite_advice, clash_advice)
        self._bar = Progress(
            TextColumn(title),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not progress,
        )
        self._detail = None

    def fail(self, path: Path, message: str) -> None:
        """Report that `path` failed (one line) and go on with the others."""
        self.failures.append((path, message))
        self.console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def detail(self, done: int, total: int) -> None:
        """Progress within the current file (e.g. its tiles), on a second bar."""
        if self._detail is not None:
            self._bar.update(self._detail, completed=done, total=total, visible=True)

    def _claimed(self, jobs: Sequence[Job]) -> Callable[[Job], bool]:
        inputs = {path.resolve() for path, _ in jobs}
        owners: dict[Path, Path] = {}  # output -> the input writing it (a.jpg and a.webp -> a.png clash)
        overwrite, clash = self._advice

        def may_go(job: Job) -> bool:
            path, targets = job
            for target in targets:
                if target.resolve() in inputs:
                    self.fail(path, f"{path}: the output {target} would overwrite an input; {overwrite}")
                    return False
                other = owners.setdefault(target.resolve(), path)
                if other != path:
                    self.fail(path, f"{path}: its output {target} is also the output of {other}; {clash}")
                    return False
            return True

        return may_go

    def run(
        self,
        jobs: Sequence[Job],
        process: Callable[[list[Job]], None],
        *,
        summary: Callable[[int, int], str],
        chunk: int = 1,
    ) -> list[tuple[Path, str]]:
        """Run `process` over `jobs` in chunks of `chunk`, then print `summary(done, total)` followed by
        the time taken and, if any, how many failed. Returns the failures."""
        may_go = self._claimed(jobs)
        start = time.perf_counter()
        size = max(1, chunk)
        with self._bar:
            files = self._bar.add_task("images", total=len(jobs))
            self._detail = self._bar.add_task("tiles", total=None, visible=False)
            for i in range(0, len(jobs), size):
                batch = jobs[i : i + size]
                ready = [job for job in batch if may_go(job)]
                if ready:
                    self._bar.update(self._detail, completed=0, total=None)
                    process(ready)
                self._bar.advance(files, len(batch))
            self._bar.update(self._detail, visible=False)
        elapsed = time.perf_counter() - start
        done = len(jobs) - len(self.failures)
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"{summary(done, len(jobs))} in {elapsed:.1f}s ({rate:.2f} images/s)"
        if self.failures:
            line += f"; [red]{len(self.failures)} failed[/]"
        self.console.print(line, highlight=False, soft_wrap=True)
        return self.failures
