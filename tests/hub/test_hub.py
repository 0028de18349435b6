"""Downloads by name (`i2i.hub`): a loopback HTTP server on 127.0.0.1, started here, stands in for the
network, with hooks for dropped connections, errors and hanging responses."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import socket
import tarfile
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.errors import I2IError, UsageError
from i2i.hub import download as hub
from i2i.hub import resolve

H2Z = "/cyclegan/datasets/horse2zebra.zip"
H2Z_URL = "https://efrosgans.eecs.berkeley.edu" + H2Z
FACADES = "/pix2pix/datasets/facades.tar.gz"
SIDES = ("trainA", "trainB", "testA", "testB")


class Loopback:
    """A small threaded HTTP server serving `files` (path -> bytes) with `Range: bytes=N-` support.

    Hooks: `drop_after[path]` lists byte counts after which successive responses close the connection
    (with the full Content-Length announced); `ignore_range` answers 200 with the whole file; `hang`
    never answers (until the server stops). `requests` records (path, Range header) of every GET.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after: dict[str, list[int]] = {}
        self.ignore_range: set[str] = set()
        self.hang: set[str] = set()
        self._release = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        loop = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                loop.requests.append((self.path, wanted))
                if self.path in loop.hang:
                    loop._release.wait(10)
                    return
                body = loop.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
                if match and self.path not in loop.ignore_range:
                    start = int(match[1])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                drops = loop.drop_after.get(self.path)
                if drops:
                    self.wfile.write(payload[: drops.pop(0)])
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        return Handler


@pytest.fixture
def server():
    with Loopback() as running:
        yield running


@pytest.fixture
def mirror(server, monkeypatch):
    """The loopback server as I2I_MIRROR: catalogue URLs keep their path on it."""
    monkeypatch.setenv("I2I_MIRROR", server.url)
    return server


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """An empty working folder, to show that pulls write nothing outside I2I_HOME."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def png(seed: int, size: int = 8) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def unaligned_tree(root: str = "horse2zebra", size: int = 8) -> dict[str, bytes]:
    """trainA/trainB/testA/testB with two tiny PNGs each, under `root/`."""
    return {f"{root}/{side}/{i}.png": png(10 * k + i, size) for k, side in enumerate(SIDES) for i in range(2)}


def paired_tree(root: str = "facades") -> dict[str, bytes]:
    return {f"{root}/{split}/{i}.png": png(i, 8) for split in ("train", "test") for i in range(3)}


def make_zip(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    """A zip with the member names exactly as given ('..' and absolute names included)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buffer.getvalue()


