"""What CycleGAN and pix2pix share from their common reference, junyanz/pytorch-CycleGAN-and-pix2pix: its
networks, official-file detection, settings and base model."""
