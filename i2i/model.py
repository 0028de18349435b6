"""The contract every i2i model implements, and the inference plumbing they all share.

A model module defines one `Model` subclass: its typed `Config`, `build_networks`, `forward_tensor` (the
translation itself) and, for training, `training_dataset`, `setup_training` and `training_step`. Image
reading, padding, batching, precision, saving and loading live here, once.
"""

from __future__ import annotations

import abc
import inspect
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from i2i import config as configs
from i2i._version import __version__
from i2i.config import Option
from i2i.errors import I2IError, UsageError
from i2i.io import checkpoint
from i2i.io.consent import Safeguards
from i2i.ops import tiled_translate
from i2i.ops.batch_pixels import from_device_batch, to_device_batch
from i2i.runtime import autocast, resolve_device, resolve_precision, uses_channels_last

StateDict = dict[str, torch.Tensor]


class Model(Safeguards, abc.ABC):
    """Base class of every model plugin (entry-point group `i2i.models`); consent and marks: `Safeguards`."""

    name: ClassVar[str] = ""
    task: ClassVar[str] = ""
    license: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type]
    #: value range the networks work in; images are mapped from [0, 1] into it and back
    value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    #: output side / input side
    scale: ClassVar[int] = 1
    #: how outputs are quantised to 8 bits: "round", or "truncate" as the reference's tensor2im does
    output_rounding: ClassVar[str] = "round"
    #: the networks `translate` needs; the others may be absent (e.g. an official generator-only file)
    inference_networks: ClassVar[tuple[str, ...]] = ("G",)
    #: visuals of the last training step shown in sample grids, in order (input | output | target)
    sample_visuals: ClassVar[tuple[str, ...]] = ()
    #: the dataset layout `training_dataset` reads: "paired", "unaligned", ... (see `i2i.data.layouts`)
    data_layout: ClassVar[str | None] = None
    #: config overrides for a tiny, fast model (32x32 images): what the contract test suite builds
    tiny_config: ClassVar[dict[str, Any]] = {}
    #: when the loop steps `self.schedulers`: after each "epoch" (the CycleGAN/pix2pix reference) or "step"
    scheduler_interval: ClassVar[str] = "epoch"
    #: losses (names returned by `training_step`) whose epoch mean drives a "plateau" learning-rate policy
    plateau_losses: ClassVar[tuple[str, ...]] = ()
    #: command-line options of this model: conditions of its translation and shortcuts for config settings
    #: (see `i2i.config.Option`); write them with literal arguments, the CLI reads them without importing
    options: ClassVar[tuple[Option, ...]] = ()
    #: commands for which this model is the default `--model` (e.g. ("upscale",)); read without importing
    default_for: ClassVar[tuple[str, ...]] = ()
    #: suffixes of weight formats that only this model reads (`read_foreign_file`), e.g. ncnn's .param/.bin
    foreign_suffixes: ClassVar[tuple[str, ...]] = ()
    #: this model's catalogue of weights and datasets by name: a JSON file, relative to the folder of the
    #: module that defines the class (see `i2i.hub.catalogue`); read without importing the model
    catalogue: ClassVar[str | None] = None
    #: context (pixels) around a tile of `translate`; None: run whole, never in tiles nor layer by layer
    #: (see `i2i.ops.tiled_translate`)
    tile_context: ClassVar[int | None] = 32

    def __init__(
        self, config: Any = None, *, device: str | torch.device = "cpu", precision: str = "fp32"
    ) -> None:
        self.config = config if config is not None else self.Config()
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        try:
            with warnings.catch_warnings():  # a width of 0 is reported below, in one line
                warnings.filterwarnings("ignore", "Initializing zero-element tensors")
                self.networks: dict[str, nn.Module] = self.build_networks()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            # e.g. ngf=0: the settings describe no network
            raise UsageError(f"{self.name}: these settings make no network ({exc})") from None
        empty = [n for n, net in self.networks.items() if any(p.numel() == 0 for p in net.parameters())]
        if empty:
            raise UsageError(f"{self.name}: these settings give network {empty[0]} a layer of width 0")
        for net in self.networks.values():
            net.to(self.device)
        self.loaded: set[str] = set(self.networks)
        self.step = 0
        self.source: str | None = None
        self.weights_name: str | None = None
        self.weights_sha256: str | None = None
        self.weights_license: str | None = None
        #: the output factor the weights are published for, where not `scale` (an x4 network shipped as x2)
        self.outscale: float | None = None
        #: the precision the weights were stored in (`i2i convert --dtype keep`); None if unknown or mixed
        self.weights_dtype: torch.dtype | None = None
        #: set by `setup_training`: the optimisers and learning-rate schedulers, by name
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self._inference_ready = False
        self._channels_last = False
        #: `translate --tile` / `--tile-overlap` (None: tiles only over the memory budget / `tile_context`)
        self.translate_tile: int | None = None
        self.translate_tile_overlap: int | None = None

    # ------------------------------------------------------------------------------ to implement

    @abc.abstractmethod
    def build_networks(self) -> dict[str, nn.Module]:
        """The networks of `self.config`, under the reference implementation's names."""

    @abc.abstractmethod
    def forward_tensor(self, x: torch.Tensor, **conditions: Any) -> torch.Tensor:
        """Translate a batch already in `value_range`, padded to `size_multiple()`."""

    def init_weights(self) -> None:
        """Initialise freshly built networks for training (default: PyTorch's own init)."""
        return None

    def size_multiple(self) -> int:
        """Input sides must be multiples of this; inputs are padded and outputs cropped back."""
        return 1

    def min_size(self) -> int:
        """The shortest side the networks accept (a smaller input is padded up to it and cropped back)."""
        return self.size_multiple()

    @property
    def input_channels(self) -> int:
        return int(getattr(self.config, "input_nc", 3))

    @property
    def output_channels(self) -> int:
        return int(getattr(self.config, "output_nc", 3))

    @classmethod
    def detect(cls, states: dict[str, StateDict]) -> float:
        """How sure (0..1) this model is that official `states` belong to it."""
        return 0.0

    @classmethod
    def import_official(
        cls, states: dict[str, StateDict], options: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, StateDict]]:
        """Config settings detected from official state dicts, and those state dicts per network.

        `states` maps a role taken from the file name (`G`, `D`, `G_A`, ... or `""` when unknown) to a
        state dict; `options` are settings found beside the file (the reference's `train_opt.txt`).
        """
        raise I2IError(f"model '{cls.name}' cannot import official checkpoints")

    # ------------------------------------------------------------------- data, evaluation, demo

    @classmethod
    def dataset_layout(cls) -> Any:
        """The `i2i.data.layouts.Layout` that `training_dataset` reads (None: the model does not train).
        Default: the registered layout named `data_layout`; a plugin may return a layout of its own."""
        if cls.data_layout is None:
            return None
        from i2i.data.layouts import get_layout

        return get_layout(cls.data_layout)

    def paired_evaluation_dataset(self, data: Path, phase: str) -> torch.utils.data.Dataset:
        """A split of a paired dataset as this model is evaluated on it (`i2i eval paired`): items with
        tensors "A" (input) and "B" (target) in `value_range`, prepared as the reference's test script
        prepares them."""
        raise I2IError(f"model '{self.name}' has no paired evaluation (it does not translate paired data)")

    @classmethod
    def demo(cls, out_dir: Path, device: str = "auto", *, load: Any = None) -> Iterator[str]:
        """The model's part of `i2i demo`: run bundled weights on bundled samples into `out_dir`, yielding
        lines to print. `load` is `i2i.api.load`, handed in by the demo runner because models import nothing
        above their layer. Models without a demo yield nothing (`has_demo` is False)."""
        return iter(())

    @classmethod
    def has_demo(cls) -> bool:
        return cls.demo.__func__ is not Model.demo.__func__

    @classmethod
    def read_foreign_file(cls, path: Path) -> tuple[dict[str, StateDict], dict[str, Any]]:
        """State dicts by network role and config settings from a file of one of `foreign_suffixes` (or from
        a folder that `reads_foreign_folder` claims)."""
        raise I2IError(f"model '{cls.name}' reads no {path.suffix} files")

    @classmethod
    def reads_foreign_folder(cls, folder: Path) -> bool:
        """Whether `read_foreign_file` reads `folder` as a whole (another tool's model folder holding files
        of `foreign_suffixes`, e.g. DeepFaceLab's `workspace/model`); asked only of such folders."""
        return False

    # ---------------------------------------------------------------------------------- training

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        raise I2IError(f"model '{self.name}' does not support training")

    def setup_training(self) -> None:
        """Create `self.optimizers` and `self.schedulers` (dicts keyed by name)."""
        raise I2IError(f"model '{self.name}' does not support training")

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        """One optimisation step on `batch`; returns the losses (detached scalars) by name."""
        raise I2IError(f"model '{self.name}' does not support training")

    @classmethod
    def settings_from_data(cls, data: Path) -> dict[str, Any]:
        """Config settings a training dataset decides (e.g. the number of domains); explicit --set wins."""
        return {}

    def default_total_steps(self) -> int | None:
        """The length of a run when neither --steps nor --epochs is given (None: count in epochs)."""
        return None

    def visuals(self) -> dict[str, torch.Tensor]:
        """Images of the last training step, by name (model value range, NCHW)."""
        return {}

    def training_state(self) -> dict[str, Any]:
        """Training state the loop does not know about (e.g. an image pool), for exact resume."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        return None

    # ---------------------------------------------------------------------------------- weights

    def load_networks(self, networks: dict[str, StateDict], *, strict: bool = True) -> None:
        unknown = set(networks) - set(self.networks)
        if unknown:
            raise I2IError(
                f"checkpoint holds networks {sorted(unknown)} that {self.name} does not have "
                f"(it has {sorted(self.networks)})"
            )
        for net_name, state in networks.items():
            net = self.networks[net_name]
            state = drop_legacy_instance_norm(net, state)
            damaged = next(
                (k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None
            )
            if damaged is not None:
                raise I2IError(
                    f"{self.name} network {net_name}: {damaged} holds NaN or infinite values; the weights are "
                    "damaged (or come from a run that diverged)"
                )
            try:
                net.load_state_dict(state, strict=strict)
            except RuntimeError as exc:
                raise I2IError(
                    f"weights do not fit {self.name} network {net_name}: {_summarise(exc)}"
                ) from None
        self.loaded = set(networks)
        self._inference_ready = False

    def state_dicts(self, names: Iterable[str] | None = None) -> dict[str, StateDict]:
        names = sorted(self.loaded) if names is None else list(names)
        return {n: self.networks[n].state_dict() for n in names}

    def checkpoint_meta(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "config": configs.to_dict(self.config),
            "i2i_version": __version__,
            "step": self.step,
            "license": self.weights_license or f"weights trained with i2i; {self.name} code: {self.license}",
            "source": self.source or "trained with i2i",
            "networks": sorted(self.loaded),
            **self.consent_meta(),
        } | ({"outscale": self.outscale} if self.outscale is not None else {})

    def save(
        self,
        path: str | Path,
        *,
        networks: Iterable[str] | None = None,
        dtype: torch.dtype | None = None,
        training_state: Any = None,
    ) -> Path:
        """Write an i2i checkpoint (atomic); `i2i.load(weights=path)` restores this model alone.

        `networks` keeps only some networks (e.g. `["G"]` for inference); `dtype` stores floating-point
        tensors in another precision (e.g. `torch.float16` to halve the file; loading casts back)."""
        names = sorted(self.loaded) if networks is None else list(networks)
        unknown = [n for n in names if n not in self.loaded]
        if unknown:
            raise UsageError(
                f"{self.name} has no loaded network {', '.join(unknown)}; it has {', '.join(sorted(self.loaded))}"
            )
        states = self.state_dicts(names)
        if dtype is not None:
            states = {
                net: {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
                for net, state in states.items()
            }
        meta = self.checkpoint_meta() | {"networks": names}
        return checkpoint.write_checkpoint(path, states, meta, training_state)

    # --------------------------------------------------------------------------------- inference

    def translate(
        self,
        images: Any,
        *,
        batch_size: int = 1,
        as_array: bool = False,
        max_pixels: int | None = None,
        **conditions: Any,
    ) -> Any:
        """Translate images (PIL images, numpy arrays or paths). Returns PIL images (numpy arrays with
        `as_array`, uint8/uint16 like the input), one per input, or a single one for a single input."""
        from i2i.io import imageio

        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        decoded = [imageio.read_image(item, max_pixels=max_pixels) for item in items]
        results = self.translate_images(decoded, batch_size=batch_size, **conditions)
        converted = [imageio.to_array(r) if as_array else imageio.to_pil(r) for r in results]
        return converted[0] if single else converted

    def provenance_tag(self) -> dict[str, str]:
        """What outputs are tagged with: the i2i version, the model and its weights (name and hash)."""
        tag = {"made_by": f"i2i {__version__}", "model": self.name}
        if self.weights_name:
            tag["weights"] = self.weights_name
        if self.weights_sha256:
            tag["weights_sha256"] = self.weights_sha256
        return tag | self.safeguard_tag()

    def default_note(self, conditions: dict[str, Any]) -> str | None:
        """What a translation with these conditions picks by default that the user may not expect (shown
        once by the CLI), or None."""
        return None

    @classmethod
    def flag(cls, name: str) -> str:
        """The flag of the declared option `name` (`Option.long_flag`): how messages name a condition."""
        return {option.name: option.long_flag for option in cls.options}[name]

    def check_conditions(self, conditions: dict[str, Any]) -> None:
        params = inspect.signature(self.forward_tensor).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        allowed = [n for n in params if n != "x"]
        for key in conditions:
            if key not in allowed:
                raise UsageError(
                    f"{self.name} takes no option '{key}'"
                    + (f"; it takes: {', '.join(allowed)}" if allowed else "")
                )

    def translate_images(self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """`ImageData` in, `ImageData` out (same size times `scale`, same bit depth, alpha re-attached)."""
        self.require_consent()
        self.check_conditions(conditions)
        missing = [n for n in self.required_networks(conditions) if n not in self.loaded]
        if missing:
            raise I2IError(
                f"{self.name} needs network {', '.join(missing)} for this translation, but these weights hold "
                f"only {', '.join(sorted(self.loaded)) or 'none'}"
            )
        self._prepare_inference()
        results: list[Any] = [None] * len(images)
        for batch in _batches(images, batch_size, key=lambda im: im.pixels.shape):
            outputs = self._run_batch([images[i] for i in batch], conditions)
            for i, out in zip(batch, outputs, strict=True):
                results[i] = out
        return results

    def variant_count(self, conditions: dict[str, Any]) -> int:
        """How many outputs each input gets with these conditions (several styles, references, ...); says
        what is wrong with the conditions before any work (default: one, and their names are checked)."""
        self.check_conditions(conditions)
        return 1

    def translate_variants(
        self, images: Sequence[Any], *, batch_size: int = 1, **conditions: Any
    ) -> list[list[Any]]:
        """`variant_count(conditions)` outputs per input (`ImageData` in, lists of `ImageData` out); the
        default is `translate_images`, one output each."""
        return [[out] for out in self.translate_images(images, batch_size=batch_size, **conditions)]

    def _prepare_inference(self) -> None:
        if self._inference_ready:
            return
        self._channels_last = uses_channels_last(self.device, self.networks.values())
        for net in self.networks.values():
            net.requires_grad_(False)
            if self._channels_last:
                net.to(memory_format=torch.channels_last)
        self._inference_ready = True

    def _padded_shape(self, image: Any) -> tuple[int, int, int]:
        height, width = image.pixels.shape[:2]
        m, least = self.size_multiple(), self.min_size()
        return (
            math.ceil(max(height, least) / m) * m,
            math.ceil(max(width, least) / m) * m,
            image.pixels.shape[2],
        )

    def required_networks(self, conditions: dict[str, Any]) -> tuple[str, ...]:
        """The networks a translation with these conditions runs."""
        return self.inference_networks

    def input_channels_for(self, conditions: dict[str, Any]) -> int:
        """Channels the network run for these conditions takes."""
        return self.input_channels

    def to_input_tensor(self, image: Any, channels: int | None = None) -> torch.Tensor:
        """[0, 1] HWC pixels -> 1xCxHxW in the model's value range, with `channels` channels (on the CPU)."""
        channels = channels or self.input_channels
        return to_device_batch([image], torch.device("cpu"), channels=channels, value_range=self.value_range)

    def from_output_tensor(self, y: torch.Tensor, image: Any, input_channels: int = 3) -> Any:
        """1xCxHxW model output -> `ImageData` with the input's bit depth and alpha; greyscale when a grey
        image went through a colour network as three equal channels (a 1-channel network's colour output
        is what it is for, e.g. colourisation)."""
        return self.from_output_batch(y, [image], input_channels)[0]

    def from_output_batch(self, y: torch.Tensor, images: Sequence[Any], input_channels: int = 3) -> list[Any]:
        """NxCxHxW model output -> one `ImageData` per input (see `from_output_tensor`), copied back at once."""
        return from_device_batch(
            y,
            images,
            value_range=self.value_range,
            input_channels=input_channels,
            truncate=self.output_rounding == "truncate",
        )

    def _run_batch(self, images: list[Any], conditions: dict[str, Any]) -> list[Any]:
        height, width = images[0].pixels.shape[:2]
        padded_h, padded_w, _ = self._padded_shape(images[0])
        channels = self.input_channels_for(conditions)
        x = to_device_batch(
            images,
            self.device,
            channels=channels,
            value_range=self.value_range,
            padded=(padded_h, padded_w),
            channels_last=self._channels_last,
        )
        top, left = (padded_h - height) // 2, (padded_w - width) // 2
        s = self.scale
        with torch.inference_mode(), autocast(self.device, self.precision):
            y = tiled_translate.forward(self, x, conditions)  # whole, or in tiles over the memory budget
        y = y[:, :, top * s : (top + height) * s, left * s : (left + width) * s]
        return self.from_output_batch(y, images, channels)


_LEGACY_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def drop_legacy_instance_norm(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference's InstanceNorm patch: drop running stats of InstanceNorm layers that track none, and
    every InstanceNorm `num_batches_tracked` (2018-era checkpoints, PyTorch < 0.4)."""
    modules = dict(net.named_modules())
    kept = {}
    for key, value in state.items():
        path, _, leaf = key.rpartition(".")
        module = modules.get(path)
        stale = getattr(module, leaf, None) is None or (
            leaf == "num_batches_tracked" and not module.track_running_stats
        )
        if isinstance(module, nn.InstanceNorm2d) and leaf in _LEGACY_NORM_BUFFERS and stale:
            continue
        kept[key] = value
    return kept


def _batches(items: Sequence[Any], size: int, key) -> Iterable[list[int]]:
    """Indices grouped into runs of at most `size` consecutive items with the same `key`."""
    group: list[int] = []
    for i, item in enumerate(items):
        if group and (len(group) >= max(1, size) or key(items[group[0]]) != key(item)):
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def _summarise(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    text = text.replace("Error(s) in loading state_dict for ", "")
    return text if len(text) <= 300 else text[:297] + "..."
