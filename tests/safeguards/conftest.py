"""Fixtures of the safeguard tests: a consent attestation, and a stand-in safeguarded model (`guarded`: a
tiny pix2pix that declares `needs_consent = True`) registered through a hand-made distribution's entry
point, as a plugin would be; the safeguards are generic, so they are tested on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i import registry

CONSENT = """\
subjects = ["Alex Example", "Sam Example"]
use = "tests of the i2i safeguards"
date = 2026-01-31
reference = "none"

[consent]
given = true
statement = "Both subjects agreed in writing."
"""

GUARDED_MODULE = """
from i2i.models.pix2pix.model import Pix2Pix


class Guarded(Pix2Pix):
    name = "guarded"
    task = "stand-in for a safeguarded model"
    needs_consent = True
"""


@pytest.fixture
def consent_file(tmp_path) -> Path:
    path = tmp_path / "consent.toml"
    path.write_text(CONSENT)
    return path


@pytest.fixture(scope="module")
def guarded_site(tmp_path_factory):
    """`guarded` registered for the tests of a module (sys.path and the registry restored after)."""
    site = tmp_path_factory.mktemp("guarded") / "site"
    site.mkdir()
    (site / "i2i_guarded.py").write_text(GUARDED_MODULE)
    info = site / "i2i_guarded-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: i2i-guarded\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[i2i.models]\nguarded = i2i_guarded:Guarded\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        registry.refresh()
        yield site
    registry.refresh()


@pytest.fixture(scope="module")
def guarded_weights(guarded_site, tmp_path_factory) -> Path:
    """A saved tiny `guarded` checkpoint."""
    import i2i

    model = i2i.load("guarded", device="cpu", precision="fp32", **registry.model_class("guarded").tiny_config)
    return model.save(tmp_path_factory.mktemp("weights") / "guarded.safetensors")


def textured(height: int = 256, width: int = 256, seed: int = 0) -> np.ndarray:
    """A uint8 RGB picture with texture at several scales (blobs, stripes, grain)."""
    rng = np.random.default_rng(seed)
    blobs = Image.fromarray((rng.random((height // 8 + 2, width // 8 + 2, 3)) * 255).astype(np.uint8))
    image = np.asarray(blobs.resize((width, height), Image.BICUBIC), np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    image += (40 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[..., None]
    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)
