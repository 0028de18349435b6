"""The shape of the package, checked: layers point one way (the import-linter contracts in
pyproject.toml), modules stay readable in one sitting, and every folder of i2i/ ships as a package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
PACKAGE = REPO / "i2i"
#: modules allowed past the size limit, each with the reason
LONGER = {}
LIMIT = 500


def test_layers_point_one_way():
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([str(linter)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "broken" not in proc.stdout.split("Contracts:")[-1].split("\n")[0].replace("0 broken", "")


def test_modules_are_read_in_one_sitting():
    too_long = {}
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        rel = path.relative_to(REPO).as_posix()
        if lines > LIMIT and path.name != "networks.py" and rel not in LONGER:
            too_long[rel] = lines
    assert not too_long, f"modules over {LIMIT} lines (split them, or give a reason in LONGER): {too_long}"


def test_every_folder_ships_with_its_data(tmp_path):
    """A wheel built from the tree holds every package and each model folder's catalogue, bundled weights
    and demo samples (a non-editable install runs the demo and the catalogue as an editable one does)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("i2i-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in PACKAGE.rglob("__init__.py"):
        assert init.relative_to(REPO).as_posix() in names, f"{init.parent} is not shipped"
    for data in PACKAGE.glob("models/*/*"):
        if data.name in ("catalogue.json", "weights", "samples"):
            files = [data] if data.is_file() else [f for f in data.rglob("*") if f.is_file()]
            missing = [
                f.relative_to(REPO).as_posix() for f in files if f.relative_to(REPO).as_posix() not in names
            ]
            assert not missing, f"not shipped: {missing[:5]}"
