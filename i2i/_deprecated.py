"""Old import paths that keep working for one release, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def forward(old: str, new: tuple[str, ...]):
    """A module `__getattr__` for `old` that finds each name in the first of the `new` modules having it."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:  # a submodule of a package that took the old module's name (`i2i.hub.catalogue`)
            return importlib.import_module(f"{old}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{old}.{name}":
                raise
        for module_name in new:
            module = importlib.import_module(module_name)
            if hasattr(module, name):
                warnings.warn(
                    f"{old}.{name} moved to {module_name}.{name}; the old path goes away in the next release",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    return __getattr__
