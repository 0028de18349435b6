"""`i2i data ...`: the dataset catalogue (list, pull), layout checks and synthetic datasets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from i2i.cli._common import JsonFlag, friendly_errors, group, out, show_listing
from i2i.errors import I2IError, UsageError

data_app = group(
    "data",
    "Datasets: the catalogue (list, pull), layout checks, synthetic data for offline tests and demos.",
)


def _model_layout(model: str):
    """The dataset layout `model` trains on (`Model.dataset_layout`)."""
    from i2i import registry

    layout = registry.model_class(model).dataset_layout()
    if layout is None:
        raise I2IError(f"model '{model}' does not declare the dataset layout it trains on")
    return layout


@data_app.command("synth")
@friendly_errors
def data_synth(
    destination: Annotated[Path, typer.Argument(help="Folder to write the dataset to.")],
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="paired (labels2shapes, pix2pix), unpaired (day2night, CycleGAN), domains (StarGAN v2), "
            "attributes (CelebA format, StarGAN), images (super-resolution), masks (faces + label maps, "
            "MaskGAN) or faces (two synthetic identities, frames + landmarks.json, SAEHD).",
        ),
    ] = "paired",
    domains: Annotated[int, typer.Option("--domains", help="Domains of the `domains` task.")] = 3,
    count: Annotated[
        int, typer.Option("--count", help="Number of images over all splits (per domain if unpaired).")
    ] = 200,
    size: Annotated[int, typer.Option("--size", help="Side of each image in pixels.")] = 64,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    layout: Annotated[
        str, typer.Option("--layout", help="Paired only: aligned (A|B side by side) or folders (A/, B/).")
    ] = "aligned",
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Write the layout this model trains on (instead of --task)."),
    ] = None,
) -> None:
    """Generate a synthetic dataset (offline tests and demos).

    Examples:
    - `i2i data synth datasets/shapes --count 400 --size 128`
    - `i2i data synth datasets/day2night --task unpaired --count 200`
    - `i2i data synth datasets/palettes --task domains --domains 3 --size 64`
    - `i2i data synth datasets/mine --model NAME` (the layout a model, e.g. a plugin, trains on)
    """
    from i2i.data.layouts import get_layout, layout_names

    if model is not None:
        chosen = _model_layout(model)
        if chosen.synth is None:
            raise I2IError(f"no synthetic data for the dataset layout '{chosen.name}' of model '{model}'")
    else:
        try:
            chosen = get_layout(task)
        except UsageError:
            chosen = None
        if chosen is None or chosen.synth is None:
            available = [name for name in layout_names() if get_layout(name).synth is not None]
            raise UsageError(f"unknown synthetic task '{task}'; available: {', '.join(available)}")
    t0 = time.perf_counter()
    given = {"domains": domains, "layout": layout}
    extra = {key: value for key, value in given.items() if key in chosen.options}
    written, what = chosen.synth(destination, count=count, size=size, seed=seed, extra=extra)
    layout = extra.get("layout", chosen.name)
    out.print(f"wrote {what} to {written} in {time.perf_counter() - t0:.1f}s ({layout} layout)")


@data_app.command("list")
@friendly_errors
def data_list(
    as_json: JsonFlag = False,
) -> None:
    """List the datasets known by name, their licences and whether they are downloaded.

    A pix2pix dataset (paired) and a CycleGAN dataset (unaligned) keep their upstream name; where both
    exist, the CycleGAN one is `NAME-unaligned`. Example: `i2i data list --json`
    """
    from i2i.hub.resolve import list_datasets

    def cells(row: dict) -> list[str]:
        name = escape(row["name"]) + ("[yellow]*[/]" if row["non_commercial"] else "")
        size = f"{row['approx_size_mb']} MB" if row["approx_size_mb"] else "?"
        cached = "yes" if row["cached"] else "manual download" if row["manual"] else "no"
        return [name, row["layout"] or "", size, cached, escape(row["license"] or "")]

    show_listing(
        list_datasets(),
        as_json,
        "i2i datasets",
        ("name", "layout", "size", "cached", "licence"),
        cells,
        caption="* non-commercial; --json for every field",
        drop=("licence", "size", "layout"),
    )


@data_app.command("pull")
@friendly_errors
def data_pull(name: Annotated[str, typer.Argument(help="Catalogue dataset name (`i2i data list`).")]) -> None:
    """Download and extract a dataset into the cache ($I2I_HOME) and print its folder.

    Example: `i2i data pull horse2zebra`
    """
    from i2i.hub.download import pull_dataset

    out.print(str(pull_dataset(name)), highlight=False, soft_wrap=True)


@data_app.command("check")
@friendly_errors
def data_check(
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model that will train on it.")],
) -> None:
    """Check that a folder has the layout a model trains on; one line per problem (exit 1 if any).

    Example: `i2i data check datasets/horse2zebra --model cyclegan`
    """
    report = _model_layout(model).check(root)
    for problem in report.problems:
        out.print(problem, highlight=False, soft_wrap=True)
    for note in report.notes:
        out.print(f"note: {note}", highlight=False, soft_wrap=True)
    if report.problems:
        raise typer.Exit(1)
    out.print(f"{root}: {report.summary} (fits {model})", highlight=False, soft_wrap=True)
