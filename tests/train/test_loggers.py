"""`i2i train --log tensorboard --log wandb --eval-every N`: event files read back, W&B offline, held-out
metrics in log.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from i2i.cli import app
from i2i.data.paired import make_paired
from i2i.errors import UsageError
from i2i.train import loggers

TINY = [
    "--set", "netG=unet_32", "--set", "ngf=4", "--set", "ndf=4",
    "--set", "load_size=32", "--set", "crop_size=32",
]  # fmt: skip


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return make_paired(tmp_path_factory.mktemp("data") / "shapes", count=12, size=32, seed=3)


@pytest.fixture(scope="module")
def alexnet(tmp_path_factory) -> Path:
    """Random weights of the LPIPS backbone, in the cache where `lpips-alexnet` would be downloaded to."""
    torchvision = pytest.importorskip("torchvision")
    path = tmp_path_factory.mktemp("weights") / "alexnet.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet().state_dict(), path)
    return path


def _train(*args: str) -> None:
    result = CliRunner().invoke(app, ["train", *args, "--no-progress", "--workers", "0"])
    assert result.exit_code == 0, result.output


def test_tensorboard_and_wandb_offline_with_held_out_metrics(shapes, alexnet, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cache = Path(__import__("os").environ["I2I_HOME"]) / "weights"
    cache.mkdir(parents=True)
    (cache / "lpips-alexnet.pth").write_bytes(alexnet.read_bytes())
    run = tmp_path / "run"
    _train(
        "pix2pix", "--data", str(shapes), "--run-dir", str(run), "--steps", "4", "--log-every", "1",
        "--sample-every", "2", "--eval-every", "2", "--eval-metrics", "lpips",
        "--log", "tensorboard", "--log", "wandb", "--log", "jsonl", *TINY,
    )  # fmt: skip

    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    evals = [r for r in log if "eval" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert {"l1", "psnr_db", "lpips"} <= evals[0]["eval"].keys() and evals[0]["eval"]["lpips"] > 0
    assert [r["step"] for r in log if "eval" not in r] == [1, 2, 3, 4]

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/G_GAN", "loss/G_L1", "lr/G", "lr/D", "eval/lpips", "eval/psnr_db"} <= set(tags["scalars"])
    assert "perf/steps_per_s" in tags["scalars"]
    assert [e.step for e in events.Scalars("loss/G_L1")] == [1, 2, 3, 4]
    assert [e.value for e in events.Scalars("loss/G_L1")] == pytest.approx(
        [r["G_L1"] for r in log if "eval" not in r]
    )
    assert [e.step for e in events.Scalars("eval/lpips")] == [2, 4]
    assert [e.step for e in events.Images("samples")] == [2, 4]
    image = events.Images("samples")[0]
    assert image.width > 32 and image.height >= 32
    assert "config/text_summary" in tags["tensors"]

    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("run-*.wandb"))

    # watching changes nothing: the same run without loggers and evaluations ends with the same weights
    plain = tmp_path / "plain"
    _train(
        "pix2pix",
        "--data",
        str(shapes),
        "--run-dir",
        str(plain),
        "--steps",
        "4",
        "--sample-every",
        "2",
        *TINY,
    )
    watched, unwatched = (load_file(r / "model.safetensors") for r in (run, plain))
    assert watched.keys() == unwatched.keys()
    assert all(torch.equal(watched[k], unwatched[k]) for k in watched)


def test_log_kinds_and_scalars():
    assert loggers.check_kinds(["jsonl", "wandb", "tensorboard", "wandb"]) == ("wandb", "tensorboard")
    with pytest.raises(UsageError, match="--log mlflow: choose from jsonl, tensorboard, wandb"):
        loggers.check_kinds(["mlflow"])
    record = {"step": 3, "epoch": 0, "lr": {"G": 0.1}, "G_L1": 2.0, "eval": {"fid": 9.0, "phase": "val"}}
    assert loggers.scalars(record) == {"progress/epoch": 0.0, "lr/G": 0.1, "loss/G_L1": 2.0, "eval/fid": 9.0}
    assert loggers.flat({"a": {"b": [1, 2], "c": None}, "d": True}) == {"a/b": "[1, 2]", "d": True}


def test_wandb_offline_when_asked(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert loggers.wandb_offline()
    monkeypatch.setenv("WANDB_MODE", "")
    monkeypatch.setenv("I2I_OFFLINE", "1")
    assert loggers.wandb_offline()


def test_eval_every_refuses_layouts_without_a_held_out_evaluation(tmp_path):
    result = CliRunner().invoke(
        app, ["train", "esrgan", "--data", str(tmp_path), "--steps", "1", "--eval-every", "1"]
    )
    assert result.exit_code != 0 and "no held-out evaluation" in result.output
