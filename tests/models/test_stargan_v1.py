"""StarGAN v1: the reference fixtures, official checkpoints, attribute conditions, data and training."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.data.attributes import (
    CelebADataset,
    DomainFolderDataset,
    attribute_vector,
    check_attributes,
    reference_split,
)
from i2i.errors import I2IError, UsageError
from i2i.models.stargan.model import StarGAN, StarGANConfig
from i2i.models.stargan.networks import Discriminator, Generator
from tests.conftest import FIXTURES

ATTRS = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male", "Young"]
TINY = StarGAN.tiny_config


def fixture(name: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    path = FIXTURES / "stargan" / f"stargan_v1_celeba_{name}.safetensors"
    with safe_open(str(path), "pt") as fh:
        meta = json.loads(fh.metadata()["fixture"])
    tensors = load_file(path)
    state = {k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state_dict.")}
    return meta, state, tensors


def tiny_model(**overrides) -> StarGAN:
    return i2i.load("stargan", device="cpu", precision="fp32", **(TINY | overrides))


def write_celeba(root, count: int, size: tuple[int, int] = (36, 40), seed: int = 0) -> list[list[int]]:
    """A tiny CelebA folder in the official format; returns the +1/-1 rows."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = rng.choice([-1, 1], size=(count, len(ATTRS))).tolist()
    lines = [str(count), " ".join(ATTRS)]
    for i, row in enumerate(rows):
        name = f"{i + 1:06d}.jpg"
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / name, quality=95)
        lines.append(name + " " + " ".join(f"{v:2d}" for v in row))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return rows


def write_domains(root, counts: dict[str, int]) -> None:
    for domain, n in counts.items():
        (root / domain).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (40, 40), (i * 40, 100, 200)).save(root / domain / f"{i}.png")


# -------------------------------------------------------------------------------------------- fixtures


def test_generator_fixture_official_test_behaviour_and_eval():
    meta, state, t = fixture("generator")
    x, c = t["input.x"], t["input.c"]
    net = Generator(**meta["ctor"])
    net.load_state_dict(state)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.eval()
    net.use_instance_statistics(True)
    torch.testing.assert_close(net(x, c), t["expected.out_train"], atol=1e-4, rtol=0)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # running stats untouched
    net.use_instance_statistics(False)
    torch.testing.assert_close(net(x, c), t["expected.out_eval"], atol=1e-4, rtol=0)
    net.train()  # the reference itself: train mode, which also updates the running statistics
    torch.testing.assert_close(net(x, c), t["expected.out_train"], atol=1e-4, rtol=0)
    assert not torch.equal(net.state_dict()["main.1.running_mean"], before["main.1.running_mean"])


def test_generator_fixture_through_the_model_with_attrs_and_channels_last():
    meta, state, t = fixture("generator")
    ctor = meta["ctor"]
    config = StarGANConfig(c_dim=ctor["c_dim"], g_conv_dim=ctor["conv_dim"], g_repeat_num=ctor["repeat_num"])
    model = StarGAN(config, device="cpu", precision="fp32")
    model.load_networks({"G": state})
    # row 0 of input.c is Brown_Hair + Young
    assert t["input.c"][0].tolist() == attribute_vector("Brown_Hair,Young", config.selected_attrs)
    x = t["input.x"][:1]
    for layout in (torch.contiguous_format, torch.channels_last):
        model.networks["G"].to(memory_format=layout)
        with torch.inference_mode():
            out = model.forward_tensor(x.contiguous(memory_format=layout), attrs="Brown_Hair,Young")
            out_eval = model.forward_tensor(
                x.contiguous(memory_format=layout), attrs="Brown_Hair,Young", mode="eval"
            )
        torch.testing.assert_close(out, t["expected.out_train"][:1], atol=1e-4, rtol=0)
        torch.testing.assert_close(out_eval, t["expected.out_eval"][:1], atol=1e-4, rtol=0)
    assert torch.equal(model.networks["G"].state_dict()["main.1.running_mean"], state["main.1.running_mean"])


