"""SAEHD's losses and optimisers against hand-made numpy references."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from i2i.models.saehd import losses as L
from i2i.models.saehd import optim as O
from i2i.ops import metrics


def _window(size: int, sigma: float) -> np.ndarray:
    g = np.array([math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(size)])
    w = np.outer(g, g)
    return w / w.sum()


def _filter_valid(img: np.ndarray, w: np.ndarray) -> np.ndarray:
    k = w.shape[0]
    h, wd = img.shape
    out = np.zeros((h - k + 1, wd - k + 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = (img[y : y + k, x : x + k] * w).sum()
    return out


def _dssim_numpy(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """(1 - SSIM) / 2 of one C x H x W pair, straight from the SSIM formula."""
    w = _window(size, 1.5)
    per_channel = []
    for x, y in zip(a, b, strict=True):
        mx, my = _filter_valid(x, w), _filter_valid(y, w)
        vx = _filter_valid(x * x, w) - mx**2
        vy = _filter_valid(y * y, w) - my**2
        cxy = _filter_valid(x * y, w) - mx * my
        c1, c2 = 0.01**2, 0.03**2
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        per_channel.append((1 - s.mean()) / 2)
    return float(np.mean(per_channel))


@pytest.mark.parametrize("size", [2, 3, 5])
def test_dssim_matches_the_formula(size):
    rng = np.random.default_rng(size)
    a = rng.random((2, 3, 12, 12))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    got = L.dssim(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32), size)
    want = [_dssim_numpy(a[i], b[i], size) for i in range(2)]
    np.testing.assert_allclose(got.numpy(), want, atol=2e-6)


def test_dssim_agrees_with_the_ssim_metric():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16, 3))
    b = np.clip(a * 0.8 + 0.1 + rng.normal(0, 0.05, a.shape), 0, 1)
    ta, tb = (torch.tensor(x.transpose(2, 0, 1)[None], dtype=torch.float32) for x in (a, b))
    want = (1 - metrics.ssim(a, b, data_range=1.0)) / 2
    assert float(L.dssim(ta, tb, 11)[0]) == pytest.approx(want, abs=2e-6)
    assert float(L.dssim(ta, ta, 11)[0]) == pytest.approx(0.0, abs=1e-6)


def test_structural_loss_uses_two_windows_from_256():
    rng = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 256, 256, generator=rng)
    b = (a + 0.1 * torch.rand(1, 3, 256, 256, generator=rng)).clamp(0, 1)
    two = 5 * L.dssim(a, b, int(256 / 11.6)) + 5 * L.dssim(a, b, int(256 / 23.2))
    torch.testing.assert_close(L.structural_loss(a, b, 256), two)
    small_a, small_b = a[..., :64, :64], b[..., :64, :64]
    torch.testing.assert_close(L.structural_loss(small_a, small_b, 64), 10 * L.dssim(small_a, small_b, 5))


def test_gaussian_blur_is_a_zero_padded_normalised_filter():
    rng = np.random.default_rng(1)
    img = rng.random((9, 9))
    sigma = 1.0
    size = L.blur_kernel_size(sigma)
    assert size == 5 and L.blur_kernel_size(2) == 9 and L.blur_kernel_size(0.5) == 3
    padded = np.pad(img, size // 2)
    want = _filter_valid(padded, _window(size, sigma))
    got = L.gaussian_blur(torch.tensor(img, dtype=torch.float32)[None, None], sigma)[0, 0]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6)


def test_prepare_mask_keeps_the_inside_and_softens_the_edge():
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    soft = L.prepare_mask(mask, 64)
    assert soft.min() >= 0 and soft.max() <= 1
    assert float(soft[0, 0, 32, 32]) == 1.0 and float(soft[0, 0, 2, 2]) == 0.0
    edge = float(soft[0, 0, 32, 16])
    assert 0.9 < edge <= 1.0  # the 0.5 clip keeps the border of the face at full weight
    assert 0 < float(soft[0, 0, 32, 14]) < 1


def test_reconstruction_terms():
    rng = torch.Generator().manual_seed(3)
    pred, target = torch.rand(2, 3, 32, 32, generator=rng), torch.rand(2, 3, 32, 32, generator=rng)
    pm, tm = torch.rand(2, 1, 32, 32, generator=rng), (torch.rand(2, 1, 32, 32, generator=rng) > 0.5).float()
    em = torch.zeros(2, 1, 32, 32)
    em[..., 10:20, 10:20] = 1
    terms = L.reconstruction_losses(pred, pm, target, tm, em, resolution=32, eyes_mouth_prio=True)
    soft = L.prepare_mask(tm, 32)
    torch.testing.assert_close(terms["mse"], 10 * ((pred * soft - target * soft) ** 2).mean((1, 2, 3)))
    torch.testing.assert_close(terms["dssim"], 10 * L.dssim(pred * soft, target * soft, 2))
    torch.testing.assert_close(terms["mask"], 10 * ((pm - tm) ** 2).mean((1, 2, 3)))
    want_em = 300 * ((pred - target).abs() * em).mean((1, 2, 3))
    torch.testing.assert_close(terms["eyes_mouth"], want_em)
    plain = L.reconstruction_losses(pred, pm, target, tm, None, resolution=32, masked_training=False)
    assert set(plain) == {"dssim", "mse", "mask"}
    torch.testing.assert_close(plain["mse"], 10 * ((pred - target) ** 2).mean((1, 2, 3)))


# --------------------------------------------------------------------------------------- optimisers


def _grads(seed: int, shape=(3, 4)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(3)]


def _run(opt_cls, grads, **kwargs) -> tuple[np.ndarray, torch.optim.Optimizer]:
    p = torch.nn.Parameter(torch.ones(grads[0].shape))
    opt = opt_cls([p], **kwargs)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy(), opt


def test_adabelief_step_matches_a_hand_computed_update():
    grads = _grads(0)
    got, opt = _run(O.AdaBelief, grads, lr=0.01)
    p = np.ones(grads[0].shape, np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for g in grads:
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * (g - m) ** 2  # the new m; no bias correction anywhere
        p = p - 0.01 * m / (np.sqrt(v) + 1e-6)
    np.testing.assert_allclose(got, p, rtol=1e-5, atol=1e-6)
    assert opt.param_groups[0]["iterations"] == 3
    first = 1 - 0.01 * (0.1 * grads[0]) / (np.sqrt(0.001 * (0.9 * grads[0]) ** 2) + 1e-6)
    np.testing.assert_allclose(_run(O.AdaBelief, grads[:1], lr=0.01)[0], first, rtol=1e-5)


def test_rmsprop_equals_torch_rmsprop_with_eps_outside():
    grads = _grads(1)
    got, _ = _run(O.RMSprop, grads, lr=0.01)
    p = torch.nn.Parameter(torch.ones(grads[0].shape))
    ref = torch.optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-6)
    for g in grads:
        p.grad = torch.tensor(g)
        ref.step()
    np.testing.assert_allclose(got, p.detach().numpy(), rtol=1e-6)


def test_clipnorm_scales_by_the_global_norm():
    g1, g2 = np.full((2,), 3.0, np.float32), np.full((2,), 4.0, np.float32)  # global norm sqrt(50)
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = O.RMSprop([a, b], lr=1.0, clipnorm=1.0)
    a.grad, b.grad = torch.tensor(g1), torch.tensor(g2)
    opt.step()
    scale = 1 / math.sqrt(50)
    for p, g in ((a, g1), (b, g2)):
        gs = g * scale
        want = -gs / (np.sqrt(0.1 * gs**2) + 1e-6)
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-5)


def test_lr_dropout_masks_the_update_and_lr_follows_the_cosine():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(100, 100))
    opt = O.AdaBelief([p], lr=0.1, lr_dropout=0.3, lr_cos=4)
    p.grad = torch.ones_like(p)
    torch.manual_seed(5)
    opt.step()
    moved = (p != 0).float().mean().item()
    assert 0.27 < moved < 0.33
    # the masks depend on (seed, update count, parameter) only: not on torch's global generator
    q = torch.nn.Parameter(torch.zeros(100, 100))
    again = O.AdaBelief([q], lr=0.1, lr_dropout=0.3, lr_cos=4)
    q.grad = torch.ones_like(q)
    torch.manual_seed(6)
    again.step()
    assert torch.equal(p, q)
    # iteration 2 of a period of 4: (cos(pi) + 1) / 2 = 0, nothing moves
    opt.step()
    before = p.detach().clone()
    opt.step()
    assert torch.equal(p, before)
    assert opt.param_groups[0]["iterations"] == 3


def test_state_dict_resumes_exactly():
    grads = _grads(2) + _grads(3)
    p = torch.nn.Parameter(torch.ones(grads[0].shape))
    opt = O.AdaBelief([p], lr=0.01, lr_dropout=0.3, lr_cos=5, clipnorm=1.0)
    for g in grads[:3]:
        p.grad = torch.tensor(g)
        opt.step()
    saved, saved_p = copy.deepcopy(opt.state_dict()), p.detach().clone()
    q = torch.nn.Parameter(saved_p.clone())
    resumed = O.AdaBelief([q], lr=0.01, lr_dropout=0.3, lr_cos=5, clipnorm=1.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["iterations"] == 3
    for g in grads[3:]:
        p.grad = torch.tensor(g)
        opt.step()
    torch.manual_seed(1)
    for g in grads[3:]:
        q.grad = torch.tensor(g)
        resumed.step()
    assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("setting", "value"), [("y", 0.3), ("cpu", 0.3), ("n", 1.0), (True, 0.3), (False, 1.0)]
)
def test_lr_dropout_setting(setting, value):
    assert O.lr_dropout_value(setting) == value


def test_lr_dropout_setting_rejects_other_values():
    with pytest.raises(ValueError, match="y, n or cpu"):
        O.lr_dropout_value("maybe")
