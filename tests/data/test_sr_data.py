"""Super-resolution data: `SRDataset`, the Real-ESRGAN degradation pipeline and `evaluate_sr`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

from i2i.data import degradations as deg
from i2i.data.sr import SRDataset
from i2i.errors import I2IError
from i2i.io.imageio import ImageData
from i2i.jobs.evaluate import evaluate_sr
from i2i.ops.resize import imresize


def _smooth(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (0.5 + 0.4 * np.stack([np.sin(x / 9 + k) * np.cos(y / 7 - k) for k in range(3)], axis=2)).astype(
        np.float32
    )


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(pixels * 255).astype(np.uint8).squeeze()).save(path)
    return path


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    root = tmp_path / "DIV2K_train_HR"
    _save(root / "0001.png", _smooth(96, 112))
    _save(root / "sub" / "0002.png", _smooth(40, 50)[..., 0])  # grey, and smaller than the crop
    (root / "notes.txt").write_text("not an image")
    return root


def _smooth_batch(n: int = 4, size: int = 64) -> torch.Tensor:
    img = torch.from_numpy(_smooth(size, size)).permute(2, 0, 1)
    variants = (img, img.flip(-1), img.flip(-2), img.flip(-1, -2))
    return torch.stack(variants[:n])


def _kernels(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    samples = [deg.random_kernels(np.random.default_rng([seed, i])) for i in range(n)]
    return {name: torch.from_numpy(np.stack([s[name] for s in samples])) for name in samples[0]}


def _high_frequency_energy(x: torch.Tensor) -> float:
    return float(
        ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean()
    )


# ------------------------------------------------------------------------------------------ SRDataset


def test_bicubic_samples_have_consistent_shapes_and_scale(hr_dir):
    data = SRDataset(hr_dir, scale=4, gt_size=64)
    assert len(data) == 2
    for i in range(len(data)):
        sample = data[i]
        assert sample["gt"].shape == (3, 64, 64) and sample["lq"].shape == (3, 16, 16)
        assert sample["gt"].dtype == sample["lq"].dtype == torch.float32
        assert sample["lq"].min() >= 0 and sample["lq"].max() <= 1
        # lq is the MATLAB-bicubic downscale of gt, rounded to 8-bit levels.
        expected = imresize(sample["gt"].permute(1, 2, 0).numpy(), 0.25).clip(0, 1)
        np.testing.assert_allclose(sample["lq"].permute(1, 2, 0).numpy(), expected, atol=0.5 / 255 + 1e-6)
        np.testing.assert_allclose(sample["lq"] * 255, (sample["lq"] * 255).round(), atol=1e-4)
    assert data[1]["path"].endswith("0002.png")
    batch = default_collate([data[0], data[1]])
    assert batch["lq"].shape == (2, 3, 16, 16)


def test_x2_and_sample_limit(hr_dir):
    data = SRDataset(hr_dir, scale=2, gt_size=32, max_dataset_size=1)
    assert len(data) == 1
    assert data[0]["lq"].shape == (3, 16, 16)


def test_samples_are_a_pure_function_of_seed_epoch_and_index(hr_dir):
    first, second = SRDataset(hr_dir, gt_size=32, seed=3), SRDataset(hr_dir, gt_size=32, seed=3)
    later = second[0]["gt"]  # access order does not matter
    assert torch.equal(first[0]["gt"], later)
    first.set_epoch(1)
    assert not torch.equal(first[0]["gt"], later)
    second.set_epoch(1)
    assert torch.equal(first[0]["gt"], second[0]["gt"])
    assert not torch.equal(SRDataset(hr_dir, gt_size=32, seed=4)[0]["gt"], later)


def test_augmentation_is_a_flip_or_transpose_of_the_same_crop(hr_dir):
    plain = SRDataset(hr_dir, gt_size=32, use_hflip=False, use_rot=False)
    augmented = SRDataset(hr_dir, gt_size=32)
    seen = set()
    for epoch in range(8):
        plain.set_epoch(epoch)
        augmented.set_epoch(epoch)
        crop, aug = plain[0]["gt"], augmented[0]["gt"]
        variants = [crop.flip(dims) for dims in ((), (-1,), (-2,), (-1, -2))]
        variants += [v.transpose(-1, -2) for v in variants]
        matches = [i for i, v in enumerate(variants) if torch.equal(v, aug)]
        assert matches
        seen.add(matches[0])
    assert len(seen) > 1


def test_unaugmented_crop_is_a_window_of_the_image(hr_dir):
    image = np.asarray(Image.open(hr_dir / "0001.png"), dtype=np.float32) / 255
    gt = SRDataset(hr_dir, gt_size=32, use_hflip=False, use_rot=False)[0]["gt"].permute(1, 2, 0).numpy()
    windows = np.lib.stride_tricks.sliding_window_view(image, (32, 32, 3))[..., 0, :, :, :]
    assert np.any(np.all(np.abs(windows - gt) < 1e-6, axis=(-3, -2, -1)))


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(I2IError, match=r"no images found .*e\.g\. DIV2K_train_HR/0001\.png"):
        SRDataset(empty)
    with pytest.raises(I2IError, match="no such folder"):
        SRDataset(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(I2IError, match="bad.png"):
        SRDataset(broken)[0]
    with pytest.raises(I2IError, match="multiple of the scale"):
        SRDataset(broken, scale=4, gt_size=30)
    with pytest.raises(I2IError, match="unknown degradation"):
        SRDataset(broken, degradation="blurry")


def test_realesrgan_samples_carry_the_crop_and_its_kernels(hr_dir):
    data = SRDataset(hr_dir, gt_size=32, crop_pad_size=48, degradation="realesrgan")
    sample = data[0]
    assert set(sample) == {"gt", "kernel1", "kernel2", "sinc_kernel", "path"}
    assert sample["gt"].shape == (3, 48, 48)
    for name in ("kernel1", "kernel2", "sinc_kernel"):
        assert sample[name].shape == (deg.KERNEL_SIZE, deg.KERNEL_SIZE)
        assert float(sample[name].sum()) == pytest.approx(1.0, abs=1e-5)
        assert torch.equal(sample[name], data[0][name])
    batch = default_collate([data[0], data[1]])
    lq, gt, gt_usm = deg.RealESRGANDegradation(scale=4, gt_size=32)(
        batch["gt"],
        batch["kernel1"],
        batch["kernel2"],
        batch["sinc_kernel"],
        generator=torch.Generator().manual_seed(0),
    )
    assert lq.shape == (2, 3, 8, 8) and gt.shape == gt_usm.shape == (2, 3, 32, 32)


# ------------------------------------------------------------------------------------------- kernels


def test_random_kernels_are_normalised_and_reproducible():
    names = ("kernel1", "kernel2", "sinc_kernel")
    for seed in range(40):
        kernels = deg.random_kernels(np.random.default_rng(seed))
        for name in names:
            k = kernels[name]
            assert k.shape == (deg.KERNEL_SIZE, deg.KERNEL_SIZE) and k.dtype == np.float32
            assert k.sum() == pytest.approx(1.0, abs=1e-5)
            # Point-symmetric, so filtering is the same as convolving and does not shift the image.
            np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-6)
    again = deg.random_kernels(np.random.default_rng(7))
    assert all(np.array_equal(again[n], deg.random_kernels(np.random.default_rng(7))[n]) for n in names)


def test_kernel_shapes():
    iso = deg.gaussian_kernel(21, 2.0, 2.0, 0.0)
    np.testing.assert_allclose(iso, iso.T, atol=1e-12)
    wide = deg.gaussian_kernel(21, 3.0, 0.5, 0.0)  # wide along x: rows vary slowly
    assert wide[10, 13] > wide[13, 10]
    turned = deg.gaussian_kernel(21, 3.0, 0.5, np.pi / 2)
    np.testing.assert_allclose(turned, wide.T, atol=1e-12)
    plateau = deg.gaussian_kernel(21, 2.0, 2.0, 0.0, beta=2.0, plateau=True)
    assert plateau.sum() == pytest.approx(1.0) and plateau[10, 10] == plateau.max()
    sinc = deg.circular_lowpass_kernel(np.pi / 3, 13)
    assert sinc.sum() == pytest.approx(1.0) and sinc.min() < 0  # ringing lobes


# ------------------------------------------------------------------------------------ degradation stages


def test_filter2d_pulse_is_identity_and_blur_smooths():
    img = _smooth_batch(2, 32) + 0.05 * torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    pulse = torch.zeros(deg.KERNEL_SIZE, deg.KERNEL_SIZE)
    pulse[10, 10] = 1
    assert torch.equal(deg.filter2d(img, pulse), img)
    blur = torch.from_numpy(deg.gaussian_kernel(21, 2.0, 2.0, 0.0)).float()
    assert _high_frequency_energy(deg.filter2d(img, blur)) < 0.5 * _high_frequency_energy(img)
    # Per-sample kernels, and images smaller than the kernel.
    both = deg.filter2d(img, torch.stack([pulse, blur]))
    assert torch.equal(both[0], img[0]) and not torch.equal(both[1], img[1])
    assert deg.filter2d(img[..., :5, :4], blur).shape == (2, 3, 5, 4)


def test_usm_sharpening_adds_detail_and_keeps_flat_areas():
    img = _smooth_batch(2, 48)
    sharp = deg.usm_sharp(img)
    assert _high_frequency_energy(sharp) > 1.2 * _high_frequency_energy(img)
    assert sharp.min() >= 0 and sharp.max() <= 1
    flat = torch.full((1, 3, 32, 32), 0.4)
    torch.testing.assert_close(deg.usm_sharp(flat), flat)


def test_noise_adds_high_frequency_energy():
    img = _smooth_batch(3, 32)
    draws = deg._Draws(torch.Generator().manual_seed(0))
    for grey_prob in (0.0, 1.0):
        gaussian = deg._gaussian_noise(img, (10.0, 10.0), grey_prob, draws)
        poisson = deg._poisson_noise(img, (1.0, 1.0), grey_prob, draws)
        for noisy in (gaussian, poisson):
            assert _high_frequency_energy(noisy) > 3 * _high_frequency_energy(img)
            assert noisy.min() >= 0 and noisy.max() <= 1
    grey = deg._gaussian_noise(img, (10.0, 10.0), 1.0, draws) - img
    inner = (..., slice(2, -2), slice(2, -2))  # away from clamping at 0 and 1
    torch.testing.assert_close(grey[:, 0][inner], grey[:, 1][inner])


def test_jpeg_makes_8x8_blocks():
    img = _smooth_batch(2, 64)
    jpeg = deg.jpeg(img, [30, 30])
    assert jpeg.shape == img.shape and jpeg.dtype == img.dtype

    def blockiness(x: torch.Tensor) -> float:
        steps = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(0, 1, 2))
        at_boundary = torch.arange(steps.numel()) % 8 == 7
        return float(steps[at_boundary].mean() / steps[~at_boundary].mean())

    assert blockiness(img) < 1.1
    assert blockiness(jpeg) > 1.4


# --------------------------------------------------------------------------------- the whole pipeline


def _degrade(pipeline: deg.RealESRGANDegradation, gt: torch.Tensor, seed: int, kernel_seed: int = 0):
    k = _kernels(len(gt), kernel_seed)
    return pipeline(
        gt, k["kernel1"], k["kernel2"], k["sinc_kernel"], generator=torch.Generator().manual_seed(seed)
    )


def test_pipeline_shapes_range_and_quantisation():
    gt = _smooth_batch(4, 64)
    for scale in (4, 2):
        for seed in range(6):
            lq, out_gt, gt_usm = _degrade(deg.RealESRGANDegradation(scale=scale), gt, seed)
            assert lq.shape == (4, 3, 64 // scale, 64 // scale)
            assert torch.equal(out_gt, gt) and gt_usm.shape == gt.shape
            assert lq.min() >= 0 and lq.max() <= 1
            torch.testing.assert_close(lq * 255, (lq * 255).round())


def test_pipeline_is_deterministic_for_a_seed():
    gt = _smooth_batch(4, 64)
    pipeline = deg.RealESRGANDegradation()
    first, again, other = (_degrade(pipeline, gt, seed)[0] for seed in (5, 5, 6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert not torch.equal(first, _degrade(pipeline, gt, 5, kernel_seed=1)[0])


def test_pipeline_degrades_more_than_bicubic():
    gt = _smooth_batch(4, 64)
    bicubic = imresize(gt, 0.25)
    errors = [
        float((_degrade(deg.RealESRGANDegradation(), gt, seed)[0] - bicubic).abs().mean())
        for seed in range(4)
    ]
    assert min(errors) > 1 / 255


def test_pipeline_paired_crop_matches():
    gt = _smooth_batch(2, 64)
    lq, crop, usm_crop = _degrade(deg.RealESRGANDegradation(scale=4, gt_size=32), gt, 0)
    assert lq.shape == (2, 3, 8, 8) and crop.shape == usm_crop.shape == (2, 3, 32, 32)
    full_usm = deg.usm_sharp(gt)
    windows = [(t, left) for t in range(0, 33, 4) for left in range(0, 33, 4)]
    assert any(
        torch.equal(crop, gt[..., t : t + 32, left : left + 32])
        and torch.equal(usm_crop, full_usm[..., t : t + 32, left : left + 32])
        for t, left in windows
    )


def test_pipeline_argument_checks():
    gt = _smooth_batch(1, 30)
    with pytest.raises(ValueError, match="multiple of scale"):
        _degrade(deg.RealESRGANDegradation(scale=4), gt, 0)
    with pytest.raises(ValueError, match="B x 3"):
        _degrade(deg.RealESRGANDegradation(scale=2), gt[:, :1], 0)
    with pytest.raises(ValueError, match="gt_size"):
        deg.RealESRGANDegradation(scale=4, gt_size=30)


@pytest.mark.gpu
def test_pipeline_on_cuda_matches_cpu_draws():
    gt = _smooth_batch(4, 64)
    cpu = _degrade(deg.RealESRGANDegradation(), gt, 3)[0]
    k = {name: t.cuda() for name, t in _kernels(4).items()}
    cuda = deg.RealESRGANDegradation()(
        gt.cuda(), k["kernel1"], k["kernel2"], k["sinc_kernel"], generator=torch.Generator().manual_seed(3)
    )[0]
    assert cuda.is_cuda and cuda.shape == cpu.shape
    # Same draws; only floating-point rounding (and JPEG of values it nudges across 8-bit levels) differs.
    assert float((cuda.cpu() - cpu).abs().mean()) < 2 / 255


# ----------------------------------------------------------------------------------------- evaluate_sr


class _StubSR:
    """What `evaluate_sr` needs of a model: `scale` and `translate_images` on `ImageData`."""

    def __init__(self, scale: int, mode: str) -> None:
        self.scale, self.mode = scale, mode

    def translate_images(self, images: list[ImageData], *, batch_size: int = 1) -> list[ImageData]:
        outputs = []
        for image in images:
            if self.mode == "bicubic":
                pixels = imresize(image.pixels, self.scale)
            else:
                pixels = image.pixels.repeat(self.scale, axis=0).repeat(self.scale, axis=1)
            outputs.append(ImageData(np.clip(pixels, 0, 1).astype(np.float32), None, 8))
        return outputs


def test_evaluate_sr_with_stub_models(tmp_path):
    root = tmp_path / "Set"
    _save(root / "a.png", _smooth(50, 61))
    _save(root / "b" / "c.png", _smooth(40, 44))
    _save(root / "grey.png", _smooth(36, 38)[..., 1])

    bicubic = evaluate_sr(_StubSR(2, "bicubic"), root, batch_size=2)
    assert bicubic["images"] == 3 and bicubic["scale"] == 2 and bicubic["crop_border"] == 2
    assert [item["path"] for item in bicubic["per_image"]] == ["a.png", "b/c.png", "grey.png"]
    # A model that upscales bicubically scores exactly the bicubic baseline.
    for name in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"):
        assert bicubic[name] == bicubic["bicubic"][name]
        assert np.isfinite(bicubic[name])
    assert 30 < bicubic["psnr_rgb"] < 60 and 0.9 < bicubic["ssim_rgb"] <= 1
    grey = bicubic["per_image"][2]
    assert grey["psnr_y"] == grey["psnr_rgb"] and grey["ssim_y"] == grey["ssim_rgb"]

    nearest = evaluate_sr(_StubSR(2, "nearest"), root, crop_border=0)
    assert nearest["crop_border"] == 0
    assert nearest["psnr_y"] < nearest["bicubic"]["psnr_y"]
    assert nearest["ssim_rgb"] < nearest["bicubic"]["ssim_rgb"]


def test_evaluate_sr_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(I2IError, match="no images"):
        evaluate_sr(_StubSR(2, "bicubic"), empty)
    _save(tmp_path / "one" / "a.png", _smooth(40, 40))
    with pytest.raises(I2IError, match="scale 4"):
        evaluate_sr(_StubSR(2, "bicubic"), tmp_path / "one", scale=4)
    with pytest.raises(I2IError, match="too small"):
        evaluate_sr(_StubSR(2, "bicubic"), tmp_path / "one", crop_border=15)
