"""What a CycleGAN and a pix2pix model do alike, as the reference's `BaseModel` does: initialise, size
inputs for the generator, build the training dataset's arguments, the optimisers' schedules."""

from __future__ import annotations

from typing import Any

from i2i.model import Model
from i2i.models._shared.cyclegan_pix2pix.config import check_training_crop
from i2i.models._shared.cyclegan_pix2pix.networks import generator_min_size, generator_size_multiple
from i2i.models._shared.layers import init_weights
from i2i.models._shared.schedules import make_scheduler


class ReferenceModel(Model):
    """A model of junyanz/pytorch-CycleGAN-and-pix2pix (config: `ReferenceNetworks` + `ReferenceTraining`)."""

    output_rounding = "truncate"  # the reference's tensor2im truncates

    def init_weights(self) -> None:
        for net in self.networks.values():
            init_weights(net, self.config.init_type, self.config.init_gain)

    def size_multiple(self) -> int:
        return generator_size_multiple(self.config.netG)

    def min_size(self) -> int:
        return generator_min_size(self.config.netG)

    def dataset_options(self) -> dict[str, Any]:
        """The training dataset's arguments the config decides (after checking its crops suit the generator)."""
        c = self.config
        check_training_crop(c, self.size_multiple(), self.min_size())
        return {
            "phase": "train",
            "preprocess": c.preprocess,
            "load_size": c.load_size,
            "crop_size": c.crop_size,
            "no_flip": c.no_flip,
            "direction": c.direction,
            "input_nc": c.input_nc,
            "output_nc": c.output_nc,
            "max_dataset_size": c.max_dataset_size,
            "network": (self.size_multiple(), self.min_size()),
        }

    def schedule(self) -> None:
        """`self.schedulers`: the config's learning-rate policy for each of `self.optimizers`."""
        c = self.config
        self.schedulers = {
            name: make_scheduler(
                opt,
                c.lr_policy,
                n_epochs=c.n_epochs,
                n_epochs_decay=c.n_epochs_decay,
                epoch_count=c.epoch_count,
                lr_decay_iters=c.lr_decay_iters,
            )
            for name, opt in self.optimizers.items()
        }
