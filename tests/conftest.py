from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
import torch
import torch._dynamo  # noqa: F401  (before any test patches torch.backends.mps.is_available, which it reads)

# the same for spandrel (the `sr` model), imported while detecting checkpoint files
with contextlib.suppress(ImportError):
    import spandrel  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures"

# Deterministic and comparable across machines: the fixtures were computed with 2 threads.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def manifest(group: str, name: str) -> dict:
    return json.loads((FIXTURES / group / f"{name}.json").read_text())


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own cache folder, never the user's."""
    monkeypatch.setenv("I2I_HOME", str(tmp_path_factory.mktemp("i2i_home")))


@pytest.fixture(autouse=True)
def _cpu_unless_gpu_test(request, monkeypatch):
    """Tests compare against CPU fixtures and expect exact resume: `device="auto"` must mean the CPU for them
    on a machine with an accelerator too (in this process and in the interpreters tests start). Tests
    marked `gpu` see the devices."""
    if "gpu" in request.keywords:
        return
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def one_thread():
    """One intra-op thread for tests of tiny networks (`pytestmark = pytest.mark.usefixtures("one_thread")`):
    their many small kernels gain nothing from a second thread, and on a busy machine two threads wait on
    each other. Only for tests whose results do not depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(name: str, **settings):
    """A registered model built with its `tiny_config` (plus `settings`) on the CPU in fp32."""
    import i2i
    from i2i import registry

    return i2i.load(
        name, device="cpu", precision="fp32", **{**registry.model_class(name).tiny_config, **settings}
    )


def tiny_checkpoint(name: str, folder: Path, **settings) -> Path:
    """`tiny_model(name)` saved as `folder/<name>.safetensors`."""
    return tiny_model(name, **settings).save(Path(folder) / f"{name}.safetensors")
