"""i2i: image-to-image translation with GANs (pix2pix, CycleGAN, StarGAN v2, ESRGAN) behind one API.

import i2i
model = i2i.load("pix2pix", weights="latest_net_G.pth")
out = model.translate("label.png")
"""

__version__ = "0.1.0"

from .api import list_models, load  # noqa: E402
from .errors import I2IError, UsageError  # noqa: E402
from .model import Model  # noqa: E402

__all__ = ["I2IError", "Model", "UsageError", "__version__", "list_models", "load"]
