"""Reading and writing images: one float representation for every command, atomic writes, provenance.

Every reader returns an `ImageData`: colour pixels as float32 in [0, 1] (H x W x 1 or 3), straight alpha
kept apart, and the bit depth of the source so that 16-bit inputs can be written back as 16-bit.

This module is the one to import (`from i2i.io import imageio`); the work is done in `i2i.io.formats`
(names, suffixes, finding image files), `i2i.io.pixels` (`ImageData` and conversions), `i2i.io.image_read`
(decoders: Pillow, libpng for 16-bit PNG, tifffile for 16-bit TIFF) and `i2i.io.image_write` (encoders).

Format limits, by design:
- JPEG and BMP have no alpha: it is dropped (the colour is written as is, not composited).
- WebP has no greyscale: Pillow stores a grey image as RGB, so it reads back with three channels.
- JPEG, WebP and BMP are 8-bit only: 16-bit images are written to them as 8-bit.
- BMP cannot carry metadata, so no provenance is written to it.
- GIF is read, never written: an output kept in the input's format is written as PNG.
- Only the first frame of a multi-frame file (TIFF pages, animated WebP and GIF) is read; for animated
  images a `FirstFrameWarning` says so (the CLI prints it once as a note).
- The pixel limit guards decoding files; arrays and Pillow images passed in are already in memory.
"""

from i2i.io.formats import (
    FORMATS,
    IMAGE_SUFFIXES,
    find_images,
    format_from_suffix,
    normalise_format,
    output_path,
    output_suffix,
)
from i2i.io.image_read import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    FirstFrameWarning,
    pixel_limit,
    read_image,
    read_provenance,
)
from i2i.io.image_write import LossyWriteWarning, write_array, write_image
from i2i.io.pixels import ImageData, luma, montage, quantize, resize_alpha, to_array, to_pil

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS_ENV",
    "ImageData",
    "FirstFrameWarning",
    "LossyWriteWarning",
    "find_images",
    "format_from_suffix",
    "luma",
    "montage",
    "normalise_format",
    "output_path",
    "output_suffix",
    "pixel_limit",
    "quantize",
    "read_image",
    "read_provenance",
    "resize_alpha",
    "to_array",
    "to_pil",
    "write_array",
    "write_image",
]
