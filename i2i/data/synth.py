"""Synthetic tasks for offline tests and the demo: paired "labels2shapes" and unpaired "day2night".

labels2shapes (`make_paired`): A is a flat label map: a black background and 2-5 shapes (circles,
rectangles, triangles), one flat colour per shape class. B is the same scene rendered: a fixed gradient
background, a soft drop shadow, a lit material per class with a radial highlight and a dark outline, and mild
noise. Everything but the noise is a function of A, so A -> B is learnable.

day2night (`make_unpaired`): one scene generator (2-5 shapes, a brightness per shape) rendered in two
domains. A, "day": a light warm gradient background and flat, warm, saturated shape colours per class.
B, "night": a dark blue gradient background, cool desaturated colours per class and a soft glow around each
shape. Both add mild noise. Everything else is a function of the scene and the scene can be read off either
rendering, so A -> B and B -> A are deterministic mappings a CycleGAN learns quickly. The training folders
hold independently drawn scenes (unpaired); the test scenes' other renderings are kept as ground truth:

    out_dir/trainA/a00001.png ...             day scenes 1..n_train
    out_dir/trainB/b00001.png ...             night scenes, drawn independently of trainA
    out_dir/testA/a<k>.png                    day scenes n_train+1..count
    out_dir/testB/b<k>.png                    night scenes, independent of testA
    out_dir/truth/testA_to_B/a<k>.png         the night rendering of testA/a<k>.png (same name and size)
    out_dir/truth/testB_to_A/b<k>.png         the day rendering of testB/b<k>.png (same name and size)

domains (`make_domains`, for StarGAN v2): 2-6 domains drawn by one scene generator (1-3 shapes with a
brightness each). A domain is a material: its own shape colours per class and finish (glossy highlight,
flat with a dark outline, or a soft glow). Independently of the domain, each image has a style a reference
image can carry: the hue of its background gradient and the frequency and phase of horizontal stripes on it.

    out_dir/train/<domain>/<domain>_00001.png ...   (80 %), out_dir/val/<domain>/... (20 %)
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.errors import I2IError, unknown_name
from i2i.io.checkpoint import atomic_path

CLASSES = ("circle", "rectangle", "triangle")
LABEL_COLOURS = np.array([[0, 0, 0], [255, 64, 64], [64, 255, 64], [64, 64, 255]], dtype=np.uint8)
MATERIALS = np.array([[200, 60, 40], [70, 150, 60], [60, 90, 190]], dtype=np.float32)
_SKY, _FLOOR = np.array([150, 190, 230], np.float32), np.array([235, 225, 200], np.float32)
_LIGHT = np.array([-0.35, -0.35])  # highlight offset (x, y) in units of the shape's extent
# day2night: (top, bottom) background colours and one shape colour per class, per domain
_DAY_SKY = np.array([[250, 236, 200], [240, 206, 150]], np.float32)
_DAY_COLOURS = np.array([[225, 55, 30], [240, 150, 20], [195, 30, 105]], np.float32)
_NIGHT_SKY = np.array([[8, 12, 38], [24, 34, 76]], np.float32)
_NIGHT_COLOURS = np.array([[120, 150, 190], [140, 178, 172], [150, 132, 188]], np.float32)
_GLOW = 0.6
UNPAIRED_TEST_FRACTION = 0.2
# domains: name, hue of the shape colours and finish (0 glossy, 1 outlined, 2 glowing)
DOMAINS = (("ember", 0.02, 0), ("moss", 0.30, 1), ("ice", 0.55, 2), ("plum", 0.80, 0), ("sand", 0.12, 1),
           ("slate", 0.62, 0))  # fmt: skip
DOMAIN_VAL_FRACTION = 0.2


def render_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene as (A, B): (size, size, 3) uint8 arrays, the label map and its rendering."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    labels = np.zeros((size, size), np.uint8)
    t = yy / size
    image = (1 - t)[..., None] * _SKY + t[..., None] * _FLOOR
    offset = max(1, size // 32)
    for _ in range(rng.integers(2, 6)):
        cls = int(rng.integers(len(CLASSES)))
        centre = rng.uniform(0.2, 0.8, 2) * size
        radius = rng.uniform(0.1, 0.22) * size
        mask, extent = _shape_mask(CLASSES[cls], xx, yy, centre, radius, rng)
        image *= 1 - 0.4 * _blur(_shift(mask, offset), offset)[..., None]
        labels[mask] = cls + 1
        image[mask] = _shade(cls, xx, yy, centre, extent)[mask]
        image[mask & ~_erode(mask)] *= 0.45
    image += rng.normal(0, 3, image.shape)
    return LABEL_COLOURS[labels], np.clip(image, 0, 255).round().astype(np.uint8)


def make_paired(
    out_dir: Path,
    *,
    count: int = 200,
    size: int = 64,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val", "test"),
    split_counts: dict[str, int] | None = None,
    layout: str = "aligned",
) -> Path:
    """Write a labels2shapes dataset to `out_dir` and return it.

    `layout="aligned"` writes `out_dir/<split>/00001.png` with A|B side by side (the official pix2pix
    layout), `layout="folders"` writes `out_dir/A/<split>/00001.png` and `out_dir/B/<split>/00001.png`.
    Each split after the first gets 10 % of `count` and the first the rest (80/10/10 by default);
    `split_counts` gives the counts per split explicitly instead. Image i, numbered across splits, depends
    only on (seed, i).
    """
    if layout not in ("aligned", "folders"):
        raise unknown_name("layout", layout, ("aligned", "folders"))
    counts = split_counts if split_counts is not None else _split(count, splits)
    if any(n < 0 for n in counts.values()):
        raise I2IError(f"split counts must be >= 0, got {counts}")
    out_dir = Path(out_dir)
    index = 0
    for split, n in counts.items():
        for _ in range(n):
            index += 1
            a, b = render_pair(np.random.default_rng((seed, index)), size)
            name = f"{index:05d}.png"
            if layout == "aligned":
                _write_png(out_dir / split / name, np.concatenate([a, b], axis=1))
            else:
                _write_png(out_dir / "A" / split / name, a)
                _write_png(out_dir / "B" / split / name, b)
    return out_dir


def render_unpaired_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One day2night scene as (A, B): (size, size, 3) uint8 arrays, its day and its night rendering."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    t = (yy / size)[..., None]
    day = (1 - t) * _DAY_SKY[0] + t * _DAY_SKY[1]
    night = (1 - t) * _NIGHT_SKY[0] + t * _NIGHT_SKY[1]
    glow_radius = max(1, size // 16)
    for _ in range(rng.integers(2, 6)):
        cls = int(rng.integers(len(CLASSES)))
        centre = rng.uniform(0.2, 0.8, 2) * size
        radius = rng.uniform(0.1, 0.2) * size
        brightness = rng.uniform(0.8, 1.1)
        mask, _ = _shape_mask(CLASSES[cls], xx, yy, centre, radius, rng)
        colour = _NIGHT_COLOURS[cls] * brightness
        night += _GLOW * _blur(mask, glow_radius)[..., None] * (colour - night).clip(0)
        day[mask] = _DAY_COLOURS[cls] * brightness
        night[mask] = colour
    images = []
    for image in (day, night):
        image += rng.normal(0, 2, image.shape)
        images.append(np.clip(image, 0, 255).round().astype(np.uint8))
    return images[0], images[1]


def make_unpaired(out_dir: Path, *, count: int = 200, size: int = 64, seed: int = 0) -> Path:
    """Write a day2night dataset to `out_dir` and return it (layout in the module docstring).

    Each domain gets `count` images: 80 % in train, 20 % in test. Scene i of domain A (or B) depends only on
    (seed, domain, i), and trainA and trainB scenes are drawn independently.
    """
    if count < 0:
        raise I2IError(f"count must be >= 0, got {count}")
    out_dir = Path(out_dir)
    n_train = count - round(count * UNPAIRED_TEST_FRACTION)
    for domain, (side, other) in enumerate((("A", "B"), ("B", "A"))):
        for index in range(1, count + 1):
            day, night = render_unpaired_scene(np.random.default_rng((seed, domain, index)), size)
            rendered = {"A": day, "B": night}
            name = f"{side.lower()}{index:05d}.png"
            split = "train" if index <= n_train else "test"
            _write_png(out_dir / f"{split}{side}" / name, rendered[side])
            if split == "test":
                _write_png(out_dir / "truth" / f"test{side}_to_{other}" / name, rendered[other])
    return out_dir


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32) * 255


def render_domain_scene(rng: np.random.Generator, size: int, domain: int) -> np.ndarray:
    """One scene of `domain` (an index into `DOMAINS`) as a (size, size, 3) uint8 array."""
    _, hue, finish = DOMAINS[domain]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    t = (yy / size)[..., None]
    background = rng.uniform(0, 1)
    frequency, phase = rng.uniform(1.5, 5.0), rng.uniform(0, 2 * np.pi)
    image = (1 - t) * _rgb(background, 0.3, 0.95) + t * _rgb(background, 0.6, 0.55)
    image *= 1 + 0.15 * np.sin(2 * np.pi * frequency * t + phase)
    glow_radius = max(1, size // 16)
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.integers(len(CLASSES)))
        centre = rng.uniform(0.25, 0.75, 2) * size
        radius = rng.uniform(0.12, 0.22) * size
        colour = _rgb(hue + 0.06 * (cls - 1), 0.8, 0.9) * rng.uniform(0.8, 1.1)
        mask, extent = _shape_mask(CLASSES[cls], xx, yy, centre, radius, rng)
        if finish == 2:
            image += _GLOW * _blur(mask, glow_radius)[..., None] * (colour - image).clip(0)
        if finish == 0:
            image[mask] = np.clip(colour * _lighting(xx, yy, centre, extent)[..., None], 0, 255)[mask]
        else:
            image[mask] = colour
        if finish == 1:
            image[mask & ~_erode(_erode(mask))] *= 0.25
    image += rng.normal(0, 2, image.shape)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def make_domains(out_dir: Path, *, count: int = 60, size: int = 64, seed: int = 0, domains: int = 3) -> Path:
    """Write a multi-domain dataset of `domains` (2-6) domains to `out_dir` and return it (layout in the
    module docstring). Each domain gets `count` images, 80 % in train and 20 % in val; image i of domain d
    depends only on (seed, d, i)."""
    if not 2 <= domains <= len(DOMAINS):
        raise I2IError(f"domains must be 2 to {len(DOMAINS)}, not {domains}")
    if count < 0:
        raise I2IError(f"count must be >= 0, got {count}")
    out_dir = Path(out_dir)
    n_train = count - round(count * DOMAIN_VAL_FRACTION)
    for domain in range(domains):
        name = DOMAINS[domain][0]
        for index in range(1, count + 1):
            image = render_domain_scene(np.random.default_rng((seed, domain, index)), size, domain)
            split = "train" if index <= n_train else "val"
            _write_png(out_dir / split / name / f"{name}_{index:05d}.png", image)
    return out_dir


def _split(count: int, splits: tuple[str, ...]) -> dict[str, int]:
    rest = {split: round(count * 0.1) for split in splits[1:]}
    return {splits[0]: count - sum(rest.values()), **rest}


def _shape_mask(
    kind: str, xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """The shape's mask and its extent (the size its shading scales with, readable from the mask)."""
    dx, dy = xx - centre[0], yy - centre[1]
    if kind == "circle":
        return dx**2 + dy**2 <= radius**2, radius
    if kind == "rectangle":
        half_w, half_h = radius * rng.uniform(0.6, 1.2, 2)
        return (np.abs(dx) <= half_w) & (np.abs(dy) <= half_h), max(half_w, half_h)
    angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2, 4]) * np.pi / 3 + rng.uniform(-0.3, 0.3, 3)
    corners = centre + radius * 1.3 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    # Corners in increasing angle: the inside is where all three edge cross products are >= 0.
    edges = [(corners[i], corners[(i + 1) % 3]) for i in range(3)]
    inside = [(q[0] - p[0]) * (yy - p[1]) - (q[1] - p[1]) * (xx - p[0]) >= 0 for p, q in edges]
    return np.all(inside, axis=0), radius * 1.3


