"""Segment membership over a contact's history, and when passing time may change it. Pure.

Conditions are data (``eventline.schemas.rules.model.Condition``) and combine with ``all``/``any``.
Windows count back from *now* over ``occurred_at``. ``next_change`` tells the
caller when to look again although no event arrives (a contact leaves "active in the last
7 days" on day 8): the earliest instant after now at which a time-bound condition may flip.

``then_not`` (abandoned cart): the contact's latest ``first`` event is at least ``within_s``
old and no ``then`` event came after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from eventline.schemas.rules.model import (
    AllOf,
    AnyOf,
    Attribute,
    Condition,
    Did,
    DidNot,
    HasTag,
    InSegment,
    ThenNot,
    ValueSum,
)
from eventline.streams.rules.match import condition_holds

__all__ = ["Condition", "ContactState", "Fact", "evaluate", "next_change"]


class Fact(NamedTuple):
    """One event of a contact, as segment conditions see it (a tuple: a contact's whole
    history is built for every event it has, and a frozen dataclass cost 5 times more)."""

    name: str
    occurred_at: datetime
    value: float | None = None
    properties: Mapping[str, Any] = MappingProxyType({})


@dataclass
class ContactState:
    """What conditions see of a contact: its history, attributes, tags and segments."""

    facts: list[Fact] = field(default_factory=list)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    _by_name: dict[str, list[Fact]] | None = field(default=None, repr=False, compare=False)

    def named(self, name: str | None) -> list[Fact]:
        """The facts of events named ``name`` (none for None), in history order: every
        condition names its event, so it reads those only."""
        if name is None:
            return []
        if self._by_name is None:
            self._by_name = {}
            for fact in self.facts:
                self._by_name.setdefault(fact.name, []).append(fact)
        return self._by_name.get(name, [])


def _recent(facts: Iterable[Fact], name: str | None, days: float, now: datetime) -> list[Fact]:
    start = now - timedelta(days=days)
    return [f for f in facts if (name is None or f.name == name) and start < f.occurred_at <= now]


def _recent_named(state: ContactState, name: str | None, days: float, now: datetime) -> list[Fact]:
    start = now - timedelta(days=days)
    facts = state.facts if name is None else state.named(name)
    return [f for f in facts if start < f.occurred_at <= now]


def _did(c: Did, state: ContactState, now: datetime) -> list[Fact]:
    facts = [f for f in state.named(c.name) if f.occurred_at <= now]
    if c.within_days is not None:
        facts = _recent(facts, c.name, c.within_days, now)
    if c.since is not None:
        facts = [f for f in facts if f.occurred_at >= c.since]
    if c.until is not None:
        facts = [f for f in facts if f.occurred_at <= c.until]
    return [f for f in facts if all(condition_holds(f.properties, w) for w in c.where)]


def _latest(state: ContactState, name: str, now: datetime) -> Fact | None:
    facts = [f for f in state.named(name) if f.occurred_at <= now]
    return max(facts, key=lambda f: f.occurred_at, default=None)


def evaluate(condition: Condition, state: ContactState, now: datetime) -> bool:
    """Whether the contact meets ``condition`` at ``now``."""
    if isinstance(condition, Did):
        return len(_did(condition, state, now)) >= condition.min_count
    if isinstance(condition, DidNot):
        return not _recent_named(state, condition.name, condition.within_days, now)
    if isinstance(condition, ValueSum):
        facts = _recent_named(state, condition.name, condition.within_days, now)
        total = sum(f.value or 0.0 for f in facts)
        return {
            "gt": total > condition.amount,
            "gte": total >= condition.amount,
            "lt": total < condition.amount,
            "lte": total <= condition.amount,
        }[condition.op]
    if isinstance(condition, ThenNot):
        first = _latest(state, condition.first, now)
        if first is None or now - first.occurred_at < timedelta(seconds=condition.within_s):
            return False
        return not any(
            first.occurred_at <= f.occurred_at <= now for f in state.named(condition.then)
        )
    if isinstance(condition, Attribute):
        return condition_holds(state.attributes, condition.test)
    if isinstance(condition, HasTag):
        return (condition.tag in state.tags) is condition.present
    if isinstance(condition, InSegment):
        return (condition.segment_id in state.segments) is condition.member
    if isinstance(condition, AllOf):
        return all(evaluate(c, state, now) for c in condition.conditions)
    return any(evaluate(c, state, now) for c in condition.conditions)


def next_change(condition: Condition, state: ContactState, now: datetime) -> datetime | None:
    """The earliest instant after ``now`` at which time alone may change ``condition``."""
    candidates = [t for t in _moments(condition, state) if t > now]
    return min(candidates, default=None)


def _moments(condition: Condition, state: ContactState) -> list[datetime]:
    if isinstance(condition, (Did, DidNot, ValueSum)):
        days = condition.within_days
        name = condition.name
        named = state.facts if name is None else state.named(name)
        moments = [f.occurred_at for f in named]
        if days is not None:
            window = timedelta(days=days)
            moments += [f.occurred_at + window for f in named]
        return moments  # a future-dated event also counts once its time comes
    if isinstance(condition, ThenNot):
        period = timedelta(seconds=condition.within_s)
        return [f.occurred_at + period for f in state.named(condition.first)]
    if isinstance(condition, (AllOf, AnyOf)):
        return [t for c in condition.conditions for t in _moments(c, state)]
    return []
