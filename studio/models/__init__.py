"""GAN Studio's model families: an explicit registry from family name to class.

``build(family, config)`` makes a model from a checkpoint's config.json. Every class also works
with ``huggingface_hub``'s ``save_pretrained`` / ``from_pretrained`` (see base.py).
"""

from __future__ import annotations

import inspect

from studio.errors import CheckpointError
from studio.models.acgan import ACGAN
from studio.models.attributes import AttributeClassifier
from studio.models.base import GenerativeModel, ShapeError, StudioModel, check_shape
from studio.models.classifier import DigitClassifier
from studio.models.conditional import ConditionalGAN
from studio.models.cyclegan import CycleGAN
from studio.models.dcgan import DCGAN, ForeignDCGAN
from studio.models.infogan import InfoGAN
from studio.models.mlp import MLPGAN
from studio.models.pix2pix import Pix2Pix
from studio.models.stylegan import StyleGAN
from studio.models.unet import UNet
from studio.models.wgan import WGANGP

FAMILIES: dict[str, type[StudioModel]] = {
    "mlp": MLPGAN,
    "dcgan": DCGAN,
    "wgangp": WGANGP,
    "cgan": ConditionalGAN,
    "acgan": ACGAN,
    "infogan": InfoGAN,
    "stylegan": StyleGAN,
    "classifier": DigitClassifier,
    "attributes": AttributeClassifier,
    # translation families
    "pix2pix": Pix2Pix,
    "cyclegan": CycleGAN,
    "unet": UNet,
    # imported weights: a classic DCGAN generator at a size DCGAN does not build (see studio/checkpoints/interop.py)
    "foreign_dcgan": ForeignDCGAN,
}

# Keys a checkpoint's config.json holds next to the constructor arguments (see studio/checkpoints/format.py).
CHECKPOINT_KEYS = ("family", "studio")


def build(family: str, config: dict | None = None) -> StudioModel:
    """A fresh (untrained) model of ``family`` from its constructor arguments.

    ``config`` may be a whole config.json: its ``family`` and ``studio`` entries are skipped.
    Raises CheckpointError for an unknown family, an unknown argument or an invalid value.
    """
    if family not in FAMILIES:
        raise CheckpointError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    cls = FAMILIES[family]
    kwargs = {key: value for key, value in (config or {}).items() if key not in CHECKPOINT_KEYS}
    accepted = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise CheckpointError(f"{family} takes no argument {', '.join(unknown)}; it takes {', '.join(accepted)}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"cannot build {family} from its config: {err}") from err


__all__ = [
    "ACGAN",
    "AttributeClassifier",
    "DCGAN",
    "ForeignDCGAN",
    "FAMILIES",
    "MLPGAN",
    "WGANGP",
    "ConditionalGAN",
    "DigitClassifier",
    "GenerativeModel",
    "InfoGAN",
    "ShapeError",
    "StudioModel",
    "StyleGAN",
    "build",
    "check_shape",
]
