"""The template model (`tests/plugins/template_plugin`) installed as a third-party plugin, the way a user
installs one: it passes the contract suite, and the CLI (its declared `--strength` flag, `--cond`, training,
data checks) and the catalogue (bundled and downloadable weights, a dataset) work with it, without any
change to i2i. CONTRIBUTING.md walks through adding a model from this template."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_registry import cli, pip_install, run

TEMPLATE = Path(__file__).parent / "plugins" / "template_plugin"
REPO = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def template_site(tmp_path_factory) -> Path:
    """The template plugin with its bundled weights (written here: the identity), pip-installed offline
    into a folder of its own."""
    root = tmp_path_factory.mktemp("template")
    package = root / "template_plugin"
    shutil.copytree(TEMPLATE, package, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    weights = package / "i2i_template" / "weights" / "template_identity.safetensors"
    weights.parent.mkdir()
    proc = run(
        ["-c", "import sys; from i2i_template.model import Template; Template(device='cpu').save(sys.argv[1])",
         str(weights)],
        package,
        root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    site = pip_install(package, root / "site")
    assert (site / "i2i_template" / "weights" / "template_identity.safetensors").is_file()
    return site


def test_template_passes_the_contract_suite(template_site, tmp_path):
    proc = run(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/models/test_contract.py", "-k", "template"],
        template_site,
        REPO,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "4 passed" in proc.stdout, proc.stdout[-2000:]


def test_template_in_the_catalogue_and_the_model_list(template_site, tmp_path):
    proc = cli(["models", "--json"], template_site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["template"]["status"] == "ok"
    assert rows["template"]["weights"] == ["template-identity", "template-online"]
    weights = {
        row["name"]: row
        for row in json.loads(cli(["weights", "list", "--json"], template_site, tmp_path).stdout)
    }
    assert (
        weights["template-identity"]["status"] == "bundled"
        and weights["template-identity"]["model"] == "template"
    )
    assert weights["template-online"]["status"] == "not cached"
    datasets = {
        row["name"]: row
        for row in json.loads(cli(["data", "list", "--json"], template_site, tmp_path).stdout)
    }
    assert datasets["template-shapes"]["layout"] == "template-images"


def test_template_trains_and_translates_with_its_own_flag(template_site, tmp_path):
    data = tmp_path / "data"
    proc = cli(["data", "synth", str(data), "--model", "template", "--count", "16", "--size", "16"],
               template_site, tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = cli(["data", "check", str(data), "--model", "template"], template_site, tmp_path)
    assert proc.returncode == 0 and "template dataset: 16 images" in proc.stdout, proc.stdout + proc.stderr
    proc = cli(["translate", "--help"], template_site, tmp_path)
    assert "--strength" in proc.stdout and "template:" in proc.stdout
    run_dir = tmp_path / "run"
    proc = cli(
        ["train", "template", "--data", str(data), "--run-dir", str(run_dir), "--steps", "200", "-b", "4",
         "--workers", "0", "--no-progress", "--precision", "fp32", "--device", "cpu", "--set", "lr=0.05"],
        template_site,
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    outputs = {}
    for name, flags in {"full": [], "none": ["--strength", "0"], "cond": ["--cond", "strength=1"],
                        "identity": ["--weights", "template-identity"]}.items():  # fmt: skip
        weights = [] if name == "identity" else ["--weights", str(run_dir / "model.safetensors")]
        target = tmp_path / f"{name}.png"
        proc = cli(
            ["translate", "--model", "template", *weights, str(tmp_path / "in.png"), str(target),
             "--precision", "fp32", "--device", "cpu", "--no-progress", *flags],
            template_site,
            tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outputs[name] = np.asarray(Image.open(target)).astype(int)
    negative = 255 - image.astype(int)
    assert np.abs(outputs["full"] - negative).mean() < 0.25 * np.abs(image.astype(int) - negative).mean()
    assert np.abs(outputs["none"] - image).max() <= 1  # strength 0: the input
    assert np.array_equal(outputs["cond"], outputs["full"])  # --cond reaches the same condition
    assert np.abs(outputs["identity"] - image).max() <= 1  # the bundled identity weights, by name
