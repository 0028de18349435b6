"""Old import paths that keep working for one release, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def forward(old: str, new: tuple[str, ...]):
    """A module `__getattr__` for `old` that finds each name in the `new` modules: the one defining it, else
    the first having it."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:  # a submodule of a package that took the old module's name (`i2i.hub.catalogue`)
            return importlib.import_module(f"{old}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{old}.{name}":
                raise
        having = [m for m in map(importlib.import_module, new) if hasattr(m, name)]
        if not having:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        # the module that defines the object, rather than one that imports it for its own use
        module = next(
            (m for m in having if getattr(getattr(m, name), "__module__", None) == m.__name__), having[0]
        )
        warnings.warn(
            f"{old}.{name} moved to {module.__name__}.{name}; the old path goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(module, name)

    return __getattr__
