"""DeepFaceLab's pickled files, read without running code.

Every DeepFaceLab (DFL) artefact is a Python pickle: a model's part files (`<name>_SAEHD_encoder.npy` is
`pickle.dumps(dict)`, not a NumPy file), its `<name>_SAEHD_data.dat`, and the metadata segment of an
aligned-faceset JPEG. `pickle.loads` on such a file from someone else can run any code. `loads` admits
only NumPy array reconstruction and plain data (dict, list, tuple, str, bytes, numbers, bools, None,
`collections.OrderedDict`); any other global a pickle names is refused before it is called, with one line.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError

try:  # NumPy 2 moved `numpy.core` to `numpy._core`; pickles name either, whichever wrote them
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]


class _Refused(Exception):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What pickle protocols 0-2 call to rebuild `bytes` (`_codecs.encode(text, "latin1")`), nothing more."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _Refused("_codecs.encode", f"<{encoding}>")
    return text.encode("latin1")


# (module, name) -> the object; nothing else is looked up, so no module is imported on a pickle's say-so
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    # pickle protocol 5 rebuilds arrays from their buffer
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_bytes,
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler whose only callables are NumPy's array and dtype reconstruction."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _Refused(module, name)
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("persistent_load", str(pid)[:60])


def loads(data: bytes, what: str) -> Any:
    """Unpickle `data` admitting only arrays and plain data; `what` names the source in errors."""
    try:
        return _ArraysOnly(io.BytesIO(data)).load()
    except _Refused as exc:
        raise I2IError(
            f"{what}: refused: the pickle would call {exc.module}.{exc.name}; only arrays and plain data are read"
        ) from None
    except Exception as exc:  # whatever damaged bytes make the unpickler raise
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise I2IError(
            f"{what}: not a readable DeepFaceLab pickle ({detail[:160]}); it may be truncated or corrupted"
        ) from None


def load(path: Path) -> Any:
    """Read a DeepFaceLab pickle file through `loads`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise I2IError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise I2IError(f"{path}: the file is empty (0 bytes); copy it again")
    return loads(data, str(path))
