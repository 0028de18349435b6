"""Safe extraction of dataset archives (`zip`, `tar.gz`): every member checked before anything is written.

The check reads every member (CRCs) and refuses absolute paths, `..`, drive letters, links, device files and
archives unpacking to far more than their size (zip bombs).
"""

from __future__ import annotations

import gzip
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from i2i.errors import I2IError
from i2i.io.files import first_line

#: extraction refuses archives that unpack to more than RATIO x their size (and at least FLOOR bytes)
UNPACK_RATIO = 20
UNPACK_FLOOR = 256 << 20
_CHUNK = 1 << 20


class _Budget:
    """Counts unpacked bytes and stops an archive that unpacks to more than `limit` (a zip bomb)."""

    def __init__(self, archive: Path, limit: int) -> None:
        self.archive, self.limit, self.used = archive, limit, 0

    def take(self, n: int) -> None:
        """Count `n` more unpacked bytes; over the limit is an `I2IError`."""
        self.used += n
        if self.used > self.limit:
            raise I2IError(
                f"{self.archive}: unpacks to more than {self.limit:,} bytes; refusing it as a possible zip bomb"
            )


def extract_archive(archive: Path, dest: Path, kind: str, *, max_bytes: int | None = None) -> None:
    """Check the `zip` or `tar.gz` file `archive` completely, then unpack it into the folder `dest`.

    The check reads every member (CRCs), refuses absolute paths, `..`, drive letters, links, device files
    and archives unpacking to more than `max_bytes` (default: UNPACK_RATIO x the archive size, at least
    UNPACK_FLOOR); nothing is written before it passes. Member permissions and times are not restored.
    """
    archive, dest = Path(archive), Path(dest)
    limit = max_bytes if max_bytes is not None else max(UNPACK_RATIO * archive.stat().st_size, UNPACK_FLOOR)
    if kind == "zip":
        members = _zip_members
    elif kind == "tar.gz":
        members = _tar_members
    else:
        raise I2IError(f"{archive}: unknown archive kind '{kind}' (expected zip or tar.gz)")
    try:
        budget = _Budget(archive, limit)
        for _, _, read in members(archive):
            if read is not None:
                _drain(read, budget)
    except I2IError:
        raise
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        zlib.error,
        gzip.BadGzipFile,
        NotImplementedError,  # a zip compression method Python lacks
        RuntimeError,  # an encrypted zip member
        OSError,
    ) as exc:
        raise I2IError(f"{archive}: a damaged or unsupported {kind} archive ({first_line(exc)})") from None
    budget = _Budget(archive, limit)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for rel, is_dir, read in members(archive):
            target = dest.joinpath(*rel.parts)
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                _drain(read, budget, out.write)
    except OSError as exc:
        raise I2IError(f"cannot extract {archive} into {dest}: {first_line(exc)}") from None


def _drain(read: Callable[[int], bytes], budget: _Budget, sink: Callable[[bytes], Any] | None = None) -> None:
    while block := read(_CHUNK):
        budget.take(len(block))
        if sink is not None:
            sink(block)


MemberIter = Iterator[tuple[PurePosixPath, bool, Callable[[int], bytes] | None]]


def _zip_members(archive: Path) -> MemberIter:
    """(relative path, is a folder, reader) of each zip member, after checking every name and type."""
    with zipfile.ZipFile(archive) as zf:
        checked = []
        for info in zf.infolist():
            rel = _member_path(info.filename, archive)
            # Unix zips keep st_mode in the high bits; a file type other than file/folder is refused
            file_type = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
            if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "a symbolic link" if file_type == stat.S_IFLNK else "a special file"
                raise I2IError(f"{archive}: member '{info.filename}' is {kind}; refusing the archive")
            if rel is not None:
                checked.append((rel, info))
        for rel, info in checked:
            if info.is_dir():
                yield rel, True, None
            else:
                with zf.open(info) as fh:
                    yield rel, False, fh.read


def _tar_members(archive: Path) -> MemberIter:
    """(relative path, is a folder, reader) of each tar.gz member, read as a stream (one decompression).

    Names and types are checked member by member, so extraction relies on the full check pass before it.
    The gzip trailer (CRC and length) is read at the end."""
    with gzip.open(archive, "rb") as gz:
        with tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                rel = _member_path(member.name, archive)
                if member.issym() or member.islnk():
                    raise I2IError(
                        f"{archive}: member '{member.name}' is a link (to '{member.linkname}'); refusing the archive"
                    )
                if not (member.isreg() or member.isdir()):
                    raise I2IError(
                        f"{archive}: member '{member.name}' is a special file; refusing the archive"
                    )
                if rel is None:
                    continue
                data = tar.extractfile(member)
                yield rel, data is None, data.read if data is not None else None
        while gz.read(_CHUNK):
            pass


_DRIVE = re.compile(r"^[A-Za-z]:")


def _member_path(name: str, archive: Path) -> PurePosixPath | None:
    """The safe relative path of an archive member (None for the archive's own root), or an error."""
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if "\x00" in clean or clean.startswith("/") or _DRIVE.match(clean) or ".." in parts:
        raise I2IError(
            f"{archive}: member '{name}' points outside the extraction folder (absolute path, drive letter "
            "or '..'); refusing the archive"
        )
    kept = [p for p in parts if p not in ("", ".")]
    return PurePosixPath(*kept) if kept else None
