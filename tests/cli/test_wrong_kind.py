"""The wrong kind of model for a command is refused in one line naming the right command: a same-size
translation model given to `i2i upscale`, a super-resolution model given to `i2i translate`."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.cli import app


def _tiny(name: str, path):
    settings = i2i.registry.model_class(name).tiny_config
    return i2i.load(name, device="cpu", precision="fp32", **settings).save(path)


def test_each_command_refuses_the_other_kind(tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(image)
    pix2pix, esrgan = (
        _tiny("pix2pix", tmp_path / "p.safetensors"),
        _tiny("esrgan", tmp_path / "e.safetensors"),
    )
    up = CliRunner().invoke(app, ["upscale", "--weights", str(pix2pix), str(image), "-o", str(tmp_path / "u.png"),
                                  "--device", "cpu", "--no-progress"])  # fmt: skip
    assert up.exit_code == 1 and "not an upscaler: use `i2i translate`" in up.output
    assert not (tmp_path / "u.png").exists()
    tr = CliRunner().invoke(app, ["translate", "--weights", str(esrgan), str(image), str(tmp_path / "t.png"),
                                  "--device", "cpu", "--no-progress"])  # fmt: skip
    assert tr.exit_code == 2 and "use `i2i upscale`" in tr.output
    assert not (tmp_path / "t.png").exists()
