"""The dataset layouts by name: what a model trains on (`Model.data_layout`), how `i2i data check` checks a
folder for it and how `i2i data synth` writes a synthetic one.

Built in: `paired` (pix2pix), `unaligned` (CycleGAN; also called `unpaired`), `domains` (StarGAN v2),
`attributes` (StarGAN), `images` (super-resolution) and `masks` (MaskGAN), each in its own module of `i2i.data`. A plugin
registers a layout of its own with `register_layout` when it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from i2i.data import attributes, domains, images, masks, paired, unaligned
from i2i.data.faces import layout as faces_layout
from i2i.data.files import CHECK_LIMIT, LayoutReport
from i2i.errors import I2IError, UsageError, unknown_name


@dataclass(frozen=True)
class Layout:
    """A dataset layout.

    `check(root, *, max_checked=CHECK_LIMIT)` returns a `LayoutReport` of every problem at once;
    `synth(out_dir, *, count, size, seed, extra)` writes a synthetic dataset and returns its root and a
    phrase saying what it wrote ("200 64x64 pairs"), None when the layout has none. `extra` holds the
    layout-specific options given (`options` names those it takes); any other is a `UsageError`.
    """

    name: str
    description: str
    check: Callable[..., LayoutReport]
    synth: Callable[..., tuple[Path, str]] | None
    aliases: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


_LAYOUTS: dict[str, Layout] = {}


def register_layout(layout: Layout) -> None:
    """Make `layout` known by its name and aliases (a later registration of a name replaces the earlier)."""
    for name in (layout.name, *layout.aliases):
        _LAYOUTS[name] = layout


def get_layout(name: str) -> Layout:
    """The layout called `name` (or one of its aliases); `UsageError` with a suggestion for unknown names."""
    if name not in _LAYOUTS:
        raise unknown_name("dataset layout", name, layout_names())
    return _LAYOUTS[name]


def layout_names() -> list[str]:
    """The names of the known layouts (aliases left out), sorted."""
    return sorted({layout.name for layout in _LAYOUTS.values()})


def check_layout(root: str | Path, layout: str, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem that would stop training on `root` with `layout`, one message each, plus notes
    (ignored non-image files, partial checks) and a one-line summary. Images are decoded to find unreadable
    or truncated files, for at most `max_checked` images per folder. `UsageError` for an unknown `layout`.
    """
    return get_layout(layout).check(root, max_checked=max_checked)


def make_for_layout(layout: str, out_dir: Path, *, count: int = 20, size: int = 32, seed: int = 0) -> Path:
    """A small synthetic dataset in `layout` (a model's `data_layout`), e.g. for tests of any model."""
    synth = get_layout(layout).synth
    if synth is None:
        raise I2IError(f"no synthetic data for the dataset layout '{layout}'")
    return synth(out_dir, count=count, size=size, seed=seed, extra={})[0]


def _taking(
    name: str, synthesize: Callable[..., tuple[Path, str]], options: tuple[str, ...] = ()
) -> Callable[..., tuple[Path, str]]:
    """`synthesize(out_dir, *, count, size, seed, **options)` as a `Layout.synth` that takes the options
    in `extra` and names the task that takes any other."""

    def synth(
        out_dir: Path, *, count: int, size: int, seed: int, extra: dict[str, Any] | None = None
    ) -> tuple[Path, str]:
        extra = dict(extra or {})
        for key in extra:
            if key not in options:
                raise UsageError(_not_taken(name, key))
        return synthesize(Path(out_dir), count=count, size=size, seed=seed, **extra)

    return synth


def _not_taken(name: str, key: str) -> str:
    owners = sorted({layout.name for layout in _LAYOUTS.values() if key in layout.options})
    where = f"; it is an option of the {' and '.join(owners)} task" if owners else ""
    return f"the {name} task takes no '{key}' option{where}"


def _builtin(
    name: str, description: str, module: Any, aliases: tuple[str, ...] = (), options: tuple[str, ...] = ()
) -> Layout:
    """The layout of a module of `i2i.data` with a `check` and a `synthesize` function."""
    synth = _taking(name, module.synthesize, options)
    return Layout(name, description, module.check, synth, aliases=aliases, options=options)


register_layout(
    _builtin(
        "paired",
        "paired images: A|B side by side, or A/ + B/ by file name (pix2pix)",
        paired,
        options=("layout",),
    )
)
register_layout(
    _builtin(
        "unaligned", "unpaired images in trainA/ and trainB/ (CycleGAN)", unaligned, aliases=("unpaired",)
    )
)
register_layout(
    _builtin("domains", "one sub-folder of images per domain (StarGAN v2)", domains, options=("domains",))
)
register_layout(
    _builtin(
        "attributes", "CelebA's attribute list + images/, or one folder per domain (StarGAN)", attributes
    )
)
register_layout(_builtin("images", "a folder of high-resolution images (super-resolution)", images))
register_layout(_builtin("masks", "images/ + masks/ (class-id label maps) by file name (MaskGAN)", masks))
register_layout(
    _builtin("faces", "src/ + dst/: face frames + landmarks.json, or aligned faces (SAEHD)", faces_layout)
)
