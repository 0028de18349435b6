"""`i2i serve`: a local web page and a small HTTP API that translate uploaded images.

One process, Python's standard library only (`http.server`): the page (`serve.html`, beside this
module) is static and calls the API, so a script and the page see the same server. Translations run one
at a time on one worker thread, which keeps one model loaded (a request for other weights replaces it);
requests wait in its queue. Each translation is `i2i translate` itself (`run_translation` on the uploaded
file, written to a temporary file), so the API returns the same bytes as `i2i translate` for the same
input, weights and conditions.

API (all JSON errors are `{"error": "one line"}` with a 4xx/5xx status):

* `GET /api/info`: the default model and weights, the weights offered (catalogue names and the files
  in the folders given on the command line), each model's conditions, and the limits;
* `POST /api/translate`: `multipart/form-data` with the image in the field `image`; the fields
  `weights`, `model`, `format` (same, png, jpeg, webp, tiff, bmp) and the model's conditions by name
  (`direction`, `target_domain`, `seed`, ...); a path condition (e.g. `reference`) is an uploaded file
  in the field of its name. The answer is the image, with its provenance as JSON in `X-I2I-Provenance`.

Safe defaults: the server listens on 127.0.0.1 unless told otherwise; a request body over the upload
limit and images over the pixel limit are refused before decoding; weights are only catalogue names
and files inside the folders given on the command line (or the `--weights` given there), never a path
sent by a client; no file is read or served besides the page.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import tempfile
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from i2i import registry
from i2i.config import check_minimum, parse_option_value
from i2i.errors import I2IError, UsageError
from i2i.io import imageio
from i2i.jobs.translate import run_translation
from i2i.model import Model

PAGE = Path(__file__).with_name("serve.html")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".onnx", ".param")
#: defaults of `--max-upload-mb` and `--max-pixels`
MAX_UPLOAD_MB = 20
MAX_PIXELS = 16_777_216
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
}


@dataclass(frozen=True)
class ServeOptions:
    """What `i2i serve` was started with."""

    model: str | None = None
    weights: str | None = None
    weights_dirs: tuple[Path, ...] = ()
    device: str = "auto"
    precision: str = "auto"
    max_upload_mb: float = MAX_UPLOAD_MB
    max_pixels: int = MAX_PIXELS
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Upload:
    """One uploaded file: its name as the client gave it (only its suffix is used) and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Result:
    """A translated image as `i2i translate` writes it."""

    data: bytes
    filename: str
    content_type: str
    provenance: dict[str, str] | None


class Translator:
    """One model loaded at a time, used by one worker thread; `translate` queues a request and waits."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="i2i-serve")
        self._loaded: tuple[tuple[str | None, str], Model] | None = None

    # ---- what is offered

    def weights_choices(self) -> list[dict[str, Any]]:
        """The weights a client may ask for: the catalogue's (of models that translate), the `--weights`
        given on the command line, and the weight files inside the `--weights-dir` folders."""
        from i2i.hub.catalogue import weights_entries

        choices = [
            {"name": name, "model": entry["model"], "source": "catalogue"}
            for name, entry in sorted(weights_entries().items())
            if entry.get("model")
        ]
        given = self.options.weights
        if given and given not in {c["name"] for c in choices}:
            model = self.options.model or _file_model(Path(given))
            choices.insert(0, {"name": given, "model": model, "source": "file"})
        for folder in self.options.weights_dirs:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES and str(path) != given:
                    choices.append({"name": str(path), "model": _file_model(path), "source": "file"})
        return choices

    def info(self) -> dict[str, Any]:
        """What the page shows: defaults, weights, each model's conditions, limits."""
        conditions = {
            entry.name: [
                {"name": o.name, "type": o.type, "help": o.help, "multiple": o.multiple}
                for o in entry.options
                if not o.setting and "translate" in o.commands
            ]
            for entry in registry.entries()
            if entry.ok
        }
        return {
            "model": self.options.model,
            "weights": self.options.weights,
            "choices": self.weights_choices(),
            "conditions": conditions,
            "formats": ["same", *CONTENT_TYPES],
            "max_upload_mb": self.options.max_upload_mb,
            "max_pixels": self.options.max_pixels,
        }

    # ---- translating

    def translate(self, fields: dict[str, str], files: dict[str, Upload]) -> Result:
        """Queue one translation and wait for it (see the module docstring for the fields)."""
        return self._pool.submit(self._translate, fields, files).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _model(self, model: str | None, weights: str) -> Model:
        from i2i.api import load

        key = (model, weights)
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = None  # the previous model goes before the next one loads
            o = self.options
            loaded = load(model, weights, device=o.device, precision=o.precision, **o.settings)
            self._loaded = (key, loaded)
        return self._loaded[1]

    def _translate(self, fields: dict[str, str], files: dict[str, Upload]) -> Result:
        fields = dict(fields)
        image = files.pop("image", None)
        if image is None or not image.data:
            raise UsageError("no image: send it in the form field 'image'")
        weights = fields.pop("weights", "") or self.options.weights
        model_name = fields.pop("model", "") or None
        if not weights:
            if model_name is None and self.options.model is None:
                raise UsageError("no weights: choose weights (GET /api/info lists them)")
            from i2i.hub.catalogue import default_weights

            weights = default_weights(model_name or self.options.model)
        if weights not in {c["name"] for c in self.weights_choices()}:
            raise UsageError(f"weights '{weights}' are not offered by this server (GET /api/info lists them)")
        if model_name is not None:
            registry.entry(model_name)  # an unknown name is one line
        elif weights == self.options.weights:
            model_name = self.options.model
        fmt = (fields.pop("format", "same") or "same").lower()
        fmt = fmt if fmt == "same" or fmt not in ("jpg", "tif") else imageio.normalise_format(fmt)
        if fmt != "same" and fmt not in CONTENT_TYPES:
            raise UsageError(f"format '{fmt}': choose from same, {', '.join(CONTENT_TYPES)}")
        model = self._model(model_name, weights)
        with tempfile.TemporaryDirectory(prefix="i2i-serve-") as tmp:
            folder = Path(tmp)
            suffix = _suffix(image.filename)
            source = folder / "in" / f"image{suffix}"
            source.parent.mkdir()
            source.write_bytes(image.data)
            conditions = _conditions(model, fields, files, folder)
            same = imageio.output_suffix(suffix)  # a GIF upload comes back as PNG
            out_suffix = same if fmt == "same" else "." + ("jpg" if fmt == "jpeg" else fmt)
            target = folder / "out" / f"image{out_suffix}"
            target.parent.mkdir()
            failures = run_translation(
                model,
                [(source, Path(source.name))],
                target,
                fmt=None if fmt == "same" else fmt,
                max_pixels=self.options.max_pixels,
                conditions=conditions,
                single_file_output=True,
                console=_quiet_console(),
                progress=False,
            )
            if failures:
                raise I2IError(failures[0][1].replace(str(source), Path(image.filename).name or "image"))
            data = target.read_bytes()
        written = imageio.format_from_suffix(target)
        stem = Path(image.filename).stem or "image"
        return Result(
            data,
            f"{stem}_{model.name}{out_suffix}",
            CONTENT_TYPES.get(written, "application/octet-stream"),
            model.provenance_tag(),
        )


