"""Bad input: each a clear one-line error naming the file, a non-zero exit, nothing half-written."""

from __future__ import annotations

import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.errors import I2IError
from i2i.models._shared.cyclegan_pix2pix.networks import define_G

RUNNER = CliRunner()
FAST = ["--no-progress", "--device", "cpu", "--precision", "fp32"]


def invoke(*args) -> object:
    return RUNNER.invoke(app, [str(a) for a in args])


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(result, *named: str, exit_code: int = 1) -> str:
    """Exit code, exactly one `error:` line naming `named`, no traceback; returns the line."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    for name in named:
        assert name in lines[0], lines[0]
    return lines[0]


def assert_only_the_error(result, *named: str, exit_code: int = 1) -> None:
    """Failures before any translation: stderr is that one line and nothing else."""
    line = assert_one_line_error(result, *named, exit_code=exit_code)
    assert result.stderr.strip() == line, result.stderr
    assert result.stdout.strip() == ""


def no_temporaries(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if p.name.endswith(".tmp")] if folder.exists() else []
    assert leftovers == []


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with a tiny official generator (`G.pth`) and a good image (`ok.png`)."""
    monkeypatch.chdir(tmp_path)
    torch.save(
        define_G(3, 3, 4, "resnet_6blocks", "instance", False).state_dict(), tmp_path / "latest_net_G.pth"
    )
    Image.new("RGB", (16, 12), (10, 200, 30)).save(tmp_path / "ok.png")
    Image.new("RGB", (16, 12), (10, 200, 30)).save(tmp_path / "ok.jpg")
    return tmp_path


def translate(*args):
    return invoke("translate", "--model", "pix2pix", "--weights", "latest_net_G.pth", *FAST, *args)


# --------------------------------------------------------------------------------------------- images


def test_missing_input_path(work):
    result = translate("missing.png", "out")
    assert_only_the_error(result, "missing.png")
    assert not (work / "out").exists()


