"""Layers, losses, schedules and optimiser helpers that several models share."""
