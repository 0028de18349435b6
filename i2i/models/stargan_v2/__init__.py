"""StarGAN v2: diverse multi-domain translation with styles (Choi et al. 2020). The model class is in `model.py`."""
