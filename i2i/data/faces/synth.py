"""Synthetic faces with 68 landmarks for offline tests and demos of face swapping: no real person's face.

A face is drawn from its 68 iBUG-300W landmarks (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth
48-67): a skin shape over the jaw with a forehead, hair, brows, eyes with irises, a nose and lips, on a
gradient background. Two identities, `src` and `dst`, differ in face shape (jaw width and squareness, face
length, eye, nose and mouth geometry) and colours (skin, hair, irises, lips). Each frame adds pose jitter
(rotation, scale, translation) and a little expression (mouth opening, brow raise, eye openness).

`make_faces(out_dir, count=, size=, seed=)` writes `out_dir/src/` and `out_dir/dst/`, each with `count`
raw frames (`00000.png`, ...) and a `landmarks.json` in the schema of the `precomputed` landmark provider
(`i2i.data.faces.providers`), so `i2i faces extract out/src aligned/src` aligns them and a trainer can read
frames + landmarks directly. Every frame is a function of the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from i2i.data import synth
from i2i.data.faces.providers import Face, landmarks_json
from i2i.io.files import atomic_write_text

LANDMARKS_FILE = "landmarks.json"
#: drawing happens at this many times the output size, then is reduced (smooth edges)
SUPERSAMPLE = 2


@dataclass(frozen=True)
class Identity:
    """The shape and colours of a synthetic person (face-local units: half the jaw's width is 1)."""

    jaw_height: float  # chin below the eye line
    jaw_square: float  # superellipse exponent of the jaw: 2 round, larger squarer
    forehead: float  # top of the head above the eye line
    eye_gap: float  # eye centres from the midline
    eye_size: float  # half width of an eye
    brow_lift: float  # brows above the eye line
    nose_length: float
    nose_width: float
    mouth_y: float
    mouth_width: float
    lip: float  # lip thickness
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    iris: tuple[int, int, int]
    lips: tuple[int, int, int]


IDENTITIES = {
    "src": Identity(
        jaw_height=1.55, jaw_square=2.0, forehead=1.05, eye_gap=0.40, eye_size=0.22, brow_lift=0.28,
        nose_length=0.62, nose_width=0.20, mouth_y=0.98, mouth_width=0.36, lip=0.08,
        skin=(236, 200, 178), hair=(60, 40, 30), iris=(50, 110, 190), lips=(200, 70, 80),
    ),
    "dst": Identity(
        jaw_height=1.25, jaw_square=3.2, forehead=0.90, eye_gap=0.46, eye_size=0.19, brow_lift=0.25,
        nose_length=0.50, nose_width=0.27, mouth_y=0.82, mouth_width=0.46, lip=0.11,
        skin=(150, 105, 75), hair=(200, 170, 90), iris=(90, 60, 30), lips=(160, 80, 90),
    ),
}  # fmt: skip


def face_points(who: Identity, rng: np.random.Generator) -> np.ndarray:
    """The 68 landmarks of `who` in face-local units (x right, y down, eye line at y = 0), with a little
    random expression."""
    pts = np.zeros((68, 2))
    phi = np.linspace(np.pi, 0, 17)
    cos, sin = np.cos(phi), np.sin(phi)
    power = 2 / who.jaw_square
    pts[0:17, 0] = np.sign(cos) * np.abs(cos) ** power
    pts[0:17, 1] = -0.08 + (who.jaw_height + 0.08) * np.abs(sin) ** power
    raise_brows = rng.uniform(-0.03, 0.06)
    arch = 0.09 * np.sin(np.linspace(0, np.pi, 5))
    for first, side in ((17, -1), (22, 1)):  # 17-21 and 22-26 both run left to right in the image
        pts[first : first + 5, 0] = np.linspace(-1.35, 1.35, 5) * who.eye_size + side * who.eye_gap
        pts[first : first + 5, 1] = -who.brow_lift - raise_brows - arch
    bridge = np.linspace(-0.05, who.nose_length, 4)
    pts[27:31] = np.stack([np.zeros(4), bridge], 1)
    base = who.nose_length + 0.1
    nostril_x = np.linspace(-who.nose_width, who.nose_width, 5)
    pts[31:36] = np.stack([nostril_x, base + 0.05 * np.cos(np.pi * nostril_x / (2 * who.nose_width))], 1)
    openness = rng.uniform(0.6, 1.1)
    for side, first in ((-1, 36), (1, 42)):
        cx, w, h = side * who.eye_gap, who.eye_size, who.eye_size * 0.45 * openness
        outer, inner = cx + side * w, cx - side * w
        upper = [(cx - side * w / 3, -h), (cx + side * w / 3, -h)]
        lower = [(cx + side * w / 3, h * 0.8), (cx - side * w / 3, h * 0.8)]
        if side < 0:  # 36 outer corner, 37-38 upper lid, 39 inner corner, 40-41 lower lid
            ring = [(outer, 0.0), upper[0], upper[1], (inner, 0.0), lower[0], lower[1]]
        else:  # 42 inner corner, 43-44 upper lid, 45 outer corner, 46-47 lower lid
            ring = [(inner, 0.0), upper[1], upper[0], (outer, 0.0), lower[1], lower[0]]
        pts[first : first + 6] = ring
    w, y, lip = who.mouth_width, who.mouth_y, who.lip
    gap = rng.uniform(0, 0.12)
    outer_x = np.array([-1, -0.6, -0.25, 0, 0.25, 0.6, 1, 0.6, 0.25, 0, -0.25, -0.6]) * w
    outer_y = np.array([0, -0.8, -1, -0.8, -1, -0.8, 0, 0.9, 1.1, 1.15, 1.1, 0.9]) * lip
    outer_y[7:] += gap
    pts[48:60] = np.stack([outer_x, y + outer_y], 1)
    inner_x = np.array([-0.8, -0.35, 0, 0.35, 0.8, 0.35, 0, -0.35]) * w
    inner_y = (
        np.array([0, -0.15, -0.15, -0.15, 0, 1, 1, 1]) * gap + np.array([0, 1, 1, 1, 0, 1, 1, 1]) * 0.1 * lip
    )
    pts[60:68] = np.stack([inner_x, y + inner_y], 1)
    return pts


def render_face(who: Identity, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, landmarks): an RGB uint8 `size` x `size` frame of `who` with pose jitter, and its 68 landmarks
    in the frame's pixels (integer coordinates at pixel centres)."""
    local = face_points(who, rng)
    angle = np.deg2rad(rng.uniform(-15, 15))
    scale = size * 0.24 * rng.uniform(0.85, 1.1)
    centre = size * (0.5 + rng.uniform(-0.06, 0.06, 2)) + [0, -0.18 * scale]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale

    def place(points: np.ndarray) -> np.ndarray:
        return np.asarray(points, np.float64) @ rot.T + centre

    landmarks = place(local)
    k = SUPERSAMPLE
    canvas = Image.fromarray(_background(rng, size * k))
    draw = ImageDraw.Draw(canvas)

    def poly(points: np.ndarray) -> list[tuple[float, float]]:
        return [tuple(p) for p in (np.asarray(points) + 0.5) * k - 0.5]

    top = np.linspace(0, np.pi, 25)
    head_top = np.stack([np.cos(top) * 1.04, -0.08 - who.forehead * np.sin(top)], 1)
    hair = np.concatenate([head_top * [1.12, 1.12] + [0, -0.05], [[-1.12, 0.5], [1.12, 0.5]]])
    draw.polygon(poly(place(hair)), fill=who.hair)
    draw.polygon(poly(np.concatenate([landmarks[0:17], place(head_top[1:-1])])), fill=who.skin)
    darker = tuple(int(c * 0.78) for c in who.skin)
    brow_width = max(1, round(0.05 * scale * k))
    draw.line(poly(landmarks[17:22]), fill=who.hair, width=brow_width, joint="curve")
    draw.line(poly(landmarks[22:27]), fill=who.hair, width=brow_width, joint="curve")
    for first in (36, 42):
        eye = landmarks[first : first + 6]
        draw.polygon(poly(eye), fill=(245, 245, 240))
        middle = (eye[0] + eye[3]) / 2
        radius = np.linalg.norm(eye[1] - eye[5]) * 0.45 * k
        cx, cy = (middle + 0.5) * k - 0.5
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=who.iris)
        draw.ellipse(
            [cx - radius / 2.5, cy - radius / 2.5, cx + radius / 2.5, cy + radius / 2.5], fill=(15, 15, 15)
        )
        draw.line(poly(eye[[0, 1, 2, 3]]), fill=(40, 30, 30), width=max(1, k))
    draw.line(poly(landmarks[27:31]), fill=darker, width=max(1, round(0.03 * scale * k)))
    draw.line(poly(landmarks[31:36]), fill=darker, width=max(1, round(0.035 * scale * k)), joint="curve")
    draw.polygon(poly(landmarks[48:60]), fill=who.lips)
    draw.polygon(poly(landmarks[60:68]), fill=(70, 20, 25))
    image = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.uint8), landmarks


