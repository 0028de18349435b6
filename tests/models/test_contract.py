"""The contract every registered model keeps, run for each one: a new model is tested by adding it.

Tiny config (`Model.tiny_config`): build, translate an odd-sized image, train two steps through the CLI on
synthetic data of its layout, save, load back (same outputs), re-import its own networks as official files.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import i2i
from i2i import registry
from i2i.cli import app
from i2i.data.layouts import make_for_layout
from i2i.io import consent

MODELS = registry.model_names()
#: what safeguarded models (`needs_consent`) run with here, as their users must give one
CONSENT = """subjects = ["synthetic test faces"]
use = "the contract tests"
date = 2026-01-01
consent = { given = true, statement = "synthetic faces of no real person" }
"""


def tiny(name: str) -> i2i.Model:
    cls = registry.model_class(name)
    return attested(i2i.load(name, device="cpu", precision="fp32", **cls.tiny_config))


def attested(model: i2i.Model) -> i2i.Model:
    """A safeguarded model (`needs_consent`) with the tests' attestation."""
    return model.attest(consent.parse_attestation(CONSENT.encode())) if model.needs_consent else model


@pytest.mark.parametrize("name", MODELS)
def test_declares_itself(name):
    cls = registry.model_class(name)
    assert cls.name == name and cls.task and cls.license and cls.description
    assert registry.entry(name).task == cls.task  # read statically, without importing
    model = tiny(name)
    assert set(model.inference_networks) <= set(model.networks)
    assert all(isinstance(net, torch.nn.Module) for net in model.networks.values())


@pytest.mark.parametrize("name", MODELS)
def test_translate_keeps_size_alpha_and_depth(name):
    model = tiny(name)
    rgba = np.random.default_rng(0).integers(0, 256, (23, 37, 4), dtype=np.uint8)
    out = model.translate(rgba, as_array=True)
    assert out.shape == (23 * model.scale, 37 * model.scale, 4) and out.dtype == np.uint8
    grey16 = np.random.default_rng(1).integers(0, 65536, (20, 18), dtype=np.uint16)
    assert model.translate(grey16, as_array=True).shape == (20 * model.scale, 18 * model.scale)


@pytest.mark.parametrize("name", MODELS)
def test_trains_saves_and_loads(name, tmp_path):
    cls = registry.model_class(name)
    if cls.data_layout is None:
        pytest.skip(f"{name} does not train")
    data = make_for_layout(cls.data_layout, tmp_path / "data", count=12, size=32)
    settings = [x for k, v in cls.tiny_config.items() for x in ("--set", f"{k}={v}")]
    if cls.needs_consent:
        (tmp_path / "consent.toml").write_text(CONSENT)
        settings += ["--consent", str(tmp_path / "consent.toml")]
    result = CliRunner().invoke(
        app,
        ["train", name, "--data", str(data), "--run-dir", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2",
         "--workers", "0", "--no-progress", "--precision", "fp32", *settings],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trained = attested(
        i2i.load(weights=tmp_path / "run" / "model.safetensors", device="cpu", precision="fp32")
    )
    assert trained.name == name and trained.step == 2
    again = attested(
        i2i.load(weights=trained.save(tmp_path / "copy.safetensors"), device="cpu", precision="fp32")
    )
    image = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for model in (trained, again):  # a watermark carries its file's sha256: compare the outputs unmarked
        model.set_marks(watermark=False)
    assert np.array_equal(trained.translate(image, as_array=True), again.translate(image, as_array=True))


@pytest.mark.parametrize("name", MODELS)
def test_reimports_its_networks_as_official_files(name, tmp_path):
    model = tiny(name)
    try:
        settings, networks = type(model).import_official(
            {n: model.networks[n].state_dict() for n in model.inference_networks}
        )
    except i2i.I2IError as exc:
        pytest.skip(f"{name}: {exc}")
    again = attested(type(model)(i2i.config.replace(model.config, settings), device="cpu"))
    again.load_networks(networks)
    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(model.translate(image, as_array=True), again.translate(image, as_array=True))
