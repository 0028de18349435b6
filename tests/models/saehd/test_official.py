"""DeepFaceLab SAEHD model folders: the fixtures made by DFL's own code load with no flags and reproduce
all four outputs; several models in a folder, missing parts and planted payloads are one-line errors;
i2i's writer of DFL folders round-trips other option sets; `i2i convert` writes an i2i checkpoint."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.errors import I2IError
from i2i.io import dfl_pickle
from i2i.models.saehd import networks as N
from i2i.models.saehd import official

FIXTURES = Path(__file__).parents[2] / "fixtures" / "saehd"
VARIANTS = {"df_plain_32": "df", "df_ud_32": "df-ud", "liae_ud_32": "liae-ud"}
OUTPUTS = ("pred_src_dst", "pred_src_dstm", "pred_dst_dst", "pred_dst_dstm")


def _outputs(model: i2i.Model, x_bgr_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """The four outputs of DFL's fixtures (NHWC, BGR like DFL's) through the public API (NCHW, RGB)."""
    rgb = torch.from_numpy(x_bgr_nhwc).permute(0, 3, 1, 2).flip(1)
    face, face_mask = model.swap_faces(rgb)
    again, again_mask = model.swap_faces(rgb, reconstruct=True)
    nhwc = {"pred_src_dst": face.flip(1), "pred_src_dstm": face_mask}
    nhwc |= {"pred_dst_dst": again.flip(1), "pred_dst_dstm": again_mask}
    return {k: v.permute(0, 2, 3, 1).numpy() for k, v in nhwc.items()}


def _assert_reproduces(model: i2i.Model, variant: str) -> None:
    io = np.load(FIXTURES / variant / "io.npz")
    got = _outputs(model, io["x"])
    for name in OUTPUTS:
        assert got[name].shape == io[name].shape
        np.testing.assert_allclose(got[name], io[name], atol=1e-5, rtol=0, err_msg=f"{variant} {name}")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dfl_folders_load_with_no_flags_and_reproduce_all_outputs(variant: str) -> None:
    model = i2i.load(weights=FIXTURES / variant, device="cpu", precision="fp32")
    assert model.name == "saehd" and model.config.archi == VARIANTS[variant]
    assert (model.config.resolution, model.config.ae_dims, model.config.e_dims) == (32, 8, 4)
    assert (model.config.d_dims, model.config.d_mask_dims, model.config.face_type) == (4, 2, "f")
    _assert_reproduces(model, variant)
    by_file = i2i.load(weights=str(FIXTURES / variant / "new_SAEHD_data.dat"), device="cpu", precision="fp32")
    assert by_file.config == model.config
    _assert_reproduces(by_file, variant)


def test_pixel_shuffle_instead_of_dfls_depth_to_space_misses_the_fixture(monkeypatch) -> None:
    # why networks.depth_to_space is TF's DCR order: torch's pixel_shuffle (CRD) reads other channels
    monkeypatch.setattr(N, "depth_to_space", F.pixel_shuffle)
    model = i2i.load(weights=FIXTURES / "df_ud_32", device="cpu", precision="fp32")
    io = np.load(FIXTURES / "df_ud_32" / "io.npz")
    got = _outputs(model, io["x"])
    assert np.abs(got["pred_src_dst"] - io["pred_src_dst"]).max() > 1e-2


def test_the_part_files_keys_convert_to_the_network_names() -> None:
    part = dfl_pickle.load(FIXTURES / "liae_ud_32" / "new_SAEHD_encoder.npy")
    assert official.torch_key("down1/downs_2/conv1/weight:0") == "down1.downs.2.conv1.weight"
    assert all(official.dfl_key(official.torch_key(k)) == k for k in part)
    state = official.to_state_dict(part, "encoder")
    assert state["down1.downs.0.conv1.weight"].shape == (4, 3, 5, 5)  # HWIO -> OIHW
    dense = official.to_state_dict(
        dfl_pickle.load(FIXTURES / "liae_ud_32" / "new_SAEHD_inter_B.npy"), "inter_B"
    )
    assert dense["dense1.weight"].shape == (8, 32 * 2 * 2)  # (in, out) -> (out, in)


def _two_models(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for variant, name in (("df_ud_32", "alice"), ("liae_ud_32", "bob")):
        for file in (FIXTURES / variant).glob("new_SAEHD_*"):
            shutil.copy(file, folder / file.name.replace("new_", f"{name}_", 1))
    (folder / "alice_SAEHD_src_dst_opt.npy").write_bytes(b"optimiser state: never read")
    return folder


def test_several_models_in_one_folder(tmp_path: Path) -> None:
    folder = _two_models(tmp_path)
    with pytest.raises(I2IError) as err:
        i2i.load(weights=folder, device="cpu")
    message = str(err.value)
    assert "\n" not in message
    assert "alice_SAEHD_data.dat" in message and "bob_SAEHD_data.dat" in message
    bob = i2i.load(weights=folder / "bob_SAEHD_data.dat", device="cpu", precision="fp32")
    assert bob.config.archi == "liae-ud"
    _assert_reproduces(bob, "liae_ud_32")
    alice = i2i.load(weights=folder / "alice_SAEHD_data.dat", device="cpu", precision="fp32")
    _assert_reproduces(alice, "df_ud_32")


def test_missing_parts_and_other_dfl_models_are_one_line_errors(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "df_plain_32", folder)
    (folder / "new_SAEHD_decoder_dst.npy").unlink()
    with pytest.raises(I2IError, match="part file new_SAEHD_decoder_dst.npy is missing"):
        i2i.load(weights=folder, device="cpu")
    quick = tmp_path / "quick"
    quick.mkdir()
    (quick / "q_Quick96_data.dat").write_bytes(pickle.dumps({"iter": 1, "options": {}}))
    with pytest.raises(I2IError, match="DeepFaceLab models found: Quick96"):
        i2i.load(weights=quick, device="cpu")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


@pytest.mark.parametrize("planted", ["new_SAEHD_data.dat", "new_SAEHD_inter.npy"])
def test_a_planted_payload_is_refused_and_nothing_runs(tmp_path: Path, planted: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "df_ud_32", folder)
    marker = tmp_path / "executed"
    original = dfl_pickle.load(folder / planted)
    original["hidden"] = _Payload(marker)  # a real file with one extra entry that would run code
    (folder / planted).write_bytes(pickle.dumps(original, protocol=4))
    for weights in (folder, folder / "new_SAEHD_data.dat"):
        with pytest.raises(I2IError) as err:
            i2i.load(weights=weights, device="cpu")
        assert "\n" not in str(err.value)
        assert f"{planted}: refused: the pickle would call builtins.exec" in str(err.value)
    assert not marker.exists()
    result = CliRunner().invoke(app, ["convert", str(folder), str(tmp_path / "out.safetensors")])
    assert result.exit_code == 1 and "refused" in result.output
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize(
    ("archi", "dims"),
    [
        ("liae-udtc", {"resolution": 64, "d_dims": 6, "d_mask_dims": 4}),
        ("df-t", {"resolution": 48}),
        ("df-uc", {}),
    ],
)
def test_other_option_sets_round_trip_through_dfls_layout(tmp_path: Path, archi: str, dims: dict) -> None:
    settings = {"resolution": 32, "ae_dims": 8, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2, "face_type": "wf"}
    settings |= dims | {"archi": archi}
    torch.manual_seed(1)
    made = i2i.load("saehd", device="cpu", precision="fp32", **settings)
    for net in made.networks.values():  # biases too, so a dropped or misplaced tensor shows
        for p in net.parameters():
            torch.nn.init.uniform_(p, -0.3, 0.3)
    data = official.write_model(tmp_path / "model", "mine", made.state_dicts(), settings | {"iter": 7})
    part = dfl_pickle.load(data.with_name("mine_SAEHD_encoder.npy"))
    assert all(k.endswith(":0") and "." not in k for k in part)
    back = i2i.load(weights=tmp_path / "model", device="cpu", precision="fp32")
    assert back.config == made.config
    size = settings["resolution"]
    faces = torch.rand(2, 3, size, size)
    for reconstruct in (False, True):
        for a, b in zip(
            made.swap_faces(faces, reconstruct), back.swap_faces(faces, reconstruct), strict=True
        ):
            assert torch.equal(a, b)


def test_training_options_of_data_dat_that_the_config_knows_are_read(tmp_path: Path) -> None:
    nets = i2i.load(weights=FIXTURES / "df_ud_32", device="cpu", precision="fp32").state_dicts()
    options = dfl_pickle.load(FIXTURES / "df_ud_32" / "new_SAEHD_data.dat")["options"]
    options |= {"eyes_mouth_prio": True, "random_warp": False, "lr_dropout": "cpu", "ct_mode": "rct"}
    official.write_model(tmp_path, "new", nets, options | {"gan_power": 0.1, "face_type": "wf"})
    model = i2i.load(weights=tmp_path, device="cpu", precision="fp32")
    assert (model.config.eyes_mouth_prio, model.config.random_warp, model.config.lr_dropout) == (
        True,
        False,
        "cpu",
    )
    assert model.config.face_type == "wf" and model.config.archi == "df-ud"
    _assert_reproduces(model, "df_ud_32")


def test_convert_writes_an_i2i_checkpoint_that_loads_with_no_flags(tmp_path: Path) -> None:
    out = tmp_path / "swap.safetensors"
    result = CliRunner().invoke(app, ["convert", str(FIXTURES / "liae_ud_32"), str(out)])
    assert result.exit_code == 0, result.output
    assert "saehd" in result.output
    model = i2i.load(weights=out, device="cpu", precision="fp32")
    assert model.config.archi == "liae-ud" and model.loaded == {"encoder", "inter_AB", "inter_B", "decoder"}
    _assert_reproduces(model, "liae_ud_32")


def test_swap_faces_checks_the_crop_size_and_forward_tensor_resizes_any_crop() -> None:
    model = i2i.load(weights=FIXTURES / "df_ud_32", device="cpu", precision="fp32")
    with pytest.raises(i2i.UsageError, match="N x 3 x 32 x 32"):
        model.swap_faces(torch.rand(1, 3, 64, 64))
    crops = torch.rand(2, 3, 64, 48)
    with torch.no_grad():
        swapped = model.forward_tensor(crops)
    assert swapped.shape == (2, 3, 64, 48)
    small = F.interpolate(crops, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    face = F.interpolate(model.swap_faces(small)[0], size=(64, 48), mode="bilinear", antialias=True)
    torch.testing.assert_close(swapped, face.clamp(0, 1))