def test_discriminator_fixture():
    meta, state, t = fixture("discriminator")
    net = Discriminator(**meta["ctor"])
    net.load_state_dict(state)
    out_src, out_cls = net(t["input.x"])
    torch.testing.assert_close(out_src, t["expected.out_src"], atol=1e-5, rtol=0)
    torch.testing.assert_close(out_cls, t["expected.out_cls"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("config", ["celeba_128", "celeba_256"])
def test_default_networks_have_the_official_keys_and_shapes(config):
    spec = json.loads((FIXTURES / "stargan" / "keys_default_stargan_v1.json").read_text())[config]
    with torch.device("meta"):
        nets = {"G": Generator(**spec["ctor"]["G"]), "D": Discriminator(**spec["ctor"]["D"])}
    for role, net in nets.items():
        expected = [(k, list(s)) for k, s in spec["files"][f"200000-{role}.ckpt"]]
        assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == expected
        assert sum(p.numel() for p in net.parameters()) == spec["param_counts"][role]


# ---------------------------------------------------------------------------------- official checkpoints


def official_files(folder, *, c_dim=5, legacy=False) -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    G, D = Generator(8, c_dim, 2), Discriminator(64, 8, c_dim, 4)
    with torch.no_grad():
        for name, buffer in G.named_buffers():
            if name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
    folder.mkdir(parents=True, exist_ok=True)
    g_state = G.state_dict()
    if legacy:  # torch 0.4.0: no num_batches_tracked, the pre-1.6 file format
        g_state = {k: v for k, v in g_state.items() if not k.endswith("num_batches_tracked")}
    torch.save(g_state, folder / "200000-G.ckpt", _use_new_zipfile_serialization=not legacy)
    torch.save(D.state_dict(), folder / "200000-D.ckpt")
    return G, D


@pytest.mark.parametrize("legacy", [False, True])
def test_official_generator_file_loads_without_flags(tmp_path, legacy):
    G, _ = official_files(tmp_path / "models", legacy=legacy)
    model = i2i.load(weights=tmp_path / "models" / "200000-G.ckpt", device="cpu", precision="fp32")
    assert model.name == "stargan" and model.loaded == {"G"}
    c = model.config
    assert (c.c_dim, c.g_conv_dim, c.g_repeat_num) == (5, 8, 2)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    G.eval()
    with torch.inference_mode():
        expected = G(x, torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]]))
        got = model.forward_tensor(x, attrs="Blond_Hair,Male", mode="eval")
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_official_discriminator_file_and_both_networks(tmp_path):
    G, D = official_files(tmp_path / "models", c_dim=3)
    model = i2i.load(weights=tmp_path / "models" / "200000-D.ckpt", device="cpu", precision="fp32")
    c = model.config
    assert model.loaded == {"D"}
    assert (c.c_dim, c.d_conv_dim, c.d_repeat_num, c.image_size) == (3, 8, 4, 64)
    states = {"G": G.state_dict(), "D": D.state_dict()}
    settings, networks = StarGAN.import_official(states)
    assert settings == {
        "c_dim": 3,
        "g_conv_dim": 8,
        "g_repeat_num": 2,
        "d_conv_dim": 8,
        "d_repeat_num": 4,
        "image_size": 64,
    }
    assert set(networks) == {"G", "D"}
    with pytest.raises(I2IError, match="not from the same model"):
        StarGAN.import_official({"G": Generator(8, 5, 2).state_dict(), "D": D.state_dict()})
    with pytest.raises(I2IError, match="match no StarGAN network"):
        StarGAN.import_official({"": {"model.0.weight": torch.zeros(1)}})


# ------------------------------------------------------------------------------------------ translation


def test_translate_with_attrs_keeps_size():
    model = tiny_model()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (22, 30, 3), dtype=np.uint8))
    out = model.translate(image, attrs="Blond_Hair,Male")
    assert isinstance(out, Image.Image) and out.size == (30, 22)
    blond = model.translate(np.asarray(image), attrs=["blond_hair", "Male"], as_array=True)
    assert blond.shape == (22, 30, 3) and np.array_equal(blond, np.asarray(out))
    assert not np.array_equal(blond, model.translate(np.asarray(image), attrs="Black_Hair", as_array=True))
    assert not np.array_equal(
        blond, model.translate(np.asarray(image), attrs="Blond_Hair,Male", mode="eval", as_array=True)
    )


