"""The model registry: entry points of the group `i2i.models`, read lazily.

Listing models reads each plugin's class attributes (`task`, `license`, `description`, `needs_consent`,
its command-line `options` and the file name of its `catalogue`) from its source without importing it, so `i2i models` and
building the command line stay fast and a broken plugin cannot crash them: it shows up as a row with the
reason instead. A model's code is imported only when that model is asked for.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import importlib.machinery
import importlib.util
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.config import Option
from i2i.errors import I2IError, unknown_name

if TYPE_CHECKING:
    from i2i.model import Model

ENTRY_POINT_GROUP = "i2i.models"
_STATIC_FIELDS = ("task", "license", "description")
_STATIC_TUPLES = ("default_for", "foreign_suffixes")
_STATIC_BOOLS = ("needs_consent",)
_OPTION_FIELDS = {f.name for f in dataclasses.fields(Option)}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    target: str
    distribution: str | None
    task: str = ""
    license: str = ""
    description: str = ""
    error: str | None = None
    #: the command-line options declared by the class (as far as they can be read without importing it)
    options: tuple[Option, ...] = ()
    #: commands for which the model is the default `--model`, and the weight-file suffixes only it reads
    default_for: tuple[str, ...] = ()
    foreign_suffixes: tuple[str, ...] = ()
    #: a safeguarded model: `train` and `translate` refuse it without a consent attestation (`i2i.io.consent`)
    needs_consent: bool = False
    #: the model's catalogue file (`catalogue` of the class, resolved beside its module), if it has one
    catalogue: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _static_class_info(target: str) -> dict[str, str]:
    """Literal class attributes of `module:Class`, read from source. Raises I2IError if unreadable."""
    match = EntryPoint.pattern.match(target)  # `module:attr`, possibly with (deprecated) extras
    module_name, qualname = (match["module"], match["attr"] or "") if match else (target, "")
    try:
        spec = _find_spec_without_import(module_name)
    except Exception as exc:  # a finder may fail in any way
        raise I2IError(f"cannot locate module '{module_name}': {exc}") from None
    if spec is None:
        raise I2IError(f"module '{module_name}' is not installed")
    source = None
    if spec.loader is not None and hasattr(spec.loader, "get_source"):
        try:
            source = spec.loader.get_source(module_name)
        except (ImportError, OSError, SyntaxError, ValueError) as exc:  # ValueError: undecodable bytes
            raise I2IError(f"cannot read module '{module_name}': {exc}") from None
    if source is None:  # compiled-only module: nothing to read statically, resolve on use
        return {}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise I2IError(f"syntax error in {module_name}{where}: {getattr(exc, 'msg', exc)}") from None
    class_name, _, nested = qualname.partition(".")
    statements = list(_module_level(tree.body))
    for node in statements:
        if isinstance(node, ast.ClassDef) and node.name == class_name and nested:
            return {}  # a nested class: resolve on use
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            info: dict[str, Any] = {}
            for stmt in node.body:
                targets = []
                if isinstance(stmt, ast.Assign):
                    targets = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
                elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
                    targets = [stmt.target.id]
                for name in targets:
                    with contextlib.suppress(Exception):  # e.g. TypeError for {[1]: 2}: not read statically
                        if name in _STATIC_FIELDS:
                            info[name] = str(ast.literal_eval(stmt.value))
                        elif name in _STATIC_TUPLES:
                            info[name] = tuple(str(v) for v in ast.literal_eval(stmt.value))
                        elif name in _STATIC_BOOLS:
                            info[name] = ast.literal_eval(stmt.value) is True
                        elif name == "options":
                            info["options"] = _static_options(stmt.value)
                        elif name == "catalogue" and spec.origin:
                            file = ast.literal_eval(stmt.value)
                            if isinstance(file, str):
                                info["catalogue"] = Path(spec.origin).parent / file
            return info
        if isinstance(node, (ast.Assign, ast.ImportFrom, ast.Import)):
            names = []
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                names = [(a.asname or a.name).split(".")[0] for a in node.names]
            if class_name in names:  # re-exported or aliased: fine, but nothing to read statically
                return {}
    if any(_binds_unknown_names(node) for node in statements):  # `from x import *`, `__getattr__`
        return {}
    raise I2IError(f"module '{module_name}' defines no '{class_name}'")


def _static_options(node: ast.expr) -> tuple[Option, ...]:
    """`(Option(name=..., ...), ...)` written with literal arguments -> the options; a declaration that is
    not literal is skipped (its model still takes the condition through `--cond` once imported)."""
    if not isinstance(node, (ast.Tuple, ast.List)):
        return ()
    found = []
    for item in node.elts:
        func = item.func if isinstance(item, ast.Call) else None
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name != "Option":
            continue
        with contextlib.suppress(Exception):  # not literal, or not a valid option
            args = [ast.literal_eval(a) for a in item.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in item.keywords if k.arg in _OPTION_FIELDS}
            if "commands" in kwargs:
                kwargs["commands"] = tuple(kwargs["commands"])
            found.append(Option(*args, **kwargs))
    return tuple(found)


def _module_level(body: list[ast.stmt]):
    """Module-level statements, including those inside top-level if/try/with blocks."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With, getattr(ast, "TryStar", ast.Try))):
            for block in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _binds_unknown_names(node: ast.stmt) -> bool:
    star = isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
    return star or (isinstance(node, ast.FunctionDef) and node.name == "__getattr__")


