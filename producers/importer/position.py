"""Where an import of one file stands, so that a stopped import goes on where it stopped.

Kept in ``<home>/imports/<hash of the file's path>.json``: the count of leading lines the
gateway has answered for. Lines after it are sent again on resume; their stable keys make a
line sent twice count once (``duplicate``), so the position may lag but never skip.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass
class Position:
    """The resumable position of one export file."""

    file: Path
    store: Path
    done: int = 0  # leading lines answered for

    @classmethod
    def of(cls, file: Path, home: Path) -> Position:
        name = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:16]
        store = home.resolve() / "imports" / f"{file.stem[:40]}-{name}.json"
        position = cls(file.resolve(), store)
        try:
            saved = orjson.loads(store.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return position
        # A file that shrank is another export: start over (keys make that safe).
        if saved.get("size", 0) <= file.stat().st_size:
            position.done = int(saved.get("done", 0))
        return position

    @property
    def rejects(self) -> Path:
        """Every line refused so far, with its reasons (JSON lines)."""
        return self.store.with_suffix(".rejected.jsonl")

    def save(self, done: int) -> None:
        self.done = done
        self.store.parent.mkdir(parents=True, exist_ok=True)
        body = {"file": str(self.file), "size": self.file.stat().st_size, "done": done}
        temporary = self.store.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(body))
        os.replace(temporary, self.store)  # a crash leaves the old position or the new one

    def forget(self) -> None:
        self.done = 0
        self.store.unlink(missing_ok=True)
        self.rejects.unlink(missing_ok=True)