def test_attribute_semantics_and_errors():
    selected = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
    assert attribute_vector("Blond_Hair, Male", selected) == [0.0, 1.0, 0.0, 1.0, 0.0]
    assert attribute_vector(None, selected) == [0.0] * 5
    with pytest.raises(UsageError, match="did you mean 'Blond_Hair'"):
        attribute_vector("Blonde_Hair", selected)
    with pytest.raises(UsageError, match="hair colours are exclusive"):
        attribute_vector("Black_Hair,Blond_Hair", selected)
    model = tiny_model()
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(UsageError, match="did you mean 'Young'"):
        model.translate(image, attrs="Yung")
    with pytest.raises(UsageError, match="with --attrs .e.g. --attrs Black_Hair., not --target-domain"):
        model.translate(image, target_domain="happy")
    with pytest.raises(UsageError, match="unknown test mode"):
        model.translate(image, mode="train_dropout_off")


def test_domain_model_takes_target_domain():
    model = tiny_model(dataset="rafd", c_dim=3, domains="angry,happy,sad")
    image = np.random.default_rng(1).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    happy = model.translate(image, target_domain="happy", as_array=True)
    assert happy.shape == (20, 24, 3)
    assert np.array_equal(happy, model.translate(image, target_domain=1, as_array=True))
    with pytest.raises(UsageError, match="did you mean 'happy'"):
        model.translate(image, target_domain="hapy")
    with pytest.raises(UsageError, match="choose the target domain"):
        model.translate(image)


# ------------------------------------------------------------------------------------------------- data


def test_reference_split_leaves_the_global_random_state_alone():
    lines = [f"{i:06d}.jpg 1 -1" for i in range(2100)]
    state = random.getstate()
    train, test = reference_split(lines)
    assert random.getstate() == state
    random.seed(1234)
    expected = list(lines)
    random.shuffle(expected)
    random.setstate(state)
    assert (len(test), len(train)) == (1999, 101)
    assert test == expected[:1999] and train == expected[1999:]


def test_celeba_dataset(tmp_path):
    rows = write_celeba(tmp_path / "celeba", 10)
    selected = ("Blond_Hair", "Male")
    ds = CelebADataset(tmp_path / "celeba", selected_attrs=selected, test_size=3, crop_size=32, image_size=16)
    assert len(ds) == 7
    lines = (tmp_path / "celeba" / "list_attr_celeba.txt").read_text().splitlines()[2:]
    train, _ = reference_split(lines, 3)
    for i, line in enumerate(train):
        sample = ds[i]
        row = rows[int(line.split()[0][:6]) - 1]
        assert sample["path"].endswith(line.split()[0])
        assert sample["label"].tolist() == [float(row[ATTRS.index(a)] == 1) for a in selected]
        assert (
            sample["image"].shape == (3, 16, 16) and -1 <= sample["image"].min() <= sample["image"].max() <= 1
        )
    first = [ds[i]["image"] for i in range(len(ds))]
    assert all(
        torch.equal(ds[i]["image"], first[i]) for i in range(len(ds))
    )  # a function of (seed, epoch, i)
    ds.set_epoch(1)
    flipped = [not torch.equal(ds[i]["image"], first[i]) for i in range(len(ds))]
    assert any(flipped) and not all(flipped)
    for i in (i for i, f in enumerate(flipped) if f):
        torch.testing.assert_close(ds[i]["image"], first[i].flip(-1), atol=2 / 255, rtol=0)
    test = CelebADataset(
        tmp_path / "celeba", selected_attrs=selected, split="test", test_size=3, crop_size=32, image_size=16
    )
    assert len(test) == 3
    with pytest.raises(UsageError, match="did you mean 'Male'"):
        CelebADataset(tmp_path / "celeba", selected_attrs=("Mail",))
    with pytest.raises(I2IError, match="no train images"):
        CelebADataset(tmp_path / "celeba")  # 10 images, 1999 held out


