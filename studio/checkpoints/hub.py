"""Hugging Face Hub ids (``hf://org/repo[@revision]``), the local Hub cache, and downloads.

``HF_HUB_OFFLINE`` and the cache location are read from the environment at each call (huggingface_hub
itself freezes them at import). Nothing downloaded is trusted: file names that would leave the
cache are refused before anything is read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from studio.errors import CheckpointError

HUB_PREFIX = "hf://"
# Files worth fetching from a Hub repo; a community repo may also hold notebooks, images, logs.
HUB_PATTERNS = ["config.json", "README.md", "samples.png", "*.safetensors", "*.bin", "*.pth", "*.pt"]

# Hub names: letters, digits, "-", "_", "." ; no "--" or ".." (the Hub forbids both).
_HUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"{_HUB_NAME}/{_HUB_NAME}")
_REVISION = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def parse_hub_id(source: str) -> tuple[str, str | None]:
    """``"hf://org/repo@rev"`` -> ``("org/repo", "rev")``; rejects anything that could leave the cache."""
    if not source.startswith(HUB_PREFIX):
        raise CheckpointError(f"{source!r} is not a Hub id: write hf://org/repo or hf://org/repo@revision")
    repo_id, at, revision = source[len(HUB_PREFIX):].partition("@")
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise CheckpointError(f"{source!r}: {repo_id!r} is not a valid Hub repo id (org/name, letters, digits, "
                              "'-', '_', '.'; no '..', no '--', no absolute paths)")
    if at and (not revision or len(revision) > 255 or not _REVISION.fullmatch(revision)
               or ".." in revision.split("/")):
        raise CheckpointError(f"{source!r}: {revision!r} is not a valid revision (a branch, tag or commit hash)")
    return repo_id, (revision or None)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as it is now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", os.environ.get("TRANSFORMERS_OFFLINE"))
    if value is None:
        return bool(constants.HF_HUB_OFFLINE)
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_cache_dir() -> Path:
    """The Hugging Face cache as the environment names it now (HF_HUB_CACHE, then HF_HOME)."""
    from huggingface_hub import constants

    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        folder = env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]
    elif env.get("HF_HOME"):
        folder = os.path.join(env["HF_HOME"], "hub")
    else:
        folder = constants.HF_HUB_CACHE
    return Path(os.path.expandvars(os.path.expanduser(folder)))


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (default main), or None."""
    repo_dir = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    revision = revision or "main"
    if _COMMIT.fullmatch(revision):
        commit = revision
    else:
        ref = repo_dir / "refs" / revision
        if ".." in revision.split("/") or not ref.is_file():
            return None
        commit = ref.read_text(encoding="utf-8").strip()
    snapshot = repo_dir / "snapshots" / commit
    return snapshot if _COMMIT.fullmatch(commit) and snapshot.is_dir() and any(snapshot.iterdir()) else None


def fetch(source: str) -> tuple[str, str | None, Path]:
    """``hf://org/repo[@rev]`` -> (repo id, revision, snapshot folder), downloaded or from the cache,
    every file name in it checked."""
    repo_id, revision = parse_hub_id(source)
    folder = _download(repo_id, revision)
    for file in folder.rglob("*"):
        _check_relative(file.relative_to(folder).as_posix(), source)
    return repo_id, revision, folder


def _check_relative(name: str, source: str) -> None:
    if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or re.match(r"[A-Za-z]:", name):
        raise CheckpointError(f"{source}: refusing file name {name!r} (absolute path or '..')")


def _download(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    label = f"hf://{repo_id}" + (f"@{revision}" if revision else "")
    cache, offline = hub_cache_dir(), hub_offline()
    try:
        # cache_dir and local_files_only from the environment now: huggingface_hub froze both at import
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=offline,
                                   allow_patterns=HUB_PATTERNS)
        return Path(folder)
    except IncompleteSnapshotError as err:
        raise CheckpointError(f"the cached copy of {label} in {cache} is incomplete; "
                              + ("set HF_HUB_OFFLINE=0 and connect to finish the download" if offline
                                 else "connect to the network to finish the download")) from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"{label}: revision {revision!r} does not exist on the Hub "
                              "(check the branch, tag or commit hash)") from err
    except RepositoryNotFoundError as err:
        raise CheckpointError(f"{label}: repository {repo_id} was not found on the Hub, or it is private or "
                              "gated (log in with `hf auth login`)") from err
    except LocalEntryNotFoundError as err:
        repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
        if not offline:
            raise CheckpointError(f"{label} could not be downloaded (the Hub is unreachable) and is not in the "
                                  f"local cache {cache}; check the network connection") from err
        if repo_dir.is_dir():
            refs = sorted(p.relative_to(repo_dir / "refs").as_posix() for p in (repo_dir / "refs").rglob("*")
                          if p.is_file()) if (repo_dir / "refs").is_dir() else []
            commits = sorted(p.name for p in (repo_dir / "snapshots").iterdir()) \
                if (repo_dir / "snapshots").is_dir() else []
            raise CheckpointError(
                f"{label}: unknown revision {revision or 'main'!r}: it is not in the local Hugging Face cache "
                f"({cache}), which holds {', '.join(refs + commits) or 'no revisions'} of {repo_id}. "
                "HF_HUB_OFFLINE=1, so the network is needed to look it up: set HF_HUB_OFFLINE=0") from err
        raise CheckpointError(f"{label} is not in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1: "
                              "the network is needed to download it once; set HF_HUB_OFFLINE=0 and connect") from err
    except HFValidationError as err:
        raise CheckpointError(f"{label} is not a valid Hub id: {err}") from err
    except (HfHubHTTPError, OSError) as err:
        raise CheckpointError(f"{label} could not be downloaded: {err}") from err
