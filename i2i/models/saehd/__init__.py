"""SAEHD: DeepFaceLab's face-swap autoencoder (df / liae with options u, d, t, c), trained per identity pair.
The model class is in `model.py`, the networks in `networks.py`, DeepFaceLab model folders in `official.py`."""
