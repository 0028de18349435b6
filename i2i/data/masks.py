"""Face label maps (CelebAMask-HQ's 19 classes) and the `masks` layout: `images/` + `masks/` by file name.

Conventions (CelebAMask-HQ / MaskGAN): a mask is a single-channel 8-bit PNG whose values are class ids
0..18 (`LABELS`); the official palette (`PALETTE`) colours them for display. Reading accepts ids (mode L,
or three equal channels as `cv2.imread` gives them) and palette colours; anything else is an error naming
the file. Also: merging the per-attribute PNGs of CelebAMask-HQ in the official order, remapping from the
BiSeNet face-parsing order, the layout's check, its synthetic "faces" and its training dataset.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from i2i.data import synth
from i2i.data.files import CHECK_LIMIT, LayoutReport, by_name, check_images, checked, counted, names, scan
from i2i.errors import I2IError
from i2i.io.files import atomic_write_bytes

LABELS = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
NUM_CLASSES = len(LABELS)
#: face_parsing/utils.py labelcolormap(19) == MaskGAN_demo/demo.py color_list
PALETTE = np.array(
    [
        [0, 0, 0], [204, 0, 0], [76, 153, 0], [204, 204, 0], [51, 51, 255], [204, 0, 204], [0, 255, 255],
        [51, 255, 255], [102, 51, 0], [255, 0, 0], [102, 204, 0], [255, 255, 0], [0, 0, 153], [0, 0, 204],
        [255, 51, 153], [0, 204, 204], [0, 51, 0], [255, 153, 51], [0, 204, 0],
    ],
    np.uint8,
)  # fmt: skip
#: the order of zllrunning/face-parsing.PyTorch (BiSeNet), and where each of its ids goes in ours
BISENET_LABELS = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
    "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)  # fmt: skip
BISENET_TO_MASKGAN = tuple(LABELS.index(name) for name in BISENET_LABELS)
REMAPS = {"bisenet": BISENET_TO_MASKGAN}
EXPECTED_LAYOUT = "images/NAME.jpg|png and masks/NAME.png (class ids 0..18)"
#: hair colours of the synthetic faces (black, brown, blond, red, grey), RGB 0-255
HAIR_TONES = np.array(
    [[40, 30, 25], [110, 70, 40], [215, 185, 110], [170, 75, 35], [170, 170, 165]], np.float32
)


# ---------------------------------------------------------------------------------- reading, writing


def _palette_ids(rgb: np.ndarray, what: str) -> np.ndarray:
    codes = rgb.astype(np.int32) @ np.array([65536, 256, 1], np.int32)
    table = PALETTE.astype(np.int32) @ np.array([65536, 256, 1], np.int32)
    order = np.argsort(table)
    pos = np.clip(np.searchsorted(table[order], codes), 0, len(table) - 1)
    found = table[order][pos] == codes
    if not found.all():
        y, x = np.argwhere(~found)[0]
        colour = tuple(int(v) for v in rgb[y, x])
        raise I2IError(
            f"{what}: colour {colour} at x={x}, y={y} is not in the MaskGAN palette; a mask holds class ids "
            "0..18 (8-bit grey) or palette colours (see `i2i mask colorize`)"
        )
    return order[pos].astype(np.uint8)


def to_ids(array: np.ndarray, what: str = "mask") -> np.ndarray:
    """HxW uint8 class ids from an HxW array of ids, or HxWx3/4 (three equal channels: ids; otherwise
    palette colours; alpha ignored). `I2IError` for ids outside 0..18 or colours off the palette."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[..., :3]
        if (rgb[..., :1] == rgb).all():
            array = rgb[..., 0]
        else:
            if rgb.dtype != np.uint8:
                raise I2IError(f"{what}: a colour mask must be 8-bit")
            return _palette_ids(rgb, what)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise I2IError(f"{what}: a mask is H x W ids or H x W x 3 colours, not shape {array.shape}")
    if array.dtype.kind == "f" and (not np.isfinite(array).all() or (array != np.round(array)).any()):
        raise I2IError(f"{what}: mask values must be whole class ids 0..18")
    if array.size and (array.min() < 0 or array.max() >= NUM_CLASSES):
        raise I2IError(
            f"{what}: holds ids {int(array.min())}..{int(array.max())}; MaskGAN masks hold class ids 0..18 "
            "(other parsers' orders: `i2i mask remap`)"
        )
    return array.astype(np.uint8)


