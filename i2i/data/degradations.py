"""The Real-ESRGAN second-order degradation: synthetic low-quality inputs made from high-quality crops.

Two halves, split as upstream splits them between its dataset and its model:

- `random_kernels` draws the three blur kernels of one sample with numpy. `SRDataset` calls it with that
  sample's own RNG and ships the kernels with the GT crop, so they are a pure function of
  (seed, epoch, index).
- `RealESRGANDegradation` turns a batch of GT crops and their kernels into `(lq, gt, gt_usm)` with torch,
  on the batch's device (CPU or CUDA): USM sharpening of the GT, then blur -> random resize -> noise ->
  JPEG, a second such round, and a final resize to GT / scale with a sinc filter before or after the last
  JPEG. Like upstream, the resize factors and modes, the noise type, whether the second blur happens and the
  order of the final steps are drawn once per batch (the batch must share one size); noise levels, grey
  noise and JPEG qualities are drawn per sample. Every draw comes from the `torch.Generator` passed in.

Differences from upstream, by design: JPEG goes through Pillow (8-bit input, integer quality, 4:2:0) where
upstream uses DiffJPEG, which is differentiable but not needed for making data; grey Gaussian noise is drawn
per sample where upstream shares one grey noise field across the batch; reflection padding also works for
images smaller than the kernel; upstream's 180-sample training-pair pool, which mixes degradations across
batches, is left to the training loop.
"""

from __future__ import annotations

import bisect
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
#: Every kernel is zero-padded to this size so that a batch of them stacks.
KERNEL_SIZE = 21
RESIZE_MODES = ("area", "bilinear", "bicubic")
_GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale, as upstream's grey Poisson noise


@dataclass(frozen=True)
class KernelSettings:
    """Probabilities and ranges of the random kernels; the defaults are Real-ESRGAN x4plus's.

    `kernel_prob` weighs `KERNEL_TYPES` in order. Sigmas are in pixels; `betag` is the shape exponent of
    generalised Gaussians, `betap` that of plateau kernels. Fields ending in 2 are for the second round.
    """

    kernel_sizes: tuple[int, ...] = tuple(range(7, KERNEL_SIZE + 1, 2))
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    kernel_prob2: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range2: tuple[float, float] = (0.5, 4.0)
    betap_range2: tuple[float, float] = (1.0, 2.0)
    final_sinc_prob: float = 0.8


def random_kernels(rng: np.random.Generator, settings: KernelSettings | None = None) -> dict[str, np.ndarray]:
    """The kernels of one sample: `kernel1` (first blur), `kernel2` (second blur) and `sinc_kernel` (the
    final low-pass, a unit pulse with probability 1 - final_sinc_prob), each KERNEL_SIZE^2 float32 summing
    to 1. The draw order follows upstream's dataset."""
    s = settings or KernelSettings()
    kernel1 = _blur_kernel(
        rng, s.kernel_sizes, s.kernel_prob, s.sinc_prob, s.blur_sigma, s.betag_range, s.betap_range
    )
    kernel2 = _blur_kernel(
        rng, s.kernel_sizes, s.kernel_prob2, s.sinc_prob2, s.blur_sigma2, s.betag_range2, s.betap_range2
    )
    if rng.uniform() < s.final_sinc_prob:
        size = int(rng.choice(s.kernel_sizes))
        final = circular_lowpass_kernel(rng.uniform(np.pi / 3, np.pi), size)
    else:
        final = np.zeros((1, 1))
        final[0, 0] = 1.0
    return {
        name: _pad_kernel(k)
        for name, k in (("kernel1", kernel1), ("kernel2", kernel2), ("sinc_kernel", final))
    }


