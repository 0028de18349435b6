"""SAEHD: DeepFaceLab's face-swap autoencoder, trained per pair of identities (src, dst).

One shared encoder, and either one `inter` with a decoder per identity (`df`) or two inters and one decoder
(`liae`); the swap decodes a dst face with src's decoder (or src's half of the code). Settings keep
DeepFaceLab's option names and defaults (`archi="liae-ud"`, `resolution=128`, ...); `preset=quick96` is
DeepFaceLab's fixed Quick96 model. A DeepFaceLab model folder (`workspace/model`, or its
`<name>_SAEHD_data.dat`) loads with no flags: `i2i.load(weights="workspace/model")`.

`swap_faces` is the raw network on aligned face crops (no marks, no consent check); the translation of
whole frames with its safeguards is `translate_images`. No swap weights are bundled or downloadable.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i import config as configs
from i2i.config import Option
from i2i.errors import UsageError
from i2i.model import Model, StateDict
from i2i.models.saehd import merge, networks, official, training
from i2i.runtime import autocast

#: DeepFaceLab's fixed models as presets: the settings each one fixes
PRESETS: dict[str, dict[str, Any]] = {
    "quick96": {
        "archi": "df-ud",
        "resolution": 96,
        "ae_dims": 128,
        "e_dims": 64,
        "d_dims": 64,
        "d_mask_dims": 16,
        "face_type": "f",
        # Quick96 trains with RMSprop at 2e-4 and lr dropout, without flips
        "adabelief": False,
        "lr": 2e-4,
        "lr_dropout": "y",
        "random_src_flip": False,
        "random_dst_flip": False,
    },
}


@dataclasses.dataclass(frozen=True)
class SAEHDConfig(training.SAEHDTraining):
    """SAEHD's settings under DeepFaceLab's option names, with its defaults (training options: see
    `training.SAEHDTraining`)."""

    #: df or liae, optionally with "-" and options u (pixel-norm code), d (double resolution),
    #: t (deeper encoder/decoder), c (x*cos(x) activation): e.g. liae-ud, df-udt
    archi: str = "liae-ud"
    #: side of the aligned face crops (a multiple of 16; 32 with option d)
    resolution: int = 128
    ae_dims: int = 256
    e_dims: int = 64
    d_dims: int = 64
    #: DeepFaceLab's default is d_dims / 3 rounded to even
    d_mask_dims: int = 22
    #: DeepFaceLab's face type of the crops: h, mf, f, wf or head
    face_type: str = "f"
    #: "" or quick96: a preset fixes the settings it lists (`PRESETS`), as DeepFaceLab's Quick96 model does
    preset: str = ""

    def __post_init__(self) -> None:
        if self.preset:
            if self.preset not in PRESETS:
                raise UsageError(f"preset={self.preset!r}: known presets: {', '.join(PRESETS)}")
            for key, value in PRESETS[self.preset].items():
                object.__setattr__(self, key, value)


class SAEHD(Model):
    name = "saehd"
    task = "face swap"
    # safeguarded: train/translate refuse without a consent attestation; outputs carry provenance and marks
    needs_consent = True
    license = "BSD-3-Clause (i2i's implementation, written from a description of DeepFaceLab, GPL-3.0)"
    description = (
        "DeepFaceLab-compatible SAEHD face swap (df/liae, options u d t c), trained per identity pair"
    )
    Config = SAEHDConfig
    value_range = (0.0, 1.0)
    data_layout = "faces"
    sample_visuals = training.SAMPLE_VISUALS
    catalogue = "catalogue.json"
    foreign_suffixes = (".dat",)
    # the dense bottleneck sees the whole crop at one size: tiles would change what it does
    tile_context = None
    tiny_config = {
        "archi": "df-ud",
        "resolution": 32,
        "ae_dims": 16,
        "e_dims": 4,
        "d_dims": 4,
        "d_mask_dims": 2,
    }
    options = (
        Option("archi", "SAEHD architecture: df or liae, with options u d t c (e.g. liae-ud).", setting=True,
               commands=("train",)),
        Option("resolution", "side of the aligned face crops (multiple of 16; 32 with -d).", type="int",
               setting=True, commands=("train",), minimum=16),
        Option("preset", "quick96: DeepFaceLab's Quick96 settings (df-ud, 96 px, dims 128/64/64/16).",
               setting=True, commands=("train",)),
        # the merge (`merge.py`): where the faces are, and how the swapped ones are blended in
        Option("landmarks", "landmarks JSON of the frames, by file name (the precomputed provider).",
               type="path"),
        Option("face_provider", "where faces come from: precomputed (default, --landmarks), dlib68, faceset, "
               "aligned (each image is one aligned face)."),
        Option("mask_mode", "learned-prd*learned-dst (default), learned-prd, learned-dst, "
               "learned-prd+learned-dst, full, or dst (the landmarks' hull)."),
        Option("erode", "mask erosion, DFL's -400..400 in thousandths of the crop side (< 0 dilates).",
               type="float"),
        Option("blur", "mask feathering, DFL's 0..400 in thousandths of the crop side.", type="float",
               minimum=0),
        Option("color_transfer", "colour of the swapped face: rct (default), lct, idt or none."),
    )  # fmt: skip

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        #: the parts the swap runs: all four of either architecture
        self.inference_networks = networks.PARTS[self.archi_type]

    # ------------------------------------------------------------------------------------ networks

    @property
    def archi_type(self) -> str:
        """ "df" or "liae"."""
        return networks.parse_archi(self.config.archi)[0]

    @property
    def archi_options(self) -> set[str]:
        """The archi options in use, a subset of {"u", "d", "t", "c"}."""
        return set(networks.parse_archi(self.config.archi)[1])

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        nets = networks.build(c.archi, c.resolution, c.ae_dims, c.e_dims, c.d_dims, c.d_mask_dims)
        return nets | training.training_networks(c, nets)

    def init_weights(self) -> None:
        """DeepFaceLab's initialisation: glorot-uniform kernels, zero biases."""
        networks.init_weights(self.networks)

    # ----------------------------------------------------------------------------------- inference

    def swap_faces(self, faces: torch.Tensor, reconstruct: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Aligned dst face crops (NCHW, RGB, [0, 1], `resolution` square) -> the src-from-dst face (RGB)
        and its learned mask (N,1,H,W); with `reconstruct` the dst-from-dst face and mask. The raw network:
        no mask post-processing, no marks, no consent check (see `translate_images` for whole frames)."""
        size = self.config.resolution
        if faces.ndim != 4 or faces.shape[1] != 3 or tuple(faces.shape[2:]) != (size, size):
            raise UsageError(
                f"swap_faces takes aligned crops N x 3 x {size} x {size}, not {tuple(faces.shape)}"
            )
        bgr = faces.to(self.device, torch.float32).flip(1)
        with torch.inference_mode(), autocast(self.device, self.precision):
            if reconstruct:
                face, mask = networks.reconstruct(self.networks, self.config.archi, bgr)
            else:
                face, mask, _ = networks.swap(self.networks, self.config.archi, bgr)
        return face.float().flip(1).to(faces.device), mask.float().to(faces.device)

    def translate_images(self, images: Any, *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """Whole frames (`ImageData`) -> the frames with each face swapped and merged back, then marked
        (`merge.Merger`: landmarks, crop, swap, mask, colour transfer, composite); needs `attest` first."""
        self._prepare_inference()
        return self.merger.translate(images, batch_size=batch_size, **conditions)

    @functools.cached_property
    def merger(self) -> merge.Merger:
        """What `translate_images` runs: landmark providers kept between calls, faceless frames counted."""
        return merge.Merger(self)

    def check_conditions(self, conditions: dict[str, Any]) -> None:
        merge.check_conditions(conditions)

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """An aligned face crop of any size (RGB [0, 1]) -> its swap, resized through `resolution`."""
        size = self.config.resolution
        height, width = x.shape[-2:]
        if (height, width) != (size, size):
            x = F.interpolate(
                x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        face, _ = self.swap_faces(x.clamp(0, 1))
        if (height, width) != (size, size):
            face = F.interpolate(
                face, size=(height, width), mode="bilinear", antialias=True, align_corners=False
            )
        return face.clamp(0, 1)

    # ------------------------------------------------------------------------------------ training

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        return training.training_dataset(self, data, seed=seed)

    def setup_training(self) -> None:
        training.setup_training(self)

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        return training.training_step(self, batch, ctx)

    def visuals(self) -> dict[str, torch.Tensor]:
        return training.visuals(self)

    # ------------------------------------------------------------------------------ official files

    @classmethod
    def detect(cls, states: dict[str, StateDict]) -> float:
        return official.detect(states)

    @classmethod
    def import_official(
        cls, states: dict[str, StateDict], options: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, StateDict]]:
        """Converted SAEHD parts -> the dims and resolution their shapes show, and the parts."""
        return official.import_official(states, options)

    @classmethod
    def reads_foreign_folder(cls, folder: Path) -> bool:
        """A DeepFaceLab model folder (`workspace/model`) is read as a whole."""
        return official.is_model_folder(folder)

    @classmethod
    def read_foreign_file(cls, path: Path) -> tuple[dict[str, StateDict], dict[str, Any]]:
        """A DeepFaceLab SAEHD model (its folder or `<name>_SAEHD_data.dat`): the parts, converted, and the
        settings of its options that this config knows and can hold (DeepFaceLab's other options and the
        optimiser files are not needed to run it)."""
        states, options, _ = official.read_model(path)
        return states, _known_settings(cls.Config, options)


def _known_settings(config: type, options: dict[str, Any]) -> dict[str, Any]:
    """DFL options that are fields of `config` and parse as that field's type."""
    fields = configs.field_types(config)
    settings = {}
    for key, value in options.items():
        if key in fields:
            try:
                configs.replace(config(), {key: value})
            except UsageError:
                continue  # e.g. a training option whose DeepFaceLab value i2i does not take
            settings[key] = value
    return settings
