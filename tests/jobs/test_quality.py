"""FID, KID and LPIPS in `i2i eval`: the same numbers as torch-fidelity and lpips on the same images and
weights (randomly initialised feature networks of the real architectures), and a one-line error offline."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.errors import I2IError
from i2i.io import imageio
from i2i.jobs.evaluate import _to_image, evaluate_sr
from i2i.jobs.quality import Quality, QualityOptions

torch_fidelity = pytest.importorskip("torch_fidelity")
lpips = pytest.importorskip("lpips")
torchvision = pytest.importorskip("torchvision")
from torch_fidelity import feature_extractor_inceptionv3 as fe  # noqa: E402

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def feature_nets(tmp_path_factory) -> tuple[Path, Path]:
    """Random weights of torch-fidelity's FID Inception and of torchvision's AlexNet, saved as the real
    files are (state dicts); He-initialised so that the features do not vanish through the deep net."""
    folder = tmp_path_factory.mktemp("feature_nets")
    torch.manual_seed(0)
    with (
        mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None),
        mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}),
    ):
        net = fe.FeatureExtractorInceptionV3("random", ["2048"])
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(net.state_dict(), folder / "inception.pth")
    torch.save(torchvision.models.alexnet().state_dict(), folder / "alexnet.pth")
    return folder / "inception.pth", folder / "alexnet.pth"


@pytest.fixture(scope="module")
def tiny_pix2pix(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    model = i2i.load(
        "pix2pix", netG="unet_128", ngf=4, ndf=4, load_size=32, crop_size=32, device="cpu", precision="fp32"
    )
    model.save(path)
    return path


def _save_all(folder: Path, images: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for index, pixels in enumerate(images):
        Image.fromarray(imageio.quantize(pixels, 8).astype(np.uint8)).save(folder / f"{index:03d}.png")


def _library_lpips(alexnet: Path, outputs: list[np.ndarray], targets: list[np.ndarray]) -> float:
    """lpips' own LPIPS, its AlexNet built by torchvision from the same state dict."""
    backbone = torchvision.models.alexnet()
    backbone.load_state_dict(torch.load(alexnet, weights_only=True))
    with mock.patch.object(lpips.pretrained_networks.tv, "alexnet", lambda *a, **k: backbone):
        net = lpips.LPIPS(net="alex", verbose=False)
    values = []
    for a, b in zip(outputs, targets, strict=True):
        x, y = (torch.from_numpy(imageio.quantize(p, 8) / 255).float().permute(2, 0, 1)[None] for p in (a, b))
        with torch.no_grad():
            values.append(float(net(x, y, normalize=True).flatten()[0]))
    return float(np.mean(values))


# FID's 2048 x 2048 matrix square roots cost seconds: the default suite checks KID and LPIPS, `slow` all
@pytest.mark.parametrize("metrics", ["kid,lpips", pytest.param("all", marks=pytest.mark.slow)])
def test_eval_paired_metrics_equal_the_libraries(tmp_path, feature_nets, tiny_pix2pix, metrics):
    inception, alexnet = feature_nets
    data = tmp_path / "shapes"
    assert RUNNER.invoke(app, ["data", "synth", str(data), "--count", "6", "--size", "32"]).exit_code == 0
    args = [
        "eval",
        "paired",
        str(data),
        "--phase",
        "train",
        "--weights",
        str(tiny_pix2pix),
        "--device",
        "cpu",
    ]
    flags = ["--metrics", metrics, "--inception", str(inception), "--lpips-weights", str(alexnet)]
    result = RUNNER.invoke(app, [*args, *flags, "--kid-subset-size", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    # the same translations, written as PNGs, measured by torch-fidelity and lpips themselves
    model = i2i.load(weights=tiny_pix2pix, device="cpu", precision="fp32")
    dataset = model.paired_evaluation_dataset(data, "train")
    items = [dataset[i] for i in range(len(dataset))]
    outputs = [
        o.pixels for o in model.translate_images([_to_image(i["A"], model.value_range) for i in items])
    ]
    targets = [_to_image(i["B"], model.value_range).pixels for i in items]
    assert report["images"] == len(items) >= 3
    _save_all(tmp_path / "real", targets)
    _save_all(tmp_path / "fake", outputs)
    expected = torch_fidelity.calculate_metrics(
        input1=str(tmp_path / "real"),
        input2=str(tmp_path / "fake"),
        fid=metrics == "all",
        kid=True,
        kid_subset_size=3,
        cuda=False,
        cache=False,
        verbose=False,
        feature_extractor_weights_path=str(inception),
    )
    if metrics == "all":
        assert report["fid"] == pytest.approx(expected["frechet_inception_distance"], rel=1e-4)
        assert report["fid"] > 0
    else:
        assert "fid" not in report
    assert report["kid_mean"] == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-4)
    assert report["kid_std"] == pytest.approx(expected["kernel_inception_distance_std"], rel=1e-4)
    assert report["kid_std"] > 0
    assert report["lpips"] == pytest.approx(_library_lpips(alexnet, outputs, targets), rel=1e-5)


def test_lpips_of_an_image_with_itself_is_zero(feature_nets):
    _, alexnet = feature_nets
    rng = np.random.default_rng(0)
    images = [rng.random((32, 40, 3), dtype=np.float32) for _ in range(2)]
    quality = Quality(QualityOptions(("lpips",), lpips=str(alexnet)))
    quality.add_real(images)  # no FID/KID asked for: no Inception features
    quality.add_pairs(images, images)
    quality.add_pairs(images, images[::-1])
    report = quality.report()
    assert set(report) == {"lpips"} and 0 < report["lpips"] < 1
    same = Quality(QualityOptions(("lpips",), lpips=str(alexnet)))
    same.add_pairs(images, images)
    assert same.report()["lpips"] == pytest.approx(0, abs=1e-6)


def test_sr_lpips_and_grey_images(tmp_path, feature_nets):
    _, alexnet = feature_nets

    class Nearest:
        scale = 2

        def translate_images(self, images, *, batch_size=1):
            return [imageio.ImageData(i.pixels.repeat(2, axis=0).repeat(2, axis=1), None, 8) for i in images]

    rng = np.random.default_rng(1)
    _save_all(tmp_path / "hr", [rng.random((32, 36, 3)), rng.random((34, 34, 3))])
    Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(tmp_path / "hr" / "grey.png")
    options = QualityOptions(("lpips",), lpips=str(alexnet))
    report = evaluate_sr(Nearest(), tmp_path / "hr", quality=options)
    assert report["images"] == 3 and 0 < report["lpips"] < 2 and "fid" not in report


def test_unpaired_lpips_is_against_the_ground_truth(tmp_path, feature_nets):
    from i2i import registry
    from i2i.data.layouts import make_for_layout
    from i2i.jobs.evaluate import evaluate_unpaired

    _, alexnet = feature_nets
    data = make_for_layout("unaligned", tmp_path / "data", count=10, size=32)
    model = i2i.load(
        "cyclegan", device="cpu", precision="fp32", **registry.model_class("cyclegan").tiny_config
    )
    report = evaluate_unpaired(model, data, quality=QualityOptions(("lpips",), lpips=str(alexnet)))
    pairs = sorted((data / "testA").glob("*.png"))
    outputs = [o.pixels for o in model.translate_images([imageio.read_image(p) for p in pairs])]
    truth = [imageio.read_image(data / "truth" / "testA_to_B" / p.name).pixels for p in pairs]
    assert report["images"] == len(pairs) and report["lpips"] == pytest.approx(
        _library_lpips(alexnet, outputs, truth), rel=1e-5
    )


def test_feature_weights_offline_is_one_line_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("I2I_OFFLINE", "1")
    quality = Quality(QualityOptions(("fid",)))
    with pytest.raises(I2IError) as error:
        quality.add_real([np.zeros((8, 8, 3), np.float32)])
    message = str(error.value)
    assert "\n" not in message and "fid-inception-v3" in message and "I2I_OFFLINE" in message
    assert "weights-inception-2015-12-05-6726825d.pth" in message and "fid-inception-v3.pth" in message


def test_unknown_metric_and_wrong_weights_are_user_errors(tmp_path, feature_nets):
    inception, alexnet = feature_nets
    with pytest.raises(I2IError, match="unknown metric 'is'"):
        QualityOptions(("is",))
    quality = Quality(QualityOptions(("fid",), inception=str(alexnet)))
    with pytest.raises(I2IError, match="not the weights of torch-fidelity's FID Inception"):
        quality.add_fake([np.zeros((8, 8, 3), np.float32)])
    quality = Quality(QualityOptions(("lpips",), lpips=str(alexnet)))
    with pytest.raises(I2IError, match="at least 31 pixels a side"):
        quality.add_pairs([np.zeros((30, 40, 3), np.float32)], [np.zeros((30, 40, 3), np.float32)])


@pytest.mark.slow
def test_stargan_v2_protocol_equals_the_libraries(tmp_path, feature_nets):
    from i2i.data.domains import make_domains
    from i2i.models.stargan_v2.model import StarGANv2

    inception, alexnet = feature_nets
    data = make_domains(tmp_path / "data", count=5, size=32, domains=2)
    settings = {**StarGANv2.tiny_config, "num_domains": 2, "domains": "ember,moss"}
    model = i2i.load("stargan-v2", device="cpu", precision="fp32", **settings)
    model.save(tmp_path / "tiny.safetensors")
    args = ["eval", "domains", str(data), "--weights", str(tmp_path / "tiny.safetensors"), "--device", "cpu"]
    flags = ["--protocol", "stargan-v2", "--outputs-per-image", "3", "--inception", str(inception)]
    result = RUNNER.invoke(app, [*args, *flags, "--lpips-weights", str(alexnet), "--json"])
    assert result.exit_code == 0, result.output
    latent, reference = json.loads(result.stdout)
    assert set(latent["tasks"]) == {"ember2moss", "moss2ember"} and reference["mode"] == "reference"

    # latent-guided ember -> moss by hand: the one val image in styles 0..2 of seed 0
    (source,) = sorted((data / "val" / "ember").glob("*.png"))
    (outputs,) = model.translate_variants(
        [imageio.read_image(source)], target_domain="moss", seed=0, num_styles=3
    )
    _save_all(tmp_path / "fake", [o.pixels for o in outputs])
    expected = torch_fidelity.calculate_metrics(
        input1=str(data / "train" / "moss"),
        input2=str(tmp_path / "fake"),
        fid=True,
        cuda=False,
        cache=False,
        verbose=False,
        feature_extractor_weights_path=str(inception),
    )
    task = latent["tasks"]["ember2moss"]
    assert task["fid"] == pytest.approx(expected["frechet_inception_distance"], rel=1e-4)
    pairs = [(0, 1), (0, 2), (1, 2)]
    diversity = _library_lpips(
        alexnet, [outputs[i].pixels for i, _ in pairs], [outputs[j].pixels for _, j in pairs]
    )
    assert task["lpips"] == pytest.approx(diversity, rel=1e-5) and task["lpips"] > 0
    assert latent["fid_mean"] == pytest.approx(np.mean([t["fid"] for t in latent["tasks"].values()]))


def test_protocol_refusals(tmp_path):
    from i2i.jobs.diversity import evaluate_stargan_v2_protocol

    with pytest.raises(I2IError, match="at least 2 outputs per image"):
        evaluate_stargan_v2_protocol(None, tmp_path, outputs_per_image=1)
    result = RUNNER.invoke(
        app, ["eval", "domains", str(tmp_path), "--weights", "x.safetensors", "--protocol", "fid"]
    )
    assert result.exit_code == 2 and "--protocol must be classifier or stargan-v2" in result.output
