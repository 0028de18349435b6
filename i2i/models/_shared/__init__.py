"""What several models share: layers, losses, schedules, optimiser helpers, the VGG19 perceptual loss and
the demos' helpers; `cyclegan_pix2pix` holds what CycleGAN and pix2pix share from their common reference."""
