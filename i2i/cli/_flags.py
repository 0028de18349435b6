"""Command-line flags built from the options models declare (`i2i.config.Option`), so the CLI names no model.

The registry reads every model's `options` from source without importing it. Each command decorated with
`model_flags(command)` gets one flag per option name declared for that command (shared by the models that
declare it, its help prefixed by their names) in place of its `declared: Declared` parameter; a name or flag
that collides with one of the command's own, or a second declaration that disagrees with the first, is
skipped (the value stays reachable through `--cond` / `--set`). The command receives the given values,
conditions and settings apart.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from i2i.config import OPTION_PYTHON_TYPES, Option, check_minimum, parse_option_value, parse_pairs


@dataclasses.dataclass(frozen=True)
class Flag:
    """One flag of a command: the option as first declared, and the models declaring it."""

    option: Option
    models: tuple[str, ...]
    help: str


@dataclasses.dataclass(frozen=True)
class Declared:
    """The model-declared flags a user gave: conditions (keyword arguments of the translation) and settings
    (config overrides), by option name, already typed."""

    conditions: dict[str, Any]
    settings: dict[str, Any]

    def with_conditions(self, items: list[str] | None, options: Sequence[Option]) -> dict[str, Any]:
        """The conditions with `--cond key=value` items added, each typed by the option of that name in
        `options` (the loaded model's declarations; an undeclared key stays text); the flags win."""
        by_name = {o.name: o for o in options if not o.setting}
        parsed: dict[str, Any] = {}
        for key, texts in parse_pairs(items, "--cond").items():
            option = by_name.get(key)
            if option is None:
                parsed[key] = texts[-1]
                continue
            values = [parse_option_value(option, text) for text in texts]
            check_minimum(option, values)
            parsed[key] = values if option.multiple else values[-1]
        return parsed | self.conditions


def _merged_help(declarations: list[tuple[str, Option]]) -> str:
    helps = {option.help for _, option in declarations}
    if len(helps) == 1:
        return f"{', '.join(model for model, _ in declarations)}: {declarations[0][1].help}"
    return "; ".join(f"{model}: {option.help}" for model, option in declarations)


def _shape(option: Option) -> tuple[Any, ...]:
    """What two declarations of one name must agree on to share a flag."""
    return (option.type, option.multiple, option.setting, option.long_flag, option.short, option.minimum)


def command_flags(command: str, reserved: Collection[str] = (), *, conditions: bool = True) -> list[Flag]:
    """The flags `command` gets from the registered models' declarations, in registry order (settings
    only, without `conditions`); options whose name, long flag or short flag is in `reserved` are left out."""
    from i2i import registry

    declarations: dict[str, list[tuple[str, Option]]] = {}
    taken: dict[str, str] = {}  # flag string -> option name
    for entry in registry.entries():
        if not entry.ok:
            continue
        for option in entry.options:
            if command not in option.commands or not (option.setting or conditions):
                continue
            names = {option.name, option.long_flag, *([option.short] if option.short else [])}
            if not names.isdisjoint(reserved):
                continue
            first = declarations.get(option.name)
            if first is not None:
                if _shape(first[0][1]) == _shape(option) and entry.name not in dict(first):
                    first.append((entry.name, option))
                continue
            flags = [option.long_flag, *([option.short] if option.short else [])]
            if any(taken.get(f, option.name) != option.name for f in flags):
                continue
            taken.update(dict.fromkeys(flags, option.name))
            declarations[option.name] = [(entry.name, option)]
    return [
        Flag(found[0][1], tuple(model for model, _ in found), _merged_help(found))
        for found in declarations.values()
    ]


def _annotation(flag: Flag) -> Any:
    option = flag.option
    base = OPTION_PYTHON_TYPES[option.type]
    kind = list[base] if option.multiple else base
    decls = [option.long_flag, *([option.short] if option.short else [])]
    return Annotated[kind | None, typer.Option(*decls, help=flag.help, show_default=False)]


def _reserved(signature: inspect.Signature) -> set[str]:
    """The command's own parameter names and flags."""
    found = set(signature.parameters)
    for param in signature.parameters.values():
        for meta in getattr(param.annotation, "__metadata__", ()):
            decls = [getattr(meta, "default", None), *(getattr(meta, "param_decls", None) or ())]
            found.update(d for d in decls if isinstance(d, str))
    return found


def model_flags(command: str, *, conditions: bool = True) -> Callable:
    """Decorate a command whose `declared: Declared` parameter is replaced by the model-declared flags of
    `command` (settings only, without `conditions`); it receives them typed, with their minimums checked."""

    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func, eval_str=True)
        flags = command_flags(command, _reserved(signature), conditions=conditions)
        by_param = {flag.option.name: flag for flag in flags}

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = Declared({}, {})
            for name, flag in by_param.items():
                value = kwargs.pop(name, None)
                if value is None or value == []:
                    continue
                check_minimum(flag.option, value)
                (given.settings if flag.option.setting else given.conditions)[name] = value
            return func(*args, declared=given, **kwargs)

        params = []
        for param in signature.parameters.values():
            if param.name != "declared":  # Typer passes every parameter by name
                params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
                continue
            params.extend(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_annotation(f)
                )
                for name, f in by_param.items()
            )
        wrapper.__signature__ = signature.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


def header_paths(conditions: dict[str, Any], options: Sequence[Option]) -> list[Path]:
    """The images a condition gives one per variant (a repeatable path, e.g. style references): what a
    grid shows above its columns."""
    for option in options:
        value = conditions.get(option.name)
        if option.type == "path" and option.multiple and isinstance(value, list) and value:
            return list(value)
    return []