def _blur_kernel(
    rng: np.random.Generator,
    sizes: tuple[int, ...],
    prob: tuple[float, ...],
    sinc_prob: float,
    sigma: tuple[float, float],
    betag: tuple[float, float],
    betap: tuple[float, float],
) -> np.ndarray:
    size = int(rng.choice(sizes))
    if rng.uniform() < sinc_prob:
        # Small kernels cannot hold a low cutoff's ringing.
        return circular_lowpass_kernel(rng.uniform(np.pi / 3 if size < 13 else np.pi / 5, np.pi), size)
    kind = KERNEL_TYPES[rng.choice(len(KERNEL_TYPES), p=np.asarray(prob) / sum(prob))]
    sigma_x = rng.uniform(*sigma)
    if kind.endswith("aniso"):
        sigma_y, theta = rng.uniform(*sigma), rng.uniform(-np.pi, np.pi)
    else:
        sigma_y, theta = sigma_x, 0.0
    if kind.startswith("generalized"):
        return gaussian_kernel(size, sigma_x, sigma_y, theta, beta=_beta(rng, betag))
    if kind.startswith("plateau"):
        return gaussian_kernel(size, sigma_x, sigma_y, theta, beta=_beta(rng, betap), plateau=True)
    return gaussian_kernel(size, sigma_x, sigma_y, theta)


def _beta(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    # Half the draws below 1, half above, whatever the range's proportions (as upstream).
    return rng.uniform(bounds[0], 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, bounds[1])


def gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float, theta: float, *, beta: float = 1.0, plateau: bool = False
) -> np.ndarray:
    """A size x size (odd) bivariate kernel summing to 1, float64.

    With q = d^T S^-1 d for the offset d from the centre and S the covariance of axis sigmas
    (sigma_x, sigma_y) rotated by `theta` radians: exp(-q^beta / 2) (beta 1 is the Gaussian, other values
    the generalised Gaussian), or 1 / (1 + q^beta) with `plateau`.
    """
    cos, sin = math.cos(theta), math.sin(theta)
    rotation = np.array([[cos, -sin], [sin, cos]])
    inverse = np.linalg.inv(rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T)
    axis = np.arange(size) - (size - 1) / 2
    x, y = np.meshgrid(axis, axis)
    q = inverse[0, 0] * x * x + (inverse[0, 1] + inverse[1, 0]) * x * y + inverse[1, 1] * y * y
    kernel = 1.0 / (1.0 + q**beta) if plateau else np.exp(-0.5 * q**beta)
    return kernel / kernel.sum()


def circular_lowpass_kernel(cutoff: float, size: int) -> np.ndarray:
    """A size x size circular low-pass (2-D sinc) kernel with angular cutoff `cutoff` in (0, pi], summing to 1."""
    axis = np.arange(size) - (size - 1) / 2
    radius = np.hypot(*np.meshgrid(axis, axis))
    safe = np.where(radius == 0, 1.0, radius)
    bessel = torch.special.bessel_j1(torch.from_numpy(cutoff * safe)).numpy()
    kernel = np.where(radius == 0, cutoff**2 / (4 * np.pi), cutoff * bessel / (2 * np.pi * safe))
    return kernel / kernel.sum()


def _pad_kernel(kernel: np.ndarray) -> np.ndarray:
    pad = (KERNEL_SIZE - kernel.shape[0]) // 2
    return np.pad(kernel, pad).astype(np.float32)


