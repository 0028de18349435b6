"""The shape of the package, checked: layers point one way (the import-linter contracts in
pyproject.toml), modules stay readable in one sitting, and every folder of i2i/ ships as a package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

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


def test_every_folder_ships_as_a_package():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = set(config["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in PACKAGE.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert folders <= declared, f"folders missing from pyproject's packages: {sorted(folders - declared)}"
