"""Tags, segments and workflow triggers of one contact, as events arrive and time passes. Pure.

The contact's automation state lives in its contact-table value (one table write per event,
so state and memo can never disagree after a crash):

- ``tags``: the contact's tags;
- ``auto.facts``: its recent events, oldest first, as ``[event_id, name, occurred_ms, value,
  properties]`` (kept ``history_days``, at most ``history_max_events``): what segment
  conditions look at;
- ``auto.segments``: segment id -> ``[member 0/1, seq, since_ms]``; ``seq`` counts the
  transitions, so a transition id is stable;
- ``auto.fired``: workflow rule id -> ``[at_ms, event_id]``, for once-per-contact and
  at-most-every limits;
- ``auto.memo``: the outputs of the contact's last events, by event id. Faust may replay an
  event whose table write is already in the changelog (faust #273): its outputs then come
  from the memo, identical, instead of being recomputed against a state that includes it;
- ``auto.next``: when time alone may next change a segment (the timer's cue); ``auto.digest``:
  the segment definitions the memberships were computed with.

Order for an event: history, then tag rules, then segments (which may test tags), then
workflow rules (whose contact condition may test tags and segments).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from eventline.core.errors import InvalidEvent
from eventline.schemas.rules.book import AccountRules
from eventline.streams.messages import Outcome, messages
from eventline.streams.rules.match import tag_changes
from eventline.streams.rules.segments import ContactState, Fact, evaluate, next_change
from eventline.streams.rules.triggers import Context, decide

log = logging.getLogger(__name__)
MEMO_SIZE = 32  # events per contact whose outputs are remembered for replays
# A contact's table value is one Kafka record (its changelog): kept far below the message size.
STATE_MAX_BYTES = 512 * 1024
PROPERTIES_KEPT_BYTES = 1024  # per event in the history (200 events: at most ~200 KB)


@dataclass(frozen=True)
class Limits:
    history_days: int = 365
    history_max_events: int = 200
    late_cutoff: timedelta = timedelta(days=1)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _auto(contact: Mapping[str, Any]) -> dict[str, Any]:
    auto = contact.get("auto") or {}
    return {
        "facts": list(auto.get("facts", [])),
        "segments": dict(auto.get("segments", {})),
        "fired": dict(auto.get("fired", {})),
        "memo": list(auto.get("memo", [])),
        "next": auto.get("next"),
        "digest": auto.get("digest", ""),
    }


def _recalled(auto: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The memo of an input handled before (an event id, or a check's key)."""
    return next((memo for memo_key, memo in auto["memo"] if memo_key == key), None)


def _memorize(
    auto: dict[str, Any], key: str, memo: dict[str, Any], contact: Mapping[str, Any]
) -> None:
    if memo["t"] or memo["s"] or memo["w"]:  # what the messages said of the contact
        members = sorted(s for s, (member, _seq, _at) in auto["segments"].items() if member)
        memo["k"] = [
            contact.get("email"),
            contact.get("user_id"),
            contact.get("attributes_json") or "{}",
            list(contact.get("tags") or []),
            members,
        ]
    auto["memo"] = [*auto["memo"], [key, memo]][-MEMO_SIZE:]


