"""Layer-by-layer translation (`i2i.ops.layerwise`): the traced network run an operation at a time over the
whole image, in bands of rows, equals the untiled forward pass (to float rounding) for the CycleGAN and
pix2pix generators in their option sets and for a network of every operation it knows, with bands of one
row and larger; operations it does not know are refused so the caller tiles; temporary files are checked,
written where TMPDIR says and removed."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from i2i.errors import I2IError
from i2i.io.imageio import ImageData
from i2i.ops import layerwise, tiled_translate
from tests.conftest import tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


def both(run, networks, x, budget, probe_side=32):
    """(untiled output, layer-by-layer output) of `run` on `x`."""
    with torch.inference_mode():
        whole = run(x).float()
        streamed = layerwise.forward(run, x, networks, budget=budget, probe_side=probe_side)
    return whole, streamed


def model_run(model, **conditions):
    return (lambda t: model.forward_tensor(t, **conditions)), list(model.networks.values())


@pytest.mark.parametrize(
    ("name", "settings", "size", "conditions"),
    [
        ("cyclegan", {"netG": "resnet_1blocks"}, (36, 44), {}),
        (
            "cyclegan",
            {"netG": "resnet_2blocks", "upsampling": "resize_conv"},
            (40, 28),
            {"direction": "BtoA"},
        ),
        (
            "cyclegan",
            {"netG": "resnet_1blocks", "padding_type": "replicate", "norm": "instance_affine"},
            (32, 52),
            {},
        ),
        ("cyclegan", {"netG": "resnet_1blocks", "padding_type": "zero"}, (28, 36), {}),
        ("pix2pix", {"netG": "unet_32"}, (64, 32), {}),
        ("pix2pix", {"netG": "resnet_1blocks"}, (36, 44), {}),
        ("stargan", {}, (36, 44), {"attrs": ["Male", "Young"]}),  # label maps expanded to the image's size
    ],
    ids=[
        "resnet",
        "resize_conv",
        "replicate_affine",
        "zero_pad",
        "unet_batch_stats",
        "resnet_batch_stats",
        "stargan",
    ],  # fmt: skip
)
@pytest.mark.parametrize("budget", [1, 1 << 20], ids=["one_row_bands", "bands"])
def test_reference_generators_match_untiled(name, settings, size, conditions, budget):
    torch.manual_seed(0)
    model = tiny_model(name, **settings)
    x = torch.rand(1, 3, *size) * 2 - 1
    before = x.clone()
    whole, streamed = both(*model_run(model, **conditions), x, budget)
    assert streamed.shape == whole.shape
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)
    assert torch.equal(x, before)  # in-place layers did not touch the input


class EveryOperation(nn.Module):
    """Each operation `layerwise` knows, with strides, dilations, asymmetric paddings and padding modes that
    test its row mapping; sizes line up for heights and widths that are multiples of 12."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d((1, 2, 2, 1))
        self.first = nn.Conv2d(3, 6, 4)
        self.norm = nn.InstanceNorm2d(6, affine=True)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.dilated = nn.Conv2d(6, 6, 3, padding=2, dilation=2, padding_mode="reflect")
        self.valid = nn.Conv2d(6, 6, 3)
        self.down = nn.Conv2d(6, 8, 3, stride=2, padding=1, padding_mode="replicate")
        self.smooth = nn.AvgPool2d(3, stride=1, padding=1)
        self.halve = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(6).train()
        self.third = nn.MaxPool2d(3)
        self.triple = nn.ConvTranspose2d(6, 6, 5, stride=3, padding=1)
        self.bilinear = nn.Upsample(scale_factor=2, mode="bilinear")
        self.last = nn.Conv2d(24, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.norm(self.first(self.pad(x))))
        y = y + torch.relu(self.dilated(y)) * 0.5
        y = y - self.valid(F.pad(y, (1, 1, 2, 0), value=0.5))
        u = F.interpolate(self.bn(self.up(self.halve(self.smooth(self.down(y))))), scale_factor=2)
        t = self.triple(self.third(y))
        return torch.tanh(self.last(torch.cat([y, u, t, self.side(y)], 1)))

    def side(self, y: torch.Tensor) -> torch.Tensor:
        b = self.bilinear(self.halve(F.pad(y, (0, 0, 1, 1), mode="replicate")))
        return self.valid(
            F.pad(b, (1, 1, 0, 0), mode="reflect")
        )  # the replicated rows' 2 extra cut by `valid`


