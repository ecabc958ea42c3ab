"""A run's ``events.jsonl`` (one JSON line per step, written by the training engine), read
incrementally as it grows: the series the training tab plots and the sample grids it shows."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path



# ----------------------------------------------------------------------------- the event log


class EventLog:
    """One run's events.jsonl, read incrementally: ``update()`` reads only the bytes appended since
    the last call. A trailing line without its newline waits for the rest; a rewritten file (a
    resume rewrites it atomically, as a new inode) is read again from the start.

    Metric lines become columns aligned with ``steps``; ``{"event": ...}`` lines are kept as
    markers. Safe to share between sessions (one lock), as a Streamlit cache_resource is."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / "events.jsonl"
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, inode: int | None) -> None:
        self._inode, self._offset, self._tail = inode, 0, b""
        self.steps: list[int] = []
        self.columns: dict[str, list[float | None]] = {}
        self.markers: list[dict] = []
        self.last: dict = {}

    def update(self) -> int:
        """Read what was appended; returns the number of new events."""
        with self._lock:
            try:
                handle = open(self.path, "rb")
            except FileNotFoundError:
                if self._inode is not None:
                    self._reset(None)
                return 0
            with handle:
                stat = os.fstat(handle.fileno())
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self._reset(stat.st_ino)
                handle.seek(self._offset)
                data = handle.read()
            self._offset += len(data)
            lines = (self._tail + data).split(b"\n")
            self._tail = lines.pop()  # b"" after a newline, else a line still being written
            count = 0
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash is not data
                if isinstance(event, dict):
                    self._add(event)
                    count += 1
            return count

    def _add(self, event: dict) -> None:
        if "event" in event:
            self.markers.append(event)
            return
        index = len(self.steps)
        self.steps.append(int(event.get("step", index)))
        for key, value in event.items():
            if key in ("step", "time", "epoch") or not (value is None or isinstance(value, (int, float))):
                continue
            self.columns.setdefault(key, [None] * index).append(None if value is None else float(value))
        for values in self.columns.values():
            if len(values) == index:  # a metric this line does not have
                values.append(None)
        self.last = event

    def series(self, *names: str) -> tuple[list[int], dict[str, list[float | None]]]:
        """(steps, {name: values}) copies for the metrics that exist."""
        with self._lock:
            return list(self.steps), {n: list(self.columns[n]) for n in names if n in self.columns}

    def snapshot(self) -> dict:
        """Plain copies of everything: steps, columns, markers, last metric line."""
        with self._lock:
            return {"steps": list(self.steps), "columns": {k: list(v) for k, v in self.columns.items()},
                    "markers": list(self.markers), "last": dict(self.last)}

    def samples(self) -> list[tuple[int, Path]]:
        """(step, png path) of the saved sample grids that are on disk, oldest first."""
        with self._lock:
            found = {int(m["step"]): self.path.parent / m["path"] for m in self.markers
                     if m.get("event") == "sample" and m.get("path")}
        return [(step, path) for step, path in sorted(found.items()) if path.is_file()]
