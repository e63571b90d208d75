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
    # (bytes hashed, hash) of the file's head: hashed once, not at every save, unless the
    # file was still shorter than the head when it was hashed
    head: tuple[int, str] | None = None

    @classmethod
    def of(cls, file: Path, home: Path) -> Position:
        name = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:16]
        store = home.resolve() / "imports" / f"{file.stem[:40]}-{name}.json"
        position = cls(file.resolve(), store)
        try:
            saved = orjson.loads(store.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return position
        # Another export at the same path (it shrank, or its beginning differs) starts over:
        # resuming it would skip lines it never sent. Keys make starting over safe.
        size = int(saved.get("size", 0))
        if size <= file.stat().st_size and saved.get("head") == _head(file, size):
            position.done = int(saved.get("done", 0))
        return position

    @property
    def rejects(self) -> Path:
        """Every line refused so far, with its reasons (JSON lines)."""
        return self.store.with_suffix(".rejected.jsonl")

    def save(self, done: int) -> None:
        self.done = done
        self.store.parent.mkdir(parents=True, exist_ok=True)
        size = self.file.stat().st_size
        if self.head is None or self.head[0] != min(size, HEAD_BYTES):
            self.head = (min(size, HEAD_BYTES), _head(self.file, size))
        body = {"file": str(self.file), "size": size, "done": done, "head": self.head[1]}
        temporary = self.store.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(body))
        os.replace(temporary, self.store)  # a crash leaves the old position or the new one

    def forget(self) -> None:
        self.done = 0
        self.store.unlink(missing_ok=True)
        self.rejects.unlink(missing_ok=True)


HEAD_BYTES = 1 << 20


def _head(file: Path, size: int) -> str:
    """A hash of the file's first MiB as it was at ``size`` bytes: the same export grown at
    its end keeps it, another export at the same path does not."""
    with open(file, "rb") as export:
        return hashlib.sha256(export.read(min(size, HEAD_BYTES))).hexdigest()
