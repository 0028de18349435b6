"""i2i: image-to-image translation with GANs behind one API: pix2pix, CycleGAN, StarGAN v2, StarGAN,
ESRGAN / Real-ESRGAN, and any model a plugin registers (entry-point group `i2i.models`).

import i2i
model = i2i.load("pix2pix", weights="latest_net_G.pth")
out = model.translate("label.png")
"""

from i2i._version import __version__
from i2i.api import list_models, load
from i2i.errors import I2IError, UsageError
from i2i.model import Model

__all__ = ["I2IError", "Model", "UsageError", "__version__", "list_models", "load"]
