"""Content filters: plugins of the entry-point group `i2i.content_filters`, run before a swap."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from i2i.errors import I2IError
from i2i.io import imageio
from i2i.ops import content_filter


class RefuseBright:
    """A filter class: refuses images brighter than mid-grey on average."""

    def check(self, image: np.ndarray) -> str | None:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        return "too bright\nfor this test" if image.mean() > 127 else None


def refuse_red(image: np.ndarray) -> str | None:
    """A filter function."""
    return "red" if image[..., 0].mean() > 200 and image[..., 1:].mean() < 50 else None


def failing(image: np.ndarray) -> str | None:
    raise RuntimeError("classifier crashed")


@pytest.fixture
def install(monkeypatch):
    """Install filters `{name: object}` through fake entry points of a fake module."""
    module = types.ModuleType("i2i_test_filters")
    monkeypatch.setitem(sys.modules, module.__name__, module)

    def install_filters(filters: dict[str, object], targets: dict[str, str] | None = None) -> None:
        points = []
        for name, target in filters.items():
            setattr(module, name, target)
            points.append(EntryPoint(name, f"{module.__name__}:{name}", content_filter.ENTRY_POINT_GROUP))
        for name, value in (targets or {}).items():
            points.append(EntryPoint(name, value, content_filter.ENTRY_POINT_GROUP))

        def entry_points(group: str):
            return points if group == content_filter.ENTRY_POINT_GROUP else []

        monkeypatch.setattr(content_filter, "entry_points", entry_points)
        content_filter.refresh()

    yield install_filters
    content_filter.refresh()


def test_no_filter_installed_refuses_nothing(install):
    install({})
    assert content_filter.run_content_filters(np.full((8, 8, 3), 255, np.uint8)) is None


def test_a_filter_refuses_with_its_reason_in_one_line(install):
    install({"bright": RefuseBright, "red": refuse_red})
    dark = np.zeros((8, 8, 3), np.uint8)
    assert content_filter.run_content_filters(dark) is None
    with pytest.raises(I2IError) as caught:
        content_filter.run_content_filters(np.full((8, 8, 3), 0.9, np.float32))
    assert str(caught.value) == "content filter 'bright' refused the image: too bright for this test"
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    with pytest.raises(I2IError, match="content filter 'red' refused the image: red"):
        content_filter.run_content_filters(imageio.ImageData(red.astype(np.float32) / 255, None, 8))
    grey16 = np.full((8, 8, 1), 65535, np.uint16)  # converted to uint8 RGB for the filters
    with pytest.raises(I2IError, match="bright"):
        content_filter.run_content_filters(grey16)


def test_a_filter_that_fails_or_cannot_load_refuses(install):
    install({"failing": failing}, {"missing": "i2i_no_such_filter_module:Filter"})
    with pytest.raises(I2IError, match="content filter 'failing' refused the image: the filter failed"):
        content_filter.run_content_filters(np.zeros((8, 8, 3), np.uint8))
    install({}, {"missing": "i2i_no_such_filter_module:Filter"})
    with pytest.raises(I2IError, match="'missing' refused the image: the filter could not be loaded"):
        content_filter.run_content_filters(np.zeros((8, 8, 3), np.uint8))
