"""The offline demo and the bundled weights it runs on."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from i2i.cli import app
from i2i.hub.catalogue import weights_entries
from i2i.io import imageio
from i2i.io.files import sha256_file


def test_bundled_weights_match_the_catalogue():
    for name, entry in weights_entries().items():
        if "file" in entry:
            assert sha256_file(Path(entry["file"])) == entry["sha256"], name
            assert Path(entry["file"]).with_suffix(".md").exists(), f"{name} has no model card"


def test_demo_runs_offline_and_translates_well(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    grid = imageio.read_image(tmp_path / "pix2pix_side_by_side.png")
    assert grid.pixels.shape[1] == 3 * 128 + 2 * 4
    outputs = sorted((tmp_path / "pix2pix").glob("*.png"))
    assert len(outputs) == 6
    assert imageio.read_provenance(outputs[0])["model"] == "pix2pix"
    scores = re.findall(r"= ([\d.]+) \(the input itself: ([\d.]+)\)", result.output)
    assert len(scores) == 3  # pix2pix, cyclegan AtoB and BtoA
    for error, baseline in scores:
        assert float(error) < 0.06 < float(baseline)
    for direction in ("AtoB", "BtoA"):
        assert len(list((tmp_path / "cyclegan" / direction).glob("*.png"))) == 4
        assert (tmp_path / f"cyclegan_{direction}_side_by_side.png").exists()
    upscaled = sorted((tmp_path / "esrgan").glob("*_x4.png"))
    assert len(upscaled) == 3 and imageio.read_image(upscaled[0]).size == (384, 384)
    assert imageio.read_provenance(upscaled[0])["weights"] == "realesrgan-x4plus"
    grid = imageio.read_image(tmp_path / "stargan_v2_reference_grid.png")
    assert grid.size == (4 * 64 + 3 * 4, 5 * 64 + 4 * 4)  # a header row of references, a row per source
    assert len(list((tmp_path / "stargan-v2").glob("*_to_*.png"))) == 12