def test_check_attributes(tmp_path):
    root = tmp_path / "celeba"
    write_celeba(root, 4)
    assert check_attributes(root) == []
    (root / "images" / "000002.jpg").unlink()
    problems = check_attributes(root, selected_attrs=("Blond_Hair", "Eyeglasses", "Yung"))
    assert any("1 of the 4 listed images are missing" in p and "000002.jpg" in p for p in problems)
    assert any("'Eyeglasses' is not in" in p for p in problems)
    assert any("'Yung'" in p and "did you mean 'Young'" in p for p in problems)
    (root / "list_attr_celeba.txt").unlink()
    assert any("list_attr_celeba.txt is missing" in p for p in check_attributes(root))
    write_domains(tmp_path / "rafd", {"happy": 2, "sad": 1})
    (tmp_path / "rafd" / "angry").mkdir()
    assert check_attributes(tmp_path / "rafd") == [
        f"{tmp_path / 'rafd' / 'angry'} is empty: it holds no files; every domain folder needs images"
    ]
    assert check_attributes(tmp_path / "rafd", domains=["happy", "sadd"])[0].endswith("(did you mean 'sad'?)")
    assert check_attributes(tmp_path / "missing") == [f"dataset folder {tmp_path / 'missing'} does not exist"]


def test_domain_folder_dataset(tmp_path):
    write_domains(tmp_path / "RaFD" / "train", {"sad": 2, "happy": 3})
    write_domains(tmp_path / "RaFD" / "test", {"sad": 1, "happy": 1})
    ds = DomainFolderDataset(tmp_path / "RaFD", crop_size=32, image_size=16)
    assert ds.domains == ("happy", "sad") and len(ds) == 5
    assert [int(ds[i]["label"]) for i in range(5)] == [0, 0, 0, 1, 1]
    assert ds[0]["label"].dtype == torch.int64 and ds[0]["image"].shape == (3, 16, 16)
    ordered = DomainFolderDataset(tmp_path / "RaFD" / "train", domains=["sad", "happy"])
    assert ordered.domains == ("sad", "happy") and int(ordered[0]["label"]) == 0
    with pytest.raises(I2IError, match="did you mean 'happy'"):
        DomainFolderDataset(tmp_path / "RaFD", domains=["hapy"])


# --------------------------------------------------------------------------------------------- training


def train(data, run_dir, *extra: str):
    settings = [x for k, v in (TINY | {"n_critic": 2}).items() for x in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(
        app,
        ["train", "stargan", "--data", str(data), "--run-dir", str(run_dir), "--batch-size", "3",
         "--workers", "0", "--no-progress", "--precision", "fp32", "--device", "cpu", *settings, *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return run_dir / "model.safetensors"


def test_cli_training_resumes_exactly(tmp_path):
    write_celeba(tmp_path / "celeba", 12)
    straight = load_file(train(tmp_path / "celeba", tmp_path / "straight", "--steps", "4"))
    train(tmp_path / "celeba", tmp_path / "resumed", "--steps", "2")
    result = CliRunner().invoke(
        app, ["train", "--run-dir", str(tmp_path / "resumed"), "--resume", "--steps", "4", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    model = i2i.load(weights=tmp_path / "straight" / "model.safetensors", device="cpu", precision="fp32")
    assert model.step == 4
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert "G_rec" in log[-1] and "D_gp" in log[-1]


def test_domain_training_names_the_domains(tmp_path):
    write_domains(tmp_path / "faces", {"happy": 3, "sad": 3})
    settings = ["--set", "dataset=rafd", "--set", "c_dim=2", "--set", "rafd_crop_size=40"]
    out = train(tmp_path / "faces", tmp_path / "run", "--steps", "1", *settings)
    model = i2i.load(weights=out, device="cpu", precision="fp32")
    assert model.config.domains == ("happy", "sad")
    assert model.translate(np.zeros((8, 8, 3), np.uint8), target_domain="sad", as_array=True).shape == (
        8,
        8,
        3,
    )


def test_learning_rate_decay_is_the_reference_one():
    model = tiny_model(num_iters=10, num_iters_decay=4, lr_update_step=2)
    # after iterations 8 and 10 (of the last 4), lr0 / 4 less each time
    assert [model._lr_factor(step) for step in (0, 6, 7, 8, 9, 10)] == [1.0, 1.0, 1.0, 0.75, 0.75, 0.5]
    assert tiny_model(num_iters=200000)._lr_factor(200000) * 1e-4 == pytest.approx(9.99e-5)
