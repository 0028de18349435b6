"""What the commands run over many files: the shared per-file loop (`batch`), translation, upscaling,
evaluation and the demo."""
