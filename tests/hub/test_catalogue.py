"""The catalogue of datasets and weights (each model's `catalogue.json`, `i2i.hub`) and the `i2i data` /
`i2i weights` commands; downloads come from a loopback server on 127.0.0.1 (see test_hub.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import i2i
from i2i import registry
from i2i.cli import app
from i2i.data import layouts, unaligned
from i2i.errors import I2IError
from i2i.hub import catalogue, resolve
from i2i.hub import download as hub
from tests.hub.test_hub import H2Z, SIDES, Loopback, make_zip, unaligned_tree

RUNNER = CliRunner()

CYCLEGAN_DATASETS = {
    "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo", "ukiyoe2photo",
    "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower", "ae_photos",
}  # fmt: skip
PIX2PIX_DATASETS = {"facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day"}
CYCLEGAN_ZOO = {
    "apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra",
    "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "sat2map",
    "map2sat", "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label", "facades_label2photo",
    "iphone2dslr_flower",
}  # fmt: skip
PIX2PIX_ZOO = {"edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"}
SHA256 = re.compile(r"[0-9a-f]{64}")


def invoke(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def mirror(monkeypatch):
    with Loopback() as server:
        monkeypatch.setenv("I2I_MIRROR", server.url)
        yield server


def _raw() -> dict:
    """Every model's catalogue file, merged; the catalogue refuses a name defined twice."""
    return catalogue._catalogue()


# ------------------------------------------------------------------------------------------- the data


def test_dataset_entries_are_complete():
    datasets = _raw()["datasets"]
    for name, entry in datasets.items():
        assert entry["layout"] in {"paired", "unaligned", "single", "domains"}, name
        assert entry["license"] and entry["source"] and entry["root"], name
        assert isinstance(entry["models"], list) and isinstance(entry["non_commercial"], bool), name
        assert not ("sha256" in entry and not SHA256.fullmatch(entry["sha256"])), name
        assert entry.get("approx_size_mb", 1) > 0, name
        if entry.get("manual"):
            assert "url" not in entry and entry["instructions"], name
        else:
            assert entry["url"].endswith(hub.ARCHIVES[entry["archive"]]), name


def test_datasets_follow_the_naming_scheme_and_upstream_urls():
    datasets = _raw()["datasets"]
    for upstream in PIX2PIX_DATASETS:
        entry = datasets[upstream]
        assert entry["layout"] == "paired" and entry["models"] == ["pix2pix"]
        if not entry.get("manual"):
            assert entry["url"] == f"http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{upstream}.tar.gz"
    for upstream in CYCLEGAN_DATASETS:
        name = f"{upstream}-unaligned" if upstream in PIX2PIX_DATASETS else upstream
        entry = datasets[name]
        assert entry["root"] == upstream
        if upstream != "ae_photos":
            assert entry["layout"] == "unaligned" and entry["models"] == ["cyclegan"]
        if not entry.get("manual"):
            assert entry["url"] == f"https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{upstream}.zip"
    assert datasets["cityscapes"]["manual"] and datasets["cityscapes-unaligned"]["manual"]


def test_weights_entries_follow_the_model_zoos():
    weights = _raw()["weights"]
    assert Path(weights["pix2pix-synth-shapes"]["file"]).name == "pix2pix_synth_shapes.safetensors"
    zoo = {n for n, e in weights.items() if "url" in e and e["model"] in ("cyclegan", "pix2pix")}
    assert zoo == {f"cyclegan-{n}" for n in CYCLEGAN_ZOO} | {f"pix2pix-{n}" for n in PIX2PIX_ZOO}
    for upstream in CYCLEGAN_ZOO:
        entry = weights[f"cyclegan-{upstream}"]
        assert entry["url"] == f"http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{upstream}.pth"
        assert entry["model"] == "cyclegan" and entry["size_multiple"] == 4
        assert entry["config"] == {
            "netG": "resnet_9blocks",
            "ngf": 64,
            "norm": "instance",
            "no_dropout": True,
        }
    for upstream in PIX2PIX_ZOO:
        entry = weights[f"pix2pix-{upstream}"]
        assert entry["url"] == f"http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{upstream}.pth"
        assert entry["model"] == "pix2pix" and entry["size_multiple"] == 256
        assert entry["config"] == {"netG": "unet_256", "ngf": 64, "norm": "batch", "no_dropout": False}
    for name in zoo:
        entry = weights[name]
        assert entry["value_range"] == [-1, 1] and "sha256" not in entry, name
        assert "BSD-3-Clause" in entry["license"] and "trained on" in entry["license"], name
        assert entry["source"] and entry["task"], name
    assert weights["pix2pix-facades_label2photo"]["direction"] == "BtoA"


