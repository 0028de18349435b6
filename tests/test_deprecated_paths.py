"""Old import paths (`i2i.imageio`, `i2i.checkpoint`, `i2i.catalogue`, `i2i.hub.<name>`) still give every
public name those modules had, with a DeprecationWarning naming the new place."""

from __future__ import annotations

import importlib
import re

import pytest

OLD_NAMES = {
    "i2i.imageio": [
        "DEFAULT_MAX_PIXELS", "FORMATS", "IMAGE_SUFFIXES", "ImageData", "LossyWriteWarning", "MAX_PIXELS_ENV",
        "find_images", "format_from_suffix", "luma", "montage", "normalise_format", "output_path",
        "pixel_limit", "quantize", "read_image", "read_provenance", "resize_alpha", "to_array", "to_pil",
        "write_array", "write_image",
    ],
    "i2i.checkpoint": [
        "Checkpoint", "FORMAT", "OFFICIAL_SUFFIXES", "TRAIN_PREFIX", "atomic_path", "atomic_write_bytes",
        "atomic_write_text", "is_state_dict", "load_official", "pack", "read_any", "read_safetensors",
        "sha256_file", "unpack", "unwrap", "write_checkpoint",
    ],
    "i2i.catalogue": [
        "converted_ncnn", "dataset_entries", "default_weights", "list_datasets",
        "list_weights", "manual_weights_path", "ncnn_cache_path", "ncnn_files", "non_commercial",
        "resolve_dataset", "resolve_weights", "unknown_dataset", "weights_entries", "weights_for_model",
    ],
    "i2i.hub": [
        "ARCHIVES", "DEFAULT_TIMEOUT", "MemberIter", "UNPACK_FLOOR", "UNPACK_RATIO", "archive_path",
        "cached_dataset", "cached_weights", "dataset_dir", "extract_archive", "fetch", "home", "mirrored",
        "offline", "pull_dataset", "pull_weights", "timeout", "weights_path",
    ],
}  # fmt: skip
MOVED = re.compile(r"^(?P<old>[\w.]+) moved to (?P<new>[\w.]+); the old path goes away in the next release$")


@pytest.mark.parametrize("old, name", [(old, name) for old, names in OLD_NAMES.items() for name in names])
def test_old_name_resolves_with_a_warning(old, name):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning) as caught:
        value = getattr(module, name)
    message = MOVED.match(str(caught[-1].message))
    assert message and message["old"] == f"{old}.{name}", str(caught[-1].message)
    new_module, _, new_name = message["new"].rpartition(".")
    assert new_name == name
    assert getattr(importlib.import_module(new_module), new_name) is value


def test_unknown_old_names_are_attribute_errors():
    for old in OLD_NAMES:
        with pytest.raises(AttributeError):
            importlib.import_module(old).no_such_name  # noqa: B018
