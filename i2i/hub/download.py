"""Downloads by name: the cache in `$I2I_HOME`, resumable verified downloads, datasets pulled and extracted.

Cache layout (`$I2I_HOME`, default `~/.cache/i2i`):

* `downloads/<name>.<zip|tar.gz>`: dataset archives while they are fetched (removed once extracted);
* `datasets/<name>/`: extracted datasets, renamed into place only when complete;
* `weights/<name>.<ext>`: weights files.

A file placed by hand at the path a download would write (`downloads/...` or `weights/...`) is used instead
of downloading, after the catalogue's hash (when known) is checked. Environment:

* `I2I_OFFLINE=1`: never touch the network;
* `I2I_MIRROR=http://host:port[/prefix]`: fetch every catalogue URL from this host, keeping its path;
* `I2I_TIMEOUT=SECONDS`: connect/read timeout (default 15).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from rich.console import Console

from i2i._version import __version__
from i2i.errors import I2IError
from i2i.hub import catalogue
from i2i.hub.archives import extract_archive
from i2i.io.files import first_line, sha256_file

DEFAULT_TIMEOUT = 15.0
ARCHIVES = {"zip": ".zip", "tar.gz": ".tar.gz"}
_CHUNK = 1 << 20
_ATTEMPTS = 3  # a dropped connection is resumed this often within one call, as long as bytes arrive
_SOURCE_FILE = ".i2i-source.json"


def home() -> Path:
    """The cache root: `$I2I_HOME`, default `~/.cache/i2i`."""
    return Path(os.environ.get("I2I_HOME") or "~/.cache/i2i").expanduser()


def offline() -> bool:
    """True when `I2I_OFFLINE` asks never to touch the network."""
    return os.environ.get("I2I_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def timeout() -> float:
    """Connect/read timeout in seconds: `$I2I_TIMEOUT`, default 15."""
    raw = os.environ.get("I2I_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 86_400:  # NaN fails too
        raise I2IError(f"I2I_TIMEOUT={raw!r}: expected a positive number of seconds")
    return value


def mirrored(url: str) -> str:
    """`url` with scheme and host replaced by `$I2I_MIRROR` (its path appended to the mirror's prefix)."""
    mirror = os.environ.get("I2I_MIRROR", "").strip()
    if not mirror:
        return url
    try:
        base = urllib.parse.urlsplit(mirror)
        _ = base.port  # parsing the port is what finds a malformed one
    except ValueError:
        base = urllib.parse.urlsplit("")
    if base.scheme not in ("http", "https") or not base.netloc:
        raise I2IError(f"I2I_MIRROR={mirror!r}: expected http://host[:port][/prefix]")
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        (base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, "")
    )


# ---------------------------------------------------------------------------------------- cache paths


def dataset_dir(name: str) -> Path:
    """Where the catalogue dataset `name` is (or will be) extracted."""
    return home() / "datasets" / name


def archive_path(name: str, entry: dict[str, Any]) -> Path:
    """Where the archive of dataset `name` is downloaded to, and where a hand-downloaded copy may be put."""
    return home() / "downloads" / f"{name}{ARCHIVES[entry.get('archive', 'zip')]}"


def weights_path(name: str, entry: dict[str, Any]) -> Path:
    """Where the catalogue weights `name` are downloaded to (or may be put by hand)."""
    suffix = PurePosixPath(urllib.parse.urlsplit(entry["url"]).path).suffix
    return home() / "weights" / f"{name}{suffix}"


def cached_dataset(name: str) -> Path | None:
    """The extracted dataset `name`, or None when it has not been pulled."""
    folder = dataset_dir(name)
    return folder if folder.is_dir() else None


def cached_weights(name: str, entry: dict[str, Any]) -> Path | None:
    """The downloaded weights `name`, or None when they have not been pulled."""
    path = weights_path(name, entry)
    return path if path.is_file() else None


# --------------------------------------------------------------------------------------------- pulls


