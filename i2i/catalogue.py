"""Deprecated: `i2i.catalogue` moved to `i2i.hub.catalogue` (the data), `i2i.hub.resolve` (names to local
paths) and `i2i.api` (ncnn conversion); this path keeps working for one release."""

from i2i._deprecated import forward

__getattr__ = forward("i2i.catalogue", ("i2i.hub.catalogue", "i2i.hub.resolve", "i2i.api"))
