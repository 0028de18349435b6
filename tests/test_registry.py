"""The model registry: third-party plugins through the `i2i.models` entry points, lazy listing, broken
plugins as warning rows, did-you-mean.

Plugins are installed into temporary folders and used from fresh interpreters (`PYTHONPATH`), as a user
would after `pip install`; i2i itself is not changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import i2i
from i2i import registry

TOY_SOURCE = '''
"""A third-party i2i model: one 1x1 convolution, the identity times `gain`."""

import dataclasses
import os
from pathlib import Path

import torch
from torch import nn

import i2i

if os.environ.get("I2I_TOY_MARKER"):
    Path(os.environ["I2I_TOY_MARKER"]).write_text("imported")


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    input_nc: int = 3
    output_nc: int = 3
    gain: float = 1.0


class Toy(i2i.Model):
    name = "toy"
    task = "toy translation"
    license = "MIT"
    description = "One 1x1 convolution: the image times gain"
    Config = ToyConfig
    value_range = (0.0, 1.0)

    def build_networks(self):
        c = self.config
        conv = nn.Conv2d(c.input_nc, c.output_nc, 1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.eye(c.output_nc, c.input_nc)[:, :, None, None] * c.gain)
        return {"G": conv}

    def forward_tensor(self, x):
        return self.networks["G"](x)

    def size_multiple(self):
        return 1
'''

TOY_PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "i2i-toy-plugin"
version = "0.1.0"
dependencies = ["i2i"]

[project.entry-points."i2i.models"]
toy = "i2i_toy:Toy"

[tool.setuptools]
packages = ["i2i_toy"]
"""