@dataclass(frozen=True)
class RealESRGANDegradation:
    """The batched second-order degradation of Real-ESRGAN (`RealESRGANModel.feed_data`); defaults are the
    x4plus training options.

    `gt_size`, when set, is the side of the final random paired crop (upstream: 256 out of a 400 GT); it
    must be a multiple of `scale`. Noise sigmas are in 8-bit units; `usm_threshold` too. Probabilities
    `resize_prob*` are for (up, down, keep); `resize_range*` bound the factors (the second round's are
    relative to GT / scale). Fields ending in 2 are for the second round.
    """

    scale: int = 4
    gt_size: int | None = None
    usm_weight: float = 0.5
    usm_threshold: float = 10.0
    usm_radius: int = 50
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)
    second_blur_prob: float = 0.8
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[float, float] = (30.0, 95.0)

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"scale must be at least 1, not {self.scale}")
        if self.gt_size is not None and self.gt_size % self.scale:
            raise ValueError(f"gt_size ({self.gt_size}) must be a multiple of scale ({self.scale})")

    def __call__(
        self,
        gt: torch.Tensor,
        kernel1: torch.Tensor,
        kernel2: torch.Tensor,
        sinc_kernel: torch.Tensor,
        *,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Degrade a batch: `gt` is B x 3 x H x W RGB in [0, 1] with H and W multiples of `scale`; the
        kernels are B x k x k (odd k), as `random_kernels` makes them. Returns `(lq, gt, gt_usm)`: lq is
        B x 3 x H/scale x W/scale quantised to 8-bit levels in [0, 1], gt_usm the USM-sharpened GT, all
        three cropped to `gt_size` when it is set. Randomness comes only from `generator`, which may live on
        another device than `gt` (a CPU generator gives the same result on every device)."""
        if gt.ndim != 4 or gt.shape[1] != 3:
            raise ValueError(f"gt must be B x 3 x H x W, got shape {tuple(gt.shape)}")
        h, w = gt.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ValueError(f"gt size {h}x{w} is not a multiple of scale {self.scale}")
        draws = _Draws(generator)
        gt_usm = usm_sharp(gt, weight=self.usm_weight, threshold=self.usm_threshold, radius=self.usm_radius)

        out = filter2d(gt_usm, kernel1)
        out = _random_resize(out, (h, w), self.resize_prob, self.resize_range, draws)
        out = _random_noise(
            out,
            self.gaussian_noise_prob,
            self.noise_range,
            self.poisson_scale_range,
            self.gray_noise_prob,
            draws,
        )
        out = _random_jpeg(out, self.jpeg_range, draws)

        if draws.uniform() < self.second_blur_prob:
            out = filter2d(out, kernel2)
        out = _random_resize(
            out, (h / self.scale, w / self.scale), self.resize_prob2, self.resize_range2, draws
        )
        out = _random_noise(
            out,
            self.gaussian_noise_prob2,
            self.noise_range2,
            self.poisson_scale_range2,
            self.gray_noise_prob2,
            draws,
        )
        lq_size = (h // self.scale, w // self.scale)

        def shrink(x: torch.Tensor) -> torch.Tensor:
            return filter2d(_resize(x, lq_size, RESIZE_MODES[draws.choice((1, 1, 1))]), sinc_kernel)

        if draws.uniform() < 0.5:
            out = _random_jpeg(shrink(out), self.jpeg_range2, draws)
        else:
            out = shrink(_random_jpeg(out, self.jpeg_range2, draws))
        lq = (out * 255.0).round().clamp(0, 255) / 255.0

        if self.gt_size is None:
            return lq, gt, gt_usm
        patch = self.gt_size // self.scale
        if patch > min(lq_size):
            raise ValueError(f"gt_size {self.gt_size} is larger than the GT ({h}x{w})")
        top, left = draws.integer(lq_size[0] - patch), draws.integer(lq_size[1] - patch)
        s, size = self.scale, self.gt_size
        return (
            lq[..., top : top + patch, left : left + patch],
            gt[..., top * s : top * s + size, left * s : left * s + size],
            gt_usm[..., top * s : top * s + size, left * s : left * s + size],
        )


class _Draws:
    """Random draws from one explicit generator, made on its device and moved to where they are used."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator
        self.device = generator.device

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return low + (high - low) * torch.rand((), generator=self.generator, device=self.device).item()

    def uniforms(self, n: int, low: float, high: float, like: torch.Tensor | None = None) -> torch.Tensor:
        values = low + (high - low) * torch.rand(
            n, generator=self.generator, device=self.device, dtype=torch.float64
        )
        return values if like is None else values.to(device=like.device, dtype=like.dtype)

    def choice(self, weights: tuple[float, ...]) -> int:
        """An index drawn with probabilities proportional to `weights`."""
        bounds = list(accumulate(weights))
        return min(bisect.bisect_right(bounds, self.uniform(0.0, bounds[-1])), len(weights) - 1)

    def integer(self, high: int) -> int:
        """A uniform integer in [0, high]."""
        return int(torch.randint(high + 1, (), generator=self.generator, device=self.device).item())

    def normal(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        values = torch.randn(shape, generator=self.generator, device=self.device, dtype=like.dtype)
        return values.to(like.device)

    def poisson(self, rate: torch.Tensor) -> torch.Tensor:
        return torch.poisson(rate.to(self.device), generator=self.generator).to(rate.device)


def _reflect_index(length: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices that reflect-pad an axis by `pad` on both sides without repeating the edge (like
    `F.pad(mode="reflect")`), folding again where `pad` exceeds the axis."""
    index = torch.arange(-pad, length + pad, device=device)
    if length == 1:
        return torch.zeros_like(index)
    period = 2 * (length - 1)
    index = index.remainder(period)
    return torch.where(index < length, index, period - index)


def _reflect_pad(img: torch.Tensor, pad: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    rows = _reflect_index(h, pad, img.device)
    cols = _reflect_index(w, pad, img.device)
    return img.index_select(-2, rows).index_select(-1, cols)


def filter2d(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Filter each image of a B x C x H x W batch with its own k x k kernel (B x k x k, or one k x k for
    all), reflection-padded so that the size is kept."""
    b, c, h, w = img.shape
    k = kernel.shape[-1]
    if k % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {k}")
    weight = kernel.to(img).expand(b, k, k).repeat_interleave(c, dim=0)[:, None]
    padded = _reflect_pad(img, k // 2).reshape(1, b * c, h + k - 1, w + k - 1)
    return F.conv2d(padded, weight, groups=b * c).view(b, c, h, w)


@lru_cache(maxsize=4)
def _usm_taps(radius: int) -> torch.Tensor:
    size = radius + 1 if radius % 2 == 0 else radius
    # OpenCV's getGaussianKernel sigma for sigma <= 0, which upstream's USMSharp relies on.
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    taps = torch.exp(-(offsets**2) / (2 * sigma**2))
    return taps / taps.sum()


def _gaussian_blur(img: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    b, c, h, w = img.shape
    k = taps.numel()
    taps = taps.to(img)
    padded = _reflect_pad(img, k // 2).reshape(b * c, 1, h + k - 1, w + k - 1)
    rows = F.conv2d(padded, taps.view(1, 1, k, 1))
    return F.conv2d(rows, taps.view(1, 1, 1, k)).view(b, c, h, w)


def usm_sharp(
    img: torch.Tensor, *, weight: float = 0.5, threshold: float = 10.0, radius: int = 50
) -> torch.Tensor:
    """Unsharp masking as upstream's `USMSharp`: add `weight` times the detail (image minus a Gaussian blur
    of `radius` pixels, made odd), blended in through a blurred mask of where the detail exceeds
    `threshold` 8-bit levels. B x C x H x W in [0, 1] in and out."""
    taps = _usm_taps(radius)
    residual = img - _gaussian_blur(img, taps)
    mask = _gaussian_blur((residual.abs() * 255 > threshold).to(img.dtype), taps)
    sharp = (img + weight * residual).clamp(0, 1)
    return mask * sharp + (1 - mask) * img


def _resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    options = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(img, size=size, mode=mode, **options)


def _random_resize(
    img: torch.Tensor,
    base: tuple[float, float],
    prob: tuple[float, float, float],
    bounds: tuple[float, float],
    draws: _Draws,
) -> torch.Tensor:
    direction = draws.choice(prob)
    factor = (draws.uniform(1.0, bounds[1]), draws.uniform(bounds[0], 1.0), 1.0)[direction]
    mode = RESIZE_MODES[draws.choice((1, 1, 1))]
    return _resize(img, (max(1, int(base[0] * factor)), max(1, int(base[1] * factor))), mode)


def _random_noise(
    img: torch.Tensor,
    gaussian_prob: float,
    sigma_range: tuple[float, float],
    poisson_range: tuple[float, float],
    gray_prob: float,
    draws: _Draws,
) -> torch.Tensor:
    if draws.uniform() < gaussian_prob:
        return _gaussian_noise(img, sigma_range, gray_prob, draws)
    return _poisson_noise(img, poisson_range, gray_prob, draws)


def _gaussian_noise(
    img: torch.Tensor, sigma_range: tuple[float, float], gray_prob: float, draws: _Draws
) -> torch.Tensor:
    """Add zero-mean Gaussian noise, sigma drawn per sample from `sigma_range` (8-bit units), the same in
    every channel ("grey") with probability `gray_prob`; clamped to [0, 1]."""
    b, c, h, w = img.shape
    sigma = draws.uniforms(b, *sigma_range, img).view(b, 1, 1, 1) / 255.0
    grey = (draws.uniforms(b, 0.0, 1.0, img) < gray_prob).to(img.dtype).view(b, 1, 1, 1)
    colour_noise = draws.normal((b, c, h, w), img)
    grey_noise = draws.normal((b, 1, h, w), img)
    return (img + (colour_noise * (1 - grey) + grey_noise * grey) * sigma).clamp(0, 1)


def _poisson_noise(
    img: torch.Tensor, scale_range: tuple[float, float], gray_prob: float, draws: _Draws
) -> torch.Tensor:
    """Add Poisson (shot) noise scaled per sample by a factor from `scale_range`, computed on the luma
    for every channel alike with probability `gray_prob`; clamped to [0, 1]."""
    b = img.shape[0]
    scale = draws.uniforms(b, *scale_range, img).view(b, 1, 1, 1)
    grey = (draws.uniforms(b, 0.0, 1.0, img) < gray_prob).to(img.dtype).view(b, 1, 1, 1)
    noise = _shot_noise(img, draws)
    if bool(grey.any()):
        weights = torch.tensor(_GREY_WEIGHTS, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
        grey_noise = _shot_noise((img * weights).sum(dim=1, keepdim=True), draws)
        noise = noise * (1 - grey) + grey_noise * grey
    return (img + noise * scale).clamp(0, 1)


def _shot_noise(img: torch.Tensor, draws: _Draws) -> torch.Tensor:
    """Poisson noise at a photon count of the next power of two above each image's number of distinct
    8-bit levels, as upstream."""
    levels = (img * 255.0).round().clamp(0, 255) / 255.0
    ordered = levels.flatten(1).sort(dim=1).values
    distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(dim=1)
    counts = torch.exp2(torch.ceil(torch.log2(distinct.to(img.dtype)))).view(-1, 1, 1, 1)
    return draws.poisson(levels * counts) / counts - levels


def _random_jpeg(img: torch.Tensor, quality_range: tuple[float, float], draws: _Draws) -> torch.Tensor:
    return jpeg(img, draws.uniforms(len(img), *quality_range).round().int().tolist())


def jpeg(img: torch.Tensor, quality: list[int]) -> torch.Tensor:
    """JPEG-compress each image of a B x 3 x H x W [0, 1] batch with its own quality (Pillow, 4:2:0), on
    8-bit values; returns the decoded batch on the input's device and dtype."""
    pixels = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    decoded = np.stack([_jpeg_roundtrip(image, q) for image, q in zip(pixels, quality, strict=True)])
    return (torch.from_numpy(decoded).permute(0, 3, 1, 2).to(device=img.device, dtype=img.dtype)) / 255.0


def _jpeg_roundtrip(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))
