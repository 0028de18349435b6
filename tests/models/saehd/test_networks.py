"""SAEHD networks built from the description: shapes, parameter names and counts for every archi option,
DFL's depth-to-space order, the x*cos(x) activation, DFL's initialisation and the wiring of df and liae."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import i2i
from i2i.errors import UsageError
from i2i.models.saehd import networks as N
from i2i.models.saehd.model import SAEHDConfig

TINY = {"resolution": 32, "ae_dims": 8, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2}
# each option alone and together, on both architectures
ARCHIS = ["df", "df-u", "df-d", "df-t", "df-c", "df-udtc", "liae", "liae-ud", "liae-t", "liae-udtc"]


def _build(archi: str, **dims: int) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    nets = N.build(archi, **(TINY | dims))
    N.init_weights(nets)
    return nets


def test_depth_to_space_is_tensorflows_dcr_order() -> None:
    b, c, h, w = 2, 3, 4, 5
    x = torch.randn(b, 4 * c, h, w)
    y = N.depth_to_space(x, 2)
    assert y.shape == (b, c, 2 * h, 2 * w)
    for dy, dx, ch in itertools.product(range(2), range(2), range(c)):
        # TF: output (y*2+dy, x*2+dx, c) <- input channel (dy*2+dx)*C + c
        assert torch.equal(y[:, ch, dy::2, dx::2], x[:, (dy * 2 + dx) * c + ch])
    assert not torch.equal(y, F.pixel_shuffle(x, 2))  # torch's CRD order is another permutation


@pytest.mark.parametrize("archi", ARCHIS)
def test_every_option_set_builds_with_the_right_shapes(archi: str) -> None:
    nets = _build(archi)
    kind, options = N.parse_archi(archi)
    assert tuple(nets) == N.PARTS[kind]
    src, dst = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = N.autoencode(nets, archi, src, dst)
        face, face_mask, dst_mask = N.swap(nets, archi, dst)
    for name in ("pred_src_src", "pred_dst_dst", "pred_src_dst"):
        assert out[name].shape == (2, 3, 32, 32)
        assert out[name + "m"].shape == (2, 1, 32, 32)
        assert out[name].min() >= 0 and out[name].max() <= 1
    channels = 8 if kind == "df" else 32  # ae_dims, or 4 * ae_dims for liae's two concatenated inters
    side = 32 // 16 * (1 if "t" in options else 2) // (2 if "d" in options else 1)
    assert out["src_code"].shape == out["dst_code"].shape == (2, channels, side, side)
    torch.testing.assert_close(face, out["pred_src_dst"])
    torch.testing.assert_close(face_mask, out["pred_src_dstm"])
    torch.testing.assert_close(dst_mask, out["pred_dst_dstm"])
    with torch.no_grad():
        again, again_mask = N.reconstruct(nets, archi, dst)
    torch.testing.assert_close(again, out["pred_dst_dst"])
    torch.testing.assert_close(again_mask, out["pred_dst_dstm"])


def test_liae_codes_concatenate_inter_b_then_inter_ab() -> None:
    nets = _build("liae-ud")
    src, dst = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = N.autoencode(nets, "liae-ud", src, dst)
        ab, b = nets["inter_AB"](nets["encoder"](dst)), nets["inter_B"](nets["encoder"](dst))
        src_ab = nets["inter_AB"](nets["encoder"](src))
    torch.testing.assert_close(out["dst_code"], torch.cat([b, ab], 1))
    torch.testing.assert_close(out["src_code"], torch.cat([src_ab, src_ab], 1))
    with torch.no_grad():
        swapped = nets["decoder"](torch.cat([ab, ab], 1))[0]
    torch.testing.assert_close(out["pred_src_dst"], swapped)


def test_df_swaps_through_the_src_decoder() -> None:
    nets = _build("df")
    dst = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        code = nets["inter"](nets["encoder"](dst))
        face, mask, dst_mask = N.swap(nets, "df", dst)
        torch.testing.assert_close(face, nets["decoder_src"](code)[0])
        torch.testing.assert_close(dst_mask, nets["decoder_dst"](code)[1])


@pytest.mark.parametrize(
    ("archi", "dims", "millions", "parts"),
    [
        (
            "liae-ud",
            (128, 256, 64, 64, 22),
            82.4,
            {"encoder": 4.3, "inter_AB": 19.9, "inter_B": 19.9, "decoder": 38.2},
        ),
        ("df-ud", (224, 256, 64, 64, 22), 73.9, None),
        ("liae-udt", (320, 256, 64, 80, 32), 146.2, None),
        ("df-ud", (96, 128, 64, 64, 16), 38.3, None),  # Quick96
    ],
)
def test_parameter_counts_match_the_description(archi, dims, millions, parts) -> None:
    with torch.device("meta"):  # counts without allocating 150M parameters
        nets = N.build(archi, *dims)
    counts = {name: sum(p.numel() for p in net.parameters()) / 1e6 for name, net in nets.items()}
    assert round(sum(counts.values()), 1) == millions
    for name, expected in (parts or {}).items():
        assert round(counts[name], 1) == expected


def test_t_layers_carry_dfls_names() -> None:
    keys = {name: set(net.state_dict()) for name, net in _build("liae-udt").items()}
    assert {"down1.conv1.weight", "res1.conv2.weight", "down5.conv1.bias", "res5.conv1.weight"} <= keys[
        "encoder"
    ]
    assert not any("downs" in k for k in keys["encoder"])
    assert {
        "upscale3.conv1.weight",
        "res3.conv2.weight",
        "upscalem4.conv1.weight",
        "out_conv3.weight",
    } <= keys["decoder"]
    assert "upscale1.conv1.weight" not in keys["inter_AB"]  # no upscale in a -t inter
    plain = {name: set(net.state_dict()) for name, net in _build("df").items()}
    assert "down1.downs.3.conv1.weight" in plain["encoder"] and "upscale1.conv1.weight" in plain["inter"]
    assert (
        "upscalem3.conv1.weight" not in plain["decoder_src"]
        and "out_conv1.weight" not in plain["decoder_src"]
    )


def test_c_uses_x_cos_x_instead_of_leaky_relu() -> None:
    act = N.Activation(0.1, cos=True)
    x = torch.linspace(-4, 4, 101)
    torch.testing.assert_close(act(x), x * torch.cos(x))
    torch.testing.assert_close(N.Activation(0.1, cos=False)(x), F.leaky_relu(x, 0.1))
    plain, cos = _build("df-ud"), _build("df-udc")
    for name in plain:
        cos[name].load_state_dict(plain[name].state_dict())  # the same parameters: c changes no shape
    dst = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(N.swap(plain, "df-ud", dst)[0], N.swap(cos, "df-udc", dst)[0])


def test_u_pixel_normalises_the_code() -> None:
    nets = _build("df-u")
    with torch.no_grad():
        code = nets["encoder"](torch.rand(3, 3, 32, 32))
    mean_square = code.square().mean(-1)
    torch.testing.assert_close(mean_square, torch.ones(3), atol=0.01, rtol=0)  # x^2 / (x^2 + 1e-6)


def test_fresh_models_get_dfls_initialisation() -> None:
    nets = _build("liae-ud", ae_dims=16, e_dims=8)
    conv = nets["encoder"].down1.downs[1].conv1  # 5x5, 8 -> 16
    bound = (6 / (8 * 25 + 16 * 25)) ** 0.5  # glorot uniform
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    dense = nets["inter_AB"].dense1
    assert dense.weight.abs().max() <= (6 / sum(dense.weight.shape)) ** 0.5
    biases = [
        m.bias
        for net in nets.values()
        for m in net.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    assert all(torch.count_nonzero(b) == 0 for b in biases)
    fresh = i2i.load("saehd", device="cpu", **TINY, archi="df-ud")
    assert all(
        torch.count_nonzero(m.bias) == 0
        for m in fresh.networks["decoder_src"].modules()
        if hasattr(m, "bias")
    )


@pytest.mark.parametrize(
    ("archi", "resolution", "message"),
    [
        ("dfx", 32, "expected df or liae"),
        ("df-uz", 32, "expected df or liae"),
        ("liae-uu", 32, "expected df or liae"),
        ("df-ud", 48, "multiple of 32"),
        ("df", 40, "multiple of 16"),
    ],
)
def test_bad_settings_are_one_line_errors(archi: str, resolution: int, message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        i2i.load("saehd", device="cpu", archi=archi, resolution=resolution, ae_dims=8, e_dims=4, d_dims=4)
    assert "\n" not in str(err.value)


def test_the_quick96_preset_fixes_dfls_quick96_settings() -> None:
    config = i2i.config.replace(SAEHDConfig(), {"preset": "quick96", "resolution": "128"})
    assert (config.archi, config.resolution, config.ae_dims, config.e_dims, config.d_dims) == (
        "df-ud",
        96,
        128,
        64,
        64,
    )
    assert (config.d_mask_dims, config.face_type, config.adabelief, config.lr) == (16, "f", False, 2e-4)
    assert i2i.config.from_dict(SAEHDConfig, i2i.config.to_dict(config)) == config
    with pytest.raises(UsageError, match="known presets: quick96"):
        SAEHDConfig(preset="quick69")
