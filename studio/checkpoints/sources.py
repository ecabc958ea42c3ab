"""Choosing a checkpoint, the same way in every UI: Hub ids, local training runs, uploads.

Each helper turns what a user typed, picked or uploaded into a *source* string that
``studio.checkpoints.load`` understands, or raises ``CheckpointError`` with a message
the user can act on. Loading itself stays in ``studio.checkpoints``; caching the loaded
model is the UI's business (``st.cache_resource`` in Streamlit).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from studio import checkpoints
from studio.errors import CheckpointError

# The Streamlit uploader enforces the same limit (server.maxUploadSize in .streamlit/config.toml).
MAX_UPLOAD_MB = 200
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
UPLOAD_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def hub_source(text: str) -> str:
    """What a user typed (``org/repo``, ``org/repo@rev``, ``hf://...`` or a Hub URL) -> ``hf://org/repo[@rev]``."""
    repo = text.strip().removeprefix("https://huggingface.co/").strip("/")
    if not repo:
        raise CheckpointError("type a Hub model id such as org/repo (or org/repo@revision)")
    source = repo if repo.startswith(checkpoints.HUB_PREFIX) else checkpoints.HUB_PREFIX + repo
    checkpoints.parse_hub_id(source)  # raises CheckpointError with what is wrong
    return source


def runs_root() -> Path:
    """Where the training engine writes ``runs/<id>/`` (GAN_STUDIO_RUNS overrides ``./runs``)."""
    return Path(os.environ.get("GAN_STUDIO_RUNS", "runs"))


@dataclass(frozen=True)
class RunInfo:
    id: str
    path: Path
    recipe: str
    status: str
    step: int
    checkpoints: int  # complete checkpoints, the newest of which ``load(path)`` opens

    @property
    def label(self) -> str:
        return f"{self.id} · {self.recipe} · {self.status} · step {self.step} · {self.checkpoints} checkpoint(s)"


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Training runs that hold at least one complete checkpoint, newest first."""
    root = runs_root() if root is None else Path(root)
    if not root.is_dir():
        return []
    runs = []
    for run_dir in root.iterdir():
        checkpoints_dir = run_dir / "checkpoints"
        if not checkpoints_dir.is_dir():
            continue
        count = sum(1 for c in checkpoints_dir.iterdir() if c.is_dir() and checkpoints.is_complete(c))
        if not count:
            continue
        try:
            info = json.loads((run_dir / "run.json").read_text())
        except (OSError, ValueError):
            info = {}  # a run whose run.json is mid-write still has usable checkpoints
        runs.append(
            RunInfo(
                id=str(info.get("id", run_dir.name)),
                path=run_dir,
                recipe=str(info.get("recipe", "?")),
                status=str(info.get("status", "?")),
                step=int(info.get("step", 0) or 0),
                checkpoints=count,
            )
        )
    return sorted(runs, key=lambda r: r.path.stat().st_mtime, reverse=True)


def source_version(source: str) -> float:
    """A number that changes when a local source changes (a run gains a newer checkpoint).

    UIs pass it to their model cache next to the source so that a run directory is
    reloaded once training writes a new checkpoint. Hub ids and zoo names give 0.
    """
    path = Path(source)
    if source.startswith(checkpoints.HUB_PREFIX) or not path.exists():
        return 0.0
    if (path / "checkpoints").is_dir():
        try:
            return (checkpoints.latest_checkpoint(path) / checkpoints.WEIGHTS_NAME).stat().st_mtime
        except (CheckpointError, OSError):
            return 0.0  # load() will say what is wrong
    if path.is_dir():
        path = path / checkpoints.WEIGHTS_NAME
    return path.stat().st_mtime if path.exists() else 0.0


def uploads_root() -> Path:
    """Where ``save_upload`` keeps uploaded checkpoints: a folder of the system's temp directory, read
    when called (not at import), so the uploader and the API's path check always agree."""
    return Path(tempfile.gettempdir()) / "gan-studio-uploads"


def save_upload(name: str, data: bytes, *, max_bytes: int | None = None) -> Path:
    """Write an uploaded checkpoint file to a private temp file and return its path.

    Only the name and size are judged here; ``checkpoints.load`` judges the contents
    (safetensors, or ``torch.load(weights_only=True)``, never a plain unpickle).
    """
    max_bytes = MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise CheckpointError(f"{name!r} is not a checkpoint file: upload one of {', '.join(UPLOAD_SUFFIXES)}")
    if not data:
        raise CheckpointError(f"{name!r} is empty")
    if len(data) > max_bytes:
        raise CheckpointError(f"{name!r} is {_size(len(data))}, over the upload limit of {_size(max_bytes)}")
    # A folder per content hash: the same file uploaded twice reuses one file (and one cache
    # entry), and the file keeps its own name, which the loader shows as the model's title.
    directory = uploads_root() / hashlib.sha256(data).hexdigest()[:16]
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / (re.sub(r"[^\w.-]", "_", Path(name).stem)[:80] + suffix)
    if not path.exists():
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)
    return path


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count / 1024:.1f} KB"