def _file_model(path: Path) -> str | None:
    """The model an i2i checkpoint names in its header (read without its tensors); None for other files."""
    if path.suffix.lower() != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return (fh.metadata() or {}).get("model")
    except Exception:  # noqa: BLE001 - a damaged file is reported when it is chosen, not in the listing
        return None


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in imageio.IMAGE_SUFFIXES:
        raise UsageError(f"'{Path(filename).name}': not an image file i2i reads (by its suffix)")
    return suffix


def _conditions(model: Model, fields: dict[str, str], files: dict[str, Upload], folder: Path) -> dict:
    """The model's conditions from form fields (typed by its options) and uploaded files (path options)."""
    options = {o.name: o for o in type(model).options if not o.setting and "translate" in o.commands}
    unknown = sorted(set(fields) - set(options)) + sorted(set(files) - set(options))
    if unknown:
        known = ", ".join(options) or "none"
        raise UsageError(f"{model.name} has no condition '{unknown[0]}' (its conditions: {known})")
    conditions: dict[str, Any] = {}
    for name, text in fields.items():
        option = options[name]
        if text == "":
            continue
        if option.type == "path":
            raise UsageError(f"'{name}' is a file: upload it in the form field '{name}'")
        value = parse_option_value(option, text)
        check_minimum(option, value)
        conditions[name] = [value] if option.multiple else value
    for name, upload in files.items():
        option = options[name]
        if option.type != "path":
            raise UsageError(f"'{name}' is not a file condition of {model.name}")
        path = folder / "conditions" / f"{name}{_suffix(upload.filename)}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(upload.data)
        conditions[name] = [path] if option.multiple else path
    return conditions


def _quiet_console():
    from rich.console import Console

    return Console(quiet=True)


# ------------------------------------------------------------------------------------------ the server


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """A `multipart/form-data` body as (text fields, uploaded files), by field name."""
    if not content_type.startswith("multipart/form-data"):
        raise UsageError("send multipart/form-data (the image in the field 'image')")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename, payload)
        else:
            fields[name] = payload.decode("utf-8", errors="replace").strip()
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
        elif path == "/api/info":
            self._json(HTTPStatus.OK, self.server.translator.info())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/api/translate":
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "a Content-Length header is required"})
            return
        limit = int(self.server.translator.options.max_upload_mb * 2**20)
        if length > limit:
            self.close_connection = True
            self._json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"error": f"the upload is {length / 2**20:.1f} MB, over this server's limit of "
                 f"{limit / 2**20:g} MB (--max-upload-mb)"},
            )  # fmt: skip
            return
        body = self.rfile.read(length)
        try:
            fields, files = parse_form(self.headers.get("Content-Type", ""), body)
            result = self.server.translator.translate(fields, files)
        except UsageError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except I2IError as exc:
            self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - one request's failure is an answer, not a crash
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})
            return
        headers = {
            "Content-Disposition": f'attachment; filename="{_safe_name(result.filename)}"',
            "X-I2I-Provenance": json.dumps(result.provenance or {}),
            "Access-Control-Expose-Headers": "Content-Disposition, X-I2I-Provenance",
        }
        self._send(HTTPStatus.OK, result.data, result.content_type, headers)

    def _json(self, status: HTTPStatus, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "image"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], translator: Translator, verbose: bool) -> None:
        self.translator, self.verbose = translator, verbose
        super().__init__(address, _Handler)


class Server:
    """The page and the API on `host:port` (port 0: any free port); `serve_forever()` or, in a thread,
    `start()` then `stop()`."""

    def __init__(
        self, options: ServeOptions, host: str = "127.0.0.1", port: int = 7860, verbose: bool = False
    ):
        for folder in options.weights_dirs:
            if not Path(folder).is_dir():
                raise UsageError(f"--weights-dir {folder}: no such folder")
        self.translator = Translator(options)
        try:
            self._server = _Server((host, port), self.translator, verbose)
        except OSError as exc:
            raise I2IError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in str(host) else host}:{port}"

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def start(self) -> Server:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
        self.translator.close()
