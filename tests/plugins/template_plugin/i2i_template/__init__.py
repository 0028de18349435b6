"""A copyable example of an i2i model plugin; the model is in `model.py` (the package stays light, so that
listing models never imports it)."""