class Sliced(EveryOperation):
    def side(self, y: torch.Tensor) -> torch.Tensor:
        return self.bilinear(self.halve(F.pad(y, (0, 0, 1, 1), mode="replicate")[..., 1:-1, :]))


def test_slicing_is_not_a_known_operation():
    net = Sliced()
    with pytest.raises(layerwise.Unsupported, match="getitem"):
        both(net, [net], torch.rand(1, 3, 24, 24), 1 << 20, probe_side=48)


@pytest.mark.parametrize("size", [(48, 36), (60, 24)])
@pytest.mark.parametrize("budget", [1, 4096, 1 << 22])
def test_every_known_operation_matches_untiled(size, budget):
    torch.manual_seed(1)
    net = EveryOperation()
    whole, streamed = both(net, [net], torch.rand(1, 3, *size), budget, probe_side=48)
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)


class WithNorm(nn.Module):
    def __init__(self, *middle: nn.Module) -> None:
        super().__init__()
        self.conv, self.norm, self.middle = (
            nn.Conv2d(3, 4, 3, padding=1),
            nn.InstanceNorm2d(4),
            nn.Sequential(*middle),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.middle(self.norm(self.conv(x)))


@pytest.mark.parametrize(
    ("net", "why"),
    [
        (WithNorm(nn.Dropout(0.5).train()), "random dropout"),
        (WithNorm(nn.GroupNorm(2, 4)), "GroupNorm"),
        (WithNorm(nn.Flatten()), "Flatten"),
        (WithNorm(nn.Conv2d(4, 4, 3, padding="same")), "padding"),
        (WithNorm(nn.Upsample(size=(8, 8))), "fixed size"),
        (nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3).eval()), "no layer normalises"),
    ],
    ids=["dropout", "group_norm", "flatten", "same_padding", "fixed_size", "running_statistics"],
)
def test_unknown_operations_are_refused_before_any_work(net, why, tmp_path, monkeypatch):
    monkeypatch.setattr(layerwise.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(layerwise.Unsupported, match=why):
        both(net, [net], torch.rand(1, 3, 16, 16), 1 << 20)
    assert not list(tmp_path.iterdir())


def test_the_network_is_traced_in_the_modes_the_model_sets():
    """pix2pix switches its batch norms to per-image statistics only inside its forward pass: the trace
    records that, and dropout run as at training time is refused (tiles take it)."""
    torch.manual_seed(0)
    model = tiny_model("pix2pix", netG="unet_64", no_dropout=False)
    run, networks = model_run(model)
    traced = layerwise.trace(run, networks)
    stats = [n.meta["input_statistics"] for n in traced.graph.nodes if "input_statistics" in n.meta]
    assert stats and all(stats)
    with pytest.raises(layerwise.Unsupported, match="dropout"):
        layerwise.plan(layerwise.trace(*model_run(model, mode="train")))
    layerwise.plan(traced)  # dropout off: runs


def spill_everything(monkeypatch):
    """No activation held in memory: every stored one goes through a file."""
    monkeypatch.setattr(layerwise.Executor, "hold", lambda self, size: size <= 0)


class Recorded:
    """`tempfile.TemporaryFile` as layer-by-layer translation opens it, recording the folders asked for and
    the bytes written; `full` makes every write fail as on a full disk."""

    def __init__(self, monkeypatch, full: bool = False) -> None:
        self.folders, self.written, self.full = [], 0, full
        self.temporary = layerwise.tempfile.TemporaryFile
        monkeypatch.setattr(layerwise.tempfile, "TemporaryFile", self.open)

    def open(self, *args, **kwargs):
        self.folders.append(kwargs["dir"])
        file, recorder = self.temporary(*args, **kwargs), self

        class File:
            def __getattr__(self, name):
                return getattr(file, name)

            def write(self, data):
                if recorder.full:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done = file.write(data)
                recorder.written += done
                return done

        return File()


def test_activations_go_through_unnamed_files_in_tmpdir(tmp_path, monkeypatch):
    spill_everything(monkeypatch)
    monkeypatch.setattr(layerwise.tempfile, "tempdir", str(tmp_path))
    files = Recorded(monkeypatch)
    torch.manual_seed(0)
    model = tiny_model("cyclegan", netG="resnet_1blocks")
    whole, streamed = both(*model_run(model), torch.rand(1, 3, 36, 44) * 2 - 1, 1 << 14)
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)
    assert files.folders and all(Path(f) == tmp_path for f in files.folders) and files.written > 0
    assert not list(tmp_path.iterdir())  # unnamed files: nothing to remove, nothing left after a kill


