"""MTCNN (Zhang et al. 2016): a three-stage cascade of tiny networks that finds faces and 5 landmarks (eye
centres, nose tip, mouth corners), for the `mtcnn5` landmark provider.

The networks carry the parameter names of facenet-pytorch's port (MIT), so its weight files (`pnet.pt`,
`rnet.pt`, `onet.pt`: plain state dicts, about 2 MB, inside the PyPI package `facenet-pytorch`) load with
`torch.load(weights_only=True)` and `strict=True`. The cascade follows the paper and that port: an image
pyramid (factor 0.709 from the smallest face size) through P-Net, non-maximum suppression within and across
scales, box regression, squared boxes, then R-Net on 24 px and O-Net on 48 px crops (area resampling) with
thresholds 0.6, 0.7, 0.7, and a final suppression by intersection over the smaller box. Pixels enter as
(value - 127.5) / 128, RGB.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import nms

from i2i.errors import I2IError

WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
INSTALL = "pip install --no-deps facenet-pytorch (only its weight files are read)"


# ------------------------------------------------------------------------------------------- networks


class PNet(nn.Module):
    """Proposal net: fully convolutional over 12 px windows (stride 2): box offsets, face probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(1)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    # the weights came from Caffe/TF via a (W, H, C) flattening order
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class RNet(nn.Module):
    """Refinement net on 24 px crops: box offsets and face probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(_flatten(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), self.dense5_1(x).softmax(1)


class ONet(nn.Module):
    """Output net on 48 px crops: box offsets, 5 landmarks (x1..x5, y1..y5 relative to the box) and
    face probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_flatten(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(1)


def weights_folder(folder: str | Path | None = None) -> Path:
    """`folder`, or the `data/` folder of an installed facenet-pytorch (found without importing it);
    `I2IError` naming what to install when neither holds the three weight files."""
    if folder is None:
        spec = importlib.util.find_spec("facenet_pytorch")
        if spec is None or spec.origin is None:
            raise I2IError(f"the mtcnn5 provider needs MTCNN's weight files: {INSTALL}, or weights=DIR")
        folder = Path(spec.origin).parent / "data"
    folder = Path(folder)
    missing = [name for name in WEIGHT_FILES if not (folder / name).is_file()]
    if missing:
        raise I2IError(f"{folder}: no MTCNN weight file {', '.join(missing)}; {INSTALL}, or weights=DIR")
    return folder


def load_networks(folder: str | Path | None = None) -> tuple[PNet, RNet, ONet]:
    """The three networks with the weights of `weights_folder(folder)`, in eval mode."""
    folder = weights_folder(folder)
    nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, WEIGHT_FILES, strict=True):
        try:
            state = torch.load(folder / name, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError, pickle.UnpicklingError) as exc:
            raise I2IError(f"{folder / name}: not MTCNN weights ({str(exc).splitlines()[0][:160]})") from None
        net.eval()
    return nets


# ------------------------------------------------------------------------------------------- cascade


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes (x1, y1, x2, y2, ...) grown to squares about their centres."""
    out = boxes.clone()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2], out[:, 3] = out[:, 0] + side, out[:, 1] + side
    return out


def _regress(boxes: torch.Tensor, offsets: torch.Tensor, plus_one: bool = True) -> torch.Tensor:
    """Boxes moved by the networks' offsets (in units of the box's size)."""
    extra = 1 if plus_one else 0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out = boxes.clone()
    out[:, :4] = boxes[:, :4] + offsets[:, :4] * torch.stack([w, h, w, h], 1)
    return out


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(crops resized to `size` by area averaging, the boxes kept): each box truncated to whole pixels and
    clipped to the image (1-based corners, as the reference port does); empty ones are dropped."""
    _, _, height, width = image.shape
    ints = boxes[:, :4].trunc().long()
    x1, y1 = ints[:, 0].clamp(min=1), ints[:, 1].clamp(min=1)
    x2, y2 = ints[:, 2].clamp(max=width), ints[:, 3].clamp(max=height)
    keep = (x2 > x1 - 1) & (y2 > y1 - 1)
    crops = [
        F.interpolate(image[:, :, y1[k] - 1 : y2[k], x1[k] - 1 : x2[k]], size=(size, size), mode="area")
        for k in torch.nonzero(keep).flatten().tolist()
    ]
    if not crops:
        return image.new_zeros((0, 3, size, size)), boxes[keep]
    return _normalise(torch.cat(crops)), boxes[keep]


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy suppression by intersection over the smaller box's area (pixel-inclusive areas)."""
    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    keep = []
    while order.numel():
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest]) + 1).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest]) + 1).clamp(min=0)
        overlap = w * h / torch.minimum(area[i], area[rest])
        order = rest[overlap <= threshold]
    return torch.tensor(keep, dtype=torch.long)


@torch.inference_mode()
def detect(
    image: np.ndarray,
    nets: tuple[nn.Module, nn.Module, nn.Module],
    *,
    min_size: int = 20,
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
    factor: float = 0.709,
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (N, 5): x1, y1, x2, y2, probability; points (N, 5, 2): eyes, nose, mouth corners, image
    pixels) of the faces in `image` (RGB uint8 H x W x 3), most probable first."""
    pnet, rnet, onet = nets
    x = torch.from_numpy(np.array(image[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
    height, width = x.shape[2:]
    scale, shortest, scales = 12.0 / min_size, min(height, width) * 12.0 / min_size, []
    while shortest >= 12:
        scales.append(scale)
        scale, shortest = scale * factor, shortest * factor
    found = []
    for scale in scales:
        resized = F.interpolate(x, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
        offsets, probs = pnet(_normalise(resized))
        hit = probs[0, 1] >= thresholds[0]
        rows, cols = torch.nonzero(hit, as_tuple=True)
        corner = torch.stack([cols, rows], 1).float()
        start, end = ((2 * corner + 1) / scale).floor(), ((2 * corner + 12) / scale).floor()
        boxes = torch.cat([start, end, probs[0, 1][hit][:, None], offsets[0][:, hit].T], 1)
        found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
    boxes = torch.cat(found) if found else x.new_zeros((0, 9))
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    boxes = _square(_regress(boxes[:, :5], boxes[:, 5:9], plus_one=False))
    crops, boxes = _crops(x, boxes, 24)
    if len(boxes):
        offsets, probs = rnet(crops)
        passed = probs[:, 1] > thresholds[1]
        boxes = torch.cat([boxes[passed, :4], probs[passed, 1:2]], 1)
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[keep], offsets[passed][keep]))
    points = x.new_zeros((0, 5, 2))
    crops, boxes = _crops(x, boxes, 48)
    if len(boxes):
        offsets, marks, probs = onet(crops)
        passed = probs[:, 1] > thresholds[2]
        boxes, offsets, marks = (
            torch.cat([boxes[passed, :4], probs[passed, 1:2]], 1),
            offsets[passed],
            marks[passed],
        )
        w, h = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
        points = torch.stack([w * marks[:, :5] + boxes[:, 0:1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], 2)
        boxes = _regress(boxes, offsets)
        keep = _nms_min(boxes[:, :4], boxes[:, 4], 0.7)
        boxes, points = boxes[keep], points[keep]
    return boxes.numpy().astype(np.float64), points.numpy().astype(np.float64)
