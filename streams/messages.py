"""The messages an automation decision stands for (tag changes, segment transitions, workflow
triggers), built from the contact as it was when they were decided. Pure.

A workflow trigger carries the event's data once (its properties, and ActiveCampaign's
eventdata) and a bounded ``personalization_json``, so every message stays far below Kafka's
message size whatever the event carries (docs/automation.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventline.schemas.accounts.tracking import eventdata_of
from eventline.schemas.model import name_id

_TRANSITIONS = uuid.UUID("9d3c1b9e-52a4-4f0e-8c55-0e7f3b1d2a64")
# personalization_json holds at most this much; merge tags are for the text of a message.
PERSONALIZATION_MAX_BYTES = 32 * 1024


@dataclass
class Outcome:
    """The contact after the change, and the messages to publish (in this order)."""

    contact: dict[str, Any]
    tag_changes: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    contact_changed: bool = False  # its record (tags, or a new contact) is to be published


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def messages(
    contact: Mapping[str, Any], event: Mapping[str, Any], memo: Mapping[str, Any]
) -> Outcome:
    """The messages a memo stands for, with the contact as it was when they were decided:
    a replay publishes the very same messages."""
    at = _at(memo["at"])
    email, user_id, attributes, tags, members = memo.get("k") or [None, None, "{}", [], []]
    seen = {
        **contact,
        "email": email,
        "user_id": user_id,
        "attributes_json": attributes,
        "tags": tags,
    }
    outcome = Outcome(dict(contact), contact_changed=bool(memo.get("c")))
    for tag, change, rule_id in memo["t"]:
        outcome.tag_changes.append(
            {
                "account_id": contact["account_id"],
                "contact_id": contact["contact_id"],
                "tag": tag,
                "change": change,
                "rule_id": rule_id,
                "event_id": event["event_id"],
                "changed_at": at,
                "contact_email": email,
                "contact_user_id": user_id,
                "contact_tags": tags,
            }
        )
    outcome.transitions = [_transition(seen, t) for t in memo["s"]]
    for rule_id, workflow_id, trigger_id in memo["w"]:
        outcome.triggers.append(
            _trigger(seen, event, rule_id, workflow_id, trigger_id, members, at)
        )
    return outcome


def transition_id(account: str, contact_id: str, segment_id: str, seq: int) -> str:
    """The same contact, segment and sequence number always give the same id."""
    return name_id(_TRANSITIONS, f"{account}\x1f{contact_id}\x1f{segment_id}\x1f{seq}")


def _transition(contact: Mapping[str, Any], t: list[Any]) -> dict[str, Any]:
    segment_id, change, seq, cause, event_id, at_ms = t
    return {
        "transition_id": transition_id(
            contact["account_id"], contact["contact_id"], segment_id, seq
        ),
        "account_id": contact["account_id"],
        "contact_id": contact["contact_id"],
        "segment_id": segment_id,
        "transition": change,
        "seq": seq,
        "cause": cause,
        "event_id": event_id,
        "at": _at(at_ms),
        "contact_email": contact.get("email"),
        "contact_user_id": contact.get("user_id"),
    }


def _trigger(
    contact: Mapping[str, Any],
    event: Mapping[str, Any],
    rule_id: str,
    workflow_id: str,
    trigger_id: str,
    segments: list[str],
    at: datetime,
) -> dict[str, Any]:
    properties = event.get("properties") or {}
    eventdata = eventdata_of(properties)
    return {
        "trigger_id": trigger_id,
        "account_id": contact["account_id"],
        "workflow_id": workflow_id,
        "rule_id": rule_id,
        "contact_id": contact["contact_id"],
        "contact_email": contact.get("email"),
        "contact_user_id": contact.get("user_id"),
        "contact_attributes_json": contact.get("attributes_json") or "{}",
        "contact_tags": list(contact.get("tags") or []),
        "contact_segments": segments,
        "event_id": event["event_id"],
        "event_name": event["name"],
        "event_type": event.get("event_type"),
        "event_properties_json": json.dumps(properties, separators=(",", ":"), sort_keys=True),
        "event_eventdata": eventdata,
        "event_value": event.get("value"),
        "event_source": event.get("source") or "",
        "event_occurred_at": event["occurred_at"],
        "personalization_json": json.dumps(
            personalization(contact, event["name"], properties, eventdata), sort_keys=True
        ),
        "triggered_at": at,
    }


def personalization(
    contact: Mapping[str, Any], name: str, properties: Mapping[str, Any], eventdata: str | None
) -> dict[str, str]:
    """Merge tags to their text: ``CONTACT:email`` and ``CONTACT:user_id``, ``EVENT:<name>``
    the eventdata (ActiveCampaign's ``%EVENT:file download request%``),
    ``EVENT:<name>.<property>`` each scalar property, ``CONTACT:<attribute>`` each scalar
    attribute of the contact.

    At most ``PERSONALIZATION_MAX_BYTES`` of them, in that order (properties and attributes by
    key): a tag that does not fit is left out; its value is in the trigger's
    event_properties_json or contact_attributes_json."""
    candidates = [
        (f"CONTACT:{key}", str(contact[key])) for key in ("email", "user_id") if contact.get(key)
    ]
    candidates.append((f"EVENT:{name}", eventdata or ""))
    candidates += [
        (f"EVENT:{name}.{k}", str(v)) for k, v in sorted(properties.items()) if _scalar(v)
    ]
    attributes = json.loads(contact.get("attributes_json") or "{}")
    candidates += [(f"CONTACT:{k}", str(v)) for k, v in sorted(attributes.items()) if _scalar(v)]
    tags: dict[str, str] = {}
    used = 2  # the braces
    for key, text in candidates:
        cost = len(json.dumps(key)) + len(json.dumps(text)) + 4  # ": " and ", "
        if key not in tags and used + cost <= PERSONALIZATION_MAX_BYTES:
            tags[key] = text
            used += cost
    return tags


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)
