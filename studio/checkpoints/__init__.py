"""Checkpoints: the format and its model card, the one safe loader, the Hub, the zoo, foreign weights.

    format.py    writing a checkpoint directory (config.json, model.safetensors, README.md card,
                 samples.png) and reading its files without ever unpickling code
    loading.py   ``load(source)``: a folder, ``hf://org/repo[@rev]``, a zoo name, a foreign
                 state-dict file or a training run; the model comes back in eval mode
    hub.py       Hub ids, the local Hub cache (``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``), downloads
    zoo.py       the model zoo, ``checkpoints/zoo.toml``: bundled, Hub and not-yet-trained entries
    interop.py   public pix2pix/CycleGAN/DCGAN state dicts rebuilt as studio models
    sources.py   what a user typed, picked or uploaded -> a source string ``load`` understands

Imports point one way: sources -> loading -> zoo -> (format, hub); interop is imported by
loading at call time. ``from studio.checkpoints import load, save`` is the public entry.
"""

from studio.checkpoints.format import (
                                       CONFIG_NAME,
                                       DISCRIMINATOR_PREFIX,
                                       INFERENCE_ONLY,
                                       MAX_BYTES,
                                       PIPELINE_TAGS,
                                       WEIGHT_SUFFIXES,
                                       WEIGHTS_NAME,
                                       is_complete,
                                       match_state_dict,
                                       model_card,
                                       model_from_config,
                                       read_config,
                                       read_state_dict,
                                       save,
)
from studio.checkpoints.hub import (
                                       HUB_PATTERNS,
                                       HUB_PREFIX,
                                       cached_snapshot,
                                       hub_cache_dir,
                                       hub_offline,
                                       parse_hub_id,
)
from studio.checkpoints.loading import Loaded, latest_checkpoint, load

__all__ = [
    "CONFIG_NAME", "DISCRIMINATOR_PREFIX", "HUB_PATTERNS", "HUB_PREFIX", "INFERENCE_ONLY", "MAX_BYTES",
    "PIPELINE_TAGS", "WEIGHT_SUFFIXES", "WEIGHTS_NAME", "Loaded", "cached_snapshot", "hub_cache_dir",
    "hub_offline", "is_complete", "latest_checkpoint", "load", "match_state_dict", "model_card",
    "model_from_config", "parse_hub_id", "read_config", "read_state_dict", "save",
]
