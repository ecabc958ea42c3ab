"""The model zoo: named checkpoints listed in ``checkpoints/zoo.toml``.

An entry is either bundled (a checkpoint directory under ``checkpoints/``, committed with the
code, so the studio works offline) or a Hub repo (``hf://org/repo`` at a revision, fetched once
and then read from the Hugging Face cache). ``entries()`` says where each one stands now:

    "bundled"        the directory is here and complete
    "cached"         a Hub entry already in the local Hugging Face cache
    "needs network"  a Hub entry that must be downloaded first
    "missing"        a bundled entry whose directory is absent or incomplete (not trained yet)

Open an entry with ``studio.checkpoints.load(name)``.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from studio.checkpoints.format import is_complete
from studio.checkpoints.hub import HUB_PREFIX, cached_snapshot, parse_hub_id
from studio.errors import CheckpointError

CHECKPOINTS_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
ZOO_FILE = CHECKPOINTS_DIR / "zoo.toml"  # read at call time, so tests can point it elsewhere
REQUIRED = ("name", "title", "family", "task", "source")


@dataclass(frozen=True)
class ZooEntry:
    name: str
    title: str
    family: str
    task: str
    source: str  # "mnist-dcgan" (a folder under checkpoints/) or "hf://org/repo"
    revision: str = "main"  # Hub entries only
    dataset: str = ""
    license: str = ""
    description: str = ""
    availability: str = "missing"
    path: Path | None = None  # bundled entries: the checkpoint directory

    @property
    def is_hub(self) -> bool:
        return self.source.startswith(HUB_PREFIX)

    @property
    def hub_id(self) -> str:
        """``hf://org/repo@revision``, the id ``studio.checkpoints.load`` takes."""
        if not self.is_hub:
            raise CheckpointError(f"zoo entry {self.name!r} is bundled, not on the Hub")
        return f"{self.source}@{self.revision}" if self.revision else self.source


def entries(zoo_file: str | Path | None = None) -> list[ZooEntry]:
    """Every zoo entry in file order, with its availability as of now."""
    path = Path(zoo_file) if zoo_file is not None else ZOO_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CheckpointError(f"the zoo file {path} is missing") from err
    except tomllib.TOMLDecodeError as err:
        raise CheckpointError(f"the zoo file {path} is not valid TOML: {err}") from err
    rows = data.get("checkpoint", [])
    if not isinstance(rows, list):
        raise CheckpointError(f"{path}: list the checkpoints as [[checkpoint]] tables")
    result, seen = [], set()
    for number, row in enumerate(rows, 1):
        entry = _entry(row, path, number)
        if entry.name in seen:
            raise CheckpointError(f"{path}: the name {entry.name!r} is listed twice")
        seen.add(entry.name)
        result.append(entry)
    return result


def names(zoo_file: str | Path | None = None) -> list[str]:
    return [entry.name for entry in entries(zoo_file)]


def get(name: str, zoo_file: str | Path | None = None) -> ZooEntry:
    """The entry called ``name``; an unknown name lists the known ones."""
    listed = entries(zoo_file)
    for entry in listed:
        if entry.name == name:
            return entry
    known = [entry.name for entry in listed]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise CheckpointError(f"no zoo checkpoint named {name!r}.{hint} The zoo lists: {', '.join(known)}")


def _entry(row: dict, path: Path, number: int) -> ZooEntry:
    where = f"{path}, checkpoint #{number}"
    if not isinstance(row, dict):
        raise CheckpointError(f"{where}: expected a table of fields")
    known = {f.name for f in fields(ZooEntry)} - {"availability", "path"}
    unknown = sorted(set(row) - known)
    if unknown:
        raise CheckpointError(f"{where}: unknown fields {', '.join(unknown)} (allowed: {', '.join(sorted(known))})")
    missing = [key for key in REQUIRED if not row.get(key)]
    if missing:
        raise CheckpointError(f"{where}: missing {', '.join(missing)}")
    if not all(isinstance(value, str) for value in row.values()):
        raise CheckpointError(f"{where}: every field is a string")

    source = row["source"]
    if source.startswith(HUB_PREFIX):
        if "@" in source:
            raise CheckpointError(f"{where}: put the revision in the revision field, not in source")
        revision = row.get("revision") or "main"
        try:
            repo_id, _ = parse_hub_id(f"{source}@{revision}")
        except CheckpointError as err:
            raise CheckpointError(f"{where}: {err}") from err
        availability = "cached" if cached_snapshot(repo_id, revision) else "needs network"
        return ZooEntry(**{**row, "revision": revision}, availability=availability)

    # Bundled: a relative folder that stays inside the directory holding the zoo file.
    base = path.resolve().parent
    folder = (base / source).resolve()
    if Path(source).is_absolute() or ".." in Path(source).parts or not folder.is_relative_to(base):
        raise CheckpointError(f"{where}: bundled source {source!r} must be a folder name under {base}")
    availability = "bundled" if is_complete(folder) else "missing"
    return ZooEntry(**{**row, "revision": row.get("revision", "")}, availability=availability, path=folder)
