"""`i2i serve`: the HTTP API over loopback gives the bytes `i2i translate` writes, and refuses what it must."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.cli import app
from i2i.errors import UsageError
from i2i.jobs.serve import ServeOptions, Server, parse_form


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    model = i2i.load(
        "pix2pix", netG="unet_32", ngf=4, ndf=4, load_size=32, crop_size=32, device="cpu", precision="fp32"
    )
    model.save(folder / "tiny.safetensors")
    return folder


@pytest.fixture
def server(weights_dir):
    options = ServeOptions(
        weights=str(weights_dir / "tiny.safetensors"),
        weights_dirs=(weights_dir,),
        device="cpu",
        precision="fp32",
        max_upload_mb=0.05,
        max_pixels=100_000,
    )
    running = Server(options, "127.0.0.1", 0).start()
    yield running
    running.stop()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(server: Server, fields: dict[str, str], files: dict[str, tuple[str, bytes]]):
    body, content_type = multipart(fields, files)
    request = urllib.request.Request(
        f"{server.url}/api/translate", data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _picture(path: Path, size=(22, 14), seed=3) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _flat(path: Path, size: tuple[int, int]) -> bytes:
    Image.new("RGB", size, (90, 20, 200)).save(path)  # small as a file, large in pixels
    return path.read_bytes()


def test_api_gives_the_bytes_of_i2i_translate(server, weights_dir, tmp_path):
    picture = _picture(tmp_path / "photo.png")
    tiny = weights_dir / "tiny.safetensors"
    for fmt, suffix, flags in (("same", ".png", []), ("jpeg", ".jpg", ["--format", "jpeg"])):
        expected = tmp_path / f"expected{suffix}"
        result = CliRunner().invoke(
            app,
            ["translate", "--weights", str(tiny), "--device", "cpu", "--precision", "fp32", "--no-progress",
             "--seed", "4", *flags, str(picture), str(expected)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        status, body, headers = post(
            server,
            {"weights": str(tiny), "seed": "4", "format": fmt},
            {"image": ("photo.png", picture.read_bytes())},
        )
        assert status == 200, body
        assert body == expected.read_bytes()
        assert headers["Content-Type"] == ("image/png" if fmt == "same" else "image/jpeg")
        assert f'filename="photo_pix2pix{suffix}"' in headers["Content-Disposition"]
        assert json.loads(headers["X-I2I-Provenance"])["model"] == "pix2pix"


def test_info_lists_the_offered_weights_and_conditions(server, weights_dir):
    with urllib.request.urlopen(f"{server.url}/api/info", timeout=10) as answer:
        info = json.loads(answer.read())
    names = [c["name"] for c in info["choices"]]
    assert str(weights_dir / "tiny.safetensors") in names and "cyclegan-horse2zebra" in names
    assert "fid-inception-v3" not in names  # feature networks translate nothing
    assert {c["name"] for c in info["conditions"]["pix2pix"]} == {"mode", "seed"}
    assert info["max_pixels"] == 100_000
    with urllib.request.urlopen(f"{server.url}/", timeout=10) as answer:
        assert b"<title>i2i</title>" in answer.read()


@pytest.mark.parametrize(
    "fields, files, status, message",
    [
        ({}, {}, 400, "no image"),
        ({"weights": "/etc/passwd"}, {"image": "ok"}, 400, "not offered by this server"),
        ({"colour": "red"}, {"image": "ok"}, 400, "pix2pix has no condition 'colour'"),
        ({"seed": "x"}, {"image": "ok"}, 400, "seed"),
        ({}, {"image": "big"}, 422, "pixels"),
        ({}, {"image": "text"}, 400, "not an image file"),
        ({}, {"image": "huge"}, 413, "over this server's limit"),
    ],
)
def test_api_refusals_are_one_line(server, tmp_path, fields, files, status, message):
    uploads = {
        "ok": ("a.png", _picture(tmp_path / "a.png").read_bytes()),
        "big": ("big.png", _flat(tmp_path / "big.png", (400, 300))),
        "text": ("notes.txt", b"hello"),
        "huge": ("huge.png", b"\0" * 60_000),
    }
    code, body, _ = post(server, fields, {k: uploads[v] for k, v in files.items()})
    error = json.loads(body)["error"]
    assert code == status and message in error and "\n" not in error


def test_no_file_is_served_but_the_page(server):
    for path in ("/etc/passwd", "/../pyproject.toml", "/api/../serve.py"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{server.url}{path}", timeout=10)
        assert error.value.code == 404


def test_form_parsing_and_the_cli_refusals(tmp_path):
    body, content_type = multipart({"seed": "3"}, {"image": ("x.png", b"\x89PNG")})
    fields, files = parse_form(content_type, body)
    assert (
        fields == {"seed": "3"} and files["image"].filename == "x.png" and files["image"].data == b"\x89PNG"
    )
    with pytest.raises(UsageError, match="multipart/form-data"):
        parse_form("application/json", b"{}")
    with pytest.raises(UsageError, match="no such folder"):
        Server(ServeOptions(weights_dirs=(tmp_path / "missing",)), "127.0.0.1", 0)
    result = CliRunner().invoke(app, ["serve", "--max-upload-mb", "0"])
    assert result.exit_code != 0 and "must be positive" in result.output
