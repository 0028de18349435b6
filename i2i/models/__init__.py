"""The models: one folder per model (its networks, official files, training, demo, catalogue and samples),
registered through the entry points of the group `i2i.models`; `_shared` holds what several of them use."""
