"""The wrong kind of model for a command is refused in one line naming the right command: a same-size
translation model given to `i2i upscale`, a super-resolution model given to `i2i translate`."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from tests.conftest import tiny_checkpoint


def test_each_command_refuses_the_other_kind(tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(image)
    pix2pix, esrgan = tiny_checkpoint("pix2pix", tmp_path), tiny_checkpoint("esrgan", tmp_path)
    up = CliRunner().invoke(app, ["upscale", "--weights", str(pix2pix), str(image), "-o", str(tmp_path / "u.png"),
                                  "--device", "cpu", "--no-progress"])  # fmt: skip
    assert up.exit_code == 1 and "not an upscaler: use `i2i translate`" in up.output
    assert not (tmp_path / "u.png").exists()
    tr = CliRunner().invoke(app, ["translate", "--weights", str(esrgan), str(image), str(tmp_path / "t.png"),
                                  "--device", "cpu", "--no-progress"])  # fmt: skip
    assert tr.exit_code == 2 and "use `i2i upscale`" in tr.output
    assert not (tmp_path / "t.png").exists()
