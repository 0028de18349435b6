"""Any super-resolution / restoration checkpoint spandrel recognises (optional extra `i2i[sr]`)."""
