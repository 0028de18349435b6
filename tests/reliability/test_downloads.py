"""Downloads that break: connections dropped at seeded random points resume with HTTP range requests; a
download whose process is SIGKILLed resumes from its `.part` file; a cached file damaged afterwards is
found by its sha256 (or size) and fetched again. A loopback server on 127.0.0.1 stands in for the network
(`tests.hub.test_hub.Loopback`)."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from i2i.hub import download as hub
from tests.hub.test_hub import Loopback
from tests.reliability.faults import child_env, wait_for


@pytest.fixture
def server():
    with Loopback() as running:
        yield running


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dropped_connection_trials(server, trials: int, seed: int) -> list[str]:
    """Each trial: a file of random size whose first one or two responses stop at random bytes."""
    rng = random.Random(seed)
    failures = []
    for trial in range(trials):
        body = np.random.default_rng(trial).bytes(rng.randrange(50_000, 400_000))
        path = f"/t{trial}.pth"
        server.files[path] = body
        cuts = sorted(rng.sample(range(1, len(body)), rng.choice((1, 2))))
        server.drop_after[path] = [cuts[0], *(b - a for a, b in zip(cuts, cuts[1:], strict=False))]
        dest = hub.home() / "weights" / f"t{trial}.pth"
        known = (
            {"sha256": _sha(body), "size": len(body)} if trial % 2 else {}
        )  # with and without a catalogue hash
        hub.fetch(server.url + path, dest, **known)
        ranges = [r for p, r in server.requests if p == path]
        if dest.read_bytes() != body:
            failures.append(f"trial {trial}: wrong bytes")
        if ranges != [None, *(f"bytes={c}-" for c in cuts)]:
            failures.append(f"trial {trial}: requests {ranges}, cut at {cuts}")
        if dest.with_name(dest.name + ".part").exists():
            failures.append(f"trial {trial}: the .part file stayed")
    return failures


def test_dropped_connections_resume(server):
    assert dropped_connection_trials(server, trials=20, seed=4) == []


CHILD = "import sys; from pathlib import Path; from i2i.hub import download; download.fetch(sys.argv[1], Path(sys.argv[2]))"


def test_a_killed_download_resumes_from_its_part_file(server, tmp_path):
    body = np.random.default_rng(5).bytes(3_000_000)
    server.files["/big.pth"] = body
    release = threading.Event()
    original = server._server.RequestHandlerClass.do_GET

    def do_get(handler) -> None:  # the first response sends a third of the file, then stalls
        if handler.headers.get("Range") is None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 3])
            handler.wfile.flush()
            release.wait(30)
            return
        original(handler)

    server._server.RequestHandlerClass.do_GET = do_get
    dest = hub.home() / "weights" / "big.pth"
    part = dest.with_name("big.pth.part")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, server.url + "/big.pth", str(dest)],
        env=child_env(),
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: part.is_file() and part.stat().st_size >= len(body) // 3, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        release.set()
    kept = part.stat().st_size
    assert kept == len(body) // 3 and not dest.exists()
    server.requests.clear()
    assert hub.fetch(server.url + "/big.pth", dest, sha256=_sha(body)) == dest
    assert dest.read_bytes() == body and server.requests == [("/big.pth", f"bytes={kept}-")]


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


DAMAGE = {
    "one byte flipped": _flip,
    "truncated": lambda data: data[: len(data) // 2],
    "bytes appended": lambda data: data + b"\0" * 10,
    "emptied": lambda data: b"",
}


@pytest.mark.parametrize("known", [False, True], ids=["recorded-hash", "catalogue-hash"])
@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_cache_file_is_fetched_again(server, known, damage, capsys):
    body = np.random.default_rng(6).bytes(100_000)
    server.files["/w.pth"] = body
    dest = hub.home() / "weights" / "w.pth"
    expected = {"sha256": _sha(body), "size": len(body)} if known else {}
    hub.fetch(server.url + "/w.pth", dest, **expected)
    dest.write_bytes(DAMAGE[damage](body))  # a new modification time: the stamped record no longer vouches
    server.requests.clear()
    assert hub.fetch(server.url + "/w.pth", dest, **expected) == dest
    assert dest.read_bytes() == body and server.requests == [("/w.pth", None)]
    assert f"{dest} is damaged" in capsys.readouterr().err
    assert hub.fetch(server.url + "/w.pth", dest, **expected) == dest and len(server.requests) == 1
