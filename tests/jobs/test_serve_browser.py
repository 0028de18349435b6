"""`i2i serve` in a real browser: headless Chromium (the Debian package) loads the page, uploads an image,
runs it, downloads the result and takes a screenshot. Chromium is driven over the DevTools protocol on
its `--remote-debugging-pipe` (file descriptors 3 and 4), so no driver package is needed. Skipped where
Chromium is absent (`.ci/run` installs it when it can)."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.jobs.serve import ServeOptions, Server

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
    ),
]


class Chromium:
    """A headless Chromium with one page, commanded over the DevTools pipe."""

    def __init__(self, profile: Path) -> None:
        to_child, self._to_chrome = os.pipe()
        self._from_chrome, from_child = os.pipe()

        def pipes_as_3_and_4() -> None:
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--force-device-scale-factor=1",
             f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=pipes_as_3_and_4,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._id = 0
        self.session = None
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride", width=900, height=600, deviceScaleFactor=1, mobile=False
        )

    def send(self, method: str, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never satisfied {expression}")
            time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def test_page_translates_an_upload_end_to_end(tmp_path):
    tiny = tmp_path / "tiny.safetensors"
    i2i.load(
        "pix2pix", netG="unet_32", ngf=4, ndf=4, load_size=32, crop_size=32, device="cpu", precision="fp32"
    ).save(tiny)
    rng = np.random.default_rng(7)
    picture = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(picture)
    expected = tmp_path / "expected.png"
    result = CliRunner().invoke(
        app, ["translate", "--weights", str(tiny), "--device", "cpu", "--precision", "fp32", "--no-progress",
              "--seed", "2", str(picture), str(expected)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    server = Server(ServeOptions(weights=str(tiny), device="cpu", precision="fp32"), "127.0.0.1", 0).start()
    browser = Chromium(tmp_path / "profile")
    try:
        browser.send("Page.navigate", url=server.url)
        browser.wait_for("document.readyState === 'complete' && !document.getElementById('run').disabled")
        assert browser.evaluate("document.getElementById('weights').value") == str(tiny)
        assert browser.evaluate(
            "[...document.querySelectorAll('[data-condition]')].map(e => e.name).join()"
        ) in (
            "mode,seed",
            "seed,mode",
        )
        # upload, set the seed, run
        document = browser.send("DOM.getDocument")["root"]["nodeId"]
        node = browser.send("DOM.querySelector", nodeId=document, selector="#image")["nodeId"]
        browser.send("DOM.setFileInputFiles", nodeId=node, files=[str(picture)])
        browser.evaluate("document.getElementById('image').dispatchEvent(new Event('change'))")
        browser.evaluate("document.querySelector('input[name=seed]').value = '2'")
        browser.evaluate("document.getElementById('run').click()")
        browser.wait_for(
            "document.body.dataset.state === 'done' && document.getElementById('output').complete"
            " && document.getElementById('output').naturalWidth > 0"
            " && document.getElementById('input-preview').naturalWidth > 0"
        )
        assert browser.evaluate("document.getElementById('error').textContent") == ""
        # the download link holds exactly what `i2i translate` writes
        downloaded = browser.evaluate(
            "(async () => { const a = document.getElementById('download');"
            " const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());"
            " let s = ''; for (const b of bytes) s += String.fromCharCode(b);"
            " return [a.download, btoa(s)]; })()"
        )
        assert downloaded[0] == "photo_pix2pix.png"
        assert base64.b64decode(downloaded[1]) == expected.read_bytes()
        assert "pix2pix" in browser.evaluate("document.getElementById('provenance').textContent")

        # the screenshot shows the input and the output side by side, pixel for pixel
        shot = browser.send("Page.captureScreenshot", format="png")
        screen = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))
        (tmp_path / "screenshot.png").write_bytes(base64.b64decode(shot["data"]))
        boxes = browser.evaluate(
            "['input-preview', 'output'].map(id => { const r = document.getElementById(id)"
            ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })"
        )
        (il, it, iw, ih), (ol, ot, ow, oh) = (list(map(round, box)) for box in boxes)
        assert (iw, ih) == (ow, oh) == (64, 48) and ol > il + iw and abs(ot - it) <= 1
        for (left, top), image in (((il, it), picture), ((ol, ot), expected)):
            shown = screen[top : top + 48, left : left + 64].astype(int)
            assert np.abs(shown - np.asarray(Image.open(image).convert("RGB"), dtype=int)).max() <= 2
    finally:
        browser.close()
        server.stop()
