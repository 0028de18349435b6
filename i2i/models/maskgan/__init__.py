"""MaskGAN: mask-guided face editing (switchablenorms/CelebAMask-HQ)."""
