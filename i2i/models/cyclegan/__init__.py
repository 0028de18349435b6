"""CycleGAN: unpaired translation with cycle consistency (Zhu et al. 2017). The model class is in `model.py`."""
