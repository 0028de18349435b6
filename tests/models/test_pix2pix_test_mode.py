"""pix2pix translates by default as the reference's test.py does (no --eval): each image normalised with its
own BatchNorm statistics, here without dropout, whatever the batch size; `--mode eval` still gives the
running statistics."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from i2i.cli import app
from i2i.models._shared.cyclegan_pix2pix.networks import define_G


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = define_G(3, 3, 8, "unet_128", "batch", True)  # with dropout layers
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, value in net.state_dict().items():
            if key.endswith("running_mean"):
                value.copy_(torch.randn(value.shape, generator=gen))  # stale statistics, unlike any image
            elif key.endswith("running_var"):
                value.copy_(torch.rand(value.shape, generator=gen) * 4 + 0.5)
    return net


def _reference_test_py(net: nn.Module, rgb: np.ndarray) -> np.ndarray:
    """test.py without --eval at batch 1 (train-mode BatchNorm), dropout switched off."""
    x = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None] * 2 - 1
    net.train()
    for m in net.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    with torch.no_grad():
        y = net(x)
    net.eval()
    return ((y[0].permute(1, 2, 0).numpy() + 1) / 2.0 * 255.0).clip(0, 255).astype(np.uint8)


def test_default_is_the_reference_test_behaviour_at_any_batch_size(tmp_path):
    net = _net()
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    images = {}
    for name in ("a.png", "b.png", "c.png"):
        images[name] = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(images[name]).save(tmp_path / "in" / name)
    base = ["translate", "--model", "pix2pix", "--weights", str(tmp_path / "latest_net_G.pth"), "--device", "cpu",
            "--precision", "fp32", "--no-progress", str(tmp_path / "in")]  # fmt: skip
    outputs = {}
    for label, extra in (("b1", []), ("b3", ["--batch-size", "3"]), ("eval", ["--mode", "eval"])):
        result = CliRunner().invoke(app, [*base, str(tmp_path / label), *extra])
        assert result.exit_code == 0, result.output
        outputs[label] = {n: np.asarray(Image.open(tmp_path / label / n)) for n in images}
    for name, rgb in images.items():
        expected = _reference_test_py(net, rgb)
        diff = np.abs(outputs["b1"][name].astype(int) - expected.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # float noise truncated to 8 bits
        assert np.array_equal(outputs["b1"][name], outputs["b3"][name])  # batching changes nothing
        assert np.abs(outputs["eval"][name].astype(int) - expected.astype(int)).mean() > 5  # eval differs


def test_per_image_statistics_equal_a_batch_of_one():
    from i2i.models._shared.cyclegan_pix2pix.networks import batch_statistics_forward

    net = _net()
    x = torch.randn(3, 3, 128, 128)
    buffers = [b.clone() for b in net.buffers()]
    with torch.no_grad():
        together = batch_statistics_forward(net, x, dropout=False, seed=None)
        alone = torch.cat(
            [batch_statistics_forward(net, x[i : i + 1], dropout=False, seed=None) for i in range(3)]
        )
    assert torch.allclose(together, alone, atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(buffers, net.buffers(), strict=True))  # nothing updated
    assert F.mse_loss(together, net.eval()(x).detach()) > 1e-4