def test_too_little_temporary_room_is_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(layerwise.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(layerwise.shutil, "disk_usage", lambda path: SimpleNamespace(free=1000))
    torch.manual_seed(0)
    model = tiny_model("cyclegan", netG="resnet_1blocks")
    with pytest.raises(I2IError, match=r"needs about \d+ GiB of temporary files .* set TMPDIR") as caught:
        both(*model_run(model), torch.rand(1, 3, 36, 44), 1 << 20)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_a_full_disk_while_writing_is_one_line(tmp_path, monkeypatch):
    spill_everything(monkeypatch)
    monkeypatch.setattr(layerwise.tempfile, "tempdir", str(tmp_path))
    Recorded(monkeypatch, full=True)
    torch.manual_seed(0)
    model = tiny_model("cyclegan", netG="resnet_1blocks")
    with pytest.raises(I2IError, match="No space left on device.*TMPDIR") as caught:
        both(*model_run(model), torch.rand(1, 3, 36, 44), 1 << 20)
    assert "\n" not in str(caught.value) and str(tmp_path) in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_bf16_activations_are_stored_as_they_are(monkeypatch):
    spill_everything(monkeypatch)
    torch.manual_seed(0)
    model = tiny_model("cyclegan", netG="resnet_1blocks")
    run, networks = model_run(model)
    x = torch.rand(1, 3, 36, 44) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        whole, streamed = both(run, networks, x, 1 << 14)
    assert (streamed - whole).abs().max() < 0.05  # bf16 rounding, summed in another order


def test_translate_runs_instance_norm_networks_layer_by_layer(monkeypatch):
    """`translate` over the memory budget: a network with whole-image statistics runs layer by layer
    (exact); one without (pix2pix in eval mode) is tiled."""
    from tests.ops.test_tiled_translate import photo, translate

    torch.manual_seed(0)
    model = tiny_model("cyclegan", netG="resnet_1blocks")
    image = photo(64, 96, seed=3)
    whole = translate(model, image, 0)
    calls = {"layers": 0, "tiles": 0}
    forward, tiled = layerwise.forward, tiled_translate.tiled_forward

    def counted(key, function):
        def call(*args, **kwargs):
            calls[key] += 1
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(layerwise, "forward", counted("layers", forward))
    monkeypatch.setattr(tiled_translate, "tiled_forward", counted("tiles", tiled))
    monkeypatch.setattr(tiled_translate, "available_memory", lambda device: 100_000)
    streamed = translate(model, image, None)
    assert calls == {"layers": 1, "tiles": 0}
    assert abs(streamed - whole).max() < 1e-5

    pix2pix = tiny_model("pix2pix", netG="resnet_1blocks", test_mode="eval")
    translate(pix2pix, image, None)
    assert calls == {"layers": 2, "tiles": 1}  # tried, refused (no such layer), tiled
    assert model.translate_images([ImageData(image, None, 8)])[0].pixels.shape == image.shape
