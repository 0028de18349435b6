"""StarGAN v2: parity with the golden fixtures of clovaai/stargan-v2, official-format checkpoints, the
translation conditions, and training through the CLI with exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.domains import make_domains
from i2i.errors import I2IError, UsageError
from i2i.io import imageio
from i2i.models.stargan_v2.fan import FAN, landmark_masks
from i2i.models.stargan_v2.losses import discriminator_loss, generator_loss
from i2i.models.stargan_v2.model import StarGANv2, StarGANv2Config
from i2i.models.stargan_v2.networks import build_network
from i2i.models.stargan_v2.styles import mean_style, truncate
from tests.conftest import FIXTURES as SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "stargan"
CONFIGS = ("whpf0", "whpf1")
TINY = StarGANv2.tiny_config


def case(name: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(manifest entry, official state dict, inputs and expected outputs) of one fixture file."""
    with safe_open(FIXTURES / f"stargan_v2_{name}.safetensors", "pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("fixture", "{}"))
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is no dict)
    state = {k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state_dict.")}
    return meta, state, {k: v for k, v in tensors.items() if not k.startswith("state_dict.")}


def fixture_nets(config: str) -> dict[str, torch.nn.Module]:
    """The four networks of a fixture config, built from their manifest constructors."""
    manifest = {e["file"]: e for e in json.loads((FIXTURES / "manifest.json").read_text())["files"]}
    nets = {}
    for name in ("generator", "mapping_network", "style_encoder", "discriminator"):
        entry = manifest[f"stargan_v2_{config}_{name}.safetensors"]
        ctor = entry["ctor"]
        c = StarGANv2Config(
            img_size=ctor.get("img_size", 256),
            style_dim=ctor.get("style_dim", 64),
            latent_dim=ctor.get("latent_dim", 16),
            num_domains=ctor.get("num_domains", 3),
            max_conv_dim=ctor.get("max_conv_dim", 512),
            hidden_dim=entry.get("hidden_dim", 512),
            w_hpf=ctor.get("w_hpf", 1),
        )
        net = build_network(name, c).eval()
        net.load_state_dict(case(f"{config}_{name}")[1])
        nets[name] = net
    return nets


def masks_of(t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor] | None:
    return (t["input.mask0"], t["input.mask1"]) if "input.mask0" in t else None


# ------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("config", CONFIGS)
@torch.no_grad()
def test_networks_match_the_fixtures(config: str) -> None:
    nets = fixture_nets(config)
    _, _, t = case(f"{config}_generator")
    out = nets["generator"](t["input.x"], t["input.s"], masks=masks_of(t))
    torch.testing.assert_close(out, t["expected.out"], atol=1e-4, rtol=0)
    if config == "whpf1":  # what runs without FAN: no high-pass skips and no shortcuts
        nomask = nets["generator"](t["input.x"], t["input.s"])
        # without the masks nothing damps the deep path: other CPUs' kernels reach 1.3e-4 here
        torch.testing.assert_close(
            nomask, case("whpf1_generator_nomask")[2]["expected.out_nomask"], atol=2e-4, rtol=0
        )
    for name, inp, out_name in (("mapping_network", "z", "s"), ("style_encoder", "x", "s")):
        _, _, t = case(f"{config}_{name}")
        net = nets[name]
        torch.testing.assert_close(
            net(t[f"input.{inp}"], t["input.y"]), t[f"expected.{out_name}"], atol=1e-5, rtol=0
        )
        for d in range(3):
            y = torch.full_like(t["input.y"], d)
            torch.testing.assert_close(
                net(t[f"input.{inp}"], y), t["expected.s_all_domains"][:, d], atol=1e-5, rtol=0
            )
    _, _, t = case(f"{config}_discriminator")
    D = nets["discriminator"]
    logit = D(t["input.x"], t["input.y"])
    assert logit.shape == (4,)
    torch.testing.assert_close(logit, t["expected.logit"], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        D.main(t["input.x"]).flatten(1), t["expected.logits_all_domains"], atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("config", CONFIGS)
@torch.no_grad()
def test_pipelines_match_the_fixtures(config: str) -> None:
    nets = fixture_nets(config)
    G, F_map, E = nets["generator"], nets["mapping_network"], nets["style_encoder"]
    meta, _, t = case(f"{config}_pipeline_latent")
    masks = masks_of(t)
    s = F_map(t["input.z_trg"], t["input.y_trg"])
    torch.testing.assert_close(s, t["expected.s_latent"], atol=1e-5, rtol=0)
    torch.testing.assert_close(G(t["input.x_src"], s, masks=masks), t["expected.x_latent"], atol=1e-4, rtol=0)
    s_avg = mean_style(F_map, int(t["input.y_trg"][0]), t["input.z_many"])
    s_psi = truncate(s, s_avg, meta.get("psi", 0.7))
    torch.testing.assert_close(s_psi, t["expected.s_psi"], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        G(t["input.x_src"], s_psi, masks=masks), t["expected.x_psi"], atol=1e-4, rtol=0
    )
    _, _, t = case(f"{config}_pipeline_reference")
    s = E(t["input.x_ref"], t["input.y_ref"])
    torch.testing.assert_close(s, t["expected.s_ref"], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        G(t["input.x_src"], s, masks=masks_of(t)), t["expected.x_fake"], atol=1e-4, rtol=0
    )


def test_losses_match_the_fixture() -> None:
    nets = fixture_nets("whpf0")
    meta, _, t = case("whpf0_losses")
    args = meta.get("args", {"lambda_reg": 1.0, "lambda_sty": 1.0, "lambda_ds": 0.75, "lambda_cyc": 1.0})
    i = {k.removeprefix("input."): v for k, v in t.items() if k.startswith("input.")}
    base = (nets, i["x_real"], i["y_org"], i["y_trg"])
    weights = {k: args[k] for k in ("lambda_sty", "lambda_ds", "lambda_cyc")}
    results = {
        "d_latent": discriminator_loss(*base, z_trg=i["z_trg"], lambda_reg=args["lambda_reg"]),
        "d_ref": discriminator_loss(*base, x_ref=i["x_ref"], lambda_reg=args["lambda_reg"]),
        "g_latent": generator_loss(*base, z_trgs=(i["z_trg"], i["z_trg2"]), **weights)[:2],
        "g_ref": generator_loss(*base, x_refs=(i["x_ref"], i["x_ref2"]), **weights)[:2],
    }
    for step, (loss, terms) in results.items():
        expected = {k.split(".")[-1]: v for k, v in t.items() if k.startswith(f"expected.{step}.")}
        assert set(expected) == {"loss", *terms}
        torch.testing.assert_close(loss.detach().reshape(1), expected["loss"], rtol=1e-5, atol=0)
        for name, value in terms.items():
            torch.testing.assert_close(value.reshape(1), expected[name], rtol=1e-5, atol=1e-7)


@torch.no_grad()
def test_fan_matches_the_fixtures() -> None:
    tensors = load_file(FIXTURES / "stargan_v2_fan_public.safetensors")
    fan = FAN().eval()
    fan.load_state_dict(
        {k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state_dict.")}
    )
    x = tensors["input.x"]
    torch.testing.assert_close(fan(x * 0.5 + 0.5), tensors["expected.heatmaps_raw"], atol=1e-4, rtol=0)
    mask0, mask1 = fan.get_heatmap(x)
    torch.testing.assert_close(mask0, tensors["expected.mask0"], atol=1e-4, rtol=0)
    torch.testing.assert_close(mask1, tensors["expected.mask1"], atol=1e-4, rtol=0)
    _, _, t = case("fan_postprocess")
    heatmaps = t["input.heatmaps64"]
    kept = heatmaps.clone()
    up = F.interpolate(heatmaps, scale_factor=4, mode="bilinear", align_corners=True)
    mask0, mask1 = landmark_masks(up)
    torch.testing.assert_close(mask0, t["expected.mask0"], atol=1e-5, rtol=0)
    torch.testing.assert_close(mask1, t["expected.mask1"], atol=1e-5, rtol=0)
    assert torch.equal(heatmaps, kept)  # upstream's preprocess mutates; this does not


@pytest.mark.parametrize("release", ["afhq", "celeba_hq"])
def test_default_sizes_have_the_released_key_layout(release: str) -> None:
    keys = json.loads((FIXTURES / f"keys_default_{release}.json").read_text())
    c = keys["config"]
    config = StarGANv2Config(w_hpf=c["w_hpf"], num_domains=c["num_domains"])
    for file in ("{step:06d}_nets_ema.ckpt", "{step:06d}_nets.ckpt"):
        for name, expected in keys["files"][file].items():
            with torch.device("meta"):
                net = FAN() if name == "fan" else build_network(name, config)
            assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == expected, name
            assert sum(p.numel() for p in net.parameters()) == keys["param_counts"][name], name


# ------------------------------------------------------------------------------- official checkpoints

RELEASES = {
    # like the AFHQ release (w_hpf 0, 3 domains, plus the FAN entry it never uses)
    "afhq": {"img_size": 64, "w_hpf": 0, "num_domains": 3, "max_conv_dim": 64, "style_dim": 16,
             "latent_dim": 8, "hidden_dim": 32},
    # like the CelebA-HQ release (w_hpf 1, 2 domains, a `fan` entry, no hpf.filter)
    "celeba_hq": {"img_size": 64, "w_hpf": 1, "num_domains": 2, "max_conv_dim": 32, "style_dim": 8,
                  "latent_dim": 16, "hidden_dim": 16},
    # small, with a first level narrower than upstream's 2**14 // img_size
    "small": {"img_size": 32, "w_hpf": 0, "num_domains": 2, "max_conv_dim": 32, "style_dim": 8,
              "latent_dim": 4, "hidden_dim": 16, "dim_in": 16},
}  # fmt: skip


def release(folder: Path, kind: str, *, fan: bool = True, seed: int = 0) -> tuple[Path, StarGANv2]:
    """A `100000_nets_ema.ckpt` like upstream's, of random networks; and the model it was made from
    (with the same FAN loaded when the file carries one for w_hpf > 0)."""
    torch.manual_seed(seed)
    model = i2i.load("stargan-v2", device="cpu", precision="fp32", **RELEASES[kind])
    entries = {n: model.networks[n].state_dict() for n in ("generator", "mapping_network", "style_encoder")}
    if kind == "celeba_hq":
        del entries["generator"]["hpf.filter"]
    if fan:
        entries["fan"] = FAN().state_dict()
        if "fan" in model.networks:
            model.networks["fan"].load_state_dict(entries["fan"])
            model.loaded.add("fan")
    path = folder / kind / "100000_nets_ema.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(entries, path)
    return path, model


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[str, tuple[Path, StarGANv2]]:
    folder = tmp_path_factory.mktemp("releases")
    made = {kind: release(folder, kind) for kind in RELEASES}
    made["celeba_hq_no_fan"] = release(folder / "nofan", "celeba_hq", fan=False)
    return made


def picture(seed: int, size: tuple[int, int] = (30, 40)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", list(RELEASES))
def test_official_files_load_without_flags_and_translate(releases, kind: str) -> None:
    path, source = releases[kind]
    model = i2i.load(weights=path, device="cpu", precision="fp32")
    assert model.name == "stargan-v2"
    expected = StarGANv2Config(**RELEASES[kind])
    for field in (
        "img_size",
        "w_hpf",
        "num_domains",
        "max_conv_dim",
        "style_dim",
        "latent_dim",
        "hidden_dim",
        "dim_in",
    ):
        assert getattr(model.config, field) == getattr(expected, field), field
    assert ("fan" in model.loaded) == (kind == "celeba_hq")  # the AFHQ-like file's FAN is skipped
    image, reference = picture(1), Image.fromarray(picture(2, (50, 20)))
    latent = model.translate(image, target_domain=1, seed=5)
    assert isinstance(latent, Image.Image) and latent.size == (40, 30)
    guided = model.translate(image, target_domain="domain1", reference=reference)
    assert guided.size == (40, 30)
    # the released file holds the moving averages under the plain names: same function as the source
    assert np.array_equal(np.asarray(latent), np.asarray(source.translate(image, target_domain=1, seed=5)))
    assert np.array_equal(
        np.asarray(guided), np.asarray(source.translate(image, target_domain=1, reference=reference))
    )
    assert not np.array_equal(np.asarray(latent), np.asarray(model.translate(image, target_domain=1, seed=6)))


def test_without_fan_translation_refuses_unless_asked(releases, tmp_path: Path) -> None:
    path, source = releases["celeba_hq_no_fan"]
    image = picture(3)
    model = i2i.load(weights=path, device="cpu", precision="fp32")
    with pytest.raises(I2IError) as info:
        model.translate(image)
    message = str(info.value)
    assert "\n" not in message and "high-pass skips" in message and "identity and detail" in message
    assert "--set fan_weights=PATH" in message and "--set allow_no_masks=true" in message
    Image.fromarray(image).save(tmp_path / "x.png")
    result = CliRunner().invoke(
        app,
        [
            "translate",
            "--weights",
            str(path),
            str(tmp_path / "x.png"),
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 1 and "allow_no_masks" in result.stderr and "Traceback" not in result.output
    degraded = i2i.load(weights=path, device="cpu", precision="fp32", allow_no_masks="true")
    out = degraded.translate(image, as_array=True)
    x = source.to_input_tensor(imageio.read_image(image))
    with torch.no_grad():
        s = source.networks["mapping_network"](
            torch.randn(1, 16, generator=torch.Generator().manual_seed(0)), torch.zeros(1, dtype=torch.long)
        )
        y = F.interpolate(x, size=(64, 64), mode="bilinear", antialias=True)
        y = source.networks["generator"](y, s)  # masks=None: the nomask function
        y = F.interpolate(y, size=(30, 40), mode="bilinear", antialias=True)
    expected = ((y[0].permute(1, 2, 0).clamp(-1, 1) + 1) / 2 * 255).round().numpy()
    assert np.abs(out.astype(float) - expected).max() <= 1
    # upstream's wing.ckpt format ({'state_dict': ...}) through fan_weights gives the masks back
    wing = tmp_path / "wing.ckpt"
    torch.save({"state_dict": releases["celeba_hq"][1].networks["fan"].state_dict()}, wing)
    masked = i2i.load(weights=path, device="cpu", precision="fp32", fan_weights=str(wing))
    with_fan = i2i.load(weights=releases["celeba_hq"][0], device="cpu", precision="fp32")
    assert "fan" in masked.loaded
    assert np.array_equal(masked.translate(image, as_array=True), with_fan.translate(image, as_array=True))
    # an i2i checkpoint carries the FAN as its network `fan`: the wing file is not needed again
    saved = masked.save(tmp_path / "faces.safetensors")
    wing.unlink()
    assert "fan.conv1.conv.weight" in load_file(saved)
    reloaded = i2i.load(weights=saved, device="cpu", precision="fp32")
    assert np.array_equal(reloaded.translate(image, as_array=True), with_fan.translate(image, as_array=True))
    assert not np.array_equal(masked.translate(image, as_array=True), out)
    torch.save(source.networks["generator"].state_dict(), tmp_path / "generator.pth")
    with pytest.raises(I2IError, match="generator.pth: not FAN weights: 281 FAN tensors are missing"):
        i2i.load(weights=path, device="cpu", fan_weights=str(tmp_path / "generator.pth"))


def test_a_fan_only_file_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "wing.ckpt"
    torch.save({"state_dict": FAN().state_dict()}, path)
    with pytest.raises(I2IError, match="only FAN landmark weights.*fan_weights"):
        i2i.load("stargan-v2", path, device="cpu")


def test_domain_names(releases, tmp_path: Path) -> None:
    path, _ = releases["afhq"]
    model = i2i.load(weights=path, device="cpu", precision="fp32", domains="cat,dog,wild")
    assert model.domain_names == ("cat", "dog", "wild") and model.domain_index("wild") == 2
    assert model.domain_index(1) == 1 and model.domain_index("1") == 1 and model.domain_index(None) == 0
    image = picture(4)
    assert np.array_equal(
        model.translate(image, target_domain="dog", as_array=True),
        model.translate(image, target_domain=1, as_array=True),
    )
    with pytest.raises(
        UsageError, match="unknown target domain 'dgo' .did you mean 'dog'.*known: cat, dog, wild"
    ):
        model.translate(image, target_domain="dgo")
    with pytest.raises(UsageError, match="target domain 3 is out of range"):
        model.translate(image, target_domain=3)
    with pytest.raises(I2IError, match="domains=cat,dog names 2 domains, but the model has num_domains=3"):
        i2i.load(weights=path, device="cpu", domains="cat,dog")
    # stored in the i2i checkpoint: no flag needed again
    again = i2i.load(weights=model.save(tmp_path / "afhq.safetensors"), device="cpu", precision="fp32")
    assert again.domain_names == ("cat", "dog", "wild")
    plain = i2i.load(weights=path, device="cpu")
    assert plain.domain_names == ("domain0", "domain1", "domain2")
    converted = tmp_path / "named.safetensors"
    result = CliRunner().invoke(app, ["convert", str(path), str(converted), "--set", "domains=cat,dog,wild"])
    assert result.exit_code == 0, result.output
    assert i2i.load(weights=converted, device="cpu").domain_names == ("cat", "dog", "wild")
    result = CliRunner().invoke(app, ["convert", str(path), str(converted), "--set", "domains=cat,dog"])
    assert result.exit_code == 1 and "names 2 domains, but the model has num_domains=3" in result.stderr


def test_domain_names_from_the_command_line(releases, tmp_path: Path) -> None:
    path, _ = releases["afhq"]
    Image.fromarray(picture(5)).save(tmp_path / "x.png")

    def translate(*extra: str):
        args = ["translate", "--weights", str(path), *extra, str(tmp_path / "x.png"), str(tmp_path / "out")]
        return CliRunner().invoke(app, [*args, "--device", "cpu", "--no-progress"])

    unnamed = translate("--target-domain", "wild")
    assert unnamed.exit_code == 2 and len(unnamed.stderr.strip().splitlines()) == 1
    assert "does not name its domains" in unnamed.stderr and "--domains" in unnamed.stderr
    named = translate("--domains", "cat,dog,wild", "--target-domain", "wild")
    assert named.exit_code == 0, named.output
    by_index = Image.open(tmp_path / "out" / "x.png").copy()
    assert translate("--target-domain", "2").exit_code == 0
    assert np.array_equal(np.asarray(by_index), np.asarray(Image.open(tmp_path / "out" / "x.png")))
    wrong = translate("--domains", "cat,dog", "--target-domain", "dog")
    assert wrong.exit_code == 1 and "names 2 domains, but the model has num_domains=3" in wrong.stderr
    converted = tmp_path / "afhq.safetensors"
    result = CliRunner().invoke(app, ["convert", str(path), str(converted), "--domains", "cat,dog,wild"])
    assert result.exit_code == 0, result.output
    assert i2i.load(weights=converted, device="cpu").domain_names == ("cat", "dog", "wild")


def test_catalogue_entries() -> None:
    from i2i.hub import catalogue

    weights = catalogue.weights_entries()
    for name, domains in (
        ("stargan-v2-afhq", ["cat", "dog", "wild"]),
        ("stargan-v2-celeba-hq", ["female", "male"]),
    ):
        entry = weights[name]
        assert entry["model"] == "stargan-v2" and entry["config"]["domains"] == domains
        assert (
            entry["url"].startswith("https://www.dropbox.com/s/") and "100000_nets_ema.ckpt" in entry["url"]
        )
        assert entry["license"] == "CC BY-NC 4.0" and catalogue.non_commercial(name) and "sha256" not in entry
    assert weights["stargan-v2-wing"]["url"].startswith("https://www.dropbox.com/s/tjxpypwpt38926e/wing.ckpt")
    datasets = catalogue.dataset_entries()
    for name in ("afhq", "afhq-v2", "celeba-hq"):
        assert datasets[name]["layout"] == "domains" and datasets[name]["non_commercial"]
        assert datasets[name]["models"] == ["stargan-v2"] and "CC BY-NC 4.0" in datasets[name]["license"]


# -------------------------------------------------------------------------------------- translation


@pytest.fixture(scope="module")
def tiny() -> StarGANv2:
    torch.manual_seed(0)
    return i2i.load("stargan-v2", device="cpu", precision="fp32", domains="a,b,c", **TINY)


def test_translation_uses_the_moving_averages() -> None:
    model = i2i.load("stargan-v2", device="cpu", precision="fp32", **TINY)
    image = picture(5)
    before = model.translate(image, as_array=True)
    with torch.no_grad():
        for p in model.networks["generator"].parameters():
            p.add_(0.5)
    assert np.array_equal(model.translate(image, as_array=True), before)  # generator_ema unchanged
    model.loaded.discard("generator_ema")
    assert model.required_networks({}) == ("generator", "mapping_network_ema")
    assert not np.array_equal(model.translate(image, as_array=True), before)


def test_translates_in_bf16() -> None:
    model = i2i.load("stargan-v2", device="cpu", precision="bf16", **TINY)
    reference = picture(12, (16, 16))
    assert model.translate(picture(11), target_domain=2, reference=reference, as_array=True).shape == (
        30,
        40,
        3,
    )


def test_styles_seeds_truncation_and_references(tiny: StarGANv2) -> None:
    image, other = picture(6), picture(7, (20, 20))
    grid = tiny.translate_styles([image, other], target_domain="b", num_styles=3, seed=9)
    assert len(grid) == 2 and all(len(row) == 3 for row in grid)
    assert grid[1][0].pixels.shape == (20, 20, 3)
    third = tiny.translate(image, target_domain="b", seed=9, style_index=2, as_array=True)
    assert np.array_equal(imageio.to_array(grid[0][2]), third)
    assert np.array_equal(
        tiny.translate(image, target_domain="b", seed=9, as_array=True),
        tiny.translate(image, target_domain="b", seed=9, as_array=True),
    )
    # psi 0 is the domain's mean style, whatever the latent
    mean = [tiny.translate(image, target_domain="b", seed=s, psi=0.0, as_array=True) for s in (1, 2)]
    assert np.array_equal(mean[0], mean[1])
    # references: one style each; grey and alpha references are used as RGB
    rgba = np.dstack([picture(8, (24, 24)), np.full((24, 24), 9, np.uint8)])
    refs = [picture(8, (24, 24)), rgba, picture(8, (24, 24))[..., 0]]
    row = tiny.translate_styles([image], target_domain=0, reference=refs)[0]
    assert len(row) == 3 and np.array_equal(row[0].pixels, row[1].pixels)
    assert not np.array_equal(row[0].pixels, row[2].pixels)
    with pytest.raises(UsageError, match="one style per reference"):
        tiny.translate_styles([image], reference=refs, num_styles=2)
    with pytest.raises(UsageError, match="psi .truncation. applies to latent-guided"):
        tiny.translate(image, reference=refs[0], psi=0.5)
    with pytest.raises(UsageError, match="translate_styles takes several"):
        tiny.translate(image, reference=refs)
    with pytest.raises(I2IError, match="nope.png"):
        tiny.translate(image, reference="nope.png")
    with pytest.raises(UsageError, match="takes no option 'direction'"):
        tiny.translate(image, direction="AtoB")


# ----------------------------------------------------------------------------------------- training


def train(*args: str | Path) -> None:
    settings = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    base = [
        "--workers",
        "0",
        "--no-progress",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--sample-every",
        "0",
    ]
    result = CliRunner().invoke(app, ["train", *map(str, args), *base, *settings])
    assert result.exit_code == 0, result.output


def test_training_resumes_exactly(tmp_path: Path) -> None:
    data = make_domains(tmp_path / "data", count=5, size=32)
    common = ("--data", data, "--batch-size", "2", "--save-every", "2")
    train("stargan-v2", *common, "--steps", "2", "--run-dir", tmp_path / "a")
    train("--resume", "--run-dir", tmp_path / "a", "--steps", "4")
    train("stargan-v2", *common, "--steps", "4", "--run-dir", tmp_path / "b")
    resumed, straight = (load_file(tmp_path / run / "model.safetensors") for run in ("a", "b"))
    assert resumed.keys() == straight.keys()
    assert {k.split(".")[0] for k in resumed} == {
        "generator", "mapping_network", "style_encoder", "discriminator",
        "generator_ema", "mapping_network_ema", "style_encoder_ema",
    }  # fmt: skip
    for key, value in straight.items():
        assert torch.equal(resumed[key], value), key
    model = i2i.load(weights=tmp_path / "a" / "model.safetensors", device="cpu", precision="fp32")
    assert model.step == 4 and model.domain_names == ("ember", "ice", "moss")
    assert model.translate(picture(10), target_domain="moss").size == (40, 30)
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    last = log[-1]
    assert {"D_latent_real", "D_ref_reg", "G_latent_ds", "G_ref_cyc", "lambda_ds"} <= set(last)


def test_training_checks_the_domains(tmp_path: Path) -> None:
    data = make_domains(tmp_path / "data", count=2, size=32, domains=2)
    with pytest.raises(I2IError, match="has 2 domains .ember, moss. but the model has num_domains=3"):
        StarGANv2(StarGANv2Config(**TINY)).training_dataset(data, seed=0)
    model = i2i.load("stargan-v2", device="cpu", **{**TINY, "num_domains": 2, "domains": "cat,dog"})
    with pytest.raises(I2IError, match="domains ember, moss but the model's are cat, dog"):
        model.training_dataset(data, seed=0)
    masked = i2i.load("stargan-v2", device="cpu", **{**TINY, "w_hpf": 1})
    with pytest.raises(I2IError, match="needs face masks.*--set w_hpf=0"):
        masked.setup_training()


def test_lambda_ds_decays_with_the_step() -> None:
    model = StarGANv2(StarGANv2Config(**TINY, lambda_ds=2.0, ds_iter=100))
    assert model.lambda_ds_now() == 2.0
    model.step = 25
    assert model.lambda_ds_now() == pytest.approx(1.5)
    model.step = 150
    assert model.lambda_ds_now() == 0.0


def test_training_from_folders_takes_the_afhq_setting_and_says_so(tmp_path: Path) -> None:
    data = make_domains(tmp_path / "data", count=4, size=32)
    settings = [x for k, v in TINY.items() if k != "w_hpf" for x in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(
        app,
        ["train", "stargan-v2", "--data", str(data), "--steps", "1", "--run-dir", str(tmp_path / "run"),
         "--workers", "0", "--no-progress", "--precision", "fp32", "--device", "cpu", *settings],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "settings from the data:" in result.stderr and "w_hpf=0.0" in result.stderr
    model = i2i.load(weights=tmp_path / "run" / "model.safetensors", device="cpu")
    assert model.config.w_hpf == 0 and model.domain_names == ("ember", "ice", "moss")
