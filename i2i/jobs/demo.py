"""The offline demo (`make demo` / `i2i demo`): every registered model's own demo (`Model.demo`: bundled
weights on bundled sample images), in the registry's order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from i2i import registry
from i2i.api import load


def run_demo(out_dir: Path, device: str = "auto") -> Iterator[str]:
    """The lines of each model's demo, which writes its results under `out_dir`. A demo loads its bundled
    weights with the `load` it is given (`i2i.api.load`: models import nothing above them)."""
    for name in registry.model_names():
        cls = registry.model_class(name)
        if cls.has_demo():
            yield from cls.demo(Path(out_dir), device, load=load)
