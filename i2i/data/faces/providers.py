"""Landmark providers: where the 68 face landmarks of an image come from, behind one small interface.

`get_provider(name, **options)` returns an object whose `detect(image, *, name=None)` takes an RGB uint8
image (H x W x 3) and returns a `Face` per face found: its rectangle and 68 iBUG-300W landmarks in image
pixels. `name` is the image's file name, which providers that read landmarks from files need.

Built in:
- `precomputed`: landmarks from a JSON file (option `path`), keyed by image file name. The schema:

      {"frame_0001.png": [{"landmarks": [[x, y], ... 68 points], "rect": [left, top, right, bottom]}],
       "frame_0002.png": []}

  Keys are image paths relative to the JSON file's folder or to the option `root` (the folder being
  extracted; `sub/frame.png`, with `/`), or bare file names; `rect` is optional (the landmarks' bounding
  box is used without it); an image with no entry or an empty list has no face. `i2i data synth --task
  faces` writes such a `landmarks.json` beside its frames.
- `faceset`: aligned face files (DFL's JPEGs or i2i's own, `i2i.data.faces.faceset`) carry their landmarks;
  the face is the file's own landmarks in its own pixels (re-aligning gives the same crop again).
- `dlib68`: dlib's HOG face detector and its 68-point shape predictor from the PyPI packages `dlib` (or
  `dlib-bin`) and `face-recognition-models` (extra `i2i[faceswap-dlib]`, about 100 MB). The predictor was
  trained on iBUG 300-W, whose licence excludes commercial use: see `license_note`.
- `mtcnn5`: MTCNN's detector and 5 points (`i2i.data.faces.mtcnn`) with the weight files of the PyPI package
  `facenet-pytorch` (MIT; installed with `--no-deps`, since only its files are read) or a folder of them.
  The 68 landmarks are the canonical face placed by the 5 points (`from_five_points`): the alignment is
  the 5-point one, which is not DeepFaceLab's, and the masks follow the mean face, not the person's.

Not built in (yet): S3FD + 2DFAN with user-supplied weights (DFL's own detector pair); a plugin can add it
with `register_provider`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from i2i.data.faces.align import MEAN_FACE, check_landmarks, transform_points, umeyama
from i2i.errors import I2IError, UsageError, unknown_name

DLIB_EXTRA = "pip install 'i2i[faceswap-dlib]'"


@dataclass(frozen=True)
class Face:
    """A detected face: `rect` (left, top, right, bottom) and `landmarks` (68, 2) float64, image pixels;
    `keypoints`: the detector's own points where they are not the 68 (mtcnn5: its 5), else None."""

    rect: tuple[float, float, float, float]
    landmarks: np.ndarray
    keypoints: np.ndarray | None = None

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, rect: Any = None, *, what: str = "landmarks") -> Face:
        """A `Face` from 68 points (checked) and an optional rectangle (their bounding box without one)."""
        points = check_landmarks(landmarks, what)
        if rect is None:
            (left, top), (right, bottom) = points.min(0), points.max(0)
            return cls((float(left), float(top), float(right), float(bottom)), points)
        values = np.asarray(rect, dtype=np.float64).reshape(-1)
        if values.shape != (4,) or not np.isfinite(values).all():
            raise I2IError(f"{what}: rect must be [left, top, right, bottom], got {rect!r}")
        return cls(tuple(float(v) for v in values), points)  # type: ignore[arg-type]


class LandmarkProvider(Protocol):
    """What every provider offers: its name, a licence note (empty when unrestricted) and `detect`."""

    name: str
    license_note: str

    def detect(self, image: np.ndarray, *, name: str | None = None) -> list[Face]: ...


_PROVIDERS: dict[str, Callable[..., LandmarkProvider]] = {}


def register_provider(name: str, factory: Callable[..., LandmarkProvider]) -> None:
    """Make `factory(**options)` available as `get_provider(name, **options)` (a later one replaces)."""
    _PROVIDERS[name] = factory


