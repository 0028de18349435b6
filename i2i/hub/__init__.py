"""Weights and datasets by name: the catalogue, downloads into the cache, archives, name resolution.

`i2i.hub.<name>` for what lived in the module `i2i.hub` before it became this package still works for one
release, with a DeprecationWarning."""

from i2i._deprecated import forward

__getattr__ = forward("i2i.hub", ("i2i.hub.download", "i2i.hub.archives"))
