"""pix2pix: paired image-to-image translation (Isola et al. 2017). The model class is in `model.py`."""