def _lighting(xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Light factor of a shape: bright at a highlight up-left of the centre, darker away from it."""
    hx, hy = centre + _LIGHT * radius
    dist = np.sqrt((xx - hx) ** 2 + (yy - hy) ** 2) / (1.6 * radius)
    return 1.25 - 0.65 * np.clip(dist, 0, 1)


def _shade(cls: int, xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """The lit material of class `cls`: bright at a highlight up-left of the centre, darker away from it."""
    return np.clip(MATERIALS[cls] * _lighting(xx, yy, centre, radius)[..., None], 0, 255)


def _shift(mask: np.ndarray, offset: int) -> np.ndarray:
    """`mask` moved `offset` pixels right and down, without wrapping around."""
    out = np.zeros_like(mask)
    out[offset:, offset:] = mask[:-offset, :-offset]
    return out


def _erode(mask: np.ndarray) -> np.ndarray:
    """`mask` shrunk by one pixel (4-neighbourhood); pixels outside the image count as inside."""
    padded = np.pad(mask, 1, mode="edge")
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


def _blur(mask: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur of a boolean mask, applied twice (close to a Gaussian), as float32 in [0, 1]."""
    out = mask.astype(np.float32)
    for _ in range(2):
        for axis in (0, 1):
            padded = np.pad(out, [(radius + 1, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
            cums = np.cumsum(padded, axis=axis)
            hi = np.take(cums, np.arange(2 * radius + 1, cums.shape[axis]), axis=axis)
            lo = np.take(cums, np.arange(0, cums.shape[axis] - 2 * radius - 1), axis=axis)
            out = (hi - lo) / (2 * radius + 1)
    return out


def _write_png(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array, "RGB").save(tmp, format="PNG", compress_level=1)


ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male", "Young")
_HAIR_BACKGROUNDS = np.array([[20, 20, 20], [235, 210, 90], [120, 70, 30], [160, 160, 160]], np.float32)
_NO_HAIR = np.array([230, 230, 240], np.float32)


def make_attributes(out_dir: Path, *, count: int = 20, size: int = 32, seed: int = 0) -> Path:
    """A CelebA-format dataset (StarGAN's `attributes` layout): `out_dir/images/000001.png ...` and
    `out_dir/list_attr_celeba.txt` (count line, header line, `name  1 -1 ...` rows) over `ATTRIBUTES`.

    The attributes are visible: the hair colour (at most one) is the background colour, Male draws a
    square instead of a disc, Young a bright instead of a dark shape; image i depends only on (seed, i)."""
    out_dir = Path(out_dir)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    lines = [str(count), " ".join(ATTRIBUTES)]
    for index in range(1, count + 1):
        rng = np.random.default_rng((seed, index))
        hair = int(rng.integers(len(_HAIR_BACKGROUNDS) + 1))  # the last value: no hair-colour attribute
        male, young = bool(rng.integers(2)), bool(rng.integers(2))
        image = np.broadcast_to(_HAIR_BACKGROUNDS[hair] if hair < 4 else _NO_HAIR, (size, size, 3)).copy()
        centre, radius = rng.uniform(0.35, 0.65, 2) * size, rng.uniform(0.18, 0.3) * size
        dx, dy = xx - centre[0], yy - centre[1]
        mask = (np.maximum(abs(dx), abs(dy)) <= radius) if male else (dx**2 + dy**2 <= radius**2)
        image[mask] = (240, 150, 120) if young else (110, 60, 50)
        image += rng.normal(0, 3, image.shape)
        name = f"{index:06d}.png"
        _write_png(out_dir / "images" / name, np.clip(image, 0, 255).round().astype(np.uint8))
        values = [hair == i for i in range(4)] + [male, young]
        lines.append(name + " " + " ".join(" 1" if v else "-1" for v in values))
    with atomic_path(out_dir / "list_attr_celeba.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_dir


def make_for_layout(layout: str, out_dir: Path, *, count: int = 20, size: int = 32, seed: int = 0) -> Path:
    """A small synthetic dataset in `layout` (a model's `data_layout`), e.g. for tests of any model."""
    if layout == "paired":
        return make_paired(out_dir, count=count, size=size, seed=seed)
    if layout == "unaligned":
        return make_unpaired(out_dir, count=count, size=size, seed=seed)
    if layout == "images":
        return make_images(out_dir, count=count, size=size, seed=seed)
    if layout == "domains":
        return make_domains(out_dir, count=count, size=size, seed=seed)
    if layout == "attributes":
        return make_attributes(out_dir, count=count, size=size, seed=seed)
    raise I2IError(f"no synthetic data for the dataset layout '{layout}'")


def make_images(out_dir: Path, *, count: int = 20, size: int = 128, seed: int = 0) -> Path:
    """A folder of `count` rendered scenes (the B side of labels2shapes): high-resolution images for
    super-resolution training tests."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        _, rendered = render_pair(rng, size)
        _write_png(out_dir / f"{i:05d}.png", rendered)
    return out_dir
