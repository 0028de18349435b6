"""What the commands run over many files: translation, upscaling and its tiling, evaluation, the demo."""
