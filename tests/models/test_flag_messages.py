"""Messages about a translation's conditions name the flags users type (`--target-domain`), built from
each declared option's `long_flag`, never the Python field (`target_domain`)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from i2i import registry
from i2i.errors import UsageError
from tests.conftest import tiny_model

IMAGE = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
FIELD = re.compile(r"(?<!-)\b(target_domain|attrs|psi|direction|composite)\b")


def _message(call, **conditions) -> str:
    with pytest.raises(UsageError) as caught:
        call(IMAGE, **conditions)
    return str(caught.value)


def test_flag_is_the_options_long_flag():
    for name in registry.model_names():
        cls = registry.model_class(name)
        for option in cls.options:
            assert cls.flag(option.name) == option.long_flag
            assert cls.flag(option.name).startswith("--")
    with pytest.raises(KeyError):
        registry.model_class("stargan").flag("no_such_option")


def test_stargan_says_which_flag_chooses_the_target():
    folders = tiny_model("stargan", dataset="rafd", c_dim=3, domains="angry,happy,sad")
    text = _message(folders.translate, attrs="Male")
    assert "choose the target with --target-domain, not --attrs" in text and not FIELD.search(text)
    text = _message(folders.translate, target_domain=7)
    assert text.startswith("--target-domain 7 is out of range")
    celeba = tiny_model("stargan")
    text = _message(celeba.translate, target_domain="happy")
    assert "with --attrs" in text and "not --target-domain" in text and not FIELD.search(text)


def test_other_models_name_their_flags():
    text = _message(tiny_model("cyclegan").translate, direction="sideways")
    assert "--direction 'sideways'" in text and not FIELD.search(text)
    v2 = tiny_model("stargan-v2")
    text = _message(v2.translate, psi=3.0)
    assert text.startswith("--psi must be between 0") and not FIELD.search(text)
    text = _message(v2.translate, psi=0.5, reference=IMAGE)
    assert "--psi" in text and "--reference" in text and not FIELD.search(text)