def read_mask(source: Any, what: str | None = None) -> np.ndarray:
    """Class ids (HxW uint8) from a mask file, PIL image, numpy array or tensor (see `to_ids`)."""
    if isinstance(source, torch.Tensor):
        return to_ids(source.detach().cpu().squeeze().numpy(), what or "mask")
    if isinstance(source, np.ndarray):
        return to_ids(source, what or "mask")
    if isinstance(source, Image.Image):
        return _from_pil(source, what or "mask")
    path = Path(source)
    what = what or str(path)
    if not path.is_file():
        raise I2IError(f"mask {path} does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            return _from_pil(image, what)
    except (OSError, SyntaxError, ValueError) as err:
        raise I2IError(f"cannot read mask {path}: {err}") from None


def _from_pil(image: Image.Image, what: str) -> np.ndarray:
    if image.mode in ("L", "I", "I;16"):
        return to_ids(np.asarray(image), what)
    return to_ids(np.asarray(image.convert("RGB")), what)


def write_mask(path: str | Path, ids: np.ndarray) -> Path:
    """Class ids as a single-channel 8-bit PNG (atomic)."""
    path = Path(path)
    buffer = io.BytesIO()
    Image.fromarray(to_ids(ids, str(path)), "L").save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def colorize(ids: np.ndarray) -> np.ndarray:
    """HxW ids -> HxWx3 uint8 palette colours."""
    return PALETTE[to_ids(ids)]


def remap(ids: np.ndarray, table: tuple[int, ...] | str) -> np.ndarray:
    """Ids of another parser's order mapped to MaskGAN's: `table[i]` is the MaskGAN id of id i (or a name
    of `REMAPS`, e.g. "bisenet")."""
    if isinstance(table, str):
        if table not in REMAPS:
            raise I2IError(f"unknown label order '{table}'; known: {', '.join(REMAPS)}")
        table = REMAPS[table]
    lut = np.asarray(table, np.int64)
    array = np.asarray(ids)
    if array.size and array.max() >= len(lut):
        raise I2IError(f"the mask holds id {int(array.max())}, but the order maps only ids 0..{len(lut) - 1}")
    return to_ids(lut[array.astype(np.int64)])


def merge_attributes(files: Mapping[str, Any], size: tuple[int, int] | None = None) -> np.ndarray:
    """One label map from CelebAMask-HQ's per-attribute masks (`{attribute: path or array}`, values > 0
    inside), painted in id order 1..18 so later classes win (g_mask.py). `size` (w, h) when none is given."""
    unknown = [name for name in files if name not in LABELS[1:]]
    if unknown:
        raise I2IError(f"unknown attribute(s) {', '.join(unknown)}; attributes: {', '.join(LABELS[1:])}")
    merged: np.ndarray | None = None if size is None else np.zeros((size[1], size[0]), np.uint8)
    for label, name in enumerate(LABELS):
        if name not in files:
            continue
        source = files[name]
        if isinstance(source, (str, Path)):
            with Image.open(source) as image:
                array = np.asarray(image.convert("RGB"))[..., 0]
        else:
            array = np.asarray(source)
            array = array[..., 0] if array.ndim == 3 else array
        if merged is None:
            merged = np.zeros(array.shape, np.uint8)
        if array.shape != merged.shape:
            raise I2IError(f"attribute mask '{name}' is {array.shape[1]}x{array.shape[0]}, the others "
                           f"{merged.shape[1]}x{merged.shape[0]}")  # fmt: skip
        merged[array > 0] = label
    if merged is None:
        raise I2IError("no attribute masks given")
    return merged


# ------------------------------------------------------------------------------------------- layout


def find_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of `root/images` and `root/masks` matched by name; `I2IError` if none match."""
    root = Path(root)
    images_dir, masks_dir = root / "images", root / "masks"
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise I2IError(f"{folder} does not exist; expected {EXPECTED_LAYOUT}")
    images = by_name(images_dir, scan(images_dir)[0])
    masks = by_name(masks_dir, scan(masks_dir)[0])
    common = sorted(images.keys() & masks.keys())
    if not common:
        raise I2IError(f"no image in {images_dir} has a mask of the same name in {masks_dir}")
    return [(images[n], masks[n]) for n in common]


def check(root: str | Path, *, max_checked: int = CHECK_LIMIT) -> LayoutReport:
    """Every problem of a masks dataset: missing folders, images without masks (and the reverse), masks
    that are not class ids 0..18, masks whose aspect ratio differs from their image's."""
    return checked("masks", root, max_checked, _inspect)


def _inspect(root: Path, report: LayoutReport, max_checked: int) -> tuple[str, list[str]]:
    images_dir, masks_dir = root / "images", root / "masks"
    missing = [
        f"{d} does not exist; expected {EXPECTED_LAYOUT}" for d in (images_dir, masks_dir) if not d.is_dir()
    ]
    if missing:
        report.problems.extend(missing)
        return "masks dataset", []
    found = {}
    for folder in (images_dir, masks_dir):
        files, others = scan(folder)
        check_images(folder, files, others, report, max_checked)
        found[folder.name] = by_name(folder, files)
    images, masks = found["images"], found["masks"]
    alone = sorted(images.keys() - masks.keys())
    if alone:
        report.problems.append(
            f"{counted(len(alone), 'image')} without a mask in {masks_dir}: {names(alone)}"
        )
    if masks.keys() - images.keys():
        report.notes.append(
            f"masks without an image are ignored: {names(sorted(masks.keys() - images.keys()))}"
        )
    bad = []
    for name in sorted(images.keys() & masks.keys())[:max_checked]:
        try:
            ids = read_mask(masks[name])
            with Image.open(images[name]) as image:
                w, h = image.size
        except (I2IError, OSError) as err:
            bad.append(str(err))
            continue
        if ids.shape[0] * w != ids.shape[1] * h:
            bad.append(f"{masks[name]} is {ids.shape[1]}x{ids.shape[0]} but its image is {w}x{h}")
    report.problems.extend(bad[:5])
    pairs = len(images.keys() & masks.keys())
    return "masks dataset", [f"{counted(pairs, 'image')} with masks"]


def render_face(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic "face": its label map (ellipses for hair, skin, eyes, brows, nose, lips, neck, cloth)
    and a rendering with a colour and texture per class, drawn per face (skin tone, hair colour among
    `HAIR_TONES`, eye and lip colours, background and cloth of any hue)."""
    yy, xx = synth.grid(size)
    u, v = xx / size - 0.5, yy / size - 0.5
    ids = np.zeros((size, size), np.uint8)
    cx, cy = rng.uniform(-0.04, 0.04, 2)
    fw, fh = rng.uniform(0.2, 0.26), rng.uniform(0.26, 0.32)

    def ellipse(x0: float, y0: float, rx: float, ry: float) -> np.ndarray:
        return ((u - x0) / rx) ** 2 + ((v - y0) / ry) ** 2 <= 1.0

    ids[v > 0.3] = 18  # cloth
    ids[ellipse(cx, cy + 0.3, 0.11, 0.2) & (v > cy)] = 17  # neck
    ids[ellipse(cx, cy - 0.05, fw + rng.uniform(0.03, 0.08), fh + 0.05) & (v < cy + 0.05)] = 13  # hair
    ids[ellipse(cx, cy, fw, fh)] = 1  # skin
    eye_y, eye_dx = cy - 0.04, fw * 0.45
    for side, (eye, brow) in ((1, (4, 6)), (-1, (5, 7))):  # subject's left = image right
        ids[ellipse(cx + side * eye_dx, eye_y, 0.05, 0.025)] = eye
        ids[ellipse(cx + side * eye_dx, eye_y - 0.06, 0.06, 0.015)] = brow
    ids[ellipse(cx, cy + 0.05, 0.035, 0.07)] = 2  # nose
    mouth_y, mouth_w = cy + 0.17, rng.uniform(0.06, 0.1)
    ids[ellipse(cx, mouth_y - 0.012, mouth_w, 0.015)] = 11
    ids[ellipse(cx, mouth_y + 0.015, mouth_w, 0.018)] = 12
    colours = np.zeros((NUM_CLASSES, 3), np.float32)
    skin = synth.hsv(rng.uniform(0.02, 0.1), rng.uniform(0.3, 0.6), rng.uniform(0.5, 0.95))
    hair = HAIR_TONES[rng.integers(len(HAIR_TONES))] * rng.uniform(0.8, 1.2)
    colours[0] = synth.hsv(rng.uniform(0, 1), 0.2, rng.uniform(0.3, 0.8))  # background
    colours[[1, 8, 9]] = skin
    colours[[2, 17]] = skin * 0.85  # nose, neck
    colours[[4, 5]] = synth.hsv(rng.choice([0.08, 0.55, 0.3]), 0.6, rng.uniform(0.25, 0.5))  # eyes
    colours[[6, 7]] = hair * 0.7  # brows
    colours[[10, 11, 12]] = synth.hsv(rng.uniform(-0.03, 0.03), rng.uniform(0.4, 0.7), rng.uniform(0.5, 0.8))
    colours[13] = hair
    colours[18] = synth.hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.9))  # cloth
    image = colours[ids]
    texture = rng.normal(0, 1, (size, size)).astype(np.float32)
    stripes = np.sin((xx * np.cos(rng.uniform(0, 3)) + yy) * rng.uniform(0.3, 0.8))
    image += (np.where(ids == 13, 25 * stripes, 6 * texture))[..., None]
    light = 1.0 - 0.4 * np.hypot(u - cx + 0.1, v - cy + 0.1)
    return ids, synth.to_uint8(image * light[..., None])


def make_masks(out_dir: Path, *, count: int = 20, size: int = 64, seed: int = 0) -> Path:
    """`count` synthetic faces: `images/NNNNN.png` and their label maps `masks/NNNNN.png`."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        ids, image = render_face(rng, size)
        synth.write_png(out_dir / "images" / f"{i:05d}.png", image)
        write_mask(out_dir / "masks" / f"{i:05d}.png", ids)
    return out_dir


def synthesize(out_dir: Path, *, count: int, size: int, seed: int) -> tuple[Path, str]:
    """The `masks` synthetic task; the root and what was written."""
    return make_masks(out_dir, count=count, size=size, seed=seed), f"{count} {size}x{size} faces with masks"


class MaskDataset(torch.utils.data.Dataset):
    """Items {"image": 3xSxS in [-1, 1] (bicubic), "label": 1xSxS int64 ids (nearest), "path"}: each pair
    resized to `load_size` square (the official training resizes with scale_width; faces are square)."""

    def __init__(self, root: str | Path, load_size: int) -> None:
        self.pairs = find_pairs(root)
        self.load_size = load_size

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from i2i.data.files import open_rgb

        image_path, mask_path = self.pairs[index]
        s = self.load_size
        image = np.asarray(open_rgb(image_path).resize((s, s), Image.BICUBIC), np.float32) / 127.5 - 1
        ids = Image.fromarray(read_mask(mask_path), "L").resize((s, s), Image.NEAREST)
        return {
            "image": torch.from_numpy(image).permute(2, 0, 1).contiguous(),
            "label": torch.from_numpy(np.asarray(ids, np.int64))[None],
            "path": str(image_path),
        }
