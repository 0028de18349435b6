"""The SAEHD merge: swapped faces composited back into whole frames (DeepFaceLab's "overlay" mode).

Per frame and per face (`merge_frames`): the frame is warped to the aligned crop the model was trained on
(`i2i.data.faces.align`: the face type's similarity at the model's resolution), the model predicts the
swapped face and its masks, the mask of `mask_mode` is eroded or dilated and feathered (`modify_mask`), the
face takes the crop's colours inside the mask (`i2i.models.saehd.colour`), and face and mask are warped back
and composited: `frame * (1 - mask) + face * mask`. Several faces in a frame are composited one after the
other (each predicted from the original frame); a frame without faces is returned as it is. `Merger` is
the model's side: where the faces of each frame are (a landmark provider, or the whole image as one aligned
face), the consent check and content filters before the swap, and the badge and watermark after it.

Mask modes (DFL's names): `full` (the whole crop), `dst` (the convex hull of the frame's landmarks),
`learned-prd` (the mask the src decoder predicts with the swap), `learned-dst` (the mask of the dst
reconstruction), `learned-prd*learned-dst` (their product: the default) and `learned-prd+learned-dst`
(their sum, clipped). XSeg masks are not supported (no XSeg network here).

`erode` (-400..400; negative dilates) and `blur` (0..400) take DFL's ranges, counted in thousandths of the
crop side (`modifier_pixels`): at resolution 256, `erode=50` shrinks the mask by 12.8 pixels. Blurring
feathers inwards: the mask is eroded by half the blur width and then box-filtered, so the feathered edge
never reaches past the unblurred mask. Mask values under 1/255 after warping back are dropped, so pixels
outside the mask are the frame's own, exactly.

Everything runs in numpy and torch; OpenCV is not used. Where DFL's merge depends on OpenCV, and what
bit-equality with it would need: the warps into and out of the crop (`cv2.warpAffine` with `INTER_CUBIC`;
here bicubic too, through `torch.nn.functional.grid_sample` in `i2i.data.faces.align`, whose cubic kernel
and borders differ slightly), the L*a*b* conversion of `rct` (`cv2.cvtColor`, see `colour`), and the
`seamless` mode (`cv2.seamlessClone`, not implemented). No `i2i[faceswap]` OpenCV extra is declared for
them: the crops would still not be DFL's bit for bit, since the alignment's canonical face is i2i's own
(`i2i.data.faces.align`), so merged frames are close to DFL's, never identical.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from i2i.errors import UsageError
from i2i.models.saehd import colour

#: DFL's mask modes this merge supports (see the module docstring)
MASK_MODES = (
    "full",
    "dst",
    "learned-prd",
    "learned-dst",
    "learned-prd*learned-dst",
    "learned-prd+learned-dst",
)
DEFAULT_MASK_MODE = "learned-prd*learned-dst"
ERODE_RANGE = (-400, 400)
#: the interpolation of the warps into and out of the crop (DFL's merge: bicubic both ways)
WARP = "cubic"
BLUR_RANGE = (0, 400)

#: aligned crops (N x 3 x R x R, RGB in [0, 1]) -> the swapped faces (RGB), the src-decoder masks and the
#: dst-reconstruction masks (each N x 1 x R x R in [0, 1])
Predict = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class MergeOptions:
    """How faces are merged (DFL's merge settings of the same names)."""

    mask_mode: str = DEFAULT_MASK_MODE
    erode: float = 0.0
    blur: float = 0.0
    color_transfer: str = "rct"

    def check(self) -> MergeOptions:
        """`self`, or `UsageError` naming the setting that is out of range."""
        if self.mask_mode not in MASK_MODES:
            raise UsageError(f"mask_mode={self.mask_mode!r} is not one of: {', '.join(MASK_MODES)}")
        if self.color_transfer not in colour.COLOR_TRANSFERS:
            raise UsageError(
                f"color_transfer={self.color_transfer!r} is not one of: {', '.join(colour.COLOR_TRANSFERS)}"
            )
        for name, (low, high) in (("erode", ERODE_RANGE), ("blur", BLUR_RANGE)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise UsageError(f"{name}={value:g} is outside {low}..{high}")
        return self

    @property
    def needs_hull(self) -> bool:
        return self.mask_mode == "dst"


# ----------------------------------------------------------------------------------------------- masks


def modifier_pixels(value: float, resolution: int) -> float:
    """An erode/blur modifier (DFL's range) in pixels of a crop of side `resolution`."""
    return value * resolution / 1000.0


def _morph(mask: torch.Tensor, radius: int, grow: bool) -> torch.Tensor:
    """Dilate (`grow`) or erode an N x 1 x H x W mask with a square of side 2 * radius + 1 (separably: a
    row, then a column)."""
    if radius <= 0:
        return mask
    side = 2 * radius + 1
    x = mask if grow else -mask
    x = F.max_pool2d(F.pad(x, (radius, radius, 0, 0)), (1, side), stride=1)  # outside the crop: no mask
    x = F.max_pool2d(F.pad(x, (0, 0, radius, radius)), (side, 1), stride=1)
    return x if grow else -x


def _box_blur(mask: torch.Tensor, radius: int) -> torch.Tensor:
    if radius <= 0:
        return mask
    side = 2 * radius + 1
    x = F.avg_pool2d(F.pad(mask, (radius, radius, 0, 0)), (1, side), stride=1)
    return F.avg_pool2d(F.pad(x, (0, 0, radius, radius)), (side, 1), stride=1)


def modify_mask(mask: torch.Tensor, erode: float = 0.0, blur: float = 0.0) -> torch.Tensor:
    """Masks (N x 1 x H x W in [0, 1]) eroded by `erode` pixels (negative: dilated), then feathered
    inwards over `blur` pixels (eroded by half of it, then box-filtered with a kernel of that width)."""
    mask = mask.float().clamp(0.0, 1.0)
    erode_px = int(round(abs(erode)))
    mask = _morph(mask, erode_px, grow=erode < 0)
    radius = int(round(blur / 2))
    if radius > 0:
        mask = _box_blur(_morph(mask, radius, grow=False), radius)
    return mask.clamp(0.0, 1.0)


def select_mask(
    mode: str, prd: torch.Tensor, dst: torch.Tensor, hull: torch.Tensor | None = None
) -> torch.Tensor:
    """The mask of `mode` (`MASK_MODES`) from the predicted masks and, for `dst`, the landmark hulls."""
    if mode == "full":
        return torch.ones_like(prd)
    if mode == "dst":
        if hull is None:
            raise ValueError("mask mode 'dst' needs the landmark hull masks")
        return hull
    if mode == "learned-prd":
        return prd
    if mode == "learned-dst":
        return dst
    if mode == "learned-prd*learned-dst":
        return prd * dst
    if mode == "learned-prd+learned-dst":
        return (prd + dst).clamp(0.0, 1.0)
    raise ValueError(f"unknown mask mode {mode!r}")


# ------------------------------------------------------------------------------------------- one frame


@dataclass
class FaceCrop:
    """One face of one frame: its image -> crop matrix, the crop, and its landmark hull (mode `dst`)."""

    frame: int
    matrix: np.ndarray
    crop: np.ndarray
    hull: np.ndarray | None = None


def crop_faces(
    frames: Sequence[np.ndarray],
    faces: Sequence[Sequence[np.ndarray]],
    *,
    resolution: int,
    face_type: str,
    hull: bool = False,
) -> list[FaceCrop]:
    """The aligned crops of every face of every frame (H x W x 3 float32). A face is its 68 landmarks in
    frame pixels, or directly its 2 x 3 frame -> crop matrix (`aligned_matrix`: no landmarks, no hull)."""
    from i2i.data.faces import align

    crops = []
    for index, (frame, found) in enumerate(zip(frames, faces, strict=True)):
        for face in found:
            face = np.asarray(face, np.float64)
            points = None if face.shape == (2, 3) else face
            matrix = face if points is None else align.transform_matrix(points, resolution, face_type)
            crop = align.warp_to_crop(frame, matrix, resolution, interpolation=WARP)
            crop = np.clip(crop, 0.0, 1.0).astype(np.float32)
            shape = None
            if hull:
                if points is None:
                    raise UsageError("mask_mode=dst needs the faces' landmarks; an aligned image has none")
                shape = align.hull_mask(align.transform_points(points, matrix), resolution)
            crops.append(FaceCrop(index, matrix, crop, shape))
    return crops


def aligned_matrix(height: int, width: int, resolution: int) -> np.ndarray:
    """The 2 x 3 matrix that takes a whole `height` x `width` image as one aligned face crop."""
    sx, sy = resolution / width, resolution / height
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])  # pixel centres onto centres