def run(args: list[str], site: Path | None, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A fresh interpreter that sees only i2i's own environment plus `site`."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ.update(NO_COLOR="1", TERM="dumb", COLUMNS="200", PYTHONDONTWRITEBYTECODE="1", **env)
    if site is not None:
        environ["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def pip_install(package: Path, site: Path) -> Path:
    """Install the plugin folder `package` with pip, offline, into the folder `site` (as a user would)."""
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "--disable-pip-version-check", "--no-input"]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", *offline, "--quiet", "--target", str(site), str(package)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=package.parent,
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


def run_script(script: str, site: Path | None, cwd: Path, **env: str) -> dict:
    """Run `script` in a fresh interpreter; it prints one JSON object last."""
    proc = run(["-c", textwrap.dedent(script)], site, cwd, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(args: list[str], site: Path | None, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return run(["-m", "i2i", *args], site, cwd, **env)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# -------------------------------------------------------------------------------- a real plugin


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory) -> Path:
    """The toy plugin built and installed with pip, offline, into a folder of its own."""
    root = tmp_path_factory.mktemp("toy")
    package = root / "i2i-toy-plugin"
    (package / "i2i_toy").mkdir(parents=True)
    (package / "pyproject.toml").write_text(TOY_PYPROJECT)
    (package / "i2i_toy" / "__init__.py").write_text(TOY_SOURCE)
    site = pip_install(package, root / "site")
    assert (site / "i2i_toy" / "__init__.py").is_file()
    assert list(site.glob("i2i_toy_plugin-*.dist-info/entry_points.txt"))
    return site


def test_plugin_listed_by_the_cli_without_importing_it(toy_site, tmp_path):
    marker = tmp_path / "imported"
    proc = cli(["models", "--json"], toy_site, tmp_path, I2I_TOY_MARKER=str(marker))
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    toy = rows["toy"]
    assert toy["task"] == "toy translation"
    assert toy["license"] == "MIT"
    assert toy["description"] == "One 1x1 convolution: the image times gain"
    assert toy["status"] == "ok" and toy["error"] is None
    assert toy["plugin"] == "i2i_toy:Toy"
    assert toy["distribution"] == "i2i-toy-plugin"
    assert rows["pix2pix"]["status"] == "ok"
    assert not marker.exists(), "listing imported the plugin"


TOY_SCRIPT = """
import json, os, sys
import numpy as np
import i2i

rows = {r["name"]: r for r in i2i.list_models()}
facts = {
    "listed": rows["toy"]["status"],
    "toy_imported_by_listing": "i2i_toy" in sys.modules,
    "pix2pix_imported_by_listing": "i2i.models.pix2pix" in sys.modules,
    "marker_after_listing": os.path.exists(os.environ["I2I_TOY_MARKER"]),
}
image = (np.random.default_rng(0).integers(0, 64, (5, 7, 3)) * 2).astype(np.uint8)

model = i2i.load("toy", gain=2.0, device="cpu")
facts["class"] = type(model).__module__ + "." + type(model).__name__
facts["gain"] = model.config.gain
facts["auto_diff"] = int(np.abs(model.translate(image, as_array=True).astype(int) - image * 2).max())
exact = i2i.load("toy", gain="2", device="cpu", precision="fp32")
out = exact.translate(image, as_array=True)
facts["exact"] = bool(out.dtype == np.uint8 and np.array_equal(out, image * 2))
facts["pil_size"] = list(exact.translate(image).size)

# weights that no longer match the config: loading must take them from the file
exact.networks["G"].weight.data *= 0.25
path = exact.save(os.path.join(sys.argv[1], "toy.safetensors"))
back = i2i.load(weights=path, device="cpu", precision="fp32")
facts["loaded_name"] = back.name
facts["loaded_gain"] = back.config.gain
facts["reloaded"] = bool(np.array_equal(back.translate(image, as_array=True), image // 2))
print(json.dumps(facts))
"""


def test_plugin_loads_translates_saves_and_reloads(toy_site, tmp_path):
    marker = tmp_path / "imported"
    proc = run(["-c", TOY_SCRIPT, str(tmp_path)], toy_site, tmp_path, I2I_TOY_MARKER=str(marker))
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["listed"] == "ok"
    assert not facts["toy_imported_by_listing"]
    assert not facts["marker_after_listing"]
    assert not facts["pix2pix_imported_by_listing"]
    assert facts["class"] == "i2i_toy.Toy"
    assert facts["gain"] == 2.0
    assert facts["auto_diff"] <= 1  # `auto` precision may be bf16 on this CPU
    assert facts["exact"]
    assert facts["pil_size"] == [7, 5]
    assert facts["loaded_name"] == "toy"
    assert facts["loaded_gain"] == 2.0
    assert facts["reloaded"]
    assert marker.exists()
    assert (tmp_path / "toy.safetensors").is_file()


def test_listing_is_lazy(tmp_path):
    facts = run_script(
        """
        import json, sys
        import i2i
        rows = i2i.list_models()
        print(json.dumps({
            "names": [r["name"] for r in rows],
            "pix2pix_imported": "i2i.models.pix2pix" in sys.modules,
        }))
        """,
        None,
        tmp_path,
    )
    assert "pix2pix" in facts["names"]
    assert not facts["pix2pix_imported"]


# ------------------------------------------------------------------------------------- broken plugins


BROKEN_MODULES = {
    "i2i_broken_syntax.py": "import i2i\n\nclass Broken(i2i.Model:\n    task = 'x'\n",
    "i2i_broken_noclass.py": "import i2i\n\nclass Other(i2i.Model):\n    task = 'x'\n",
    "i2i_broken_raises.py": (
        "import i2i\n\n"
        "class Raises(i2i.Model):\n"
        "    task = 'raises on import'\n    license = 'MIT'\n    description = 'broken on purpose'\n\n"
        "raise RuntimeError('the plugin is broken on purpose\\nsecond line of the message')\n"
    ),
    "i2i_not_a_model.py": "class Plain:\n    task = 'not a model'\n",
    "i2i_odd_literal.py": "class Odd:\n    task = {[1]: 2}\n    license = 'MIT'\n",
    "i2i_bad_encoding.py": b"# -*- coding: utf-8 -*-\nclass Bad:\n    task = '\xff\xfe'\n",
    # a plugin inside a package whose __init__ fails: listing must neither import nor crash on it
    "i2i_broken_parent/__init__.py": "raise RuntimeError('parent package imported')\n",
    "i2i_broken_parent/sub.py": "class Sub:\n    task = 'in a sub-module'\n",
    # the class re-exported with a star import: not readable statically, but a working plugin
    "i2i_star/__init__.py": "from ._impl import *  # noqa\n",
    "i2i_star/_impl.py": (
        "import i2i\n\n__all__ = ['Star']\n\n"
        "class Star(i2i.Model):\n    name = 'star'\n"
        "    def build_networks(self):\n        return {}\n"
        "    def forward_tensor(self, x):\n        return x\n"
    ),
}

BROKEN_ENTRY_POINTS = {
    "syntax": "i2i_broken_syntax:Broken",
    "missing": "i2i_no_such_module:Thing",
    "noclass": "i2i_broken_noclass:Missing",
    "raises": "i2i_broken_raises:Raises",
    "notamodel": "i2i_not_a_model:Plain",
    "oddliteral": "i2i_odd_literal:Odd",
    "badencoding": "i2i_bad_encoding:Bad",
    "parent": "i2i_broken_parent.sub:Sub",
    "star": "i2i_star:Star",
}


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    """A sys.path folder with hand-made distributions whose entry points are broken in various ways."""
    site = tmp_path_factory.mktemp("broken") / "site"
    for relative, content in BROKEN_MODULES.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    for name, target in BROKEN_ENTRY_POINTS.items():
        info = site / f"i2i_plugin_{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: i2i-plugin-{name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[i2i.models]\n{name} = {target}\n")
    return site


def test_broken_plugins_are_rows_of_the_listing(broken_site, tmp_path):
    proc = cli(["models", "--json"], broken_site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["pix2pix"]["status"] == "ok"

    def broken(name: str, *fragments: str) -> None:
        row = rows[name]
        assert row["status"] == "broken", row
        for fragment in fragments:
            assert fragment in row["error"], (fragment, row["error"])

    broken("syntax", "syntax error", "i2i_broken_syntax", "line 3")
    broken("missing", "i2i_no_such_module", "not installed")
    broken("noclass", "i2i_broken_noclass", "Missing")
    broken("badencoding", "i2i_bad_encoding")
    # import-time failures are found when the model is used, not when it is listed
    assert rows["raises"]["status"] == "ok"
    assert (rows["raises"]["task"], rows["raises"]["license"], rows["raises"]["description"]) == (
        "raises on import",
        "MIT",
        "broken on purpose",
    )
    assert rows["oddliteral"]["status"] == "ok" and rows["oddliteral"]["license"] == "MIT"
    assert rows["parent"]["status"] == "ok" and rows["parent"]["task"] == "in a sub-module"
    assert rows["star"]["status"] == "ok"

    table = cli(["models"], broken_site, tmp_path)
    assert table.returncode == 0, table.stderr
    assert "broken plugin" in table.stdout and "Traceback" not in table.stdout + table.stderr


BROKEN_SCRIPT = """
import json, sys
import i2i
from i2i import registry

rows = i2i.list_models()
facts = {"imported_by_listing": sorted(
    m for m in sys.modules if m.startswith(("i2i_broken", "i2i_not_a_model", "i2i_star", "i2i_odd"))
)}
for name in ("syntax", "missing", "noclass", "raises", "notamodel", "parent"):
    try:
        i2i.load(name, device="cpu")
        facts[name] = "loaded"
    except i2i.I2IError as exc:
        facts[name] = [type(exc).__name__, str(exc)]
facts["star"] = registry.model_class("star").__name__
print(json.dumps(facts))
"""


def test_loading_a_broken_plugin_is_an_i2i_error(broken_site, tmp_path):
    facts = run_script(BROKEN_SCRIPT, broken_site, tmp_path)
    assert facts["imported_by_listing"] == []
    expected = {
        "syntax": ("is broken", "syntax error"),
        "missing": ("is broken", "i2i_no_such_module"),
        "noclass": ("is broken", "Missing"),
        "raises": ("failed to import", "RuntimeError: the plugin is broken on purpose"),
        "notamodel": ("not an i2i.Model subclass",),
        "parent": ("failed to import", "parent package imported"),
    }
    for name, fragments in expected.items():
        kind, message = facts[name]
        assert kind == "I2IError", (name, kind)
        assert "\n" not in message, message
        assert f"'{name}'" in message
        for fragment in fragments:
            assert fragment in message, (name, fragment, message)
    assert facts["star"] == "Star"


def test_cli_reports_a_broken_plugin_in_one_line(broken_site, tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    # the listing has it as ok: it fails when training (or translating with weights) imports it
    proc = cli(["train", "raises", "--data", str(tmp_path / "data")], broken_site, tmp_path)
    assert_one_line_error(proc, 1, "model plugin 'raises'", "RuntimeError: the plugin is broken on purpose")
    proc = cli(["translate", "--model", "syntax", str(image), str(tmp_path / "out")], broken_site, tmp_path)
    assert_one_line_error(proc, 1, "model plugin 'syntax' is broken", "syntax error")
    assert not (tmp_path / "out").exists()


def test_refresh_sees_plugins_added_in_process(broken_site, monkeypatch):
    names = {e.name for e in registry.entries()}
    assert "pix2pix" in names and "syntax" not in names
    monkeypatch.syspath_prepend(str(broken_site))
    try:
        assert "syntax" not in {e.name for e in registry.entries()}  # cached until refreshed
        registry.refresh()
        by_name = {e.name: e for e in registry.entries()}
        assert not by_name["syntax"].ok and by_name["syntax"].error
        assert by_name["raises"].ok and by_name["raises"].task == "raises on import"
        assert "syntax" not in registry.model_names() and "raises" in registry.model_names()
        with pytest.raises(i2i.I2IError, match="is broken"):
            registry.entry("syntax")
    finally:
        registry.refresh()
    monkeypatch.undo()
    assert "syntax" not in {e.name for e in registry.entries()}


# -------------------------------------------------------------------------------------- did you mean


def test_load_suggests_a_close_name():
    with pytest.raises(i2i.UsageError, match="did you mean 'pix2pix'"):
        i2i.load("pix2px")


@pytest.mark.parametrize(
    "args",
    [["translate", "--model", "pix2px", "a", "b"], ["train", "pix2pxi", "--data", "x"]],
    ids=["translate", "train"],
)
def test_cli_suggests_a_close_name(args, tmp_path):
    proc = cli(args, None, tmp_path)
    assert_one_line_error(proc, 2, "did you mean 'pix2pix'")
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ declarations read from source

DECLARING_MODULE = """
import i2i
from i2i.config import Option

NAME = "computed"


class Literal(i2i.Model):
    options = (
        Option("target_domain", "the domain", short="-t"),
        Option("domains", "names", setting=True, commands=["translate", "convert"]),
        Option(name="count", help="how many", type="int", minimum=1),
    )
    default_for = ("upscale",)
    foreign_suffixes = (".param", ".bin")
    catalogue = "catalogue.json"


class NotLiteral(i2i.Model):
    options = (Option(NAME, "a computed name"), Option("kept", "a literal one"), make_option())
    default_for = tuple(["upscale"])
    catalogue = NAME + ".json"


class Invalid(i2i.Model):
    options = (Option("bad name", "not an identifier"), Option("odd", "?", type="complex"), Option("fine", "ok"))
    default_for = 5
    catalogue = 7


class Computed(i2i.Model):
    options = declared_elsewhere()
"""

DECLARING_ENTRY_POINTS = {
    "literal": "i2i_declaring:Literal",
    "notliteral": "i2i_declaring:NotLiteral",
    "invalid": "i2i_declaring:Invalid",
    "computed": "i2i_declaring:Computed",
    "broken": "i2i_declaring_broken:Broken",
}


@pytest.fixture
def declaring(tmp_path, monkeypatch):
    """Entries whose classes declare options, default_for and catalogue, literally or not."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "i2i_declaring.py").write_text(DECLARING_MODULE)
    (site / "i2i_declaring_broken.py").write_text("class Broken(:\n    options = ()\n")
    for name, target in DECLARING_ENTRY_POINTS.items():
        info = site / f"i2i_declaring_{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: i2i-declaring-{name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[i2i.models]\n{name} = {target}\n")
    monkeypatch.syspath_prepend(str(site))
    registry.refresh()
    yield {e.name: e for e in registry.entries()}, site
    monkeypatch.undo()
    registry.refresh()


def test_literal_declarations_are_read_without_importing(declaring):
    entries, site = declaring
    literal = entries["literal"]
    assert [o.name for o in literal.options] == ["target_domain", "domains", "count"]
    target, domains, count = literal.options
    assert target.short == "-t" and target.long_flag == "--target-domain" and not target.setting
    assert domains.setting and domains.commands == ("translate", "convert")
    assert count.type == "int" and count.minimum == 1
    assert literal.default_for == ("upscale",)
    assert literal.foreign_suffixes == (".param", ".bin")
    assert literal.catalogue == site / "catalogue.json"
    assert "i2i_declaring" not in sys.modules


def test_what_is_not_literal_or_not_valid_is_left_out(declaring):
    entries, _ = declaring
    not_literal = entries["notliteral"]
    assert not_literal.ok
    assert [o.name for o in not_literal.options] == ["kept"]
    assert not_literal.default_for == () and not_literal.catalogue is None
    invalid = entries["invalid"]
    assert invalid.ok and [o.name for o in invalid.options] == ["fine"]
    assert invalid.default_for == () and invalid.catalogue is None
    assert entries["computed"].ok and entries["computed"].options == ()
    broken = entries["broken"]
    assert not broken.ok and "syntax error" in broken.error and broken.options == ()


def test_the_default_model_of_a_command(declaring):
    # entries are read in name order: the first model naming the command is its default
    assert registry.default_model("upscale") == "esrgan"
    assert registry.default_model("no-such-command") is None