def _find_spec_without_import(module_name: str):
    """`importlib.util.find_spec`, except that parent packages not yet imported are located, not imported
    (find_spec imports them, which would run plugin code, and crash on a broken one, just to list models)."""
    parts = module_name.split(".")
    spec = importlib.util.find_spec(parts[0])
    for i in range(1, len(parts)):
        parent, name = ".".join(parts[:i]), ".".join(parts[: i + 1])
        if parent in sys.modules:
            spec = importlib.util.find_spec(name)
        elif spec is None or spec.submodule_search_locations is None:
            return None
        else:
            spec = importlib.machinery.PathFinder.find_spec(name, spec.submodule_search_locations)
    return spec


def _entry(ep: EntryPoint) -> ModelEntry:
    dist = getattr(getattr(ep, "dist", None), "name", None)
    try:
        info = _static_class_info(ep.value)
    except I2IError as exc:
        return ModelEntry(ep.name, ep.value, dist, error=str(exc))
    return ModelEntry(ep.name, ep.value, dist, **info)


@functools.cache
def _entries() -> dict[str, ModelEntry]:
    found: dict[str, ModelEntry] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in found:
            if found[ep.name].target == ep.value:  # the same package seen twice on sys.path
                continue
            other = found[ep.name].distribution or found[ep.name].target
            key = f"{ep.name} ({ep.value})"
            found[key] = ModelEntry(
                ep.name,
                ep.value,
                getattr(getattr(ep, "dist", None), "name", None),
                error=f"name already provided by {other}; ignored",
            )
            continue
        found[ep.name] = _entry(ep)
    return found


def refresh() -> None:
    """Forget what was read, e.g. after installing a plugin into the running interpreter."""
    _entries.cache_clear()
    _load.cache_clear()


def entries() -> list[ModelEntry]:
    """Every registered model, broken ones included (their `error` says why)."""
    return list(_entries().values())


def model_names() -> list[str]:
    return [e.name for e in _entries().values() if e.ok]


def default_model(command: str) -> str | None:
    """The registered model that is the default `--model` of `command` (the first whose `default_for` names
    it), read without importing any model; None when no model claims the command."""
    return next((e.name for e in _entries().values() if e.ok and command in e.default_for), None)


def entry(name: str) -> ModelEntry:
    found = _entries().get(name)
    if found is None:
        raise unknown_name("model", name, model_names())
    if not found.ok:
        raise I2IError(f"model plugin '{name}' is broken: {found.error}")
    return found


@functools.cache
def _load(name: str) -> type[Model]:
    target = entry(name).target
    ep = EntryPoint(name=name, value=target, group=ENTRY_POINT_GROUP)
    try:
        cls = ep.load()
    except Exception as exc:  # a plugin may fail in any way; report it, never crash the caller
        detail = (str(exc).strip().splitlines() or [""])[0]  # errors print as one line
        raise I2IError(
            f"model plugin '{name}' ({target}) failed to import: {type(exc).__name__}: {detail}"
        ) from exc
    # the registry sits below the model contract: it checks against `i2i.model.Model` without importing it
    # (a subclass imported it; if nothing did, the plugin is no subclass)
    base = getattr(sys.modules.get("i2i.model"), "Model", None)
    if base is None or not (isinstance(cls, type) and issubclass(cls, base)):
        raise I2IError(f"model plugin '{name}' ({target}) is not an i2i.Model subclass")
    if not cls.name:  # checkpoints record the model by name, so a class must know the one it is registered as
        cls.name = name
    return cls


def model_class(name: str) -> type[Model]:
    """Import and return the model class registered as `name` (did-you-mean on unknown names)."""
    return _load(name)
