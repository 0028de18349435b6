"""Deprecated: `i2i.catalogue` moved to `i2i.hub.catalogue` (this path keeps working for one release)."""

from i2i._deprecated import forward

__getattr__ = forward("i2i.catalogue", ("i2i.hub.catalogue",))
