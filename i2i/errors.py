"""Errors meant for users: each prints as one line, without a traceback (unless `--debug`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class I2IError(Exception):
    """Something the user can fix: a bad path, a wrong file, an unknown name. Exit code 1."""

    exit_code = 1


class UsageError(I2IError):
    """The command line itself is wrong (unknown option value, missing argument). Exit code 2."""

    exit_code = 2


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UsageError:
    choices = sorted(choices)
    return UsageError(
        f"unknown {kind} '{name}'{did_you_mean(name, choices)}; known: {', '.join(choices) or 'none'}"
    )


def check_unique_names(field: str, names: Iterable[str]) -> None:
    """Label names select a label by name: a repeated one would silently mean its first position."""
    seen: set[str] = set()
    repeated = sorted({n for n in names if n in seen or seen.add(n)})
    if repeated:
        raise UsageError(f"{field} names {', '.join(repeated)} more than once; each label needs its own name")