def _bad_images(folder: Path) -> dict[str, Path]:
    png, jpg = (folder / "ok.png").read_bytes(), (folder / "ok.jpg").read_bytes()
    files = {
        "zero-byte": (folder / "zero.png", b""),
        "truncated png": (folder / "cut.png", png[: len(png) // 2]),
        "truncated jpeg": (folder / "cut.jpg", jpg[: len(jpg) // 2]),
        "text named .png": (folder / "text.png", b"hello, I am not a picture\n"),
        "png signature, garbage": (folder / "garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00junk" * 20),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {kind: path for kind, (path, _) in files.items()}


@pytest.mark.parametrize(
    "kind", ["zero-byte", "truncated png", "truncated jpeg", "text named .png", "png signature, garbage"]
)
def test_undecodable_image(work, kind):
    path = _bad_images(work)[kind]
    result = translate(path.name, "out")
    line = assert_one_line_error(result, str(path.name))
    assert "translated 0 of 1" in result.stderr
    if kind == "zero-byte":
        assert "empty" in line
    assert not (work / "out" / path.name).exists()
    no_temporaries(work / "out")


def _bomb(src: Path, dst: Path, width: int, height: int) -> None:
    """A small PNG whose header declares a huge image (IHDR patched, CRC fixed)."""
    data = bytearray(src.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    dst.write_bytes(bytes(data))


def test_decompression_bomb_is_refused_before_decoding(work):
    _bomb(work / "ok.png", work / "bomb.png", 20000, 20000)
    assert (work / "bomb.png").stat().st_size < 1000
    line = assert_one_line_error(translate("bomb.png", "out"), "bomb.png")
    assert "20000x20000" in line and "--max-pixels" in line
    assert not (work / "out" / "bomb.png").exists()

    line = assert_one_line_error(translate("--max-pixels", "100", "ok.png", "out"), "ok.png")
    assert "16x12" in line and "limit" in line
    assert not (work / "out" / "ok.png").exists()


def test_unknown_model_is_a_usage_error_with_a_suggestion(work):
    result = invoke("translate", "--model", "pix2pox", "--weights", "latest_net_G.pth", "ok.png", "out")
    line = assert_one_line_error(result, "pix2pox", exit_code=2)
    assert "did you mean 'pix2pix'" in line
    assert not (work / "out").exists()


def test_unknown_test_mode_is_a_usage_error(work):
    line = assert_one_line_error(
        translate("--mode", "evaluation", "ok.png", "out"), "evaluation", exit_code=2
    )
    assert "train_dropout_off" in line
    assert not (work / "out").exists()


# ---------------------------------------------------------------------------------------- checkpoints


def test_truncated_pth(work):
    data = (work / "latest_net_G.pth").read_bytes()
    (work / "half.pth").write_bytes(data[: len(data) // 2])
    result = invoke("translate", "--model", "pix2pix", "--weights", "half.pth", *FAST, "ok.png", "out")
    assert_only_the_error(result, "half.pth")
    assert not (work / "out").exists()
    result = invoke("convert", "half.pth", "half.safetensors")
    assert_only_the_error(result, "half.pth")
    assert not (work / "half.safetensors").exists()
    no_temporaries(work)


def test_missing_weights_file(work):
    result = invoke("translate", "--model", "pix2pix", "--weights", "nowhere.pth", *FAST, "ok.png", "out")
    assert_only_the_error(result, "nowhere.pth")


@pytest.mark.parametrize("damage", ["truncated", "garbage header", "empty"])
def test_corrupted_safetensors(work, damage):
    assert invoke("convert", "latest_net_G.pth", "good.safetensors").exit_code == 0
    data = bytearray((work / "good.safetensors").read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage header":
        data[8:24] = b"#" * 16
    else:
        data = bytearray()
    (work / "bad.safetensors").write_bytes(bytes(data))
    result = invoke("translate", "--weights", "bad.safetensors", *FAST, "ok.png", "out")
    assert_only_the_error(result, "bad.safetensors")
    assert not (work / "out").exists()


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > marker",))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_pickle_that_runs_code_is_refused(work, how):
    path = work / "evil.pth"
    if how == "torch.save":
        torch.save({"model.1.weight": _RunsCode(), "model.1.bias": torch.zeros(3)}, path)
    else:
        path.write_bytes(pickle.dumps(_RunsCode()))
    for args in (
        ["translate", "--model", "pix2pix", "--weights", "evil.pth", *FAST, "ok.png", "out"],
        ["translate", "--weights", "evil.pth", *FAST, "ok.png", "out"],
        ["convert", "evil.pth", "evil.safetensors"],
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = invoke(*args)
        line = assert_one_line_error(result, "evil.pth")
        assert "refused" in line
        if how == "torch.save":
            assert "posix.system" in line or "nt.system" in line  # what was refused, not torch's preamble
        assert result.stderr.strip() == line
        # a CLI user would see warnings (e.g. torch's "Detected pickle protocol 4") around the one line
        assert [str(w.message) for w in caught] == []
    with pytest.raises(I2IError, match="refused"):
        i2i.load("pix2pix", weights=path, device="cpu")
    assert not (work / "marker").exists()
    assert not (work / "out").exists() and not (work / "evil.safetensors").exists()


def test_checkpoint_of_no_known_model(work):
    torch.save({"encoder.weight": torch.zeros(2, 2), "decoder.bias": torch.zeros(2)}, work / "other.pth")
    result = invoke("translate", "--weights", "other.pth", *FAST, "ok.png", "out")
    line = assert_one_line_error(result, "other.pth")
    assert "--model" in line


def test_checkpoint_of_another_model_with_model_names_the_file(work):
    torch.save({"encoder.weight": torch.zeros(2, 2), "decoder.bias": torch.zeros(2)}, work / "other.pth")
    result = invoke("translate", "--model", "pix2pix", "--weights", "other.pth", *FAST, "ok.png", "out")
    assert_only_the_error(result, "other.pth", "encoder.weight")


def _i2i_checkpoint_of(work: Path, model_name: str) -> Path:
    assert invoke("convert", "latest_net_G.pth", "good.safetensors").exit_code == 0
    from safetensors import safe_open

    with safe_open(str(work / "good.safetensors"), "pt") as fh:
        meta = fh.metadata()
    path = work / f"{model_name}.safetensors"
    save_file(load_file(str(work / "good.safetensors")), str(path), metadata={**meta, "model": model_name})
    return path


def test_i2i_checkpoint_of_another_model_given_the_wrong_model(work):
    _i2i_checkpoint_of(work, "cyclegan")
    result = invoke(
        "translate", "--model", "pix2pix", "--weights", "cyclegan.safetensors", *FAST, "ok.png", "out"
    )
    line = assert_one_line_error(result, "cyclegan.safetensors")
    assert "cyclegan" in line
    assert not (work / "out").exists()


@pytest.mark.parametrize("model_name", ["stylegan9000", "not_a_model"])
def test_i2i_checkpoint_of_an_uninstalled_model_names_the_file(work, model_name):
    _i2i_checkpoint_of(work, model_name)
    result = invoke("translate", "--weights", f"{model_name}.safetensors", *FAST, "ok.png", "out")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = error_lines(result)
    assert len(lines) == 1 and f"{model_name}.safetensors" in lines[0] and model_name in lines[0]


# --------------------------------------------------------------------------------------- train layouts


def test_train_on_an_empty_folder(work):
    (work / "empty").mkdir()
    result = invoke(
        "train", "pix2pix", "--data", "empty", "--steps", "1", "--device", "cpu", "--run-dir", "run"
    )
    line = assert_one_line_error(result, "empty")
    assert "found 0 images" in line
    assert "Expected" in result.stderr and "train/" in result.stderr
    assert not (work / "run").exists()


def test_train_pix2pix_on_a_cyclegan_layout(work):
    for side in ("trainA", "trainB"):
        (work / "horses" / side).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(work / "horses" / side / "1.png")
    result = invoke(
        "train", "pix2pix", "--data", "horses", "--steps", "1", "--device", "cpu", "--run-dir", "run"
    )
    line = assert_one_line_error(result, "horses")
    assert "trainA" in line and "trainB" in line and "CycleGAN" in line
    assert "Expected" in result.stderr
    assert not (work / "run").exists()


# ----------------------------------------------------------------------------- nothing written is lost


def test_one_corrupt_input_in_a_folder(work):
    src = work / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png", "z.png"):
        Image.new("RGB", (10, 6), (len(name) * 20, 90, 30)).save(src / name)
    (src / "sub" / "broken.png").write_bytes((work / "ok.png").read_bytes()[:40])
    out = work / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "broken.png").write_bytes(b"an earlier result")

    result = translate(src, out)  # absolute paths: lines longer than the console is wide
    assert_one_line_error(result, str(src / "sub" / "broken.png"))
    assert "translated 3 of 4" in result.stderr and "1 failed" in result.stderr
    # the summary is one line too (not hard-wrapped to the console width)
    assert any("translated 3 of 4" in x and "1 failed" in x for x in result.stderr.splitlines())
    for name in ("a.png", "sub/b.png", "z.png"):
        assert Image.open(out / name).size == (10, 6)
    assert (out / "sub" / "broken.png").read_bytes() == b"an earlier result"
    no_temporaries(out)


def test_output_folder_equal_to_input_folder_never_overwrites(work):
    src = work / "in"
    src.mkdir()
    Image.new("RGB", (10, 6), (1, 2, 3)).save(src / "a.png")
    Image.new("RGB", (10, 6), (4, 5, 6)).save(src / "b.jpg")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    result = translate("--format", "same", "in", "in")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert len(error_lines(result)) == 2
    assert all("overwrite an input" in line for line in error_lines(result))
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    # a single file onto itself
    result = translate("in/a.png", "in/a.png")
    assert_one_line_error(result, "a.png")
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_two_inputs_with_the_same_output_do_not_overwrite_each_other(work):
    src = work / "in"
    src.mkdir()
    Image.new("RGB", (10, 6), (1, 2, 3)).save(src / "a.jpg")
    Image.new("RGB", (10, 6), (4, 5, 6)).save(src / "a.webp")
    result = translate("--format", "png", "in", "out")
    assert_one_line_error(result, "a.webp", "a.jpg")
    assert "translated 1 of 2" in result.stderr
    assert sorted(p.name for p in (work / "out").iterdir()) == ["a.png"]