def _background(rng: np.random.Generator, side: int) -> np.ndarray:
    """A soft two-colour gradient in a random direction."""
    centres = np.arange(side, dtype=np.float32) + 0.5
    direction = rng.uniform(0, 2 * np.pi)
    t = ((np.cos(direction) * centres[None, :] + np.sin(direction) * centres[:, None]) / side + 1) / 2
    first = synth.hsv(rng.uniform(), rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.9))
    second = synth.hsv(rng.uniform(), rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.9))
    return (first + (second - first) * t[..., None].astype(np.float32) + 0.5).astype(np.uint8)


def make_faces(out_dir: Path, *, count: int = 20, size: int = 128, seed: int = 0) -> Path:
    """`out_dir/src/` and `out_dir/dst/`: `count` frames each (PNG) and their `landmarks.json`."""
    synth.check_count(count)
    out_dir = Path(out_dir)
    for offset, (name, who) in enumerate(IDENTITIES.items()):
        rng = np.random.default_rng([seed, offset])
        faces: dict[str, list[Face]] = {}
        for i in range(count):
            image, landmarks = render_face(who, rng, size)
            file_name = f"{i:05d}.png"
            synth.write_png(out_dir / name / file_name, image)
            faces[file_name] = [Face.from_landmarks(landmarks)]
        atomic_write_text(out_dir / name / LANDMARKS_FILE, landmarks_json(faces))
    return out_dir


def synthesize(out_dir: Path, *, count: int, size: int, seed: int) -> tuple[Path, str]:
    """The `faces` synthetic task; the root and what was written."""
    root = make_faces(out_dir, count=count, size=size, seed=seed)
    return root, f"{count} {size}x{size} face frames per identity (src/, dst/, each with {LANDMARKS_FILE})"
