"""MaskGAN: "MaskGAN: Towards Diverse and Interactive Facial Image Manipulation" (Lee et al., CVPR 2020).

Reproduces the released inference of switchablenorms/CelebAMask-HQ: the Dense Mapping Network `G` renders
a face from an edited 19-class mask (`target_mask`) in the style of a photo and its own mask (`mask`), read
by the spatial-aware style encoder. Translation runs the demo's exact pre- and post-processing
(`pipeline`); `label_mode` picks the demo's id handling (bit parity) or the true ids. Also built: the
multi-scale discriminator `D`, the U-Net face `parser` (masks of photos given without one), and on request
the alpha blender `B` and the MaskVAE `VAE` (code only upstream). Training of the DMN is reconstructed from
the released losses: upstream published no training script.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from i2i.config import Option
from i2i.errors import I2IError, UsageError
from i2i.model import Model, StateDict
from i2i.models.maskgan import demo, export, official, pipeline, training
from i2i.models.maskgan import networks as N
from i2i.models.maskgan.pipeline import StyleCode
from i2i.runtime import autocast


@dataclass(frozen=True)
class MaskGANConfig:
    """Field names are the official options (pix2pixHD's) where there are any; `enc_n_downsample`,
    `label_mode`, `feature_scale`, the `blend_*` / `vae_*` sizes and `composite_radius` are i2i's."""

    label_nc: int = 19
    output_nc: int = 3
    ngf: int = 64
    n_downsample_global: int = 4
    n_blocks_global: int = 4
    #: depth of the style and label encoders (5 in the release)
    enc_n_downsample: int = 5
    #: the side the networks run at (scale_width; the release: 512)
    loadSize: int = 512
    #: demo: ids as the released demo feeds them (7->6, 13->12, 14->13, 15->14); exact: the true ids
    label_mode: Literal["demo", "exact"] = "demo"
    #: pixels (at loadSize) the changed region grows and feathers by with composite=changed
    composite_radius: int = 8
    #: face parser width divisor (the release: 4)
    feature_scale: int = 4
    ndf: int = 64
    n_layers_D: int = 3
    num_D: int = 2
    #: build the alpha blender B / the MaskVAE (the EBST stage; not used for translation)
    blender: bool = False
    blend_ngf: int = 32
    blend_n_downsampling: int = 3
    blend_n_blocks: int = 3
    mask_vae: bool = False
    vae_ngf: int = 32
    vae_ndf: int = 32
    vae_latent: int = 1024
    lambda_feat: float = 10.0
    no_ganFeat_loss: bool = False
    no_vgg_loss: bool = False
    #: L1 between the rendering and the image (i2i's, 0 in the reference): training without VGG19 weights
    lambda_L1: float = 0.0
    #: torchvision's ImageNet VGG19 (never downloaded; also $I2I_VGG19_WEIGHTS or the torch hub cache)
    vgg19_weights: str | None = None
    lr: float = 5e-5
    beta1: float = 0.5


class MaskGAN(Model):
    """MaskGAN behind the i2i contract. Conditions: `mask` (the photo's label map; default: parsed by the
    `parser` network), `target_mask` (the edited label map; default: `mask`, a reconstruction) and
    `composite` ("changed": keep the photo outside the edited region; not official)."""

    name = "maskgan"
    task = "mask-guided face editing"
    license = "non-commercial research and education only (code, official weights and CelebAMask-HQ data)"
    description = "Edit a face by editing its 19-class mask: Dense Mapping Network (Lee et al. 2020)"
    Config = MaskGANConfig
    #: G renders; the parser reads the masks of photos given without one (`required_networks`)
    inference_networks = ("G", "parser")
    output_rounding = "truncate"
    sample_visuals = ("label", "fake", "real")
    data_layout = "masks"
    tiny_config = {
        "ngf": 4,
        "n_downsample_global": 2,
        "n_blocks_global": 1,
        "enc_n_downsample": 4,
        "loadSize": 32,
        "feature_scale": 16,
        "ndf": 4,
        "n_layers_D": 2,
        "no_vgg_loss": True,
    }
    catalogue = "catalogue.json"
    #: not tiled by `translate`: the pipeline parses and renders the whole face at loadSize
    tile_context = None
    options = (
        Option(
            "mask",
            "the photo's label map (class ids 0..18 or palette colours); a folder: the file of each input's name.",
            type="path",
            per_file=True,
        ),
        Option(
            "target_mask",
            "the edited label map to render; a folder: the file of each input's name.",
            type="path",
            per_file=True,
        ),
        Option("composite", "'changed': keep the photo's pixels outside the edited region (not official)."),
        Option("label_mode", "demo (the released demo's ids, default) or exact.", setting=True),
    )

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        self._style_cache: tuple[tuple, StyleCode] | None = None
        super().__init__(config, **kwargs)

    def build_networks(self) -> dict[str, nn.Module]:
        c = self.config
        multiple = self._multiple()
        if c.loadSize % multiple:
            raise UsageError(f"loadSize={c.loadSize} must be a multiple of {multiple} for these networks")
        nets: dict[str, nn.Module] = {
            "G": N.GlobalGenerator(
                c.label_nc, c.output_nc, c.ngf, c.n_downsample_global, c.n_blocks_global, c.enc_n_downsample
            ),
            "D": N.MultiscaleDiscriminator(c.label_nc + c.output_nc, c.ndf, c.n_layers_D, False, c.num_D),
            "parser": N.UNet(c.feature_scale, c.label_nc),
        }
        if c.blender:
            nets["B"] = N.BlendGenerator(
                2 * c.output_nc, c.output_nc, c.blend_ngf, c.blend_n_downsampling, c.blend_n_blocks
            )
        if c.mask_vae:
            nets["VAE"] = N.VAE(c.label_nc, c.vae_ngf, c.vae_ndf, c.vae_latent)
        return nets

    def init_weights(self) -> None:
        """Upstream's `weights_init` (N(0, 0.02) Conv2d, N(1, 0.02) BatchNorm; transposed convs keep
        PyTorch's init)."""
        for net in self.networks.values():
            net.apply(N.weights_init)

    def _multiple(self) -> int:
        c = self.config
        return max(2**c.enc_n_downsample, 2**c.n_downsample_global, 16)

    def size_multiple(self) -> int:
        return self._multiple()

    def load_networks(self, networks: dict[str, StateDict], *, strict: bool = True) -> None:
        super().load_networks(networks, strict=strict)
        self._style_cache = None

    # ------------------------------------------------------------------------------------- inference

    def export_graphs(self, conditions: dict[str, Any]) -> list[Any]:
        """`i2i export`: the generator (one-hot masks and the photo in) and the parser's logits, as graphs a
        deployment combines (see `export`)."""
        return export.graphs(self, conditions)

    def required_networks(self, conditions: dict[str, Any]) -> tuple[str, ...]:
        return ("G",) if conditions.get("mask") is not None else ("G", "parser")

    def default_note(self, conditions: dict[str, Any]) -> str | None:
        if conditions.get("target_mask") is None:
            return "no --target-mask: rendering each photo from its own mask (a reconstruction)"
        return None

    def translate_images(self, images: Any, *, batch_size: int = 1, **conditions: Any) -> list[Any]:
        """`ImageData` in, `ImageData` out (the input's size, alpha and bit depth); one image at a time,
        each with the conditions' masks (arrays, images, paths or tensors of ids)."""
        self.check_conditions(conditions)
        missing = [n for n in self.required_networks(conditions) if n not in self.loaded]
        if missing:
            raise I2IError(
                f"{self.name} needs network {', '.join(missing)} for this translation, but these weights hold "
                f"only {', '.join(sorted(self.loaded)) or 'none'}"
                + ("; give the photo's mask (--mask)" if missing == ["parser"] else "")
            )
        composite = conditions.get("composite")
        if composite is not None and composite not in pipeline.COMPOSITES:
            raise UsageError(
                f"{self.flag('composite')} {composite!r} is not one of: {', '.join(pipeline.COMPOSITES)}"
            )
        results = []
        for image in images:
            style = self.encode_style(image, conditions.get("mask"))
            target = conditions.get("target_mask")
            target_ids = style.source_ids if target is None else self._target_ids(target, style)
            results.append(self._render(style, target_ids, composite))
        return results

    def forward_tensor(
        self,
        x: torch.Tensor,
        *,
        mask: Any = None,
        target_mask: Any = None,
        composite: str | None = None,
    ) -> torch.Tensor:
        """The generator on a batch `x` (N x 3 x H x W in [-1, 1], H and W multiples of `size_multiple()`)
        and id maps `mask` / `target_mask` (N x 1 x H x W, or H x W for all; `label_mode` applies; default
        the parser's argmax / `mask`). `composite` is applied by `translate`, on the input's pixels."""
        source = self.parse_tensor(x) if mask is None else self._ids_tensor(mask, x)
        target = source if target_mask is None else self._ids_tensor(target_mask, x)
        lut = pipeline.label_ids(np.arange(self.config.label_nc), self.config.label_mode)[0, 0].to(x.device)
        G = self.networks["G"].eval()
        style = G.encode(N.onehot(lut[source], self.config.label_nc).to(x.dtype), x)
        return G.render(N.onehot(lut[target], self.config.label_nc).to(x.dtype), style)

    def _ids_tensor(self, ids: Any, x: torch.Tensor) -> torch.Tensor:
        """N x 1 x H x W int64 class ids on the device from a tensor of that shape or one H x W mask."""
        if isinstance(ids, torch.Tensor) and ids.ndim == 4:
            return ids.to(x.device).long()
        array = _mask_ids(ids)
        if array.shape != tuple(x.shape[2:]):
            raise I2IError(
                f"the mask is {array.shape[1]}x{array.shape[0]}, the batch {x.shape[3]}x{x.shape[2]}"
            )
        return torch.from_numpy(array.astype(np.int64)).to(x.device).expand(x.shape[0], 1, -1, -1)

    def encode_style(self, image: Any, mask: Any = None) -> StyleCode:
        """The style of a photo (path, PIL image, array or `ImageData`) and its mask (default: parsed), for
        `render`; the last one is cached, so repeated edits of one photo skip the encoders."""
        from i2i.io.imageio import ImageData, quantize, read_image

        image = image if isinstance(image, ImageData) else read_image(image)
        width, height = image.size
        rgb = quantize(np.repeat(image.pixels, 3, axis=2) if image.is_grey else image.pixels, 8)
        size = pipeline.work_size(width, height, self.config.loadSize, self._multiple())
        self._prepare_inference()
        if mask is None:
            if "parser" not in self.loaded:
                raise I2IError("no mask given and these weights hold no face parser: give the photo's mask")
            source_ids = self.parse(image, size=size)
        else:
            ids = _mask_ids(mask, "mask")
            pipeline.check_mask_fits(ids, width, height, "the mask")
            source_ids = pipeline.resize_ids(ids, size)
        key = (
            hashlib.sha1(rgb.tobytes()).hexdigest(),
            rgb.shape,
            hashlib.sha1(source_ids.tobytes()).hexdigest(),
            source_ids.shape,
            self.config.label_mode,
        )
        if self._style_cache is not None and self._style_cache[0] == key:
            return pipeline.StyleCode(self._style_cache[1].code, source_ids, image, self.config.label_mode)
        x = pipeline.image_tensor(rgb, size).to(self.device)
        labels = N.onehot(pipeline.label_ids(source_ids, self.config.label_mode), self.config.label_nc)
        G = self.networks["G"].eval()
        with torch.inference_mode(), autocast(self.device, self.precision):
            code = G.encode(labels.to(self.device), x).float()
        style = StyleCode(code, source_ids, image, self.config.label_mode)
        self._style_cache = (key, style)
        return style

    def render(
        self, target_mask: Any, style: StyleCode, *, composite: str | None = None, as_array: bool = False
    ) -> Any:
        """The photo of `style` re-rendered with `target_mask` (ids or palette colours, the photo's aspect
        ratio), at the photo's size: a PIL image (uint8 array with `as_array`)."""
        from i2i.io import imageio

        out = self._render(style, self._target_ids(target_mask, style), composite)
        return imageio.to_array(out) if as_array else imageio.to_pil(out)

    def render_work(self, target_mask: Any, style: StyleCode) -> np.ndarray:
        """The demo's own output: `target_mask` rendered at the working size (loadSize wide), uint8 RGB."""
        return pipeline.result_u8(self._fake(style, self._target_ids(target_mask, style)))

    def _target_ids(self, target_mask: Any, style: StyleCode) -> np.ndarray:
        ids = _mask_ids(target_mask, "target mask")
        width, height = style.image.size
        pipeline.check_mask_fits(ids, width, height, "the target mask")
        return pipeline.resize_ids(ids, style.work_size)

    def _fake(self, style: StyleCode, target_ids: np.ndarray) -> torch.Tensor:
        labels = N.onehot(pipeline.label_ids(target_ids, style.label_mode), self.config.label_nc).to(
            self.device
        )
        G = self.networks["G"].eval()
        with torch.inference_mode(), autocast(self.device, self.precision):
            return G.render(labels, style.code.to(self.device)).float()

    def _render(self, style: StyleCode, target_ids: np.ndarray, composite: str | None) -> Any:
        fake = self._fake(style, target_ids).cpu()
        width, height = style.image.size
        if (fake.shape[3], fake.shape[2]) != (width, height):
            fake = F.interpolate(
                fake, size=(height, width), mode="bicubic", align_corners=False, antialias=True
            )
        out = self.from_output_tensor(fake, style.image, 3)
        if composite == "changed":  # on the output pixels, so that the kept ones are the input's exactly
            radius = max(1, round(self.config.composite_radius * self.config.loadSize / 512))
            alpha = pipeline.changed_region(style.source_ids, target_ids, radius)
            alpha = F.interpolate(alpha, size=(height, width), mode="bilinear", align_corners=False)
            alpha = alpha[0].permute(1, 2, 0).numpy()
            out.pixels = (alpha * out.pixels + (1 - alpha) * style.image.pixels).astype(np.float32)
        return out

    # ----------------------------------------------------------------------------------------- parser

    def parse_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """N x 1 x H x W class ids (argmax of the face parser) of images in [-1, 1]."""
        parser = self.networks["parser"].eval()
        return parser(x).argmax(1, keepdim=True)

    def parse(self, image: Any, *, size: tuple[int, int] | None = None) -> np.ndarray:
        """The class ids (H x W uint8) of a photo by the face parser, at the photo's size (or `size` (w, h)).
        As the official tester: the photo resized to loadSize (nearest), Normalize(0.5), argmax."""
        from PIL import Image

        from i2i.io.imageio import ImageData, quantize, read_image

        if "parser" not in self.loaded:
            raise I2IError("these weights hold no face parser (face_parsing model.pth)")
        image = image if isinstance(image, ImageData) else read_image(image)
        width, height = image.size
        rgb = quantize(np.repeat(image.pixels, 3, axis=2) if image.is_grey else image.pixels, 8)
        work = pipeline.work_size(width, height, self.config.loadSize, self._multiple())
        small = np.asarray(Image.fromarray(rgb, "RGB").resize(work, Image.NEAREST))
        x = torch.from_numpy(small.copy()).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)
        self._prepare_inference()
        with torch.inference_mode():
            ids = self.parse_tensor(x)[0, 0].to(torch.uint8).cpu().numpy()
        return pipeline.resize_ids(ids, size or (width, height))

    # --------------------------------------------------------------------------------------- training

    def training_dataset(self, data: Path, *, seed: int) -> torch.utils.data.Dataset:
        """`images/` + `masks/` by name (`i2i.data.masks`), resized to loadSize."""
        from i2i.data.masks import MaskDataset

        return MaskDataset(data, self.config.loadSize)

    def setup_training(self) -> None:
        """Adam(lr 5e-5, betas (0.5, 0.999)) for G and D; the VGG19 loss unless `no_vgg_loss`."""
        self.optimizers = training.optimizers(self.networks, self.config)
        self.schedulers = {}
        self.vgg_loss = None if self.config.no_vgg_loss else training.vgg_loss(self.config).to(self.device)
        for name in ("G", "D"):
            self.networks[name].train()

    def training_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        """One DMN step (`training.step`): G with LSGAN + feature matching + VGG, then D."""
        self._style_cache = None
        losses, self._visuals = training.step(
            self.networks, self.optimizers, batch, ctx, self.config, self.vgg_loss
        )
        return losses

    def visuals(self) -> dict[str, torch.Tensor]:
        return getattr(self, "_visuals", {})

    demo = classmethod(demo.run)

    # ------------------------------------------------------------------------ official checkpoints

    detect = classmethod(official.detect)
    import_official = classmethod(official.import_official)


def _mask_ids(source: Any, what: str | None = None) -> np.ndarray:
    """Class ids (H x W uint8) of a mask given as a path, image, array or tensor (`i2i.data.masks`)."""
    from i2i.data.masks import read_mask

    return read_mask(source, what)
