"""Catalogue files belong to their models: each registered model's file is read, `model` defaults to the
file's model, bundled `file`s are relative to their catalogue, and a name defined twice is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from i2i import registry
from i2i.errors import I2IError
from i2i.hub import catalogue


def _model(tmp_path: Path, name: str, data: dict) -> registry.ModelEntry:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "catalogue.json").write_text(json.dumps(data))
    return registry.ModelEntry(name, f"{name}.model:Model", None, catalogue=folder / "catalogue.json")


@pytest.fixture
def models(tmp_path, monkeypatch):
    found: list[registry.ModelEntry] = []
    monkeypatch.setattr(registry, "entries", lambda: list(found))
    return lambda name, data: found.append(_model(tmp_path, name, data)) or found[-1].catalogue


def test_every_model_file_is_read(models):
    first = models("alpha", {"weights": {"alpha-w": {"file": "weights/a.safetensors", "default": True}}})
    models(
        "beta", {"weights": {"beta-w": {"url": "http://x/b.pth", "model": "alpha"}}, "datasets": {"d": {}}}
    )
    entries = catalogue.weights_entries()
    assert entries["alpha-w"]["model"] == "alpha" and entries["beta-w"]["model"] == "alpha"
    assert entries["alpha-w"]["file"] == str(first.parent / "weights" / "a.safetensors")
    assert catalogue.default_weights("alpha") == "alpha-w" and list(catalogue.dataset_entries()) == ["d"]


def test_a_name_defined_twice_names_both_files(models):
    first = models("alpha", {"weights": {"same": {"url": "http://x/a.pth"}}})
    second = models("beta", {"weights": {"same": {"url": "http://x/b.pth"}}})
    with pytest.raises(I2IError, match="weights 'same' is defined twice") as exc:
        catalogue.weights_entries()
    assert str(first) in str(exc.value) and str(second) in str(exc.value)


def test_a_name_repeated_in_one_file_is_an_error(models):
    path = models("alpha", {})
    path.write_text('{"weights": {"w": {"url": "http://x/a.pth"}, "w": {"url": "http://x/b.pth"}}}')
    with pytest.raises(I2IError, match=rf"{path}: w defined twice"):
        catalogue.weights_entries()
