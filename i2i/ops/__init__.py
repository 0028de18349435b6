"""Numerical operations shared by models and jobs: resizing, metrics, padding."""
