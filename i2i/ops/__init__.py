"""Numerical operations shared by models and jobs: resizing, metrics (the one PSNR/SSIM), tiled inference."""
