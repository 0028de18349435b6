"""Files in and out: atomic writes and hashing, images, the i2i checkpoint format, official checkpoints."""