def test_non_commercial_weights_are_marked_in_listings(monkeypatch):
    assert "pix2pix-synth-shapes" in catalogue.weights_for_model("pix2pix")
    assert not catalogue.non_commercial("pix2pix-synth-shapes")
    names = [n for n in catalogue.weights_for_model("cyclegan") if n != "cyclegan-synth-day2night"]
    assert len(names) == len(CYCLEGAN_ZOO) and all(catalogue.non_commercial(n) for n in names)
    assert not catalogue.non_commercial("cyclegan-synth-day2night")
    fake = {"weights": {"stargan-afhq": {"model": "toy", "license": "CC BY-NC 4.0", "non_commercial": True}}}
    monkeypatch.setattr(catalogue, "_catalogue", lambda: fake)
    assert catalogue.weights_for_model("toy") == ["stargan-afhq"]
    assert catalogue.non_commercial("stargan-afhq")


# ---------------------------------------------------------------------------------------- resolution


def test_resolve_dataset(tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    assert resolve.resolve_dataset(folder) == folder
    assert resolve.resolve_dataset(str(folder)) == folder
    monkeypatch.setenv("I2I_OFFLINE", "1")
    with pytest.raises(I2IError, match="did you mean 'horse2zebra'"):
        resolve.resolve_dataset("horse2zebr")
    with pytest.raises(I2IError, match=r"nope/horse2zebra does not exist.*did you mean 'horse2zebra'"):
        resolve.resolve_dataset(tmp_path / "nope" / "horse2zebra")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(I2IError, match="is a file"):
        resolve.resolve_dataset(tmp_path / "file.png")
    with pytest.raises(I2IError, match="I2I_OFFLINE"):
        resolve.resolve_dataset("horse2zebra")


def test_resolve_dataset_pulls_a_name(mirror):
    mirror.files[H2Z] = make_zip(unaligned_tree())
    root = resolve.resolve_dataset("horse2zebra")
    assert root == hub.dataset_dir("horse2zebra") and (root / "trainA").is_dir()


# ----------------------------------------------------------------------------------------------- CLI


def test_data_list_pull_and_cache_state(mirror):
    rows = {r["name"]: r for r in json.loads(ok("data", "list", "--json").stdout)}
    assert rows["horse2zebra"]["cached"] is False and rows["horse2zebra"]["layout"] == "unaligned"
    assert rows["cityscapes"]["manual"] and rows["facades"]["layout"] == "paired"
    mirror.files[H2Z] = make_zip(unaligned_tree())
    path = ok("data", "pull", "horse2zebra").stdout.strip()
    assert Path(path) == hub.dataset_dir("horse2zebra")
    rows = {r["name"]: r for r in json.loads(ok("data", "list", "--json").stdout)}
    assert rows["horse2zebra"]["cached"] is True and rows["horse2zebra"]["path"] == path
    table = ok("data", "list").stdout
    assert "horse2zebra" in table and "edges2handbags" in table


def test_data_pull_errors_are_one_line(monkeypatch):
    result = invoke("data", "pull", "horse2zebr")
    assert result.exit_code == 2 and "did you mean 'horse2zebra'" in result.stderr
    monkeypatch.setenv("I2I_OFFLINE", "1")
    result = invoke("data", "pull", "horse2zebra")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "horse2zebra.zip" in result.stderr and "I2I_OFFLINE" in result.stderr


def test_weights_list_and_pull(mirror):
    rows = {r["name"]: r for r in json.loads(ok("weights", "list", "--json").stdout)}
    assert rows["pix2pix-synth-shapes"]["status"] == "bundled"
    assert (
        rows["cyclegan-horse2zebra"]["status"] == "not cached"
        and rows["cyclegan-horse2zebra"]["non_commercial"]
    )
    mirror.files["/cyclegan/pretrained_models/horse2zebra.pth"] = b"weights"
    path = Path(ok("weights", "pull", "cyclegan-horse2zebra").stdout.strip())
    assert path.read_bytes() == b"weights"
    rows = {r["name"]: r for r in json.loads(ok("weights", "list", "--json").stdout)}
    assert rows["cyclegan-horse2zebra"]["status"] == "cached"
    assert "non-commercial" in ok("weights", "list").stdout
    assert invoke("weights", "pull", "cyclegan-horse2zebr").exit_code == 2


def test_models_listing_shows_non_commercial_weights():
    rows = json.loads(ok("models", "--json").stdout)
    pix2pix = next(row for row in rows if row["name"] == "pix2pix")
    assert "pix2pix-facades_label2photo" in pix2pix["weights_non_commercial"]
    assert "pix2pix-synth-shapes" not in pix2pix["weights_non_commercial"]
    table = ok("models").stdout
    assert "photo*" in table and "non-commercial" in table


@pytest.mark.skipif(
    not hasattr(layouts, "check_layout"), reason="i2i.data.layouts.check_layout not written yet"
)
def test_data_check(tmp_path):
    root = tmp_path / "h2z"
    for name, data in unaligned_tree("h2z").items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    result = ok(
        "data",
        "check",
        root,
        "--model",
        "pix2pix" if "cyclegan" not in registry.model_names() else "cyclegan",
    )
    assert result.stdout.strip().splitlines()[-1].startswith(str(root))
    result = invoke("data", "check", root, "--model", "pix2pix")
    assert result.exit_code == 1 and result.stdout.strip()
    assert invoke("data", "check", root, "--model", "pix2px").exit_code == 2


@pytest.mark.skipif(
    not hasattr(unaligned, "make_unpaired"), reason="i2i.data.unaligned.make_unpaired not written yet"
)
def test_data_synth_unpaired(tmp_path):
    ok("data", "synth", tmp_path / "d2n", "--task", "unpaired", "--count", "5", "--size", "16")
    assert list((tmp_path / "d2n" / "trainA").glob("*.png")) and list(
        (tmp_path / "d2n" / "trainB").glob("*.png")
    )
    assert invoke("data", "synth", tmp_path / "x", "--task", "nope").exit_code == 2


def test_translate_with_zoo_weights_by_name(mirror, tmp_path):
    """`--weights cyclegan-horse2zebra`: pulled through the mirror, loaded as a model-zoo file, no flags."""
    import io

    import numpy as np
    import torch
    from PIL import Image

    from i2i.models._shared.cyclegan_pix2pix.networks import ResnetGenerator

    buffer = io.BytesIO()
    torch.save(ResnetGenerator(3, 3, 4, "instance", False, 6).state_dict(), buffer)
    mirror.files["/cyclegan/pretrained_models/horse2zebra.pth"] = buffer.getvalue()
    (tmp_path / "in").mkdir()
    Image.fromarray(np.full((30, 42, 3), 90, np.uint8)).save(tmp_path / "in" / "horse.png")
    ok(
        "translate",
        "--weights",
        "cyclegan-horse2zebra",
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        "--no-progress",
    )
    assert Image.open(tmp_path / "out" / "horse.png").size == (42, 30)
    model = i2i.load(weights="cyclegan-horse2zebra", device="cpu")
    assert model.name == "cyclegan" and model.config.netG == "resnet_6blocks" and model.config.ngf == 4
    assert len(mirror.requests) == 1  # the second use reads the cache


def test_train_cyclegan_on_a_dataset_name(mirror, tmp_path):
    mirror.files[H2Z] = make_zip(unaligned_tree(size=40))
    run = tmp_path / "run"
    settings = ["netG=resnet_6blocks", "ngf=4", "ndf=4", "load_size=36", "crop_size=32"]
    args = ["train", "cyclegan", "--data", "horse2zebra", "--steps", "2", "--workers", "0", "--run-dir", run]
    args += ["--device", "cpu", "--precision", "fp32", "--no-progress", "--sample-every", "0"]
    ok(*args, *[x for s in settings for x in ("--set", s)])
    assert mirror.requests == [(H2Z, None)]
    root = hub.dataset_dir("horse2zebra")
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == sorted(SIDES)
    assert json.loads((run / "run.json").read_text())["options"]["data"] == str(root)
    assert (run / "model.safetensors").is_file()
