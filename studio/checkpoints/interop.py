"""Importers for foreign GAN checkpoints: recognise a state dict's layout, return a ready studio model.

Known generator layouts (each has a fixture in tests/fixtures/interop/), and what they become:

- pix2pix reference U-Net, junyanz/pytorch-CycleGAN-and-pix2pix ``unet_128`` / ``unet_256``
  (``model.model.1.model.3...``): Pix2Pix, key for key;
- CycleGAN reference ResNet, ``resnet_6blocks`` / ``resnet_9blocks`` (``model.10.conv_block.1.weight``):
  CycleGAN.generator_ab, key for key;
- Hugging Face community pix2pix ``GeneratorUNet`` (huggan/pix2pix-maps: ``down1.model.0.weight``):
  Pix2Pix(generator_arch="community_unet");
- community CycleGAN ``GeneratorResNet`` (``model.10.block.1.weight``): CycleGAN(generator_arch="community_resnet");
- classic DCGAN generator of pytorch/examples and huggan/dcgan-* (``main.0.weight`` / ``model.0.weight``):
  DCGAN at 32, 64 and 128 px, a generator-only ForeignDCGAN at other sizes.

Sizes (channels, ngf, depth, number of blocks, norm) are read from the tensor shapes. A layout is
accepted only when every key and shape matches the model built for it; otherwise CheckpointError
names the closest layout and the keys that differ. Only weights are read, never pickled code: the
caller loads the file with safetensors or ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from studio.errors import CheckpointError
from studio.models.base import StudioModel
from studio.models.cyclegan import CycleGAN
from studio.models.dcgan import DCGAN, IMAGE_SIZES, ForeignDCGAN
from studio.models.pix2pix import Pix2Pix

StateDict = dict[str, torch.Tensor]
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


# ------------------------------------------------------------------------------ layouts
# infer(state_dict) -> constructor kwargs read from shapes, or None when the layout's anchor key is absent.


def _has_1d_weight(sd: StateDict) -> bool:
    """BatchNorm leaves 1-D ``weight`` tensors; InstanceNorm (affine=False) and convs do not."""
    return any(k.endswith(".weight") and v.dim() == 1 for k, v in sd.items())


def _conv(sd: StateDict, key: str) -> torch.Tensor | None:
    value = sd.get(key)
    return value if value is not None and value.dim() == 4 else None


def _max_index(sd: StateDict, pattern: str) -> int | None:
    found = [int(m.group(1)) for k in sd if (m := re.match(pattern, k))]
    return max(found) if found else None


def _infer_junyanz_unet(sd: StateDict) -> dict | None:
    first = _conv(sd, "model.model.0.weight")
    if first is None:
        return None
    depth, prefix = 1, "model.model.1.model."
    while any(k.startswith(prefix) for k in sd):  # one more "3.model." per nested UnetSkipConnectionBlock
        depth, prefix = depth + 1, prefix + "3.model."
    last = _conv(sd, "model.model.3.weight")  # the outermost ConvTranspose2d: (2 ngf, out, 4, 4)
    cfg = dict(in_channels=first.shape[1], out_channels=first.shape[1] if last is None else last.shape[1],
               image_size=2 ** depth, ngf=first.shape[0], depth=depth,
               norm="batch" if _has_1d_weight(sd) else "instance")
    head = _conv(sd, "head.3.weight")  # a studio U-Net with a full-resolution head: (out, head, 3, 3)
    if head is not None:
        cfg.update(out_channels=head.shape[0], head=head.shape[1])
    return cfg


def _infer_junyanz_resnet(sd: StateDict) -> dict | None:
    first, last_block = _conv(sd, "model.1.weight"), _max_index(sd, r"model\.(\d+)\.conv_block\.")
    if first is None or last_block is None:
        return None
    n_blocks = last_block - 9  # blocks start at model.10, after pad-conv-norm-relu and two downsamplings
    last = _conv(sd, f"model.{n_blocks + 17}.weight")
    return dict(in_channels=first.shape[1], out_channels=first.shape[1] if last is None else last.shape[0],
                ngf=first.shape[0], n_blocks=n_blocks, norm="batch" if _has_1d_weight(sd) else "instance",
                dropout=any(k.endswith(".conv_block.6.weight") for k in sd))


def _infer_community_unet(sd: StateDict) -> dict | None:
    first = _conv(sd, "down1.model.0.weight")
    if first is None:
        return None
    last = _conv(sd, "final.2.weight")
    return dict(in_channels=first.shape[1], out_channels=first.shape[1] if last is None else last.shape[0],
                ngf=first.shape[0], depth=8, norm="instance", generator_arch="community_unet")


def _infer_community_resnet(sd: StateDict) -> dict | None:
    first, last_block = _conv(sd, "model.1.weight"), _max_index(sd, r"model\.(\d+)\.block\.")
    if first is None or last_block is None:
        return None
    n_blocks = last_block - 9
    last = _conv(sd, f"model.{n_blocks + 19}.weight")
    return dict(in_channels=first.shape[1], out_channels=first.shape[1] if last is None else last.shape[0],
                ngf=first.shape[0], n_blocks=n_blocks, generator_arch="community_resnet")


def _infer_dcgan(sd: StateDict) -> dict | None:
    first = _conv(sd, "0.weight")  # keys arrive without their "main." / "model." prefix (see _dcgan_prefix)
    if first is None or tuple(first.shape[2:]) != (4, 4):
        return None
    convs = 1
    while _conv(sd, f"{3 * convs}.weight") is not None:  # ConvTranspose2d, BatchNorm2d, ReLU per stage
        convs += 1
    last = sd[f"{3 * (convs - 1)}.weight"]
    return dict(latent_dim=first.shape[0], image_size=4 * 2 ** (convs - 1), channels=last.shape[1],
                width=max(1, first.shape[1] // 2 ** max(convs - 2, 0)))


def _dcgan_prefix(sd: StateDict) -> str:
    """pytorch/examples names the Sequential ``main``, the huggan community code ``model``."""
    return next((p for p in ("main.", "model.") if sd and all(k.startswith(p) for k in sd)), "")


def _build_dcgan(cfg: dict) -> StudioModel:
    return DCGAN(**cfg) if cfg["image_size"] in IMAGE_SIZES else ForeignDCGAN(**cfg)


def _dcgan_part(model: StudioModel) -> tuple[nn.Module, str]:
    return model.generator.main, f"{type(model).__name__}.generator"


def _describe_dcgan(cfg: dict) -> str:
    return f"latent {cfg['latent_dim']}, {cfg['image_size']}x{cfg['image_size']}, {cfg['channels']} channels"


def _describe_translation(cfg: dict) -> str:
    community = "generator_arch" in cfg  # the reference layouts carry the reference's names
    if "depth" in cfg:
        sizes = f"depth {cfg['depth']}" if community else f"unet_{2 ** cfg['depth']}: depth {cfg['depth']}"
    else:
        sizes = f"{cfg['n_blocks']} blocks" if community else f"resnet_{cfg['n_blocks']}blocks"
    head = f", full-resolution head {cfg['head']}" if cfg.get("head") else ""
    return (f"{sizes}, ngf {cfg['ngf']}, {cfg.get('norm', 'instance')} norm{head}, "
            f"{cfg['in_channels']} -> {cfg['out_channels']} channels")


@dataclass(frozen=True)
class Layout:
    name: str  # shown to the user
    infer: Callable[[StateDict], dict | None]
    build: Callable[[dict], StudioModel]
    part: Callable[[StudioModel], tuple[nn.Module, str]]  # the module the state dict fills, and its name
    default: dict  # the usual sizes, to compare keys when infer() cannot read the file
    describe: Callable[[dict], str] = _describe_translation
    prefix: Callable[[StateDict], str] = lambda sd: ""  # a key prefix the studio module does not have


def _pix2pix_part(model: StudioModel) -> tuple[nn.Module, str]:
    return model.generator, "Pix2Pix.generator"


def _cyclegan_part(model: StudioModel) -> tuple[nn.Module, str]:
    return model.generator_ab, "CycleGAN.generator_ab (A -> B)"


LAYOUTS = (
    Layout("pix2pix reference U-Net generator (junyanz/pytorch-CycleGAN-and-pix2pix UnetGenerator)",
           _infer_junyanz_unet, lambda cfg: Pix2Pix(**cfg), _pix2pix_part,
           dict(in_channels=3, out_channels=3, image_size=256, depth=8)),
    Layout("CycleGAN reference ResNet generator (junyanz/pytorch-CycleGAN-and-pix2pix ResnetGenerator)",
           _infer_junyanz_resnet, lambda cfg: CycleGAN(**cfg), _cyclegan_part, dict(n_blocks=9)),
    Layout("Hugging Face community pix2pix GeneratorUNet (huggan/pix2pix-maps)",
           _infer_community_unet, lambda cfg: Pix2Pix(**cfg), _pix2pix_part,
           dict(depth=8, norm="instance", generator_arch="community_unet")),
    Layout("Hugging Face community CycleGAN GeneratorResNet",
           _infer_community_resnet, lambda cfg: CycleGAN(**cfg), _cyclegan_part,
           dict(n_blocks=9, generator_arch="community_resnet")),
    Layout("classic DCGAN generator (pytorch/examples dcgan, huggan/dcgan-*)",
           _infer_dcgan, _build_dcgan, _dcgan_part, dict(latent_dim=100, image_size=64, channels=3, width=64),
           _describe_dcgan, _dcgan_prefix),
)


# ------------------------------------------------------------------------------ matching


@dataclass
class _Match:
    layout: Layout
    cfg: dict
    state_dict: StateDict
    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]
    notes: list[str]
    n_expected: int
    score: float

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


def _compare(layout: Layout, sd: StateDict) -> _Match:
    """Build ``layout`` on the meta device (no memory, no init cost) and diff its keys against ``sd``."""
    prefix, notes = layout.prefix(sd), []
    if prefix:
        sd = {k[len(prefix):]: v for k, v in sd.items()}
        notes.append(f"mapped the '{prefix}N' keys to generator.main.N")
    inferred = layout.infer(sd)
    try:
        with torch.device("meta"):
            part, _ = layout.part(layout.build(inferred if inferred is not None else layout.default))
    except (ValueError, TypeError, RuntimeError):  # sizes the family refuses: not this layout
        inferred = None
        with torch.device("meta"):
            part, _ = layout.part(layout.build(layout.default))
    expected = part.state_dict()
    # Old InstanceNorm layers kept running stats that current PyTorch refuses: drop them.
    instance_norms = {name for name, m in part.named_modules()
                      if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats}
    stray = [k for k in sd if k not in expected and k.rsplit(".", 1)[-1] in _BUFFERS
             and k.rsplit(".", 1)[0] in instance_norms]
    if stray:
        sd = {k: v for k, v in sd.items() if k not in stray}
        notes.append(f"dropped {len(stray)} stray InstanceNorm buffers ({stray[0]}, ...)")
    # Files saved before PyTorch 0.4.1 have no BatchNorm num_batches_tracked; it only counts steps.
    untracked = [k for k in expected if k not in sd and k.endswith("num_batches_tracked")]
    old_batchnorm = (not any(k.endswith("num_batches_tracked") for k in sd)
                     and any(k.endswith("running_mean") for k in sd))
    if untracked and old_batchnorm:
        sd = {**sd, **{k: torch.zeros((), dtype=torch.long) for k in untracked}}
        notes.append(f"added {len(untracked)} missing BatchNorm num_batches_tracked counters")
    missing = [prefix + k for k in expected if k not in sd]
    unexpected = [prefix + k for k in sd if k not in expected]
    mismatched = [f"{prefix}{k}: file {tuple(sd[k].shape)}, expected {tuple(v.shape)}"
                  for k, v in expected.items() if k in sd and sd[k].shape != v.shape]
    common = len(expected) - len(missing)
    score = common / max(1, len(expected) + len(unexpected))  # Jaccard overlap of the key sets
    return _Match(layout, inferred or {}, sd, missing, unexpected, mismatched, notes, len(expected), score)


def _flat_state_dict(state_dict: dict) -> tuple[StateDict, list[str]]:
    notes = []
    if not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        inner = state_dict.get("state_dict")
        if isinstance(inner, dict) and all(isinstance(v, torch.Tensor) for v in inner.values()):
            state_dict, notes = inner, ["took the weights from its 'state_dict' entry"]
        else:
            kinds = sorted({type(v).__name__ for v in state_dict.values()})
            raise CheckpointError(f"expected a state dict of tensors (name -> tensor), found values of type "
                                  f"{', '.join(kinds)}; keys: {list(state_dict)[:5]}")
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
        notes.append("stripped the 'module.' prefix (saved from DataParallel)")
    return dict(state_dict), notes


def _head(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "") if items else "none"


def import_state_dict(state_dict: dict) -> tuple[StudioModel, str]:
    """A studio model (eval mode, CPU) holding the weights of a foreign generator, and what was done.

    Raises CheckpointError when no known layout matches, naming the closest one and the keys that differ.
    """
    if not isinstance(state_dict, dict) or not state_dict:
        raise CheckpointError("expected a non-empty state dict (a dict of name -> tensor)")
    sd, notes = _flat_state_dict(state_dict)
    matches = [_compare(layout, sd) for layout in LAYOUTS]
    exact = [m for m in matches if m.exact and m.cfg]
    if not exact:
        best = max(matches, key=lambda m: m.score)
        if best.score == 0:
            raise CheckpointError(f"unknown checkpoint layout: no known generator shares its keys "
                                  f"(first keys: {_head(list(sd), 4)}). Known layouts: "
                                  f"{'; '.join(layout.name for layout in LAYOUTS)}")
        raise CheckpointError(
            f"unknown checkpoint layout; the closest known layout is the {best.layout.name} "
            f"({best.n_expected - len(best.missing)} of its {best.n_expected} keys found). "
            f"Missing keys: {_head(best.missing)}. "
            f"Unexpected keys: {_head(best.unexpected)}. Shape mismatches: {_head(best.mismatched, 3)}.")
    match = exact[0]
    model = match.layout.build(match.cfg)
    part, part_name = match.layout.part(model)
    part.load_state_dict(match.state_dict, strict=True)
    model.eval()
    notes += match.notes
    if isinstance(model, Pix2Pix):
        notes.append("the discriminator is not in the file: it is freshly initialised")
    elif isinstance(model, CycleGAN):
        notes.append("the file holds one direction: generator_ba and both discriminators are freshly initialised")
    elif isinstance(model, DCGAN):
        notes.append("the discriminator is not in the file: it is freshly initialised")
    elif isinstance(model, ForeignDCGAN):
        notes.append(f"studio's DCGAN builds {', '.join(map(str, IMAGE_SIZES[1:]))} px: "
                     "kept as a generator-only ForeignDCGAN")
    if match.cfg.get("dropout") and isinstance(model, CycleGAN):
        notes.append("trained with dropout (second conv at conv_block.6): built with dropout, inactive in eval mode")
    sentences = [f"Recognised the {match.layout.name}: {match.layout.describe(match.cfg)}",
                 f"Loaded {len(match.state_dict)} tensors into {part_name}", *notes]
    return model, ". ".join(s[0].upper() + s[1:] for s in sentences) + "."