def provider_names() -> list[str]:
    """The registered provider names, sorted."""
    return sorted(_PROVIDERS)


def get_provider(name: str, **options: Any) -> LandmarkProvider:
    """The provider `name` built with `options`; `UsageError` for an unknown name or option."""
    if name not in _PROVIDERS:
        raise unknown_name("landmark provider", name, _PROVIDERS)
    try:
        return _PROVIDERS[name](**options)
    except TypeError as exc:
        raise UsageError(f"landmark provider '{name}': {exc}") from None


# ------------------------------------------------------------------------------------------- precomputed


class Precomputed:
    """Landmarks read from a JSON file (schema in the module doc), looked up by image file name.

    `root`: a folder the JSON's keys may be relative to besides the JSON file's own (the one extracted).
    """

    name = "precomputed"
    license_note = ""

    def __init__(self, path: str | Path | None = None, root: str | Path | None = None) -> None:
        if path is None:
            raise UsageError("the precomputed provider needs a landmarks file (--landmarks FILE)")
        self.path = Path(path)
        self.roots = [self.path.parent] + ([Path(root)] if root is not None else [])
        self.faces = read_landmarks_json(self.path)

    def detect(self, image: np.ndarray, *, name: str | None = None) -> list[Face]:
        """The faces listed for the image file `name` (see `lookup`)."""
        if name is None:
            raise UsageError("the precomputed provider looks faces up by file name; none was given")
        return self.lookup(name)

    def lookup(self, name: str | Path) -> list[Face]:
        """The faces listed for `name`: its path relative to the JSON's folder or `root`, else as given, else
        its bare file name; [] when none is listed."""
        path = Path(name)
        keys = [path.as_posix(), path.name]
        for root in reversed(self.roots):
            with contextlib.suppress(ValueError):  # not under this root
                keys.insert(0, path.resolve().relative_to(root.resolve()).as_posix())
        for key in keys:
            if key in self.faces:
                return self.faces[key]
        return []


def read_landmarks_json(path: Path) -> dict[str, list[Face]]:
    """The faces of a precomputed landmarks file by image name; one-line `I2IError` for a bad file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise I2IError(f"{path}: no such landmarks file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise I2IError(f"{path}: not a readable landmarks JSON file ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise I2IError(f"{path}: expected an object mapping image file names to lists of faces")
    faces: dict[str, list[Face]] = {}
    for key, entries in data.items():
        if not isinstance(entries, list):
            raise I2IError(f"{path}: '{key}' must map to a list of faces")
        found = []
        for i, entry in enumerate(entries):
            what = f"{path}: '{key}' face {i}"
            if not isinstance(entry, dict) or "landmarks" not in entry:
                raise I2IError(f"{what}: expected an object with 'landmarks' (and optionally 'rect')")
            try:
                points = np.asarray(entry["landmarks"], dtype=np.float64)
            except (TypeError, ValueError):
                raise I2IError(f"{what}: landmarks must be 68 [x, y] pairs of numbers") from None
            found.append(Face.from_landmarks(points, entry.get("rect"), what=what))
        faces[Path(key).as_posix()] = found
    return faces


def landmarks_json(faces: dict[str, list[Face]]) -> str:
    """The precomputed JSON text of `faces` by image name (the inverse of `read_landmarks_json`)."""
    data = {
        key: [
            {"rect": [round(v, 3) for v in face.rect], "landmarks": np.round(face.landmarks, 3).tolist()}
            for face in entries
        ]
        for key, entries in faces.items()
    }
    return json.dumps(data, indent=1) + "\n"


register_provider("precomputed", Precomputed)


# ------------------------------------------------------------------------------------------- faceset


class FacesetLandmarks:
    """The landmarks an aligned face file carries (DFL's APP15 metadata or i2i's), in its own pixels."""

    name = "faceset"
    license_note = ""

    def detect(self, image: np.ndarray, *, name: str | None = None) -> list[Face]:
        """The file `name`'s own face (`I2IError` when it carries no face metadata)."""
        from i2i.data.faces.faceset import read_aligned

        if name is None:
            raise UsageError("the faceset provider reads landmarks from the file; no file name was given")
        face = read_aligned(Path(name))
        return [Face.from_landmarks(face.landmarks, what=str(name))]


