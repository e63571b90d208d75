"""Emma's member events, mapped onto the native model. Pure logic.

- Event types are per account (``event_type``, ``display_name``, a numeric
  ``event_type_id``), kept in the account's settings under ``emma_event_types``.
- A member event becomes an event named by its type (``name`` = ``event_type`` =
  the type), ``attributes`` as properties (plus ``mailing_id`` when given),
  ``event_monetary_value`` as value, ``event_timestamp`` as ``occurred_at``.
- Members are contacts; a ``member_id`` is a number derived from the contact id
  (``member_number``), stable for the contact's life.
- Times read and print as Emma's ``@D:YYYY-MM-DDTHH:MM:SS`` (ISO 8601 is read too).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from producers.validation import InputRejected, Problem

TYPES = "emma_event_types"
MAX_EVENTS = 10


def member_number(contact_id: str) -> int:
    """The member id of a contact: its id's first 13 hex digits as a number (52 bits: exact
    in every JSON parser, JavaScript's included)."""
    return int(contact_id.replace("-", "")[:13], 16)


def emma_time(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return "@D:" + parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value).removeprefix("@D:").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputRejected([Problem(field=field, reason="is not a timestamp")]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_types(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(settings.get(TYPES, []))


def type_view(account_number: int, entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "account_id": account_number,
        "created_at": entry["created_at"],
        "display_name": entry["display_name"],
        "event_type": entry["event_type"],
        "event_type_id": entry["event_type_id"],
    }


def check_type_body(body: Any) -> tuple[str, str]:
    """(event_type, display_name) of a create/update body; both are required."""
    data = body if isinstance(body, Mapping) else {}
    problems = [
        Problem(field=field, reason="is required")
        for field in ("event_type", "display_name")
        if not str(data.get(field) or "").strip()
    ]
    if problems:
        raise InputRejected(problems)
    return str(data["event_type"]).strip(), str(data["display_name"]).strip()


def find_type(types: list[dict[str, Any]], item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event type a member event names, by ``event_type_id`` or ``event_type``."""
    if item.get("event_type_id") is not None:
        wanted = str(item["event_type_id"])
        return next((t for t in types if str(t["event_type_id"]) == wanted), None)
    return next((t for t in types if t["event_type"] == item.get("event_type")), None)


def member_events(body: Any) -> list[Any]:
    """The events of a member-events request: 1 to 10."""
    events = body.get("events") if isinstance(body, Mapping) else None
    if not isinstance(events, list) or not events:
        raise InputRejected([Problem(field="events", reason="are required (1 to 10)")])
    if len(events) > MAX_EVENTS:
        raise InputRejected([Problem(field="events", reason=f"at most {MAX_EVENTS} per call")])
    return events


def to_native(item: Any, types: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(native event without its contact, the event type) of one member event."""
    if not isinstance(item, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    problems = []
    if not item.get("email") and item.get("member_id") is None:
        problems.append(Problem(field="email", reason="email or member_id is required"))
    found = find_type(types, item)
    if item.get("event_type") is None and item.get("event_type_id") is None:
        reason = "event_type or event_type_id is required"
        problems.append(Problem(field="event_type", reason=reason))
    elif found is None:
        problems.append(Problem(field="event_type", reason="no such event type in this account"))
    if problems:
        raise InputRejected(problems)
    assert found is not None
    properties = dict(item.get("attributes") or {})
    if item.get("mailing_id") is not None:
        properties["mailing_id"] = item["mailing_id"]
    occurred = parse_time(item.get("event_timestamp"), "event_timestamp")
    native: dict[str, Any] = {
        "name": found["event_type"],
        "event_type": found["event_type"],
        "properties": properties,
    }
    if item.get("event_monetary_value") is not None:
        native["value"] = item["event_monetary_value"]
    if occurred is not None:
        native["occurred_at"] = occurred.isoformat()
    return native, found


def member_event_view(
    account_number: int, event: Mapping[str, Any], types: list[dict[str, Any]]
) -> dict[str, Any]:
    """One stored event as Emma lists a member event."""
    properties = dict(event.get("properties") or {})
    mailing_id = properties.pop("mailing_id", None)
    found = find_type(types, {"event_type": event.get("event_type") or event.get("name")})
    return {
        "account_id": account_number,
        "attributes": properties or None,
        "event_timestamp": emma_time(event["occurred_at"]),
        "event_id": event["event_id"],
        "event_type_id": found["event_type_id"] if found else None,
        "event_monetary_value": event.get("value"),
        "inserted_at": emma_time(event.get("received_at") or event["occurred_at"]),
        "mailing_id": mailing_id,
        "member_id": member_number(event["contact_id"]) if event.get("contact_id") else None,
    }
