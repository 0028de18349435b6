"""Plain file helpers: writes that land whole or not at all, sha256 hashes, one-line read errors."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from i2i.errors import I2IError

#: write errors that concern a whole folder or device, not one file: the disk is full, the folder read-only
WHOLE_FOLDER_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class WriteError(I2IError):
    """A file could not be written (one line naming it); whatever stood at its path is untouched.
    `errno` is the system's error number when known."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_

    @property
    def whole_folder(self) -> bool:
        """The disk is full or the folder cannot be written: the next files would fail the same way."""
        return self.errno in WHOLE_FOLDER_ERRORS


def write_error(path: str | os.PathLike, exc: BaseException, what: str = "") -> WriteError:
    """The `WriteError` for `path` from `exc`: an `OSError`, or a library's error that quotes one (e.g.
    safetensors' "I/O error: No space left on device (os error 28)")."""
    number = getattr(exc, "errno", None)
    reason = getattr(exc, "strerror", None)
    if number is None and (found := re.search(r"([^:]+) \(os error (\d+)\)", str(exc))):
        reason, number = found[1].strip(), int(found[2])
    return WriteError(f"{path}: cannot write {what or 'the file'} ({reason or first_line(exc)})", number)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; it replaces `path` only if the block succeeds.

    Readers therefore see the old file or the complete new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the mode a plain open() would (or the old file's)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_unfinished(folder: str | os.PathLike, names: Iterable[str] | None = None) -> list[Path]:
    """Delete the temporary files `atomic_path` left in `folder` when its process was killed mid-write
    (`.NAME.XXXXXXXX.tmp`), for the given target `names` only (every one when None); the files removed."""
    folder = Path(folder)
    wanted = None if names is None else set(names)
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _UNFINISHED.fullmatch(entry.name)
            if match and (wanted is None or match[1] in wanted) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(folder / entry.name)
    return removed


#: `tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")`: eight random characters between
_UNFINISHED = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically (see `atomic_path`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none): errors print as one line."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
