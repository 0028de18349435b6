"""The shared model pieces (the one instance norm, the one GAN loss) and the contract methods the models
gained: StarGAN v2's variants, pix2pix's paired evaluation split, ESRGAN's foreign files, the demos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import i2i
from i2i import registry
from i2i.data.paired import make_paired
from i2i.errors import UsageError
from i2i.io import imageio
from i2i.models._shared.layers import InstanceNorm2d
from i2i.models._shared.losses import GANLoss, gan_loss
from i2i.models.stargan_v2.model import StarGANv2


@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_is_the_native_function_in_every_mode(channels_last):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    native = torch.nn.InstanceNorm2d(4, affine=True)
    expected = native(x)
    for norm in (InstanceNorm2d(4, affine=True), InstanceNorm2d(4, affine=True, group_norm=True)):
        norm.load_state_dict(native.state_dict())
        given = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        torch.testing.assert_close(norm(given), expected, atol=1e-5, rtol=1e-5)
    tracked = InstanceNorm2d(4, affine=True, track_running_stats=True).eval()
    assert set(tracked.state_dict()) == {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    tracked.instance_statistics = True  # eval with each image's statistics, running ones untouched
    torch.testing.assert_close(tracked(x), InstanceNorm2d(4, affine=True)(x), atol=1e-5, rtol=1e-5)
    assert torch.equal(tracked.running_mean, torch.zeros(4))


def test_one_gan_loss_for_every_formulation():
    pred = torch.tensor([[0.3], [-1.2]])
    for mode in ("lsgan", "vanilla", "wgangp"):
        for real in (True, False):
            assert torch.equal(GANLoss(mode)(pred, real), gan_loss(pred, real, mode))
    assert torch.equal(gan_loss(pred, True, "wgangp"), gan_loss(pred, True, "wgan"))
    with pytest.raises(i2i.I2IError, match="unknown gan_type"):
        gan_loss(pred, True, "nope")


def test_stargan_v2_styles_are_generic_variants(tmp_path):
    model = i2i.load("stargan-v2", device="cpu", precision="fp32", **StarGANv2.tiny_config)
    image = imageio.ImageData(np.random.default_rng(0).random((20, 20, 3), np.float32), None, 8)
    reference = tmp_path / "ref.png"
    imageio.write_image(reference, imageio.ImageData(np.full((24, 24, 3), 0.3, np.float32), None, 8))
    assert model.variant_count({}) == 1 and model.variant_count({"num_styles": 3}) == 3
    assert model.variant_count({"reference": [reference, reference]}) == 2
    # one reference in a list and one style: plain translation, as with a single reference
    (listed,) = model.translate_images([image], target_domain=1, reference=[reference], num_styles=1)
    (single,) = model.translate_images([image], target_domain=1, reference=reference)
    assert np.array_equal(listed.pixels, single.pixels)
    variants = model.translate_variants([image, image], target_domain=2, seed=4, num_styles=3)
    styles = model.translate_styles([image, image], target_domain=2, seed=4, num_styles=3)
    assert [len(row) for row in variants] == [3, 3]
    pairs = [(a, b) for ra, rb in zip(variants, styles, strict=True) for a, b in zip(ra, rb, strict=True)]
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in pairs)
    assert len(model.translate_variants([image], reference=[reference, reference])[0]) == 2
    with pytest.raises(UsageError, match="translate_variants"):
        model.translate_images([image], num_styles=2)


def test_pix2pix_paired_evaluation_split(tmp_path):
    data = make_paired(tmp_path / "shapes", size=32, split_counts={"train": 2, "test": 3})
    model = i2i.load("pix2pix", device="cpu", precision="fp32", netG="unet_32", ngf=4, ndf=4, crop_size=32)
    split = model.paired_evaluation_dataset(data, "test")
    assert len(split) == 3 and split[0]["A"].shape == split[0]["B"].shape == (3, 32, 32)


def test_contract_declarations():
    esrgan = registry.entry("esrgan")
    assert esrgan.default_for == ("upscale",) and esrgan.foreign_suffixes == (".param", ".bin")
    for entry in registry.entries():
        assert entry.catalogue is not None and entry.catalogue.name == "catalogue.json", entry.name
    demos = [name for name in registry.model_names() if registry.model_class(name).has_demo()]
    assert demos == ["cyclegan", "esrgan", "maskgan", "pix2pix", "stargan-v2"]
