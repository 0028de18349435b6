"""ESRGAN and Real-ESRGAN super-resolution (Wang et al. 2018, 2021). The model class is in `model.py`."""
