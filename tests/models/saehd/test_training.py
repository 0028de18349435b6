"""Training SAEHD: the step (losses down, LIAE's frozen inter_AB, options), the sample grid, and the CLI
end to end on synthetic faces with a consent attestation, resumed exactly."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.faces.synth import make_faces
from i2i.errors import UsageError
from i2i.models.saehd import optim
from i2i.models.saehd.model import SAEHD, SAEHDConfig
from i2i.models.saehd.training import step_inputs
from i2i.train.context import StepContext

TINY = {"archi": "df-ud", "resolution": 32, "ae_dims": 16, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2}


pytestmark = pytest.mark.usefixtures("one_thread")


def write_attestation(path):
    """A filled-in consent attestation for the synthetic people of the tests."""
    path.write_text(
        'subjects = ["synthetic src face", "synthetic dst face"]\n'
        'use = "tests of i2i on synthetic faces"\ndate = 2026-01-01\n'
        '[consent]\ngiven = true\nstatement = "Synthetic faces: no real person is shown."\n'
    )
    return str(path)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return make_faces(tmp_path_factory.mktemp("faces"), count=6, size=64, seed=0)


def _model(**settings) -> SAEHD:
    torch.manual_seed(0)
    model = i2i.load("saehd", device="cpu", precision="fp32", **{**TINY, **settings})
    model.init_weights()
    model.setup_training()
    return model


def _batch(model: SAEHD, faces, n: int = 4) -> dict[str, torch.Tensor]:
    dataset = model.training_dataset(faces, seed=0)
    items = [dataset[i] for i in range(n)]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def test_training_options_keep_deepfacelab_names_and_defaults():
    c = SAEHDConfig()
    assert (c.masked_training, c.eyes_mouth_prio, c.random_warp, c.lr_dropout) == (True, False, True, "n")
    assert (c.adabelief, c.clipgrad, c.lr, c.random_src_flip, c.random_dst_flip) == (
        True,
        False,
        5e-5,
        False,
        True,
    )
    assert SAEHD.data_layout == "faces"


def test_steps_lower_the_loss(faces):
    model = _model(lr=1e-3)
    batch = _batch(model, faces)
    ctx = StepContext(torch.device("cpu"))
    first = model.training_step(batch, ctx)
    assert set(first) == {"src_loss", "dst_loss"}
    for _ in range(9):
        last = model.training_step(batch, ctx)
    assert float(last["src_loss"]) < 0.85 * float(first["src_loss"])
    assert float(last["dst_loss"]) < 0.85 * float(first["dst_loss"])
    assert isinstance(model.optimizers["src_dst"], optim.AdaBelief)
    assert model.optimizers["src_dst"].param_groups[0]["iterations"] == 10


def test_visuals_are_the_sample_grid_in_rgb(faces):
    model = _model()
    batch = _batch(model, faces, 2)
    swap, _ = model.swap_faces(batch["warped_dst"])  # RGB in and out, before the step's update
    model.training_step(batch, StepContext(torch.device("cpu")))
    shown = model.visuals()
    assert (
        tuple(shown) == SAEHD.sample_visuals == ("src", "pred_src_src", "dst", "pred_dst_dst", "pred_src_dst")
    )
    assert all(v.shape == (2, 3, 32, 32) and v.min() >= 0 and v.max() <= 1 for v in shown.values())
    assert torch.equal(shown["src"], batch["target_src"])
    # the step's predictions come back from the networks' BGR in RGB, as `swap_faces` gives them
    torch.testing.assert_close(shown["pred_src_dst"], swap, atol=1e-5, rtol=0)
    assert not torch.allclose(shown["pred_src_dst"], swap.flip(1), atol=1e-3)


@pytest.mark.parametrize("random_warp", [False, True])
def test_liae_freezes_inter_ab_without_random_warp(faces, random_warp):
    model = _model(archi="liae-ud", random_warp=random_warp)
    before = {n: [p.detach().clone() for p in net.parameters()] for n, net in model.networks.items()}
    model.training_step(_batch(model, faces, 2), StepContext(torch.device("cpu")))
    for name, net in model.networks.items():
        moved = any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters(), strict=True))
        assert moved == (random_warp or name != "inter_AB"), name


def test_other_options_train(faces):
    model = _model(
        adabelief=False, lr_dropout="y", clipgrad=True, eyes_mouth_prio=True, masked_training=False
    )
    opt = model.optimizers["src_dst"]
    assert isinstance(opt, optim.RMSprop)
    group = opt.param_groups[0]
    assert (group["lr_dropout"], group["lr_cos"], group["clipnorm"]) == (0.3, 500, 1.0)
    losses = model.training_step(_batch(model, faces, 2), StepContext(torch.device("cpu")))
    assert all(torch.isfinite(v) for v in losses.values())


def test_true_face_trains_a_code_discriminator(faces):
    model = _model(true_face_power=0.1)
    D = model.networks["code_discriminator"]
    assert set(model.optimizers) == {"src_dst", "D_code"}
    trained_by_g = {id(p) for g in model.optimizers["src_dst"].param_groups for p in g["params"]}
    assert not trained_by_g & {id(p) for p in D.parameters()}
    code = model.networks["inter"](model.networks["encoder"](torch.zeros(1, 3, 32, 32)))
    assert D(code).shape[:2] == (1, 1)
    before = [p.detach().clone() for p in D.parameters()]
    losses = model.training_step(_batch(model, faces, 2), StepContext(torch.device("cpu")))
    assert set(losses) == {"src_loss", "dst_loss", "D_code"} and torch.isfinite(losses["D_code"])
    assert all(not torch.equal(a, b) for a, b in zip(before, D.parameters(), strict=True))
    assert "code_discriminator" not in model.inference_networks
    assert "code_discriminator" not in _model(archi="liae-ud", true_face_power=0.1).networks  # df only


def test_quick96_trains_every_third_step_on_unwarped_faces():
    quick = SAEHDConfig(preset="quick96")
    assert [step_inputs(quick, step) for step in range(6)] == ["target", "warped", "warped"] * 2
    assert {step_inputs(SAEHDConfig(), step) for step in range(6)} == {"warped"}
    opt = optim.make_optimizer([torch.nn.Parameter(torch.zeros(2))], quick)
    assert isinstance(opt, optim.RMSprop)
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["lr_dropout"], opt.param_groups[0]["lr_cos"]) == (
        2e-4,
        0.3,
        0,
    )


def test_a_bad_lr_dropout_is_one_line():
    with pytest.raises(UsageError, match="lr_dropout must be y, n or cpu"):
        _model(lr_dropout="sometimes")


def _train(*args: str) -> None:
    result = CliRunner().invoke(
        app, ["train", *args, "--workers", "0", "--no-progress", "--sample-every", "2"]
    )
    assert result.exit_code == 0, result.output


def test_cli_trains_on_synthetic_faces_and_resumes_exactly(faces, tmp_path):
    attestation = write_attestation(tmp_path / "consent.toml")
    extra = {"lr_dropout": "y", "true_face_power": "0.1"}
    settings = [x for k, v in {**TINY, **extra}.items() for x in ("--set", f"{k}={v}")]
    common = ["--data", str(faces), "--batch-size", "2", "--seed", "3", "--consent", attestation, *settings]
    refused = CliRunner().invoke(
        app, ["train", "saehd", "--data", str(faces), "--run-dir", str(tmp_path / "x")]
    )
    assert refused.exit_code != 0 and "consent" in refused.output
    _train("saehd", *common, "--run-dir", str(tmp_path / "straight"), "--steps", "4")
    _train("saehd", *common, "--run-dir", str(tmp_path / "resumed"), "--steps", "2", "--save-every", "2")
    _train("--run-dir", str(tmp_path / "resumed"), "--resume", "--steps", "4", "--consent", attestation)
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(k.startswith("code_discriminator.") for k in a)
    assert (tmp_path / "straight" / "samples" / "step_00000004.png").is_file()