def on_event(
    contact: Mapping[str, Any],
    event: Mapping[str, Any],
    rules: AccountRules,
    context: Context,
    limits: Limits,
    now: datetime,
    digest: str = "",
    new_contact: bool = False,
) -> Outcome:
    """Apply a canonical event (``properties`` parsed) to its contact (``new_contact``: met
    first in this event)."""
    auto = _auto(contact)
    recalled = _recalled(auto, event["event_id"])
    if recalled is not None:
        return messages(contact, event, recalled)
    auto["facts"] = _remember(auto["facts"], event, limits, now)
    tags, changes = tag_changes(rules.tags, event, contact.get("tags") or [])
    if rules.segments or auto["segments"] or rules.workflows:
        state = _state(auto, contact, tags)
        members, transitions = _segments(auto, state, rules, now, "event", event["event_id"])
        state.segments = members
    else:  # nothing reads the contact's state: an account without segments and workflows
        state, transitions = _NO_STATE, []
    fired = {rule: _at(at) for rule, (at, _by) in auto["fired"].items()}

    def contact_meets(rule: Any) -> bool:
        return bool(_guarded(rule.rule_id, False, evaluate, rule.contact, state, now))

    decisions = decide(
        rules.workflows, event, fired, context, limits.late_cutoff, now, contact_meets
    )
    triggered = [d for d in decisions if d.fire]
    for d in triggered:
        auto["fired"][d.rule_id] = [_ms(now), event["event_id"]]
    _schedule(auto, state, rules, limits, now, digest)
    updated = {**contact, "tags": tags, "auto": auto}
    if changes:  # a new version of the contact record (its row in ClickHouse is versioned)
        updated.update(updated_at=_ms(now), last_change_id=event["event_id"])
    memo = {
        "at": _ms(now),
        "t": [list(c) for c in changes],
        "s": transitions,
        "w": [[d.rule_id, d.workflow_id, d.trigger_id] for d in triggered],
        "c": new_contact or bool(changes),
    }
    _memorize(auto, event["event_id"], memo, updated)
    return messages(updated, event, memo)


def on_check(
    contact: Mapping[str, Any],
    rules: AccountRules,
    limits: Limits,
    now: datetime,
    cause: str,
    key: str,
    digest: str = "",
    event_id: str | None = None,
) -> Outcome:
    """Evaluate the contact's segments again: time passed (``cause`` time), definitions
    changed (definition), or its attributes changed (event, with the update's ``event_id``).
    ``key`` names the input (a check, a registration): handled again, it repeats itself."""
    auto = _auto(contact)
    recalled = _recalled(auto, key)
    if recalled is not None:
        return messages(contact, {}, recalled)
    oldest = _ms(now - timedelta(days=limits.history_days))
    auto["facts"] = [f for f in auto["facts"] if f[2] > oldest]
    state = _state(auto, contact, contact.get("tags") or [])
    _members, transitions = _segments(auto, state, rules, now, cause, event_id)
    _schedule(auto, state, rules, limits, now, digest)
    updated = {**contact, "auto": auto}
    memo = {"at": _ms(now), "t": [], "s": transitions, "w": [], "c": False}
    _memorize(auto, key, memo, updated)
    return messages(updated, {}, memo)


def is_due(contact: Mapping[str, Any], digest: str, now_ms: int) -> str | None:
    """Why the contact's segments need a look although no event came: ``time`` (a window
    passed), ``definition`` (segment definitions changed), or None."""
    if contact.get("merged_into"):  # a merged contact's records go on to its target
        return None
    auto = contact.get("auto") or {}
    if auto.get("digest", "") != digest and (digest or auto.get("segments")):
        return "definition"
    due = auto.get("next")
    return "time" if due is not None and due <= now_ms else None


def _guarded(rule_id: str, default: Any, check: Any, *args: Any) -> Any:
    """``check(*args)``, or ``default`` (logged) when a rule cannot be evaluated: one broken
    rule must not fail the events of its account."""
    try:
        return check(*args)
    except Exception as exc:
        log.error("rule %s cannot be evaluated, skipped: %s: %s", rule_id, type(exc).__name__, exc)
        return default


def _remember(
    facts: list[list[Any]], event: Mapping[str, Any], limits: Limits, now: datetime
) -> list[list[Any]]:
    """The history with the event in it (once), trimmed to the limits."""
    oldest = _ms(now - timedelta(days=limits.history_days))
    kept = [f for f in facts if f[2] > oldest and f[0] != event["event_id"]]
    fact = [
        event["event_id"],
        event["name"],
        _ms(event["occurred_at"]),
        event.get("value"),
        _compact(event.get("properties") or {}),
    ]
    if fact[2] > oldest:
        bisect.insort(kept, fact, key=lambda f: f[2])
    return kept[-limits.history_max_events :]