def display_name(source: str, meta: dict | None = None) -> str:
    """A short human name for a loaded source: its card title, plus run and step for a training run."""
    meta = meta or {}
    title = meta.get("title")
    if meta.get("kind") == "run":
        return f"{meta.get('recipe') or title or 'run'} · run {meta.get('run_id')}, step {meta.get('step')}"
    if title:
        return str(title)
    if source.startswith(checkpoints.HUB_PREFIX):
        return source.removeprefix(checkpoints.HUB_PREFIX)
    return Path(source).name or source


def zoo_thumbnail(entry) -> Path | None:
    """The samples.png of a zoo entry that is on this machine (bundled or in the Hub cache)."""
    folder = entry.path
    if entry.is_hub:
        repo_id, revision = checkpoints.parse_hub_id(entry.hub_id)
        folder = checkpoints.cached_snapshot(repo_id, revision)
    if folder is None or not (Path(folder) / "samples.png").is_file():
        return None
    return Path(folder) / "samples.png"


# How a checkpoint was made and chosen (bundle.py's card text), as opposed to what it does and how good it is.
HOW_MADE_HEADING = "## How it was made"  # training.bundle's cards put the making and choosing under it
_BAR_VERDICTS = ("It meets its bar", "**It does not meet its bar**", "It is bundled so that")
_HOW_MADE_STARTS = ("Trained with", "The selection set", "Selection:", "Training took", "Trained on")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*])")


def card_sections(description: str | None) -> dict[str, str]:
    """A model card's description -> {"summary", "quality", "how_made"} (markdown, possibly empty).

    "summary": what the model does; "quality": how good it is (its measured results, and the bar it
    passed); "how_made": how it was trained and how this checkpoint was chosen. Nothing is dropped
    but the line describing samples.png (the page shows the samples themselves).
    """
    summary, quality, how_made = [], [], []
    head, heading, tail = str(description or "").partition(HOW_MADE_HEADING)
    if heading and tail.strip():
        how_made.append(tail.strip())
    for paragraph in (p.strip() for p in head.split("\n\n")):
        if not paragraph or paragraph.startswith("samples.png"):
            continue
        if paragraph.startswith(_HOW_MADE_STARTS):
            how_made.append(paragraph)
            continue
        if summary:  # later paragraphs are results (per-class shares, digits drawn...)
            quality.append(paragraph)
            continue
        kept, made = [], []
        for sentence in _SENTENCE_END.split(paragraph):
            if sentence.startswith(_BAR_VERDICTS):
                quality.append(sentence)
            elif sentence.startswith("Bar:"):
                quality.append("It passed its bar: " + sentence.removeprefix("Bar:").strip())
            elif sentence.startswith(_HOW_MADE_STARTS):
                made.append(sentence)
            else:
                kept.append(sentence)
        summary.append(" ".join(kept))
        if made:
            how_made.insert(0, " ".join(made))
    return {"summary": "\n\n".join(s for s in summary if s), "quality": "\n\n".join(quality),
            "how_made": "\n\n".join(how_made)}


def card_facts(model, meta: dict) -> dict[str, object]:
    """The facts a model panel lists (family, data, size, classes, licence, source); empty ones are None."""
    return {
        "Family": f"`{meta.get('family')}` ({meta.get('task')})",
        "Dataset": meta.get("dataset"),
        "Image": f"{meta.get('image_size')} px, {meta.get('channels')} channel(s)",
        "Latent size": getattr(model, "latent_dim", None),
        "Classes": ", ".join(meta.get("class_names") or []) or None,
        "License": meta.get("license"),
        "Source": f"`{meta.get('source')}` ({meta.get('kind')})",
    }


EXTRACTOR_NAMES = {"classifier": "its data's classifier", "inception": "Inception"}


def sample_metrics_line(meta: dict) -> str | None:
    """The card's measured FID (``studio.sample_metrics``, written by training.card_metrics) in one
    line: value, 95% interval and extractor for each, with the N and seed they share; None if absent."""
    found = meta.get("sample_metrics") or {}
    parts = []
    for name, m in found.items():
        try:
            low, high = m["fid"]["interval"]
            parts.append(f"{float(m['fid']['value']):.2f} [{float(low):.2f}, {float(high):.2f}] in "
                         f"{EXTRACTOR_NAMES.get(name, name)}'s features")
        except (KeyError, TypeError, ValueError):  # a hand-edited card: show what can be read
            continue
    if not parts:
        return None
    first = next(iter(found.values()))
    n, n_reference = (f"{v:,}" if isinstance(v, int) else "?" for v in (first.get("n"), first.get("n_reference")))
    return (f"FID of {n} fresh samples (seed {first.get('seed', '?')}) against "
            f"{n_reference} training images, 95% interval: " + "; ".join(parts)
            + " (lower is closer; compare only within one extractor)")
