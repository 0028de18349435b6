"""`i2i train` whose output is piped (no terminal) prints plain progress lines at each logged step instead
of redrawing a bar: no carriage returns, no cursor codes, one line per `--log-every`."""

from __future__ import annotations

import re

import torch
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.paired import make_paired
from i2i.train.progress import PlainProgress

TINY = ["--set", "netG=resnet_6blocks", "--set", "ngf=4", "--set", "ndf=4", "--set", "load_size=36",
        "--set", "crop_size=32"]  # fmt: skip
CONTROL = re.compile(r"\r|\x1b\[")


def test_piped_training_prints_plain_lines(tmp_path, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    data = make_paired(tmp_path / "data", count=4, size=32, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # nothing here is compared with a fixture; one thread is quickest on a busy CPU
    try:
        result = CliRunner().invoke(app, [
            "train", "pix2pix", "--data", str(data), "--run-dir", str(tmp_path / "run"), "--steps", "4",
            "--log-every", "2", "--save-every", "0", "--sample-every", "0", "--workers", "0", "--device",
            "cpu", "--precision", "fp32", *TINY,
        ])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    output = result.stdout + result.stderr
    assert not CONTROL.search(output), output
    lines = [line for line in output.splitlines() if line.startswith("pix2pix step ")]
    assert [line.split()[2] for line in lines] == ["2/4", "4/4"]
    assert all(" it/s " in line and "G_GAN" in line for line in lines)
    assert "done 4 steps" in output


def test_plain_progress_prints_only_logged_steps(capsys):
    from rich.console import Console

    progress = PlainProgress("demo", Console(stderr=True, width=80), total=4)
    for step in range(1, 5):
        progress.update(None, completed=step, losses=f"L {step / 10:.3f}" if step % 2 == 0 else None)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" it/s")[0].rsplit(" ", 1)[0] for line in lines] == [
        "demo step 2/4 (50%)",
        "demo step 4/4 (100%)",
    ]
    assert lines[-1].endswith("L 0.400")
