"""Command-line flags built from the options models declare: one flag per name, shared help, conflicts and
collisions skipped, values typed and checked, `--cond` typed by the loaded model's declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from i2i import registry
from i2i.cli import _flags
from i2i.cli._flags import Declared, command_flags, header_paths, model_flags
from i2i.config import Option
from i2i.errors import UsageError
from i2i.registry import ModelEntry


def entry(name: str, *options: Option, error: str | None = None) -> ModelEntry:
    return ModelEntry(name, f"{name}:Model", None, options=options, error=error)


@pytest.fixture
def declared(monkeypatch):
    """Replace the registry's entries with the given ones."""

    def use(*entries: ModelEntry) -> None:
        monkeypatch.setattr(registry, "entries", lambda: list(entries))

    return use


def test_one_flag_per_name_with_the_declaring_models_in_its_help(declared):
    declared(
        entry("a", Option("target_domain", "the domain to translate into", short="-t")),
        entry("b", Option("target_domain", "the domain to translate into", short="-t")),
        entry("c", Option("seed", "seed of the noise", type="int")),
        entry("d", Option("seed", "seed of the styles", type="int")),
    )
    flags = {f.option.name: f for f in command_flags("translate")}
    assert flags["target_domain"].models == ("a", "b")
    assert flags["target_domain"].help == "a, b: the domain to translate into"
    assert flags["seed"].help == "c: seed of the noise; d: seed of the styles"


def test_conflicts_and_collisions_are_skipped(declared):
    declared(
        entry("a", Option("psi", "truncation", type="float"), Option("model", "clashes with --model")),
        entry("b", Option("psi", "a second, different psi", type="str")),
        entry("c", Option("other", "takes a flag already taken", flag="--psi")),
        entry("d", Option("short", "takes a short flag already taken", short="-m")),
        entry("broken", Option("hidden", "from a broken plugin"), error="syntax error"),
    )
    flags = {f.option.name: f for f in command_flags("translate", {"model", "--model", "-m"})}
    assert list(flags) == ["psi"]
    assert flags["psi"].models == ("a",) and flags["psi"].option.type == "float"


def test_commands_and_kinds(declared):
    declared(
        entry(
            "a",
            Option("stage", "training stage", setting=True, commands=("train",)),
            Option("direction", "which way"),
            Option("domains", "names", setting=True, commands=("translate", "convert")),
            Option("weird", "a condition on train", commands=("train",)),
        )
    )
    assert [f.option.name for f in command_flags("translate")] == ["direction", "domains"]
    assert [f.option.name for f in command_flags("train", conditions=False)] == ["stage"]
    assert [f.option.name for f in command_flags("convert", conditions=False)] == ["domains"]


def _app(declared_entries, fixture) -> tuple[typer.Typer, dict]:
    fixture(*declared_entries)
    seen: dict = {}
    app = typer.Typer()

    @app.command()
    @model_flags("translate")
    def run(
        name: Annotated[str, typer.Argument()],
        declared: Declared = None,
        cond: Annotated[list[str] | None, typer.Option("--cond")] = None,
    ) -> None:
        seen["declared"] = declared
        seen["conditions"] = declared.with_conditions(cond, [o for e in declared_entries for o in e.options])

    @app.command()
    def other() -> None:  # a second command, so that `run` is a sub-command
        pass

    return app, seen


ENTRIES = (
    entry(
        "m",
        Option("target_domain", "domain", short="-t"),
        Option("reference", "references", type="path", multiple=True, short="-r"),
        Option("num_styles", "styles", type="int", minimum=1),
        Option("psi", "truncation", type="float"),
        Option("domains", "names", setting=True),
    ),
)


def test_the_command_gets_typed_values_apart(declared):
    app, seen = _app(ENTRIES, declared)
    result = CliRunner().invoke(
        app,
        ["run", "x", "-t", "dog", "-r", "a.png", "-r", "b.png", "--num-styles", "2", "--domains", "cat,dog",
         "--cond", "psi=0.5", "--cond", "extra=text"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["declared"].settings == {"domains": "cat,dog"}
    assert seen["conditions"] == {
        "target_domain": "dog",
        "reference": [Path("a.png"), Path("b.png")],
        "num_styles": 2,
        "psi": 0.5,
        "extra": "text",
    }


def test_minimums_are_checked_before_the_command(declared):
    app, seen = _app(ENTRIES, declared)
    result = CliRunner().invoke(app, ["run", "x", "--num-styles", "0"])
    assert isinstance(result.exception, UsageError) and "--num-styles must be at least 1, not 0" in str(
        result.exception
    )
    assert "declared" not in seen
    with pytest.raises(UsageError, match="--num-styles must be at least 1"):
        Declared({}, {}).with_conditions(["num_styles=0"], ENTRIES[0].options)
    with pytest.raises(UsageError, match="--cond expects key=value"):
        Declared({}, {}).with_conditions(["psi"], ENTRIES[0].options)


def test_flags_win_over_cond_and_repeated_cond_makes_a_list():
    options = ENTRIES[0].options
    given = Declared({"psi": 0.7}, {})
    conditions = given.with_conditions(["psi=0.1", "reference=a.png", "reference=b.png"], options)
    assert conditions == {"psi": 0.7, "reference": [Path("a.png"), Path("b.png")]}
    assert header_paths(conditions, options) == [Path("a.png"), Path("b.png")]
    assert header_paths({"target_domain": "dog"}, options) == []


def test_the_real_commands_build_from_the_registry():
    """Every flag of today's model-specific options is there, each declared by some registered model."""
    names = {f.option.long_flag for f in _flags.command_flags("translate")}
    assert {"--direction", "--mode", "--seed", "--target-domain", "--attrs", "--domains"} <= names
    train = {f.option.long_flag for f in _flags.command_flags("train", conditions=False)}
    assert {"--stage", "--degradation", "--vgg19-weights"} <= train
