"""Listings fit the terminal they are printed in: one line a row, the least needed columns left out on
narrow terminals, non-commercial entries still marked (and `--json` keeps every field)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def listing(*args: str, columns: int) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(COLUMNS=str(columns), NO_COLOR="1", TERM="dumb")
    proc = subprocess.run(
        [sys.executable, "-m", "i2i", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("columns", [40, 200])
@pytest.mark.parametrize("command", [("weights", "list"), ("data", "list")])
def test_listing_is_one_line_a_row(command, columns):
    rows = json.loads(listing(*command, "--json", columns=200))
    text = listing(*command, columns=columns)
    lines = text.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= columns
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == len(rows)  # each row on one line
    assert "non-commercial" in text  # the caption explains the mark
    marked = {line.split("│")[1].strip().rstrip("*…") for line in body if "*" in line.split("│")[1]}
    flagged = {row["name"] for row in rows if row["non_commercial"]}
    assert marked and all(any(name.startswith(m) for name in flagged) for m in marked)
    if columns >= 200:
        assert "licence" in lines[1] + lines[2] and all(row["name"] in text for row in rows)


@pytest.mark.parametrize("command", [("weights", "list"), ("data", "list")])
def test_listing_fits_80_columns(command, monkeypatch):
    """The common terminal width, in process (the subprocess test above covers COLUMNS itself)."""
    from typer.testing import CliRunner

    from i2i.cli import _common, app

    monkeypatch.setattr(_common.out, "width", 80)
    result = CliRunner().invoke(app, [*command])
    assert result.exit_code == 0, result.output
    rows = json.loads(CliRunner().invoke(app, [*command, "--json"]).stdout)
    lines = result.stdout.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len([line for line in lines if line.startswith("│")]) == len(rows)
