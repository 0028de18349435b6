"""Typed dataclass configs: overrides parsed by each field's type (never eval), JSON round trips; and the
`Option` a model declares to get a command-line flag of its own."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from i2i.errors import UsageError, did_you_mean

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        if isinstance(value, str) and not isinstance(choices[0], str):
            value = _coerce(value, type(choices[0]), key)
        if value not in choices:
            shown = ", ".join(map(str, choices))
            raise UsageError(
                f"{key}={value!r} is not one of: {shown}{did_you_mean(str(value), map(str, choices))}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if optional and (value is None or (isinstance(value, str) and value.lower() in {"none", "null", ""})):
            return None
        return _coerce(value, args[0], key)
    if origin in (tuple, list):
        (inner, *rest) = get_args(annotation) or (str,)
        items = value
        if isinstance(value, str):  # "a, b,c": names may hold inner spaces ("wild life"), not commas
            items = [v.strip() for v in value.split(",") if v.strip()]
        coerced = [_coerce(v, inner, key) for v in items]
        return tuple(coerced) if origin is tuple else coerced
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise UsageError(f"{key}={value!r} is not a boolean (use true/false)")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise UsageError(f"{key}={value!r} is not a number")
        try:
            number = annotation(value) if not isinstance(value, str) else annotation(value.strip())
        except (TypeError, ValueError):
            raise UsageError(
                f"{key}={value!r} is not {'an integer' if annotation is int else 'a number'}"
            ) from None
        if annotation is int and isinstance(value, float) and value != int(value):
            raise UsageError(f"{key}={value!r} is not an integer")
        # every numeric setting is a count, size, weight or rate
        if not math.isfinite(number) or number < 0:
            raise UsageError(f"{key}={value!r}: must be a finite number >= 0")
        return number
    if annotation is str:
        return str(value)
    return value


def replace(config: Any, overrides: dict[str, Any] | None = None) -> Any:
    """A copy of `config` with `overrides` applied; strings are parsed by the field's type."""
    if not overrides:
        return config
    types_ = field_types(type(config))
    parsed = {}
    for key, value in overrides.items():
        if key not in types_:
            raise UsageError(
                f"'{key}' is not a setting of {type(config).__name__}{did_you_mean(key, types_)}; "
                f"settings: {', '.join(types_)}"
            )
        parsed[key] = _coerce(value, types_[key], key)
    return dataclasses.replace(config, **parsed)


def parse_assignments(items: list[str] | None, flag: str = "--set") -> dict[str, str]:
    """`["netG=unet_128", "ngf=32"]` -> `{"netG": "unet_128", "ngf": "32"}` (values parsed later, by type);
    `flag` names the option in the error for an item without `=`."""
    return {key: values[-1] for key, values in parse_pairs(items, flag).items()}


def parse_pairs(items: list[str] | None, flag: str = "--set") -> dict[str, list[str]]:
    """Like `parse_assignments`, keeping every value of a key given more than once, in order."""
    result: dict[str, list[str]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} expects key=value, got {item!r}")
        result.setdefault(key.strip(), []).append(value.strip())
    return result


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def to_json(config: Any) -> str:
    return json.dumps(to_dict(config), sort_keys=True)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build `cls` from a stored dict; fields the class no longer has are dropped, new ones keep defaults."""
    known = field_types(cls)
    return replace(cls(), {k: v for k, v in data.items() if k in known})


OPTION_TYPES = ("str", "int", "float", "bool", "path")
#: the Python type of each option type: what the flag's value is parsed into
OPTION_PYTHON_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "path": Path}
OPTION_COMMANDS = ("translate", "train", "convert", "eval", "upscale", "serve")


@dataclasses.dataclass(frozen=True)
class Option:
    """A command-line option that a model declares (`Model.options`); the CLI builds the flag from it.

    A *condition* (the default) is a keyword argument of the model's translation (`direction`,
    `target_domain`, ...): `--target-domain dog` calls `translate_images(..., target_domain="dog")`. A
    *setting* (`setting=True`) is a field of the model's config: `--domains a,b` is `--set domains=a,b`.
    `commands` lists where the flag appears. Several models may declare the same name: they share one flag.
    Every condition is also reachable as `--cond name=value`, and every setting as `--set name=value`.

    Declare options with literal arguments (strings, numbers, tuples): the CLI reads them from the model's
    source without importing it, as `i2i models` reads `task` and `license`.
    """

    name: str
    help: str
    type: str = "str"
    #: the flag's long name; default `--` + name with `_` as `-`
    flag: str | None = None
    #: a one-letter alias such as `-t`
    short: str | None = None
    #: repeatable; the value is a list
    multiple: bool = False
    setting: bool = False
    commands: tuple[str, ...] = ("translate",)
    #: the smallest value a number takes (e.g. 1 for a count); the CLI refuses less before any work
    minimum: float | None = None
    #: a path condition that may name a folder: each input file then takes the file of its own relative
    #: name there, any image suffix (e.g. one mask per image)
    per_file: bool = False

    def __post_init__(self) -> None:
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option {self.name}: type must be one of {', '.join(OPTION_TYPES)}")
        unknown = [c for c in self.commands if c not in OPTION_COMMANDS]
        if unknown:
            raise ValueError(f"option {self.name}: unknown command(s) {', '.join(unknown)}")
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not an identifier")
        if self.minimum is not None and self.type not in ("int", "float"):
            raise ValueError(f"option {self.name}: only numbers have a minimum")
        if self.per_file and (self.type != "path" or self.multiple or self.setting):
            raise ValueError(f"option {self.name}: only a single path condition is per_file")

    @property
    def long_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def parse_option_value(option: Option, text: str) -> Any:
    """A flag's text as the option's type (a condition's value; settings are parsed by their config field)."""
    if option.type in ("str", "path"):
        return OPTION_PYTHON_TYPES[option.type](text)
    return _coerce(text, OPTION_PYTHON_TYPES[option.type], option.name)


def check_minimum(option: Option, value: Any) -> None:
    """A number under the option's `minimum` is a usage error naming the flag."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        if option.minimum is not None and item is not None and item < option.minimum:
            raise UsageError(f"{option.long_flag} must be at least {option.minimum:g}, not {item:g}")