def composite(frame: np.ndarray, face: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`face` and `mask` (crop space, R x R x 3 and R x R) warped back into `frame` (H x W x 3 float32)
    by the inverse of `matrix`, and blended: `frame * (1 - mask) + face * mask`. The warped face is
    divided by the warped crop coverage, so that the black beyond the crop's edges does not darken it.
    Only the box of the frame that the crop lands on is computed."""
    from i2i.data.faces import align

    height, width = frame.shape[:2]
    side = mask.shape[0]
    corners = np.array([[-1, -1], [side, -1], [side, side], [-1, side]], np.float64)
    landing = align.transform_points(corners, matrix, invert=True)
    x0, y0 = np.maximum(np.floor(landing.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(landing.max(axis=0)).astype(int) + 1, [width, height])
    if x0 >= x1 or y0 >= y1:
        return frame
    box_matrix = np.asarray(matrix, np.float64).copy()
    box_matrix[:, 2] += box_matrix[:, :2] @ np.array([x0, y0], np.float64)  # box pixels -> crop pixels
    stack = np.concatenate([face, mask[..., None], np.ones_like(mask)[..., None]], axis=2)
    warped = align.warp_from_crop(
        stack.astype(np.float32), box_matrix, (y1 - y0, x1 - x0), interpolation=WARP
    )
    coverage = warped[..., 4:5]
    warped_face = np.clip(warped[..., :3] / np.maximum(coverage, 1e-3), 0.0, 1.0)
    warped_mask = np.clip(warped[..., 3:4], 0.0, 1.0)
    warped_mask[(warped_mask < 1.0 / 255.0) | (coverage < 1e-3)] = 0.0
    region = frame[y0:y1, x0:x1]
    blended = region * (1.0 - warped_mask) + warped_face * warped_mask
    out = frame.copy()
    out[y0:y1, x0:x1] = np.where(warped_mask > 0, blended, region)
    return out


def merge_frames(
    frames: Sequence[np.ndarray],
    landmarks: Sequence[Sequence[np.ndarray]],
    predict: Predict,
    *,
    resolution: int,
    face_type: str,
    options: MergeOptions | None = None,
    batch_size: int = 8,
) -> list[np.ndarray]:
    """Frames (H x W x 3 float32 RGB in [0, 1]) with every face of `landmarks` (per frame, a list of 68 x 2
    arrays in frame pixels) swapped by `predict` (`Predict`, crops at `resolution`, `face_type`)."""
    options = (options or MergeOptions()).check()
    frames = [np.asarray(f, np.float32) for f in frames]
    crops = crop_faces(frames, landmarks, resolution=resolution, face_type=face_type, hull=options.needs_hull)
    merged = list(frames)
    for start in range(0, len(crops), max(1, batch_size)):
        chunk = crops[start : start + max(1, batch_size)]
        faces, masks = swap_crops(chunk, predict, resolution=resolution, options=options)
        for item, face, mask in zip(chunk, faces, masks, strict=True):
            merged[item.frame] = composite(merged[item.frame], face, mask, item.matrix)
    return merged


def swap_crops(
    crops: Sequence[FaceCrop], predict: Predict, *, resolution: int, options: MergeOptions
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The colour-matched swapped faces (R x R x 3) and final masks (R x R) of `crops`, in crop space."""
    x = torch.from_numpy(np.stack([c.crop for c in crops])).permute(0, 3, 1, 2).contiguous()
    face, prd, dst = predict(x)
    face = face.float().cpu().clamp(0.0, 1.0)
    hull = None
    if options.needs_hull:
        hull = torch.from_numpy(np.stack([np.asarray(c.hull, np.float32) for c in crops]))[:, None]
    mask = select_mask(options.mask_mode, prd.float().cpu(), dst.float().cpu(), hull)
    mask = modify_mask(
        mask,
        modifier_pixels(options.erode, resolution),
        modifier_pixels(options.blur, resolution),
    )
    faces, masks = [], []
    for item, predicted, m in zip(crops, face.permute(0, 2, 3, 1).numpy(), mask[:, 0].numpy(), strict=True):
        faces.append(colour.transfer(options.color_transfer, predicted, item.crop, m, m))
        masks.append(m)
    return faces, masks


# ------------------------------------------------------------------------------------ the model's side

#: the conditions of saehd's translation (its declared options)
CONDITIONS = ("landmarks", "face_provider", "mask_mode", "erode", "blur", "color_transfer")
#: the face "provider" that takes each whole image as one aligned face crop
ALIGNED = "aligned"
LANDMARKS_FILE = "landmarks.json"


def merge_options(conditions: dict[str, Any]) -> MergeOptions:
    """The merge settings among translation conditions (DFL's defaults for those not given)."""
    given = {
        k: conditions[k]
        for k in ("mask_mode", "erode", "blur", "color_transfer")
        if conditions.get(k) is not None
    }
    for key in ("erode", "blur"):
        if key in given:
            try:
                given[key] = float(given[key])
            except (TypeError, ValueError):
                raise UsageError(f"{key}={given[key]!r} is not a number") from None
    return MergeOptions(**given).check()


def check_conditions(conditions: dict[str, Any]) -> None:
    """`UsageError` for a condition saehd's translation does not take."""
    for key in conditions:
        if key not in CONDITIONS:
            raise UsageError(f"saehd takes no option '{key}'; it takes: {', '.join(CONDITIONS)}")


def face_name(source: Path | None, landmarks: Path | None) -> str | None:
    """The name a frame is looked up by in a landmarks file: its path relative to the file's folder when
    it lies under it (`sub/frame.png`), else its file name (a video's frames all share the video's)."""
    if source is None:
        return None
    source = Path(source)
    if landmarks is not None:
        try:
            return source.resolve().relative_to(Path(landmarks).resolve().parent).as_posix()
        except ValueError:
            pass
    return source.name


def network_predict(model: Any) -> Predict:
    """`Predict` by a loaded saehd model's networks (BGR inside, RGB outside; on the model's device)."""
    from i2i.models.saehd import networks
    from i2i.runtime import autocast

    def predict(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        bgr = x.flip(1).to(model.device)
        with torch.inference_mode(), autocast(model.device, model.precision):
            face, prd, dst = networks.swap(model.networks, model.config.archi, bgr)
        return face.float().flip(1).cpu(), prd.float().cpu(), dst.float().cpu()

    return predict


class Merger:
    """Whole frames through a saehd model: where their faces are (a landmark provider, built once per
    provider and landmarks file), the safeguards around the swap, and the frames without a face.

    Where faces come from: `face_provider` when given (`precomputed`, `dlib68`, `faceset`, ... from
    `i2i.data.faces.providers`, or `aligned`: the whole image is one aligned face crop of the model's face
    type); otherwise `precomputed` with `landmarks`, or with the `landmarks.json` beside the frame, and
    when there is neither, `aligned` (said once, as a warning)."""

    def __init__(self, model: Any, predict: Predict | None = None) -> None:
        self.model = model
        self.predict = predict or network_predict(model)
        self.providers: dict[tuple[str, str | None], Any] = {}
        #: frames merged, and frames that had no face (returned unchanged)
        self.frames = 0
        self.faceless = 0
        self._said: set[str] = set()

    def provider(self, name: str, landmarks: Any) -> Any:
        """The landmark provider `name` (`i2i.data.faces.providers`); `precomputed` reads `landmarks`."""
        from i2i.data.faces.providers import get_provider

        key = (name, None if landmarks is None else str(landmarks))
        if key not in self.providers:
            if landmarks is not None and name != "precomputed":
                raise UsageError(
                    f"landmarks (--landmarks) are read by the precomputed provider, not by {name}"
                )
            self.providers[key] = get_provider(name, **({"path": landmarks} if name == "precomputed" else {}))
        return self.providers[key]

    def faces_of(self, image: Any, rgb: np.ndarray, provider: str | None, landmarks: Any) -> list[np.ndarray]:
        """The faces of one frame: landmarks (68 x 2, frame pixels) or, for an aligned image, its matrix."""
        from i2i.io.pixels import quantize

        source = None if image.source is None else Path(image.source)
        if provider is None:
            beside = None if source is None else source.parent / LANDMARKS_FILE
            landmarks = landmarks or (beside if beside is not None and beside.is_file() else None)
            provider = "precomputed" if landmarks is not None else ALIGNED
            if provider == ALIGNED:
                self._say(
                    "aligned",
                    f"no landmarks for {source.name if source else 'an image without a file'}: images without "
                    f"--landmarks or a {LANDMARKS_FILE} beside them are taken as one aligned face crop each "
                    "(give --landmarks FILE or --face-provider for whole frames)",
                )
        if provider == ALIGNED:
            if landmarks is not None:
                raise UsageError(
                    f"landmarks (--landmarks) are read by the precomputed provider, not by {ALIGNED}"
                )
            return [aligned_matrix(*rgb.shape[:2], self.model.config.resolution)]
        if provider == "precomputed":
            name = face_name(source, landmarks)
        else:  # e.g. `faceset` reads the file itself
            name = None if source is None else str(source)
        found = self.provider(provider, landmarks).detect(quantize(rgb, 8), name=name)
        return [face.landmarks for face in found]

    def translate(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """`ImageData` frames in, merged `ImageData` out (size, channels, bit depth and alpha kept)."""
        from i2i.io import provenance
        from i2i.io.pixels import ImageData, luma
        from i2i.ops import marks
        from i2i.ops.content_filter import run_content_filters

        check_conditions(conditions)
        options = merge_options(conditions)
        model = self.model
        model.require_consent()
        frames, faces = [], []
        for image in images:
            run_content_filters(image)
            rgb = np.repeat(image.pixels, 3, axis=2) if image.is_grey else image.pixels[..., :3]
            frames.append(np.asarray(rgb, np.float32))
            faces.append(
                self.faces_of(image, frames[-1], conditions.get("face_provider"), conditions.get("landmarks"))
            )
        merged = merge_frames(
            frames,
            faces,
            self.predict,
            resolution=model.config.resolution,
            face_type=model.config.face_type,
            options=options,
            batch_size=max(8, batch_size),
        )
        on = model.marks
        payload = provenance.watermark_payload(model.provenance_tag()) if on["watermark"] else None
        results = []
        for image, pixels, found in zip(images, merged, faces, strict=True):
            self.frames += 1
            if not found:
                self.faceless += 1
                self._say(
                    "faceless",
                    f"no face found in {Path(image.source).name if image.source else 'an image'}: frames "
                    "without a face are written unchanged and unmarked (said once; in Python, "
                    "`model.merger.faceless` counts them)",
                )
                results.append(image)
                continue
            out = ImageData(luma(pixels) if image.is_grey else pixels, image.alpha, image.bit_depth,
                            image.source, image.format)  # fmt: skip
            if on["badge"]:
                out = marks.add_badge(out)
            if payload is not None:
                out = marks.embed_watermark(out, payload)
            results.append(out)
        return results

    def _say(self, kind: str, message: str) -> None:
        """A warning, once per `kind` for this model."""
        if kind not in self._said:
            self._said.add(kind)
            warnings.warn(message, RuntimeWarning, stacklevel=4)
