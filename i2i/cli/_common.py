"""What every command shares: the Typer app and its groups, the consoles, one-line errors, the options
several commands take, output-path checks and `--set` parsing. Command modules import from here, never
from each other."""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from i2i._version import __version__
from i2i.errors import I2IError, UsageError

app = typer.Typer(
    name="i2i",
    help="Image-to-image translation with GANs: every registered model (`i2i models`): pix2pix, CycleGAN, "
    "StarGAN v2, StarGAN, ESRGAN / Real-ESRGAN and plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)

out = Console()
err = Console(stderr=True)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        out.print(f"i2i {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug


def group(name: str, help: str) -> typer.Typer:
    """A group of sub-commands (`i2i data ...`) added to the app."""
    sub = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


# ---------------------------------------------------------------------------------------------- errors


def _one_line(exc: BaseException) -> str:
    """The user's message: rich markup escaped, and a DataLoader worker's re-raise unwrapped (it carries
    the worker's traceback, and the original message on its last line)."""
    text = str(exc)
    if "\nOriginal Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return escape(text)


#: notes printed in this command: each once a run (the "once" warning filter forgets what it showed
#: whenever a library changes the filters, e.g. with `warnings.catch_warnings` while decoding)
_noted: set[str] = set()


def _note_warning(message, category, *_: Any, **__: Any) -> None:
    if category.__name__ in ("LossyWriteWarning", "FirstFrameWarning"):
        if str(message) in _noted:
            return
        _noted.add(str(message))
        err.print(f"[yellow]note:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    else:
        err.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def friendly_errors(command):
    """User errors become one line on stderr and an exit code (1, or 2 for usage); `--debug` re-raises."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _noted.clear()
        try:
            with warnings.catch_warnings():
                # what a chosen output format cannot keep: said once per run, as a note
                warnings.filterwarnings("once", message=r".* cannot hold ")
                warnings.filterwarnings("once", message=r"animated images .*: only the first frame")
                warnings.showwarning = _note_warning
                return command(*args, **kwargs)
        except I2IError as exc:
            if _state["debug"]:
                raise
            err.print(f"[red]error:[/] {_one_line(exc)}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: still one line, the traceback on request
            if _state["debug"]:
                raise
            err.print(
                f"[red]internal error:[/] {type(exc).__name__}: {_one_line(exc)} "
                "(run `i2i --debug ...` for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def note(message: str) -> None:
    """A yellow `note:` line on stderr."""
    err.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """`--json` output on stdout."""
    out.print_json(json.dumps(data))


#: a long text column (a licence, a source) is worth showing once this much of it fits
_READABLE = 48


def show_listing(
    items: list[Any],
    as_json: bool,
    title: str,
    columns: Sequence[str],
    cells: Callable[[Any], Sequence[str]],
    *,
    caption: str | None = None,
    show_header: bool = True,
    drop: Sequence[str] | None = None,
) -> None:
    """A listing command's output: `items` as JSON, or a table with a row of `cells(item)` each.

    With `drop` (column names, least needed first) the table fits the terminal instead of wrapping: every
    row stays on one line (cut with an ellipsis), and the `drop` columns are left out, in order, while the
    table is wider than the terminal (`--json` always has every field)."""
    if as_json:
        print_json(items)
        return
    rows = [list(cells(item)) for item in items]
    widths = [
        max([Text.from_markup(c).cell_len for c in (column, *(row[i] for row in rows))])
        for i, column in enumerate(columns)
    ]
    shown = list(range(len(columns)))
    if drop is not None:
        for name in drop:
            if sum(min(widths[i], _READABLE) for i in shown) + 3 * len(shown) + 1 <= out.width:
                break
            shown.remove(columns.index(name))
    table = Table(title=title, caption=caption, show_header=show_header)
    for i in shown:
        if drop is None:
            table.add_column(columns[i], overflow="fold")
        else:
            table.add_column(columns[i], overflow="ellipsis", no_wrap=True)
    for row in rows:
        if drop is None:
            table.add_row(*(row[i] for i in shown))
            continue
        texts = [Text.from_markup(row[i]) for i in shown]
        for text in texts:  # one line a row: long texts show their readable start
            text.truncate(_READABLE, overflow="ellipsis")
        table.add_row(*texts)
    out.print(table)


# --------------------------------------------------------------------------------------------- options

#: options several commands take, with the same flags and help everywhere
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
Precision = Annotated[
    str, typer.Option("--precision", help="auto (the device's fast path), fp32, bf16 or fp16.")
]
ModelName = Annotated[str | None, typer.Option("--model", "-m", help="Model name.")]
Weights = Annotated[str | None, typer.Option("--weights", "-w", help="Checkpoint path or catalogue name.")]
RequiredWeights = Annotated[str, typer.Option("--weights", "-w", help="Checkpoint path or catalogue name.")]
Settings = Annotated[list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")]
Conditions = Annotated[
    list[str] | None,
    typer.Option(
        "--cond", help="Translation option key=value, for any model (repeatable, typed as declared)."
    ),
]
Format = Annotated[str, typer.Option("--format", help="same, png, jpeg, webp, tiff or bmp.")]
NoProvenance = Annotated[bool, typer.Option("--no-provenance", help="Do not tag outputs with model/weights.")]
MaxPixels = Annotated[int | None, typer.Option("--max-pixels", help="Refuse larger images.")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bar.")]
Tile = Annotated[
    int | None,
    typer.Option("--tile", help="Tile side in input pixels; 0: whole image. Default: from free memory."),
]
PngLevel = Annotated[
    int,
    typer.Option(
        "--png-level",
        help="zlib level of PNG outputs: 0 (fastest, largest) to 9 (smallest, slowest).",
    ),
]
SkipExisting = Annotated[
    bool,
    typer.Option(
        "--skip-existing",
        help="Skip inputs whose outputs are all there already (to finish an interrupted run).",
    ),
]


def overrides(assignments: list[str] | None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """`--set key=value` pairs, with the model-declared setting flags (e.g. `--domains`) as shortcuts that
    win over `--set`."""
    from i2i.config import parse_assignments

    return parse_assignments(assignments) | dict(settings or {})


def default_weights(model: str | None) -> str:
    """The catalogue's default weights of `model`, for commands where `--weights` may be omitted."""
    from i2i.hub.catalogue import default_weights as catalogue_default

    if model is None:
        raise UsageError("give --weights (a checkpoint or catalogue name) or --model")
    return catalogue_default(model)


def default_model(command: str) -> str | None:
    """The registered model that declares itself the default of `command` (e.g. ESRGAN for `upscale`)."""
    from i2i import registry

    return registry.default_model(command)


# ---------------------------------------------------------------------------------------- output paths


def check_destination(destination: Path, single_file: bool, count: int) -> None:
    """Say what is wrong with the output path before any work: one file for several images, a file where a
    folder must go, a file type i2i cannot write."""
    from i2i.io import imageio

    if single_file:
        imageio.normalise_format(destination.suffix)  # e.g. .gif: a usage error naming the formats
    elif destination.is_file():
        raise UsageError(f"{destination} is a file; {count} image(s) need an output folder")
    elif destination.suffix.lower() in imageio.IMAGE_SUFFIXES and not destination.exists():
        raise UsageError(
            f"{destination} looks like a file name, but {count} images need an output folder; "
            "give a folder (or one input for one output file)"
        )


def is_single_file(inputs: list[Path], count: int, output: Path) -> bool:
    """One input file written to one output file (a name with a suffix that is not a folder)."""
    return count == 1 and inputs[0].is_file() and bool(output.suffix) and not output.is_dir()


def check_png_level(level: int) -> int:
    """`level` if it is a zlib level, else a `UsageError` naming the flag."""
    if not 0 <= level <= 9:
        raise UsageError(f"--png-level must be 0 (no compression) to 9 (smallest), not {level}")
    return level


def check_counts(**given: int | None) -> None:
    """Options that count something must count at least one."""
    for name, value in given.items():
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {value}")


def output_format(fmt: str) -> str | None:
    """`--format`: None for `same` (each output keeps its input's format), else the normalised name."""
    from i2i.io import imageio

    return None if fmt == "same" else imageio.normalise_format(fmt)
