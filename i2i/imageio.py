"""Deprecated: `i2i.imageio` moved to `i2i.io.imageio` (this path keeps working for one release)."""

from i2i._deprecated import forward

__getattr__ = forward("i2i.imageio", ("i2i.io.imageio",))
