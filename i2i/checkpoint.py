"""Deprecated: `i2i.checkpoint` moved to `i2i.io.checkpoint` (the i2i format), `i2i.io.official` (reference
files) and `i2i.io.files` (atomic writes, hashes); this path keeps working for one release."""

from i2i._deprecated import forward

__getattr__ = forward("i2i.checkpoint", ("i2i.io.checkpoint", "i2i.io.official", "i2i.io.files"))