def _compact(properties: Mapping[str, Any]) -> dict[str, Any] | None:
    """An event's properties as its history keeps them: whole when small; else their short
    top-level values only. The contact's table value (one Kafka record) stays far below
    Kafka's 1 MB limit, whatever the events carry."""
    if not properties:
        return None
    if _json_size(properties) <= PROPERTIES_KEPT_BYTES:
        return dict(properties)
    kept = {
        k: v
        for k, v in properties.items()
        if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 200)
    }
    return kept or None


_NO_STATE = ContactState(facts=[], attributes={}, tags=frozenset(), segments=frozenset())


def _state(auto: Mapping[str, Any], contact: Mapping[str, Any], tags: list[str]) -> ContactState:
    facts = [Fact(f[1], _at(f[2]), f[3], f[4] or {}) for f in auto["facts"]]
    members = frozenset(s for s, (member, _seq, _at_ms) in auto["segments"].items() if member)
    attributes = json.loads(contact.get("attributes_json") or "{}")
    return ContactState(facts=facts, attributes=attributes, tags=frozenset(tags), segments=members)


def _segments(
    auto: dict[str, Any],
    state: ContactState,
    rules: AccountRules,
    now: datetime,
    cause: str,
    event_id: str | None,
) -> tuple[frozenset[str], list[list[Any]]]:
    """Update ``auto['segments']``; return the members and each transition as
    ``[segment_id, entered|exited, seq, cause, event_id, at_ms]``."""
    transitions = []
    defined = {s.rule_id: s for s in rules.segments}
    for segment_id in sorted(set(defined) | set(auto["segments"])):
        was, seq, since = auto["segments"].get(segment_id, [0, 0, 0])
        segment = defined.get(segment_id)
        member = bool(was)  # a condition that cannot be evaluated changes nothing
        if segment is None:
            member = False
        else:
            member = _guarded(segment_id, member, evaluate, segment.condition, state, now)
        if bool(was) == member:
            continue
        why = cause if segment is not None else "definition"  # deleted: its members exit
        seq, since = seq + 1, _ms(now)
        auto["segments"][segment_id] = [int(member), seq, since]
        change = "entered" if member else "exited"
        by = event_id if why == "event" else None
        transitions.append([segment_id, change, seq, why, by, since])
    members = frozenset(s for s, (member, _seq, _at_ms) in auto["segments"].items() if member)
    return members, transitions


def _schedule(
    auto: dict[str, Any],
    state: ContactState,
    rules: AccountRules,
    limits: Limits,
    now: datetime,
    digest: str,
) -> None:
    moments = [
        _guarded(s.rule_id, None, next_change, s.condition, state, now) for s in rules.segments
    ]
    if rules.segments and auto["facts"]:  # the oldest event leaves the kept history
        moments.append(_at(auto["facts"][0][2]) + timedelta(days=limits.history_days))
    upcoming = [m for m in moments if m is not None]
    auto["next"] = _ms(min(upcoming)) if upcoming else None
    auto["digest"] = digest


def fit(contact: dict[str, Any], budget: int = STATE_MAX_BYTES) -> tuple[dict[str, Any], int]:
    """The contact with its state within ``budget`` bytes of JSON, and how many entries were
    let go: memo entries first (a replay of those inputs then recomputes rather than repeats),
    then the oldest events of the history. Bounded inputs keep a contact far below the budget;
    this holds it there whatever accumulates."""
    size = _json_size(contact)
    if size <= budget:
        return contact, 0
    auto = _auto(contact)
    dropped = 0
    for part in ("memo", "facts"):
        entries = auto[part]
        while entries and size > budget:
            size -= _json_size(entries.pop(0)) + 1
            dropped += 1
    if size > budget:  # tags and memberships alone: never write a record Kafka would refuse
        raise InvalidEvent(
            "contact", f"the contact's state would be {size} bytes, more than {budget}"
        )
    return {**contact, "auto": auto}, dropped


def _json_size(value: Any) -> int:
    """Bytes of ``value`` as the contact table writes it (``table``: orjson, UTF-8)."""
    return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
