"""StarGAN: multi-domain translation by attribute labels (Choi et al. 2018). The model class is in `model.py`."""