register_provider("faceset", FacesetLandmarks)


# ------------------------------------------------------------------------------------------- dlib68


class Dlib68:
    """dlib's frontal face detector (HOG) and 68-point shape predictor (`face-recognition-models`).

    `upsample`: how many times the detector doubles the image first (finds smaller faces, slower).
    """

    name = "dlib68"
    license_note = "non-commercial: dlib's 68-point model was trained on iBUG 300-W, whose licence excludes commercial use"

    def __init__(self, upsample: int = 1) -> None:
        try:
            import dlib
            import face_recognition_models
        except ImportError as exc:
            raise I2IError(
                f"the dlib68 provider needs dlib and face-recognition-models ({exc.name} is missing): {DLIB_EXTRA}"
            ) from None
        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def detect(self, image: np.ndarray, *, name: str | None = None) -> list[Face]:
        """Every face dlib finds in `image` (RGB uint8), with its 68 landmarks."""
        pixels = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        faces = []
        for rect in self._detector(pixels, self.upsample):
            shape = self._predictor(pixels, rect)
            points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], np.float64)
            box = (rect.left(), rect.top(), rect.right(), rect.bottom())
            faces.append(Face.from_landmarks(points, box, what=f"{name or 'image'}: dlib"))
        return faces


register_provider("dlib68", Dlib68)


# ------------------------------------------------------------------------------------------- mtcnn5

#: MTCNN's 5 points on the canonical face: eye centres, nose tip, mouth corners (image left first)
FIVE_POINTS = np.stack(
    [MEAN_FACE[36:42].mean(0), MEAN_FACE[42:48].mean(0), MEAN_FACE[30], MEAN_FACE[48], MEAN_FACE[54]]
)


def from_five_points(points: np.ndarray) -> np.ndarray:
    """68 landmarks from 5 (eyes, nose tip, mouth corners): the canonical face placed by the similarity that
    best maps its 5 points onto them. Aligning on them reproduces that 5-point alignment; the shape inside
    (jaw, brows, lips) is the mean face's, not the person's."""
    return transform_points(MEAN_FACE, umeyama(FIVE_POINTS, np.asarray(points, np.float64))[:2])


class Mtcnn5:
    """MTCNN faces and 5 points (`i2i.data.faces.mtcnn`), as 68 landmarks by `from_five_points`.

    `weights`: a folder with `pnet.pt`, `rnet.pt`, `onet.pt` (default: those of an installed
    facenet-pytorch); `min_size`: the smallest face in pixels; `min_probability`: O-Net's threshold.
    Crops from 5 points are not DeepFaceLab's 68-point crops: do not mix them with DFL-trained models.
    """

    name = "mtcnn5"
    license_note = ""

    def __init__(
        self, weights: str | Path | None = None, min_size: int = 20, min_probability: float = 0.7
    ) -> None:
        from i2i.data.faces import mtcnn

        self._detect = mtcnn.detect
        self.nets = mtcnn.load_networks(weights)
        self.min_size = int(min_size)
        self.thresholds = (0.6, 0.7, float(min_probability))

    def detect(self, image: np.ndarray, *, name: str | None = None) -> list[Face]:
        """Every face MTCNN finds in `image` (RGB uint8), most probable first."""
        boxes, points = self._detect(image, self.nets, min_size=self.min_size, thresholds=self.thresholds)
        return [
            Face(tuple(float(v) for v in box[:4]), from_five_points(five), five)  # type: ignore[arg-type]
            for box, five in zip(boxes, points, strict=True)
        ]


register_provider("mtcnn5", Mtcnn5)
