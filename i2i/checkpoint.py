"""Deprecated: `i2i.checkpoint` moved to `i2i.io.checkpoint` (this path keeps working for one release)."""

from i2i._deprecated import forward

__getattr__ = forward("i2i.checkpoint", ("i2i.io.checkpoint",))
