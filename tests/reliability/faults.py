"""Helpers of the fault tests: i2i in a child process, killed at a seeded random moment, and the checks that
nothing on disk was left half written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from i2i.errors import I2IError
from i2i.io.checkpoint import read_safetensors

I2I = [sys.executable, "-m", "i2i"]
#: a tiny pix2pix: a training step and a checkpoint write take milliseconds
TINY = ["--set", "netG=resnet_6blocks", "--set", "ngf=4", "--set", "ndf=4", "--set", "load_size=36",
        "--set", "crop_size=32"]  # fmt: skip


def child_env() -> dict[str, str]:
    """The environment of an i2i child process: one thread (the machine is shared), CPU only."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def run_and_kill(cmd: list[str], delay: float, *, cwd: Path | None = None) -> tuple[bool, str]:
    """Start `cmd`, SIGKILL it after `delay` seconds unless it ended before; (killed, its stderr)."""
    proc = subprocess.Popen(
        cmd, env=child_env(), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        _, err = proc.communicate(timeout=delay)
        return False, err
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        return True, err


def wait_for(predicate, timeout: float = 120.0) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def unreadable_checkpoints(folder: Path) -> list[str]:
    """Every `*.safetensors` under `folder` that does not load as an i2i checkpoint, with the reason."""
    bad = []
    for path in sorted(folder.rglob("*.safetensors")):
        try:
            ckpt = read_safetensors(path)
            if not ckpt.is_i2i or (path.parent.name == "checkpoints" and ckpt.training_state() is None):
                bad.append(f"{path.name}: incomplete")
        except I2IError as exc:
            bad.append(str(exc))
    return bad


def temporary_files(folder: Path) -> list[Path]:
    """Files an atomic writer had not finished (`.NAME.XXXX.tmp`) under `folder`."""
    return sorted(p for p in folder.rglob(".*.tmp") if p.is_file())


def without_root_override() -> list[str]:
    """A command prefix under which file permissions bind: as root, `setpriv` without CAP_DAC_OVERRIDE
    (root ignores a folder's missing write bit otherwise); none for other users. `LookupError` when root
    cannot drop the capability here."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise LookupError("running as root without util-linux setpriv: permissions cannot be enforced")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


class FullDisk:
    """A disk that fills up after `room` more atomic writes (`i2i.io.files.atomic_path`): from then on the
    temporary file is a link to /dev/full, where the kernel fails every write with ENOSPC as on a full
    disk, and safetensors (which replaces such a link with its own file) raises the error it raises on a
    full disk. `free()` makes room again. Install with `install(monkeypatch)`."""

    def __init__(self, room: int) -> None:
        self.room = room

    def free(self) -> None:
        self.room = 1 << 30

    def install(self, monkeypatch) -> FullDisk:
        import tempfile
        import types

        from safetensors import SafetensorError

        from i2i.io import checkpoint, files

        if not Path("/dev/full").exists():
            raise LookupError("no /dev/full on this system")

        def mkstemp(prefix: str = "", suffix: str = "", dir: str | None = None) -> tuple[int, str]:
            if self.room > 0:
                self.room -= 1
                return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)
            fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)
            os.close(fd)
            os.unlink(path)
            os.symlink("/dev/full", path)
            return os.open(path, os.O_WRONLY), path

        real_save_file = checkpoint.save_file

        def save_file(tensors, filename: str, metadata=None) -> None:
            if os.path.realpath(filename) == "/dev/full":
                raise SafetensorError(
                    "Error while serializing: I/O error: No space left on device (os error 28)"
                )
            real_save_file(tensors, filename, metadata=metadata)

        monkeypatch.setattr(files, "tempfile", types.SimpleNamespace(mkstemp=mkstemp))
        monkeypatch.setattr(checkpoint, "save_file", save_file)
        return self


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links too) by relative name, with its bytes (links: their target)."""
    return {
        str(p.relative_to(folder)): os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }
