"""Cases users meet with third-party files, messy folders and unusual settings: each works, or fails
once, in one line, with the exit code of its kind (2: the command line; 1: a file or the data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import i2i
from i2i.data.layouts import make_for_layout
from i2i.errors import I2IError, UsageError
from i2i.io import imageio
from i2i.models._shared.cyclegan_pix2pix.networks import define_D, define_G
from i2i.models.stargan.networks import Generator as StarGANGenerator
from i2i.models.stargan_v2.fan import FAN
from i2i.train.loop import TrainOptions, train
from tests.cli.test_bad_input import FAST, assert_one_line_error, assert_only_the_error, invoke


def picture(seed: int, size: tuple[int, int], channels: int = 3) -> np.ndarray:
    shape = (*size, channels) if channels > 1 else size
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def tiny_run_options(data: Path, run_dir: Path, **changes) -> list[str]:
    settings = {"netG": "unet_128", "ngf": "4", "ndf": "4", "load_size": "128", "crop_size": "128"}
    settings |= changes
    return [
        "train", "pix2pix", "--data", str(data), "--run-dir", str(run_dir), "--workers", "0",
        "--no-progress", "--sample-every", "0", "--precision", "fp32", "--device", "cpu",
        *[x for k, v in settings.items() for x in ("--set", f"{k}={v}")],
    ]  # fmt: skip


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> Path:
    return make_for_layout("paired", tmp_path_factory.mktemp("paired") / "data", count=4, size=32, seed=0)


# --------------------------------------------------------------------------------------- translation


def test_a_grey_to_colour_network_keeps_its_colour(tmp_path):
    torch.manual_seed(0)
    net = define_G(1, 3, 4, "unet_128", "batch", False)
    torch.save(net.state_dict(), tmp_path / "colourise.pth")
    model = i2i.load(weights=tmp_path / "colourise.pth", device="cpu", precision="fp32")
    assert (model.config.input_nc, model.config.output_nc) == (1, 3)
    out = model.translate(picture(1, (20, 30), channels=1))
    assert out.mode == "RGB" and out.size == (30, 20)
    assert np.ptp(np.asarray(out, np.int16), axis=2).max() > 0  # not three equal channels


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (3, 5)])
def test_resnet_generators_take_tiny_images(tmp_path, size):
    torch.save(define_G(3, 3, 4, "resnet_6blocks", "instance", False).state_dict(), tmp_path / "G.pth")
    model = i2i.load("cyclegan", tmp_path / "G.pth", device="cpu", precision="fp32")
    assert model.translate(picture(2, size)).size == (size[1], size[0])


def test_a_stargan_tiny_image(tmp_path):
    model = i2i.load("stargan", device="cpu", precision="fp32", g_conv_dim=4, g_repeat_num=1)
    assert model.translate(picture(3, (2, 3)), attrs="Male").size == (3, 2)


def test_an_output_folder_inside_the_input_folder_is_not_read_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(define_G(3, 3, 4, "resnet_6blocks", "instance", False).state_dict(), "G.pth")
    Image.fromarray(picture(4, (12, 16))).save(tmp_path / "a.png")
    for _ in range(2):
        result = invoke("translate", "--model", "cyclegan", "--weights", "G.pth", *FAST, ".", "out")
        assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "out").rglob("*")) == ["out/a.png"]


def test_file_names_with_brackets_are_shown_as_they_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(define_G(3, 3, 4, "resnet_6blocks", "instance", False).state_dict(), "G.pth")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "[red]shot[bold].png").write_text("not an image")
    result = invoke("translate", "--model", "cyclegan", "--weights", "G.pth", *FAST, "in", "out")
    assert_one_line_error(result, "[red]shot[bold].png")


@pytest.mark.parametrize("option", [["-b", "0"], ["--max-pixels", "0"]], ids=["batch-size", "max-pixels"])
def test_counts_must_be_positive(tmp_path, monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(picture(5, (8, 8))).save("a.png")
    result = invoke("translate", "--model", "pix2pix", *FAST, *option, "a.png", "out")
    assert_only_the_error(result, option[0], exit_code=2)


# ---------------------------------------------------------------------------------------- checkpoints


def test_a_discriminator_only_run_folder_with_its_options(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("D_A", "D_B"):
        torch.save(define_D(3, 4, "basic", 3, "instance").state_dict(), run / f"latest_net_{name}.pth")
    (run / "train_opt.txt").write_text(
        "----------------- Options ---------------\n   input_nc: 3\n   output_nc: 3\n   model: cyclegan\n"
    )
    model = i2i.load(weights=run, device="cpu")
    assert model.name == "cyclegan" and model.loaded == {"D_A", "D_B"}


def test_an_i2i_run_folder_is_its_model(tmp_path):
    model = i2i.load("pix2pix", device="cpu", netG="unet_128", ngf=4, ndf=4)
    model.save(tmp_path / "run" / "model.safetensors")
    assert i2i.load(weights=tmp_path / "run", device="cpu").config.ngf == 4


def test_damaged_files_are_named_as_damaged(tmp_path):
    torch.save({"a": torch.zeros(3)}, tmp_path / "good.pth")
    data = bytearray((tmp_path / "good.pth").read_bytes())
    (tmp_path / "text.pth").write_text("not a checkpoint\n" * 10)
    data[200:260] = bytes(b ^ 0x5A for b in data[200:260])
    (tmp_path / "flipped.pth").write_bytes(bytes(data))
    for name in ("text.pth", "flipped.pth"):
        with pytest.raises(I2IError, match="not a readable PyTorch checkpoint") as info:
            i2i.load("pix2pix", tmp_path / name, device="cpu")
        assert "could run code" not in str(info.value)


def test_optimiser_state_is_not_weights(tmp_path):
    net = torch.nn.Linear(2, 2)
    optimiser = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 2)).sum().backward()
    optimiser.step()
    torch.save({"generator": optimiser.state_dict()}, tmp_path / "100000_optims.ckpt")
    with pytest.raises(I2IError, match="optimiser state .* not network weights.*nets_ema"):
        i2i.load(weights=tmp_path / "100000_optims.ckpt", device="cpu")


def test_non_finite_weights_are_refused(tmp_path):
    state = define_G(3, 3, 4, "resnet_6blocks", "instance", False).state_dict()
    state["model.1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "G.pth")
    with pytest.raises(I2IError, match="model.1.weight holds NaN or infinite values"):
        i2i.load(weights=tmp_path / "G.pth", device="cpu")


def test_fan_weights_alone_say_what_they_are_for(tmp_path):
    torch.save({"state_dict": FAN().state_dict()}, tmp_path / "wing.ckpt")
    with pytest.raises(I2IError, match="only FAN landmark weights"):
        i2i.load(weights=tmp_path / "wing.ckpt", device="cpu")


# ------------------------------------------------------------------------------------------- StarGAN


def test_a_folder_trained_stargan_by_domain(tmp_path):
    torch.manual_seed(0)
    torch.save(StarGANGenerator(4, c_dim=8, repeat_num=1).state_dict(), tmp_path / "200000-G.ckpt")
    image = picture(6, (16, 16))
    unnamed = i2i.load(weights=tmp_path / "200000-G.ckpt", device="cpu", precision="fp32")
    by_index = unnamed.translate(image, target_domain=3, as_array=True)
    with pytest.raises(I2IError, match="--target-domain 0..7 or name the domains with --domains"):
        unnamed.translate(image, attrs="Male")
    names = "angry,contemptuous,disgusted,fearful,happy,neutral,sad,surprised"
    named = i2i.load(weights=tmp_path / "200000-G.ckpt", device="cpu", precision="fp32", domains=names)
    assert named.config.dataset == "rafd"
    assert np.array_equal(named.translate(image, target_domain="fearful", as_array=True), by_index)
    with pytest.raises(UsageError, match="out of range"):
        named.translate(image, target_domain=-1)
    with pytest.raises(UsageError, match="domains names angry more than once"):
        i2i.load(weights=tmp_path / "200000-G.ckpt", device="cpu", domains="angry," * 7 + "angry")


def test_stargan_networks_of_two_models_are_named_right(tmp_path):
    from i2i.models.stargan.networks import Discriminator

    folder = tmp_path / "models"
    folder.mkdir()
    torch.save(StarGANGenerator(4, c_dim=8, repeat_num=1).state_dict(), folder / "1000-G.ckpt")
    torch.save(Discriminator(32, 4, c_dim=5, repeat_num=3).state_dict(), folder / "1000-D.ckpt")
    with pytest.raises(I2IError, match="generator takes 8 labels but the discriminator classifies 5"):
        i2i.load(weights=folder, device="cpu")


def test_style_requests_are_checked_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = i2i.load("stargan-v2", device="cpu", **registry_tiny("stargan-v2"))
    model.save(tmp_path / "v2.safetensors")
    (tmp_path / "in").mkdir()
    for i in range(3):
        Image.fromarray(picture(i, (20, 20))).save(tmp_path / "in" / f"{i}.png")
    Image.fromarray(picture(9, (20, 20))).save(tmp_path / "ref.png")
    base = ["translate", "--weights", "v2.safetensors", *FAST, "-t", "1"]
    for extra, named in (
        (["--num-styles", "0"], "--num-styles must be at least 1"),
        (["--num-styles", "0", "--grid"], "--num-styles must be at least 1"),
        (["--num-styles", "3", "-r", "ref.png", "-r", "ref.png"], "one style per reference"),
        (["--psi", "2"], "psi must be between 0"),
        (["--psi", "nan", "--num-styles", "2"], "psi must be between 0"),
    ):
        result = invoke(*base, *extra, "in", "out")
        assert_one_line_error(result, named, exit_code=2)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def registry_tiny(name: str) -> dict:
    from i2i import registry

    return dict(registry.model_class(name).tiny_config)


# ------------------------------------------------------------------------------------------- training


def test_settings_that_make_no_sense_are_usage_errors(paired, tmp_path):
    cases = [
        ("ngf", "0", "a layer of width 0"),
        ("ngf", "-8", "ngf"),
        ("lr", "nan", "lr"),
        ("lambda_L1", "inf", "lambda_L1"),
        ("beta1", "2", "beta"),
        ("crop_size", "32", "crop_size=32 does not suit netG=unet_128"),
    ]
    for i, (key, value, named) in enumerate(cases):
        result = invoke(*tiny_run_options(paired, tmp_path / f"r{i}", **{key: value}), "--steps", "1")
        assert_one_line_error(result, named, exit_code=2)
    for i, option in enumerate((["--steps", "0"], ["--workers", "-1", "--steps", "1"])):
        result = invoke(*tiny_run_options(paired, tmp_path / f"o{i}"), *option)
        assert_one_line_error(result, option[0], exit_code=2)


def test_a_run_that_failed_before_its_first_save_starts_again(paired, tmp_path):
    run, broken = tmp_path / "run", tmp_path / "broken"
    (broken / "train").mkdir(parents=True)
    (broken / "train" / "0.png").write_text("not an image")  # fails at the first step, before any save
    failed = invoke(*tiny_run_options(broken, run), "--steps", "1")
    assert failed.exit_code == 1 and (run / "run.json").exists()
    again = invoke(*tiny_run_options(paired, run), "--steps", "1")  # started anew without --resume
    assert again.exit_code == 0, again.output
    assert (run / "model.safetensors").exists()
    # or with --resume: nothing was saved to continue from, so the run starts again as it was stored
    other = tmp_path / "other"
    assert invoke(*tiny_run_options(broken, other), "--steps", "1").exit_code == 1
    resumed = invoke("train", "--run-dir", other, "--resume", "--no-progress", "--data", paired)
    assert resumed.exit_code == 0, resumed.output
    assert "stopped before its first checkpoint; starting it again" in resumed.stderr
    assert (other / "model.safetensors").exists()


def test_resume_keeps_the_run_as_it_was(paired, tmp_path):
    run = tmp_path / "run"
    assert invoke(*tiny_run_options(paired, run), "--steps", "2", "--log-every", "1").exit_code == 0
    changed = invoke("train", "--run-dir", run, "--resume", "--steps", "3", "--set", "lr=0.1")
    assert_one_line_error(changed, "--set lr=0.1 differs from the run's lr=0.0002", exit_code=2)
    batch = invoke("train", "--run-dir", run, "--resume", "--steps", "3", "--batch-size", "4")
    assert_one_line_error(batch, "--batch-size 4 differs", exit_code=2)
    same = invoke("train", "--run-dir", run, "--resume", "--steps", "3", "--set", "lr=2e-4", "--no-progress")
    assert same.exit_code == 0, same.output
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_a_corrupt_image_in_a_loader_worker_is_one_line(paired, tmp_path):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    for path in sorted((paired / "train").iterdir())[:2]:
        (data / "train" / path.name).write_bytes(path.read_bytes())
    (data / "train" / "zz_broken.png").write_text("not an image")
    options = tiny_run_options(data, tmp_path / "run")
    options[options.index("--workers") + 1] = "1"
    result = invoke(*options, "--steps", "6")
    assert_one_line_error(result, "zz_broken.png")
    assert "Original Traceback" not in result.output


def test_training_stops_when_it_diverges(paired, tmp_path, monkeypatch):
    from i2i.models.pix2pix.model import Pix2Pix

    original = Pix2Pix.training_step

    def diverging(self, batch, ctx):
        losses = original(self, batch, ctx)
        return losses | {"G_L1": losses["G_L1"] * float("nan")}

    monkeypatch.setattr(Pix2Pix, "training_step", diverging)
    options = TrainOptions(data=str(paired), run_dir=str(tmp_path / "run"), steps=3, workers=0, progress=False,
                           device="cpu", precision="fp32", log_every=1, sample_every=0)  # fmt: skip
    with pytest.raises(I2IError, match=r"training diverged at step 1 \(G_L1 = nan\)"):
        train("pix2pix", options, {"netG": "unet_128", "ngf": "4", "ndf": "4", "crop_size": "128"})
    assert not (tmp_path / "run" / "model.safetensors").exists()


# ------------------------------------------------------------------------------------------ data check


def test_data_check_lists_every_problem_of_a_domain_folder(tmp_path):
    root = tmp_path / "domains"
    for name in ("a", "b", "c"):
        (root / name).mkdir(parents=True)
    for i in range(2):
        Image.fromarray(picture(i, (8, 8))).save(root / "a" / f"{i}.png")
        Image.fromarray(picture(i, (8, 8))).save(root / "c" / f"{i}.png")
    good = (root / "c" / "0.png").read_bytes()
    (root / "c" / "cut.png").write_bytes(good[: len(good) // 2])  # truncated: header intact
    (root / "notes.txt").write_text("stray")
    result = invoke("data", "check", root, "--model", "stargan-v2")
    assert result.exit_code == 1
    assert f"{root / 'b'} is empty" in result.stdout
    assert "cut.png is not a readable image" in result.stdout
    assert "notes.txt" in result.stdout


# ------------------------------------------------------------------------------------------------ ESRGAN


def small_rrdb(**settings) -> dict:
    config = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4} | settings
    return i2i.load("esrgan", device="cpu", precision="fp32", **config).networks["G"].state_dict()


@pytest.mark.parametrize("scale,channels", [(2, 1), (1, 1), (2, 4), (4, 1), (2, 3)])
def test_rrdb_scale_and_channels_from_the_shapes(tmp_path, scale, channels):
    torch.save(small_rrdb(scale=scale, num_in_ch=channels, num_out_ch=channels), tmp_path / "G.pth")
    config = i2i.load(weights=tmp_path / "G.pth", device="cpu").config
    assert (config.scale, config.num_in_ch, config.num_out_ch) == (scale, channels, channels)


def test_prefixed_keys_in_safetensors_files(tmp_path):
    from safetensors.torch import save_file

    state = small_rrdb()
    save_file({f"module.{k}": v.contiguous() for k, v in state.items()}, tmp_path / "ddp.safetensors")
    save_file({f"netG.{k}": v.contiguous() for k, v in state.items()}, tmp_path / "netg.safetensors")
    for name in ("ddp.safetensors", "netg.safetensors"):
        assert i2i.load(weights=tmp_path / name, device="cpu").config.num_feat == 8


def test_an_incomplete_rrdb_is_named(tmp_path):
    state = small_rrdb()
    del state["conv_last.weight"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(I2IError, match="incomplete esrgan checkpoint: tensor 'conv_last.weight' is missing"):
        i2i.load(weights=tmp_path / "cut.pth", device="cpu")


def test_upscale_never_replaces_a_users_file_named_like_an_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(small_rrdb(), "G.pth")
    (tmp_path / "f").mkdir()
    Image.fromarray(picture(1, (8, 8))).save("f/a.png")
    Image.fromarray(picture(2, (8, 8))).save("f/a_x4.png")  # the user's own picture
    before = (tmp_path / "f" / "a_x4.png").read_bytes()
    result = invoke("upscale", "f", "--weights", "G.pth", *FAST)
    assert result.exit_code == 1
    assert "would overwrite an input" in result.stderr
    assert (tmp_path / "f" / "a_x4.png").read_bytes() == before
    assert Image.open(tmp_path / "f" / "a_x4_x4.png").size == (32, 32)  # it was upscaled as an input


@pytest.mark.parametrize("outscale", ["inf", "nan", "0"])
def test_outscale_must_be_finite(tmp_path, monkeypatch, outscale):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(picture(1, (8, 8))).save("a.png")
    result = invoke("upscale", "a.png", "--outscale", outscale, *FAST)
    assert_only_the_error(result, "--outscale", exit_code=2)


def test_outputs_have_a_pixel_limit_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(small_rrdb(), "G.pth")
    Image.fromarray(picture(1, (8, 8))).save("a.png")
    result = invoke("upscale", "a.png", "--weights", "G.pth", "--outscale", "9", "--max-pixels", "100", *FAST)
    assert_one_line_error(result, "over 16x the pixel limit")
    assert not (tmp_path / "a_x9.png").exists()


def test_interpolation_needs_a_finite_alpha(tmp_path):
    torch.save(small_rrdb(), tmp_path / "a.pth")
    result = invoke("weights", "interp", tmp_path / "a.pth", tmp_path / "a.pth", tmp_path / "c.safetensors",
                    "--alpha", "nan")  # fmt: skip
    assert_one_line_error(result, "alpha must be a finite number", exit_code=2)


def test_upscale_takes_settings_the_weights_cannot_show(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = i2i.load("esrgan", device="cpu", arch="srvgg", num_feat=8, num_conv=2, act_type="relu")
    torch.save(net.networks["G"].state_dict(), "relu.pth")
    Image.fromarray(picture(1, (8, 8))).save("a.png")
    result = invoke("upscale", "a.png", "--weights", "relu.pth", "--set", "act_type=relu", *FAST)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "a_x4.png").size == (32, 32)


@pytest.mark.parametrize(
    "channels", [(1, 1), (3, 1), (1, 3)], ids=["grey", "colour-to-grey", "grey-to-colour"]
)
def test_grey_networks_upscale(tmp_path, monkeypatch, channels):
    from i2i.io.imageio import luma, read_image
    from i2i.ops import tiling

    monkeypatch.chdir(tmp_path)
    torch.save(small_rrdb(num_in_ch=channels[0], num_out_ch=channels[1]), "G.pth")
    model = i2i.load(weights="G.pth", device="cpu", precision="fp32")
    image = picture(3, (20, 24))
    Image.fromarray(image).save("a.png")
    result = invoke("upscale", "a.png", "--weights", "G.pth", "--tile", "0", *FAST)
    assert result.exit_code == 0, result.output
    written = np.asarray(Image.open("a_x4.png"), np.float32)
    x = read_image(image).pixels
    x = luma(x) if channels[0] == 1 else x
    with torch.no_grad():
        y = model.networks["G"](torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float())
    expected = y[0].permute(1, 2, 0).clamp(0, 1).numpy()
    expected = np.repeat(expected, 3, axis=2) if channels[1] == 1 else expected
    assert written.shape == (80, 96, 3)
    assert np.abs(written - expected * 255).max() <= 1
    tiled = tiling.enhance(model, read_image(image), tile=8, tile_pad=4)
    assert np.abs(tiled.astype(np.float32) - written).mean() < 2  # blended tiles stay close to the whole


@pytest.mark.parametrize("command", ["translate", "upscale"])
def test_output_paths_are_checked_before_any_work(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    torch.save(small_rrdb() if command == "upscale" else define_G(3, 3, 4, "resnet_6blocks", "instance",
               False).state_dict(), "G.pth")  # fmt: skip
    for name in ("a.png", "b.png"):
        Image.fromarray(picture(1, (8, 8))).save(name)
    Path("taken.png").write_bytes(b"")
    model = ["--model", "cyclegan"] if command == "translate" else []
    for args, named in (
        (["a.png", "b.png", "-o", "two.png"], "need an output folder"),
        (["a.png", "b.png", "-o", "taken.png"], "is a file"),
        (["a.png", "-o", "a.gif"], "gif"),
    ):
        result = invoke(command, *model, "--weights", "G.pth", *FAST, *args)
        assert_only_the_error(result, named, exit_code=2)
    assert not Path("two.png").exists() and not Path("a.gif").exists()


def test_what_an_output_format_cannot_keep_is_said_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(define_G(3, 3, 4, "resnet_6blocks", "instance", False).state_dict(), "G.pth")
    for name in ("a.png", "b.png"):
        Image.fromarray(picture(1, (8, 8), channels=4)).save(name)
    result = invoke("translate", "--model", "cyclegan", "--weights", "G.pth", *FAST, "--format", "jpeg",
                    "a.png", "b.png", "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("note: JPEG cannot hold alpha") == 1
    result = invoke("translate", "--model", "cyclegan", "--weights", "G.pth", *FAST, "--format", "webp",
                    "a.png", "b.png", "out2")  # fmt: skip
    assert "cannot hold" not in result.stderr
    assert Image.open(tmp_path / "out2" / "a.webp").mode == "RGBA"


@pytest.mark.parametrize("netG", ["unet_64", "unet_512", "resnet_4blocks", "resnet_12blocks"])
def test_generators_of_other_depths(tmp_path, netG):
    from i2i.models._shared.cyclegan_pix2pix.networks import parse_generator

    kind, depth = parse_generator(netG)
    torch.manual_seed(0)
    net = define_G(3, 3, 4, netG, "instance" if kind == "resnet" else "batch", False)
    torch.save(net.state_dict(), tmp_path / "G.pth")
    model = i2i.load(weights=tmp_path / "G.pth", device="cpu", precision="fp32")
    assert model.config.netG == netG
    image = picture(7, (20, 30))
    out = model.translate(image, as_array=True)
    assert out.shape == (20, 30, 3)
    if kind == "resnet":  # ResNet outputs are local: compare with the plain network on a padded input
        x = model.to_input_tensor(imageio.read_image(image))
        x = torch.nn.functional.pad(x, (1, 1, 0, 0), mode="reflect")  # to 20 x 32, as the model pads
        with torch.no_grad():
            y = net.eval()(x)[..., :, 1:31]
        expected = ((y[0].permute(1, 2, 0) + 1) / 2 * 255).numpy()
        assert np.abs(out.astype(np.float32) - expected).max() <= 1


# ------------------------------------------------------------------------------------ awkward training data


def tiny_settings(name: str) -> list[str]:
    from i2i import registry

    return [x for k, v in registry.model_class(name).tiny_config.items() for x in ("--set", f"{k}={v}")]


def quick_train(name: str, data: Path, run: Path, *extra: str):
    return invoke("train", name, "--data", data, "--run-dir", run, "--steps", "2", "--workers", "0",
                  "--no-progress", "--sample-every", "1", "--precision", "fp32", "--device", "cpu",
                  *tiny_settings(name), *extra)  # fmt: skip


def test_sixteen_bit_grey_training_images_are_scaled_not_clipped(tmp_path):
    from i2i.data.paired import open_rgb

    Image.fromarray(np.full((4, 4), 128 * 257, np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert np.asarray(open_rgb(tmp_path / "deep.png")).max() == 128


def test_preprocessed_sizes_that_do_not_suit_the_generator_are_named(paired, tmp_path):
    result = invoke(*tiny_run_options(paired, tmp_path / "run", preprocess="none"), "--steps", "1")
    assert_one_line_error(result, "preprocess=none makes it 32x32", "multiples of 128")


def test_cyclegan_domains_of_different_sizes_without_resizing(tmp_path):
    data = tmp_path / "data"
    for side, (width, height) in (("trainA", (48, 32)), ("trainB", (32, 32))):
        (data / side).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(picture(i, (height, width))).save(data / side / f"{i}.png")
    result = quick_train("cyclegan", data, tmp_path / "run", "--set", "preprocess=none")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "run" / "samples" / "step_00000002.png").size[1] > 32


def test_stargan_attributes_and_label_count_must_agree(tmp_path):
    data = make_for_layout("attributes", tmp_path / "data", count=8, size=32, seed=0)
    result = quick_train("stargan", data, tmp_path / "run", "--set", "selected_attrs=Black_Hair,Male,Young")
    assert_one_line_error(result, "use --set c_dim=3", exit_code=2)


def test_domain_folders_with_spaces_and_commas(tmp_path):
    data = tmp_path / "data"
    for d, name in enumerate(("cat", "wild life", "c,d")):
        (data / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(picture(10 * d + i, (32, 32))).save(data / name / f"{i}.png")
    result = quick_train("stargan-v2", data, tmp_path / "run")
    assert result.exit_code == 0, result.output
    model = i2i.load(weights=tmp_path / "run" / "model.safetensors", device="cpu")
    assert model.domain_names == ("c,d", "cat", "wild life")
    assert model.domain_index("wild life") == 2


def test_stargan_reads_domain_folders_without_being_told(tmp_path):
    data = tmp_path / "data"
    for d, name in enumerate(("angry", "happy", "sad")):
        (data / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(picture(10 * d + i, (32, 32))).save(data / name / f"{i}.png")
    assert invoke("data", "check", data, "--model", "stargan").exit_code == 0
    result = quick_train("stargan", data, tmp_path / "run", "--set", "rafd_crop_size=32")
    assert result.exit_code == 0, result.output
    model = i2i.load(weights=tmp_path / "run" / "model.safetensors", device="cpu")
    assert (model.config.dataset, model.config.c_dim, model.config.domains) == (
        "rafd",
        3,
        ("angry", "happy", "sad"),
    )


def test_paired_names_match_whatever_their_unicode_form(tmp_path):
    import unicodedata

    from i2i.data.paired import PairedDataset

    for folder, form in (("A", "NFD"), ("B", "NFC")):
        (tmp_path / folder).mkdir()
        Image.fromarray(picture(1, (8, 8))).save(tmp_path / folder / unicodedata.normalize(form, "café.png"))
    assert len(PairedDataset(tmp_path, preprocess="none", load_size=8, crop_size=8)) == 1


def test_a_default_target_is_said(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    i2i.load("stargan-v2", device="cpu", **registry_tiny("stargan-v2")).save(tmp_path / "v2.safetensors")
    i2i.load("stargan", device="cpu", **registry_tiny("stargan")).save(tmp_path / "v1.safetensors")
    Image.fromarray(picture(1, (16, 16))).save("a.png")
    for weights, note, choice in (
        ("v2.safetensors", "note: no --target-domain: translating into 'domain0'", ["-t", "1"]),
        ("v1.safetensors", "note: no --attrs: every attribute off", ["--attrs", "Male"]),
    ):
        plain = invoke("translate", "--weights", weights, *FAST, "a.png", "out.png")
        assert plain.exit_code == 0 and note in plain.stderr, plain.output
        chosen = invoke("translate", "--weights", weights, *FAST, *choice, "a.png", "out.png")
        assert chosen.exit_code == 0 and "note:" not in chosen.stderr, chosen.output