def pull_dataset(name: str) -> Path:
    """The root of the catalogue dataset `name` (e.g. the folder holding trainA/), downloaded and
    extracted on first use; later calls return the cached folder without touching the network."""
    entries = catalogue.dataset_entries()
    if name not in entries:
        raise catalogue.unknown_dataset(name)
    entry = entries[name]
    final = dataset_dir(name)
    if final.is_dir():
        return final
    if final.exists():
        raise I2IError(f"{final} is a file, where dataset '{name}' goes; move or delete it")
    if entry.get("manual"):
        raise I2IError(
            f"dataset '{name}' cannot be downloaded: {entry['instructions']}; then give --data DIR, "
            f"or put the prepared folder at {final}"
        )
    with _locked(final.parent / f".{name}.lock", f"dataset '{name}'"):
        if final.is_dir():  # another process finished it while this one waited
            return final
        for leftover in final.parent.glob(f".{name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        archive = fetch(
            entry["url"],
            archive_path(name, entry),
            sha256=entry.get("sha256"),
            size=entry.get("size"),
            what=f"dataset '{name}'",
        )
        digest = _recorded_hash(archive)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=final.parent))
        try:
            try:
                extract_archive(archive, staging, entry.get("archive", "zip"))
            except I2IError as exc:
                archive.unlink(missing_ok=True)
                _sidecar(archive).unlink(missing_ok=True)
                raise I2IError(
                    f"{exc}; the archive was deleted, so the next pull downloads it again"
                ) from None
            root = _archive_root(staging, entry.get("root"))
            source = {"name": name, "url": entry["url"], "sha256": digest, "license": entry.get("license")}
            (root / _SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
            os.replace(root, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        archive.unlink()  # its hash stays recorded in the sidecar and in the dataset's source file
    return final


def pull_weights(name: str) -> Path:
    """The local file of the catalogue weights `name` (an entry with a `url`), downloaded on first use."""
    entries = catalogue.weights_entries()
    entry = entries.get(name)
    if entry is None or "url" not in entry:
        raise I2IError(f"weights '{name}' are not downloadable (no url in the catalogue)")
    return fetch(
        entry["url"],
        weights_path(name, entry),
        sha256=entry.get("sha256"),
        size=entry.get("size"),
        what=f"weights '{name}'",
    )


def _archive_root(staging: Path, root: str | None) -> Path:
    """The dataset folder inside an extracted archive: its `root` folder, its only folder, or all of it."""
    if root and (staging / root).is_dir():
        return staging / root
    children = [p for p in staging.iterdir() if p.name != "__MACOSX"]
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return staging


# ------------------------------------------------------------------------------------------ download


def fetch(
    url: str, dest: Path, *, sha256: str | None = None, size: int | None = None, what: str | None = None
) -> Path:
    """Download `url` (through `$I2I_MIRROR`) to `dest` and return `dest`.

    An existing `dest` (a finished download, or a file put there by hand) is used without the network,
    after a check of `size` and `sha256` when given (a download of i2i's own that no longer matches its hash
    is damaged, and fetched again). Otherwise the bytes go to `dest.part` (resumed with
    an HTTP range request when a previous attempt left one), are checked against `size` and `sha256`, and
    only then renamed to `dest`. A hash not given is computed, shown and recorded in `dest.sha256`.
    Every failure is one `I2IError` line naming the URL and the path where the file can be put by hand.
    """
    dest = Path(dest)
    what = what or dest.name
    original, url = url, mirrored(url)
    with _locked(dest.with_name(f".{dest.name}.lock"), what):
        if dest.is_file() and _check_placed(dest, url, sha256, size):
            return dest
        manual = f"download {'it' if url == original else original} yourself and put it at {dest}"
        if sha256:
            manual += f" (sha256 {sha256})"
        if offline():
            raise I2IError(
                f"{what} is not in the cache and I2I_OFFLINE=1 forbids downloading {url}; {manual}"
            )
        part = dest.with_name(dest.name + ".part")
        digest = _download(url, part, size=size, what=what, manual=manual)
        actual = digest.hexdigest()
        if sha256 and actual != sha256.lower():
            part.unlink(missing_ok=True)
            raise I2IError(
                f"sha256 mismatch for {url}: expected {sha256}, got {actual}; the download was deleted"
            )
        if _is_web_page(part):
            part.unlink(missing_ok=True)
            raise I2IError(
                f"{url} answered with a web page instead of {what} (an error or login page); "
                f"the download was deleted; {manual}"
            )
        os.replace(part, dest)
        _record_hash(dest, actual, shown=not sha256)
    return dest


def _download(url: str, part: Path, *, size: int | None, what: str, manual: str) -> Any:
    """Fetch `url` into `part`, resuming what is there; returns the sha256 of the whole file."""
    for attempt in range(1, _ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        digest = _hash_prefix(part, have)
        request = urllib.request.Request(url, headers={"User-Agent": f"i2i/{__version__}"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout())
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # the partial file does not fit the server's file: start over
                part.unlink()
                continue
            reason = str(exc.reason).strip().splitlines()[0] if str(exc.reason).strip() else ""
            raise I2IError(
                f"cannot download {what} from {url} (HTTP {exc.code} {reason}); {manual}"
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise I2IError(f"cannot download {what} from {url} ({_reason(exc)}); {manual}") from None
        with response:
            if response.status != 206 or _range_start(response) != have:
                have, digest = 0, hashlib.sha256()  # the server sent the whole file
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else size
            if size is not None and total != size:
                part.unlink(missing_ok=True)
                raise I2IError(
                    f"size mismatch for {url}: the server sends {total} bytes, the catalogue expects {size}"
                )
            received, error = _stream(response, part, "ab" if have else "wb", digest, what, have, total)
        done = have + received
        if error is None and (total is None or done == total):
            if size is not None and done != size:
                part.unlink(missing_ok=True)
                raise I2IError(
                    f"size mismatch for {url}: received {done} bytes, the catalogue expects {size}"
                )
            return digest
        if received == 0 or attempt == _ATTEMPTS:
            why = _reason(error) if error else "the connection closed early"
            raise I2IError(
                f"download of {what} from {url} stopped after {done} of {total} bytes ({why}); {part} is "
                f"kept and the next attempt resumes it; or {manual}"
            )
    raise I2IError(f"cannot download {what} from {url}; {manual}")


def _stream(
    response: IO[bytes], part: Path, mode: str, digest: Any, what: str, have: int, total: int | None
) -> tuple[int, BaseException | None]:
    """Append the response body to `part`: (bytes received, the error that stopped it or None)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    received = 0
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar, open(part, mode) as fh:
        task = bar.add_task(what, total=total, completed=have)
        try:
            # read1: whatever has arrived, so a stall or reset keeps every byte received before it
            read = getattr(response, "read1", response.read)
            while chunk := read(_CHUNK):
                fh.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(task, advance=len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            return received, exc
    return received, None


def _range_start(response: Any) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _hash_prefix(part: Path, length: int) -> Any:
    digest = hashlib.sha256()
    if length:
        with open(part, "rb") as fh:
            remaining = length
            while remaining and (block := fh.read(min(_CHUNK, remaining))):
                digest.update(block)
                remaining -= len(block)
    return digest


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout():g}s (I2I_TIMEOUT)"
    return first_line(exc)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _is_web_page(path: Path) -> bool:
    """An HTML page where a dataset archive or weights file should be (servers answer 200 with those)."""
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<!--"))


def _record_hash(path: Path, digest: str, *, shown: bool) -> None:
    """Write `path.sha256` (sha256sum format), stamped with the file's modification time so that a later
    check knows it describes this very file; show the hash when the catalogue did not know it."""
    sidecar = _sidecar(path)
    sidecar.write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    stat = path.stat()
    os.utime(sidecar, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    if shown:
        Console(stderr=True).print(
            f"sha256 {digest}  {path.name} (not in the catalogue; recorded in {sidecar})",
            highlight=False,
            soft_wrap=True,
        )


def _recorded_hash(path: Path) -> str | None:
    sidecar = _sidecar(path)
    return sidecar.read_text(encoding="utf-8").split()[0] if sidecar.is_file() else None


def _check_placed(path: Path, url: str, sha256: str | None, size: int | None) -> bool:
    """Check a cached or hand-placed file: True when it may be used. A recorded hash stamped with the
    file's modification time was computed from this file; otherwise the file is hashed and checked against
    the catalogue's hash, or against the hash recorded when it was downloaded. A file i2i fetched (or
    checked) before that no longer matches is damaged: it is deleted, with a note, and False returned so
    that it is fetched again (offline, and for a file put there by hand, that is an error instead)."""
    sidecar = _sidecar(path)
    if sidecar.is_file() and sidecar.stat().st_mtime_ns == path.stat().st_mtime_ns:
        return True
    again = sidecar.is_file() and not offline()  # i2i's own copy: fetch it again rather than fail
    if _is_web_page(path):
        raise I2IError(f"{path} is a web page, not the file from {url}; delete it and pull again")
    if size is not None and path.stat().st_size != size:
        if again:
            return _damaged(path, f"{path.stat().st_size} bytes, not {size}")
        raise I2IError(
            f"{path} has {path.stat().st_size} bytes, but {url} has {size}; replace or delete that file"
        )
    actual = sha256_file(path)
    if sha256 and actual != sha256.lower():
        if again:
            return _damaged(path, f"sha256 {actual}, not {sha256}")
        raise I2IError(
            f"{path}: sha256 {actual} does not match the expected {sha256} of {url}; "
            "replace or delete that file"
        )
    recorded = _recorded_hash(path)
    if not sha256 and recorded and actual != recorded:
        if again:
            return _damaged(path, f"sha256 {actual}, recorded {recorded}")
        raise I2IError(
            f"{path} changed since it was fetched (sha256 {actual}, recorded {recorded}); delete it to download "
            f"it again, or delete {sidecar.name} to keep this file"
        )
    _record_hash(path, actual, shown=not sha256 and actual != recorded)
    return True


def _damaged(path: Path, why: str) -> bool:
    """Delete a cached file that no longer matches its hash (and its record), saying so; False."""
    Console(stderr=True).print(
        f"note: {path} is damaged ({why}); deleted, downloading it again", highlight=False, soft_wrap=True
    )
    path.unlink()
    _sidecar(path).unlink(missing_ok=True)
    return False


@contextlib.contextmanager
def _locked(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` while the block runs (other processes wait), so that two
    processes pulling the same thing neither download into one file nor extract twice."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise I2IError(
            f"cannot create the cache folder {path.parent} ({exc.strerror or exc}); set I2I_HOME to a "
            "writable folder"
        ) from None
    with open(path, "a+b") as fh:
        if not _try_lock(fh, blocking=False):
            Console(stderr=True).print(
                f"waiting for another i2i process fetching {what} ...", highlight=False
            )
            _try_lock(fh, blocking=True)
        try:
            yield
        finally:
            _unlock(fh)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fh: IO[bytes], *, blocking: bool) -> bool:
        fh.seek(0)
        while True:
            try:
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not blocking:
                    return False
                time.sleep(0.2)

    def _unlock(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fh: IO[bytes], *, blocking: bool) -> bool:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fh: IO[bytes]) -> None:
        fcntl.flock(fh, fcntl.LOCK_UN)
