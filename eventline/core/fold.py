"""Folding a log of changes on a compacted topic, one fold per key, with checkpoints. Pure.

Accounts (``eventline.schemas.accounts.ledger``) and rules (``eventline.schemas.rules.ledger``) keep
what several processes change this way (issue 10). A whole state computed from a reader's view and
written back loses whatever another writer changed meanwhile, and under compaction the last write of
a key survives even when it lost. So a writer appends a *change* under a key of its own, on the
partition of the thing it changes: the changes to one thing are totally ordered, none is compacted
away, and every reader folds them in log order with the same pure function, which decides each
outcome ("exists", an id allocated) the same way for every reader.  Checkpoints keep the topic
small: a checkpoint holds a state folded through an offset of its partition, under a key naming that
offset; once it is written, the changes it holds and the older checkpoints are deleted (tombstones).
A reader folds from the checkpoint with the highest offset plus every change after that offset,
which compaction never removes, so a fresh reader reaches the state of a reader that saw every
record. A checkpoint written late, through an older offset, loses to the newer one whatever its
place in the log.

Compaction removes a record only once it and the tombstone that deletes it are older than
the topic's ``min.compaction.lag.ms``: a reader less far behind never misses a change whose
checkpoint it has not read yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

INVALID = "invalid"  # a change no fold can apply (unknown, malformed, read twice)


class Identified(Protocol):
    @property
    def change_id(self) -> str: ...


S = TypeVar("S")
C = TypeVar("C", bound=Identified)


@dataclass(frozen=True)
class Outcome:
    """What a change did: ``error`` None when it applied; ``value`` is what it stored, or
    what was in the way."""

    error: str | None = None
    reason: str = ""
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


Step = Callable[[S | None, C], tuple[S | None, Outcome]]


@dataclass
class Log(Generic[S, C]):
    """One key's fold: its base (a checkpoint, or a whole state of an earlier version) through
    an offset of its partition, the changes read after that offset, and the state they give."""

    base: S | None = None
    through: int = -1
    pending: list[tuple[int, C]] = field(default_factory=list)
    state: S | None = None
    checkpoints: set[int] = field(default_factory=set)  # offsets of checkpoint records read


@dataclass(frozen=True)
class CheckpointPlan(Generic[S]):
    """A checkpoint to write, and the records it makes obsolete (to delete once it is on the
    topic)."""

    key: str
    through: int
    state: S | None
    obsolete_changes: tuple[str, ...]  # change ids
    obsolete_checkpoints: tuple[int, ...]  # their ``through`` offsets (the new one's too)


class Folds(Generic[S, C]):
    """Every key's fold, fed with a topic in log order. ``step`` folds one change (pure and
    total); a checkpoint is due every ``checkpoint_every`` changes of a key."""

    def __init__(self, step: Step[S, C], checkpoint_every: int) -> None:
        self.logs: dict[str, Log[S, C]] = {}
        self._step = step
        self._every = checkpoint_every

    def state(self, key: str) -> S | None:
        log = self.logs.get(key)
        return log.state if log else None

    def apply(self, key: str, offset: int, change: C) -> tuple[Outcome, bool]:
        """Fold a change read at ``offset``: its outcome, and whether a checkpoint is due."""
        log = self.logs.setdefault(key, Log())
        if offset <= log.through:  # read again (never happens in one reading of the log)
            return Outcome(INVALID, f"offset {offset} is already folded"), False
        log.state, outcome = self._step(log.state, change)
        log.pending.append((offset, change))
        return outcome, len(log.pending) % self.checkpoint_every() == 0

    def checkpoint_every(self) -> int:
        return self._every

    def saw_checkpoint(self, key: str, through: int) -> None:
        """Note a checkpoint record (to delete once a newer one is written)."""
        self.logs.setdefault(key, Log()).checkpoints.add(through)

    def restore(self, key: str, through: int, state: S | None) -> None:
        """A whole state through offset ``through``: a checkpoint, or an entry of an earlier
        version (a whole state written at that offset). One older than the base is ignored;
        else it becomes the base and the later changes fold on it again."""
        log = self.logs.setdefault(key, Log())
        if through <= log.through:
            return
        log.base, log.through = state, through
        log.pending = [(o, c) for o, c in log.pending if o > through]
        folded = log.base
        for _, change in log.pending:
            folded, _ = self._step(folded, change)
        log.state = folded

    def plan_checkpoint(self, key: str) -> CheckpointPlan[S] | None:
        """A checkpoint of the key through its last change read, or None when there is
        nothing to fold."""
        log = self.logs.get(key)
        if log is None or not log.pending:
            return None
        return CheckpointPlan(
            key=key,
            through=log.pending[-1][0],
            state=log.state,
            obsolete_changes=tuple(c.change_id for _, c in log.pending),
            obsolete_checkpoints=tuple(sorted(log.checkpoints)),
        )
