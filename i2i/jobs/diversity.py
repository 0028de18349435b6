"""`i2i eval domains --protocol stargan-v2`: the evaluation protocol of the StarGAN v2 paper (Choi et al.
2020, `core/eval.py` of clovaai/stargan-v2) for any model that translates between domains in several styles.

For every ordered pair of domains (source -> target, a "task" named `source2target`), every `val/<source>/`
image is translated into the target domain in `outputs_per_image` styles (10 in the paper): latent-guided,
styles 0..N-1 of a per-image seed; or reference-guided, each style taken from the next `val/<target>/`
image in turn. Per task:

* FID of all its outputs against the real `train/<target>/` images (the paper's real set);
* LPIPS diversity: for each source image the mean LPIPS over all pairs of its N outputs, averaged.

The report has each task's numbers and their means (`fid_mean`, `lpips_mean`), as the paper's tables.
One difference from the paper's code, on purpose: FID uses torch-fidelity's TensorFlow-exact Inception
(`i2i.ops.quality`) on the outputs as they are, where the paper's code resized to 256 and used
torchvision's Inception, so absolute values differ slightly from the published ones.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.io import imageio
from i2i.jobs.quality import Quality, QualityOptions
from i2i.model import Model

#: outputs per source image in the paper (`num_outs_per_domain`)
OUTPUTS_PER_IMAGE = 10


def evaluate_stargan_v2_protocol(
    model: Model,
    data: Path,
    *,
    reference_guided: bool = False,
    outputs_per_image: int = OUTPUTS_PER_IMAGE,
    quality: QualityOptions | None = None,
) -> dict[str, Any]:
    """FID per task and LPIPS diversity (see the module docstring); `quality` gives the feature networks'
    weights (its list of metrics is not used: the protocol's are FID and LPIPS)."""
    if outputs_per_image < 2:
        raise I2IError("LPIPS diversity needs at least 2 outputs per image")
    fid = dataclasses.replace(quality or QualityOptions(), metrics=("fid",))
    lpips = dataclasses.replace(fid, metrics=("lpips",))
    data = Path(data)
    names = list(model.domain_names)
    val, train = ({n: _images(data / split / n) for n in names} for split in ("val", "train"))
    missing = [n for n in names if not val[n] or not train[n]]
    if missing:
        raise I2IError(f"{data}: the protocol needs images in val/{missing[0]}/ and train/{missing[0]}/")
    real = {}
    for target in names:  # the real features of each target domain, computed once
        real[target] = Quality(fid, model.device)
        for start in range(0, len(train[target]), fid.batch_size):
            chunk = train[target][start : start + fid.batch_size]
            real[target].add_real([imageio.read_image(p).pixels for p in chunk])
    tasks: dict[str, dict[str, float]] = {}
    for target in names:
        for source in (n for n in names if n != target):
            task = Quality(fid, model.device).real_from(real[target])
            diversity = []
            for index, path in enumerate(val[source]):
                conditions: dict[str, Any] = {"target_domain": target}
                if reference_guided:
                    refs = itertools.islice(itertools.cycle(val[target]), index * outputs_per_image, None)
                    conditions["reference"] = list(itertools.islice(refs, outputs_per_image))
                else:
                    conditions |= {"seed": index, "num_styles": outputs_per_image}
                (outputs,) = model.translate_variants([imageio.read_image(path)], **conditions)
                pixels = [o.pixels for o in outputs]
                task.add_fake(pixels)
                pairs = list(itertools.combinations(pixels, 2))
                pair_quality = Quality(lpips, model.device)
                pair_quality.add_pairs([a for a, _ in pairs], [b for _, b in pairs])
                diversity.append(pair_quality.report()["lpips"])
            tasks[f"{source}2{target}"] = {"fid": task.report()["fid"], "lpips": float(np.mean(diversity))}
    return {
        "protocol": "stargan-v2",
        "mode": "reference" if reference_guided else "latent",
        "outputs_per_image": outputs_per_image,
        "tasks": tasks,
        "fid_mean": float(np.mean([t["fid"] for t in tasks.values()])),
        "lpips_mean": float(np.mean([t["lpips"] for t in tasks.values()])),
    }


def _images(folder: Path) -> list[Path]:
    return [p for p, _ in imageio.find_images([folder])] if folder.is_dir() else []
