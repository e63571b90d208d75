"""Rule evaluation against canonical events. Pure logic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eventline.schemas.rules.model import EventMatch, PropertyCondition, TagRule, as_number

_MISSING = object()


def lookup(properties: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of the properties, or ``_MISSING``."""
    current: Any = properties
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def condition_holds(properties: Mapping[str, Any], condition: PropertyCondition) -> bool:
    """Whether one property condition holds. A missing property fails every test but
    ``exists``; numeric tests compare numbers (a numeric string counts as its number)."""
    found = lookup(properties, condition.property)
    if condition.op == "exists":
        return found is not _MISSING
    if found is _MISSING:
        return False
    if condition.op == "equals":
        return _same(found, condition.value)
    if condition.op == "in":
        return any(_same(found, option) for option in condition.value)
    if condition.op == "contains":
        if isinstance(found, str):
            return str(condition.value).lower() in found.lower()
        if isinstance(found, list):
            return any(_same(item, condition.value) for item in found)
        return False
    left, right = as_number(found), as_number(condition.value)
    if left is None or right is None:
        return False
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[condition.op]


def _same(left: Any, right: Any) -> bool:
    if left == right:
        return True
    a, b = as_number(left), as_number(right)
    return a is not None and b is not None and a == b


def event_matches(event: Mapping[str, Any], match: EventMatch) -> bool:
    """Whether a canonical event (``name``, ``event_type``, ``properties``) is one the rule
    is about: every given criterion and every property condition must hold."""
    if match.name is not None and event.get("name") != match.name:
        return False
    if match.event_type is not None and event.get("event_type") != match.event_type:
        return False
    properties = event.get("properties") or {}
    return all(condition_holds(properties, c) for c in match.where)


def tag_changes(
    rules: Iterable[TagRule], event: Mapping[str, Any], tags: Iterable[str]
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The contact's tags after ``event``, and each change as (tag, "added"|"removed",
    rule_id), in rule order; a rule that would not change the set emits nothing."""
    current = list(tags)
    changes: list[tuple[str, str, str]] = []
    for rule in rules:
        if rule.account_id != event.get("account_id") or not event_matches(event, rule.when):
            continue
        for tag in rule.remove:
            if tag in current:
                current.remove(tag)
                changes.append((tag, "removed", rule.rule_id))
        for tag in rule.add:
            if tag not in current:
                current.append(tag)
                changes.append((tag, "added", rule.rule_id))
    return current, changes
