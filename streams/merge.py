"""Identity merge: one contact's state folded into another's, once. Pure.

A merge starts when an identity claim (an IDENTITY record) re-points a key that had a contact
of its own (say an anonymous visitor's ``anonymous:<id>``) at another key (the user's): the
resolver forwards the claim to the other key, which names the target contact, and the
source's agent then ``give``\\ s: it freezes the source (``merged_into``: later records for it
go on to the target), exits the segments it was in, publishes its last ``Contact`` with
``merged_into`` (the visible merge record), and sends its state to the target's partition,
where the target ``fold``\\ s it in: history (by event id, within the bounds), tags (union),
workflow rules fired (the latest of each, so once-per-contact limits hold across the merge),
attributes and email the target lacks; then its segments are evaluated again.

Every step repeats itself when replayed: the merge id is derived from the source, the frozen
source keeps what it published (``merge``), and a replayed fold finds its memo (or, past it,
changes nothing: the history has the events once, the tags are there, the memberships too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from eventline.schemas.limits import MAX_ATTRIBUTES_BYTES
from eventline.schemas.model import NAMESPACE, SEP, name_id
from eventline.schemas.rules.book import AccountRules
from eventline.streams.automation import (
    Limits,
    _auto,
    _memorize,
    _ms,
    _recalled,
    _schedule,
    _segments,
    _state,
)
from eventline.streams.messages import Outcome, messages

GIVE, FOLD = "give", "fold"
MERGE_RULE = "merge"  # the rule_id of tag changes a merge made, and the cause of transitions


def merge_id(account: str, from_contact: str) -> str:
    """The id of the merge of ``from_contact``: a contact is merged at most once."""
    return name_id(NAMESPACE, f"{account}{SEP}merge{SEP}{from_contact}")


def memo_key(from_contact: str) -> str:
    return f"merge:{from_contact}"


def blank_contact(account: str, contact_id: str, now_ms: int, change_id: str) -> dict[str, Any]:
    """A contact known only by its id (a merge reached it before any record of its own)."""
    return {
        "account_id": account,
        "contact_id": contact_id,
        "email": None,
        "user_id": None,
        "attributes_json": "{}",
        "created_at": now_ms,
        "updated_at": now_ms,
        "last_change_id": change_id,
        "tags": [],
    }


def give(source: Mapping[str, Any], into: str, merge: str, now_ms: int) -> dict[str, Any]:
    """The source, frozen: ``merged_into`` the target, out of every segment it was in (the
    transitions kept in ``merge``, so a replay publishes them again), nothing due."""
    auto = _auto(source)
    exits = []
    for segment_id, (member, seq, _since) in sorted(auto["segments"].items()):
        if member:
            auto["segments"][segment_id] = [0, seq + 1, now_ms]
            exits.append([segment_id, "exited", seq + 1, MERGE_RULE, None, now_ms])
    auto["next"] = None
    return {
        **source,
        "auto": auto,
        "merged_into": into,
        "updated_at": now_ms,
        "last_change_id": merge,
        "merge": {"into": into, "id": merge, "at": now_ms, "s": exits},
    }


def given(frozen: Mapping[str, Any]) -> Outcome:
    """What the frozen source publishes: its last ``Contact`` (with ``merged_into``) and its
    segment exits, the same each time."""
    record = frozen["merge"]
    memo = {"at": record["at"], "t": [], "s": record["s"], "w": [], "c": True}
    memo["k"] = [
        frozen.get("email"),
        frozen.get("user_id"),
        frozen.get("attributes_json") or "{}",
        list(frozen.get("tags") or []),
        [],
    ]
    return messages(frozen, {"event_id": record["id"]}, memo)


def state_of(frozen: Mapping[str, Any]) -> dict[str, Any]:
    """What the target needs of the source (sent as ``ContactMerge.state_json``)."""
    auto = frozen.get("auto") or {}
    return {
        "contact_id": frozen["contact_id"],
        "email": frozen.get("email"),
        "attributes_json": frozen.get("attributes_json") or "{}",
        "tags": list(frozen.get("tags") or []),
        "facts": list(auto.get("facts", [])),
        "fired": dict(auto.get("fired", {})),
    }


def fold(
    target: Mapping[str, Any],
    source: Mapping[str, Any],
    merge: str,
    rules: AccountRules,
    limits: Limits,
    now: datetime,
    digest: str = "",
) -> Outcome:
    """The target with the source's state (``state_of``) folded in, and its messages: tags
    the source brought (``added``, rule ``merge``), segment transitions (cause ``merge``) and
    the target's ``Contact``. A fold of the same source again repeats its messages."""
    auto = _auto(target)
    key = memo_key(source["contact_id"])
    recalled = _recalled(auto, key)
    if recalled is not None:
        return messages(target, {"event_id": merge}, recalled)
    auto["facts"] = merged_facts(auto["facts"], source.get("facts") or [], limits, now)
    for rule, (at, by) in (source.get("fired") or {}).items():
        if rule not in auto["fired"] or auto["fired"][rule][0] < at:
            auto["fired"][rule] = [at, by]
    tags = list(target.get("tags") or [])
    added = [t for t in source.get("tags") or [] if t not in tags]
    tags += added
    updated = {
        **target,
        "tags": tags,
        "email": target.get("email") or source.get("email"),
        "attributes_json": merged_attributes(
            target.get("attributes_json") or "{}", source.get("attributes_json") or "{}"
        ),
        "updated_at": _ms(now),
        "last_change_id": merge,
    }
    state = _state(auto, updated, tags)
    _members, transitions = _segments(auto, state, rules, now, MERGE_RULE, None)
    _schedule(auto, state, rules, limits, now, digest)
    updated["auto"] = auto
    memo = {
        "at": _ms(now),
        "t": [[tag, "added", MERGE_RULE] for tag in added],
        "s": transitions,
        "w": [],
        "c": True,
    }
    _memorize(auto, key, memo, updated)
    return messages(updated, {"event_id": merge}, memo)


def merged_facts(
    ours: list[list[Any]], theirs: list[list[Any]], limits: Limits, now: datetime
) -> list[list[Any]]:
    """Both histories, each event once (ours wins), oldest first, within the bounds: the
    window of ``history_days`` and the newest ``history_max_events``."""
    oldest = _ms(now - timedelta(days=limits.history_days))
    seen = {f[0] for f in ours}
    facts = [f for f in ours if f[2] > oldest]
    facts += [f for f in theirs if f[0] not in seen and f[2] > oldest]
    facts.sort(key=lambda f: f[2])
    return facts[-limits.history_max_events :]


def merged_attributes(ours: str, theirs: str) -> str:
    """The target's attributes, completed with the source's it lacks; the target's alone
    when both together would pass the attributes' bound."""
    try:
        mine, other = json.loads(ours), json.loads(theirs)
    except ValueError:
        return ours
    if not isinstance(mine, dict) or not isinstance(other, dict) or not other:
        return ours
    merged = json.dumps(
        {**other, **mine}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    return merged if len(merged.encode()) <= MAX_ATTRIBUTES_BYTES else ours
