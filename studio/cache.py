"""Where GAN Studio keeps what it can compute again: one folder per kind of result under

    $GAN_STUDIO_CACHE                  if set,
    else $XDG_CACHE_HOME/gan-studio    if XDG_CACHE_HOME is set,
    else ~/.cache/gan-studio

(``metrics``: reference features; ``faces``: rendered cartoon faces; ``apply``: the apply labs'
results). Deleting any of it costs only the time to compute it again.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """The folder for ``kind`` (not created here)."""
    if os.environ.get("GAN_STUDIO_CACHE"):
        root = Path(os.environ["GAN_STUDIO_CACHE"])
    elif os.environ.get("XDG_CACHE_HOME"):
        root = Path(os.environ["XDG_CACHE_HOME"]) / "gan-studio"
    else:
        root = Path.home() / ".cache" / "gan-studio"
    return root / kind
