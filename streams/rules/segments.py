"""Segment membership over a contact's history, and when passing time may change it. Pure.

Conditions are data (``streams.rules.model.Condition``) and combine with ``all``/``any``.
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
from typing import Any

from streams.rules.match import condition_holds
from streams.rules.model import (
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

__all__ = ["Condition", "ContactState", "Fact", "evaluate", "next_change"]


@dataclass(frozen=True)
class Fact:
    """One event of a contact, as segment conditions see it."""

    name: str
    occurred_at: datetime
    value: float | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ContactState:
    """What conditions see of a contact: its history, attributes, tags and segments."""

    facts: list[Fact] = field(default_factory=list)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()


def _recent(facts: Iterable[Fact], name: str | None, days: float, now: datetime) -> list[Fact]:
    start = now - timedelta(days=days)
    return [f for f in facts if (name is None or f.name == name) and start < f.occurred_at <= now]


def _did(c: Did, state: ContactState, now: datetime) -> list[Fact]:
    facts = [f for f in state.facts if f.name == c.name and f.occurred_at <= now]
    if c.within_days is not None:
        facts = _recent(facts, c.name, c.within_days, now)
    if c.since is not None:
        facts = [f for f in facts if f.occurred_at >= c.since]
    if c.until is not None:
        facts = [f for f in facts if f.occurred_at <= c.until]
    return [f for f in facts if all(condition_holds(f.properties, w) for w in c.where)]


def _latest(state: ContactState, name: str, now: datetime) -> Fact | None:
    facts = [f for f in state.facts if f.name == name and f.occurred_at <= now]
    return max(facts, key=lambda f: f.occurred_at, default=None)


def evaluate(condition: Condition, state: ContactState, now: datetime) -> bool:
    """Whether the contact meets ``condition`` at ``now``."""
    if isinstance(condition, Did):
        return len(_did(condition, state, now)) >= condition.min_count
    if isinstance(condition, DidNot):
        return not _recent(state.facts, condition.name, condition.within_days, now)
    if isinstance(condition, ValueSum):
        facts = _recent(state.facts, condition.name, condition.within_days, now)
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
            f.name == condition.then and first.occurred_at <= f.occurred_at <= now
            for f in state.facts
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
        moments = [f.occurred_at for f in state.facts if f.name == name or name is None]
        if days is not None:
            window = timedelta(days=days)
            moments += [f.occurred_at + window for f in state.facts if name in (None, f.name)]
        return moments  # a future-dated event also counts once its time comes
    if isinstance(condition, ThenNot):
        period = timedelta(seconds=condition.within_s)
        return [f.occurred_at + period for f in state.facts if f.name == condition.first]
    if isinstance(condition, (AllOf, AnyOf)):
        return [t for c in condition.conditions for t in _moments(c, state)]
    return []