def make_tar_gz(members: dict[str, bytes], *, links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A tar.gz with the member names exactly as given; `links` maps a name to (tar type, target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def assert_clean_cache(name: str) -> None:
    """No dataset folder, no half-extracted temp folder and no archive left for `name`."""
    datasets = hub.home() / "datasets"
    assert not (datasets / name).exists()
    assert not list(datasets.glob(f".{name}.tmp-*"))
    assert not [p for p in (hub.home() / "downloads").glob(f"{name}.*") if p.suffix != ".lock"]


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------- download and cache


def test_mirror_download_extract_and_cache(server, monkeypatch, cwd):
    tree = unaligned_tree()
    archive = make_zip(tree)
    server.files["/mirror" + H2Z] = archive
    monkeypatch.setenv("I2I_MIRROR", server.url + "/mirror/")

    root = hub.pull_dataset("horse2zebra")

    assert root == hub.home() / "datasets" / "horse2zebra"
    assert visible(root) == sorted(SIDES)
    assert (root / "trainB" / "1.png").read_bytes() == tree["horse2zebra/trainB/1.png"]
    assert server.requests == [("/mirror" + H2Z, None)]
    source = json.loads((root / ".i2i-source.json").read_text())
    assert source["sha256"] == sha256(archive) and source["url"] == H2Z_URL
    downloads = hub.home() / "downloads"
    assert not (downloads / "horse2zebra.zip").exists()  # removed once extracted, its hash kept
    assert (downloads / "horse2zebra.zip.sha256").read_text().split()[0] == sha256(archive)

    server.stop()
    monkeypatch.setenv("I2I_OFFLINE", "1")
    assert hub.pull_dataset("horse2zebra") == root
    assert resolve.resolve_dataset("horse2zebra") == root
    assert not any(cwd.iterdir())


def test_tar_gz_dataset(mirror):
    mirror.files[FACADES] = make_tar_gz(paired_tree())
    root = hub.pull_dataset("facades")
    assert visible(root) == ["test", "train"]
    assert len(list((root / "train").glob("*.png"))) == 3


def test_weights_are_pulled_once(mirror, monkeypatch):
    mirror.files["/cyclegan/pretrained_models/horse2zebra.pth"] = b"not really a state dict"
    path, entry = resolve.resolve_weights("cyclegan-horse2zebra")
    assert path == hub.home() / "weights" / "cyclegan-horse2zebra.pth"
    assert path.read_bytes() == b"not really a state dict"
    assert entry["name"] == "cyclegan-horse2zebra" and "BSD-3-Clause" in entry["license"]
    mirror.stop()
    monkeypatch.setenv("I2I_OFFLINE", "1")
    assert hub.pull_weights("cyclegan-horse2zebra") == path


def test_two_pulls_at_once_download_once(mirror):
    mirror.files[H2Z] = make_zip(unaligned_tree())
    with ThreadPoolExecutor(2) as pool:
        roots = list(pool.map(hub.pull_dataset, ["horse2zebra"] * 2))
    assert roots[0] == roots[1] and visible(roots[0]) == sorted(SIDES)
    assert mirror.requests == [(H2Z, None)]


def test_a_leftover_temp_folder_is_cleaned_up(mirror):
    leftover = hub.home() / "datasets" / ".horse2zebra.tmp-crashed"
    (leftover / "trainA").mkdir(parents=True)
    mirror.files[H2Z] = make_zip(unaligned_tree())
    hub.pull_dataset("horse2zebra")
    assert not leftover.exists()


# -------------------------------------------------------------------------------------- resume, checks


def test_resume_after_a_dropped_connection(server):
    body = np.random.default_rng(0).bytes(300_000)
    server.files["/w.pth"] = body
    server.drop_after["/w.pth"] = [100_000]
    dest = hub.home() / "weights" / "w.pth"
    assert hub.fetch(server.url + "/w.pth", dest, sha256=sha256(body), what="w") == dest
    assert dest.read_bytes() == body
    assert server.requests == [("/w.pth", None), ("/w.pth", "bytes=100000-")]
    assert not dest.with_name("w.pth.part").exists()


@pytest.mark.parametrize("honours_range", [True, False], ids=["206", "200-ignoring-range"])
def test_resume_a_partial_file_of_an_earlier_run(server, honours_range):
    body = np.random.default_rng(1).bytes(50_000)
    server.files["/w.pth"] = body
    if not honours_range:
        server.ignore_range.add("/w.pth")
    dest = hub.home() / "weights" / "w.pth"
    dest.parent.mkdir(parents=True)
    dest.with_name("w.pth.part").write_bytes(body[:20_000])
    hub.fetch(server.url + "/w.pth", dest, sha256=sha256(body), size=len(body))
    assert dest.read_bytes() == body
    assert server.requests == [("/w.pth", "bytes=20000-")]


def test_a_truncated_download_keeps_the_part_and_resumes_later(server):
    body = np.random.default_rng(2).bytes(10_000)
    server.files["/w.pth"] = body
    server.drop_after["/w.pth"] = [1000, 0]
    dest = hub.home() / "weights" / "w.pth"
    url = server.url + "/w.pth"
    with pytest.raises(I2IError) as exc:
        hub.fetch(url, dest, sha256=sha256(body))
    message = one_line(exc)
    assert url in message and "1000 of 10000 bytes" in message and str(dest) in message
    assert not dest.exists() and dest.with_name("w.pth.part").stat().st_size == 1000
    hub.fetch(url, dest, sha256=sha256(body))
    assert dest.read_bytes() == body and server.requests[-1] == ("/w.pth", "bytes=1000-")


def test_size_mismatch(server):
    server.files["/w.pth"] = b"x" * 100
    dest = hub.home() / "weights" / "w.pth"
    with pytest.raises(I2IError, match="size mismatch.*101"):
        hub.fetch(server.url + "/w.pth", dest, size=101)
    assert not dest.exists() and not dest.with_name("w.pth.part").exists()


def test_known_hash_mismatch_deletes_the_download(server):
    server.files["/w.pth"] = b"tampered"
    dest = hub.home() / "weights" / "w.pth"
    url = server.url + "/w.pth"
    with pytest.raises(I2IError) as exc:
        hub.fetch(url, dest, sha256="0" * 64)
    message = one_line(exc)
    assert url in message and "0" * 64 in message and sha256(b"tampered") in message
    assert not dest.exists() and not dest.with_name("w.pth.part").exists()


def test_an_unknown_hash_is_recorded_and_shown(server, capsys):
    server.files["/w.pth"] = b"weights"
    dest = hub.home() / "weights" / "w.pth"
    hub.fetch(server.url + "/w.pth", dest)
    assert dest.with_name("w.pth.sha256").read_text().split() == [sha256(b"weights"), "w.pth"]
    assert sha256(b"weights") in capsys.readouterr().err


def test_a_placed_file_is_checked_against_a_known_hash(monkeypatch):
    monkeypatch.setenv("I2I_OFFLINE", "1")
    dest = hub.home() / "weights" / "w.pth"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"wrong")
    with pytest.raises(I2IError, match="does not match"):
        hub.fetch("http://127.0.0.1:9/w.pth", dest, sha256=sha256(b"right"))
    assert dest.exists()  # a file the user put there is never deleted
    dest.write_bytes(b"right")
    assert hub.fetch("http://127.0.0.1:9/w.pth", dest, sha256=sha256(b"right")) == dest


# ------------------------------------------------------------------------------------- unsafe archives


def _evil_names(tmp_path: Path) -> list[str]:
    return ["../evil.png", str(tmp_path / "abs" / "evil.png"), "C:/evil.png", "horse2zebra/../../evil.png"]


@pytest.mark.parametrize("index", range(4), ids=["dotdot", "absolute", "drive", "nested-dotdot"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_members_outside_the_folder_are_refused(mirror, tmp_path, cwd, kind, index):
    evil = _evil_names(tmp_path)[index]
    members = {**unaligned_tree(), evil: b"owned"}
    name, path = ("horse2zebra", H2Z) if kind == "zip" else ("facades", FACADES)
    mirror.files[path] = make_zip(members) if kind == "zip" else make_tar_gz(members)
    with pytest.raises(I2IError, match="outside the extraction folder"):
        hub.pull_dataset(name)
    assert not list(tmp_path.rglob("evil.png")) and not any(cwd.iterdir())
    assert_clean_cache(name)


@pytest.mark.parametrize(
    "link",
    [(tarfile.SYMTYPE, "/etc/passwd"), (tarfile.LNKTYPE, "../../outside.png"), (tarfile.SYMTYPE, "0.png")],
    ids=["symlink-out", "hardlink-out", "symlink-in"],
)
def test_links_in_a_tar_are_refused(mirror, link):
    mirror.files[FACADES] = make_tar_gz(paired_tree(), links={"facades/train/link.png": link})
    with pytest.raises(I2IError, match="is a link"):
        hub.pull_dataset("facades")
    assert_clean_cache("facades")


def test_a_symlink_in_a_zip_is_refused(mirror):
    mirror.files[H2Z] = make_zip(unaligned_tree(), symlinks={"horse2zebra/trainA/x.png": "/etc/passwd"})
    with pytest.raises(I2IError, match="symbolic link"):
        hub.pull_dataset("horse2zebra")
    assert_clean_cache("horse2zebra")


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 3
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


@pytest.mark.parametrize("damage", ["crc", "not-an-archive", "truncated"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_damaged_archive_leaves_no_dataset(mirror, kind, damage):
    members = {"root/trainA/big.png": np.random.default_rng(3).bytes(20_000), **unaligned_tree("root")}
    data = make_zip(members) if kind == "zip" else make_tar_gz(members)
    data = {
        "crc": _flip_middle,
        "not-an-archive": lambda d: b"some bytes, but not an archive",
        "truncated": lambda d: d[: len(d) // 2],
    }[damage](data)
    name, path = ("horse2zebra", H2Z) if kind == "zip" else ("facades", FACADES)
    mirror.files[path] = data
    with pytest.raises(I2IError, match="damaged"):
        hub.pull_dataset(name)
    assert_clean_cache(name)


def test_an_archive_unpacking_to_too_much_is_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb/zeros.png", bytes(1 << 20))
    with pytest.raises(I2IError, match="zip bomb"):
        hub.extract_archive(archive, tmp_path / "out", "zip", max_bytes=100_000)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ offline, network errors


def test_offline_fails_at_once_then_uses_a_placed_file(monkeypatch):
    monkeypatch.setenv("I2I_OFFLINE", "1")
    place = hub.home() / "downloads" / "horse2zebra.zip"
    opened = []
    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda *a, **k: opened.append(a) or 1 / 0)
    with pytest.raises(I2IError) as exc:
        hub.pull_dataset("horse2zebra")
    assert opened == []  # offline: fails at once, without trying the network
    message = one_line(exc)
    assert H2Z_URL in message and str(place) in message and "I2I_OFFLINE" in message

    place.write_bytes(make_zip(unaligned_tree()))
    root = hub.pull_dataset("horse2zebra")
    assert visible(root) == sorted(SIDES)
    assert not place.exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("failure", ["refused", "404", "hanging"])
def test_network_failures_fail_fast_with_one_line(server, monkeypatch, failure):
    monkeypatch.setenv("I2I_TIMEOUT", "1")
    base = f"http://127.0.0.1:{_closed_port()}" if failure == "refused" else server.url
    monkeypatch.setenv("I2I_MIRROR", base)
    if failure == "hanging":
        server.hang.add(H2Z)
    timeouts = []
    urlopen = hub.urllib.request.urlopen

    def opening(request, timeout):
        timeouts.append(timeout)
        return urlopen(request, timeout=timeout)

    monkeypatch.setattr(hub.urllib.request, "urlopen", opening)
    with pytest.raises(I2IError) as exc:
        hub.pull_dataset("horse2zebra")
    assert timeouts and set(timeouts) == {1.0}  # every connection waits I2I_TIMEOUT at most, no retries
    message = one_line(exc)
    assert base + H2Z in message and str(hub.home() / "downloads" / "horse2zebra.zip") in message
    assert {"refused": "refused", "404": "HTTP 404", "hanging": "I2I_TIMEOUT"}[failure] in message
    assert_clean_cache("horse2zebra")


def test_unknown_and_manual_datasets():
    with pytest.raises(UsageError, match="did you mean 'horse2zebra'"):
        hub.pull_dataset("horse2zebr")
    with pytest.raises(I2IError) as exc:
        hub.pull_dataset("cityscapes")
    assert "cityscapes-dataset.com" in one_line(exc) and str(hub.dataset_dir("cityscapes")) in str(exc.value)
    (hub.dataset_dir("cityscapes") / "train").mkdir(parents=True)
    assert hub.pull_dataset("cityscapes") == hub.dataset_dir("cityscapes")


def test_bad_settings(monkeypatch):
    monkeypatch.setenv("I2I_MIRROR", "ftp://example")
    with pytest.raises(I2IError, match="I2I_MIRROR"):
        hub.mirrored(H2Z_URL)
    monkeypatch.setenv("I2I_TIMEOUT", "soon")
    with pytest.raises(I2IError, match="I2I_TIMEOUT"):
        hub.timeout()


def test_a_web_page_is_not_taken_for_the_file(server):
    server.files["/w.pth"] = b"<!DOCTYPE html>\n<html><body>Sign in to download</body></html>"
    dest = hub.home() / "weights" / "w.pth"
    with pytest.raises(I2IError, match="answered with a web page"):
        hub.fetch(server.url + "/w.pth", dest)
    assert not dest.exists() and not dest.with_name("w.pth.part").exists()


def test_a_placed_file_older_than_its_record_is_still_checked(server, monkeypatch):
    server.files["/w.pth"] = b"weights"
    dest = hub.home() / "weights" / "w.pth"
    hub.fetch(server.url + "/w.pth", dest, sha256=sha256(b"weights"))
    dest.write_bytes(b"other weights")
    os.utime(dest, (1_000_000_000, 1_000_000_000))  # as `mv` or `cp -p` of an old file leaves it
    monkeypatch.setenv("I2I_OFFLINE", "1")
    with pytest.raises(I2IError, match="does not match the expected"):
        hub.fetch(server.url + "/w.pth", dest, sha256=sha256(b"weights"))


def test_a_cached_file_that_changed_is_reported(server, capsys, monkeypatch):
    server.files["/w.pth"] = b"weights"
    dest = hub.home() / "weights" / "w.pth"
    hub.fetch(server.url + "/w.pth", dest)
    with open(dest, "r+b") as fh:
        fh.truncate(3)
    monkeypatch.setenv("I2I_OFFLINE", "1")  # online it is fetched again (tests/reliability/test_downloads.py)
    with pytest.raises(I2IError, match="changed since it was fetched.*delete it to download it again"):
        hub.fetch(server.url + "/w.pth", dest)
    dest.with_name("w.pth.sha256").unlink()  # the user keeps this file on purpose
    assert hub.fetch(server.url + "/w.pth", dest) == dest
    assert dest.with_name("w.pth.sha256").read_text().split()[0] == sha256(b"wei")


@pytest.mark.parametrize(
    "variable,value", [("I2I_TIMEOUT", "nan"), ("I2I_TIMEOUT", "inf"), ("I2I_MIRROR", "http://[::1")]
)
def test_bad_settings_in_the_environment_are_one_line(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(I2IError, match=variable):
        hub.fetch("https://example.org/w.pth", hub.home() / "weights" / "w.pth")


def test_a_cache_folder_that_cannot_be_made_is_named(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("I2I_HOME", str(tmp_path / "file" / "cache"))
    with pytest.raises(I2IError, match="cannot create the cache folder.*I2I_HOME"):
        hub.pull_dataset("horse2zebra")
