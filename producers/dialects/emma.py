"""Emma's member events, mapped onto the native model. Pure logic.

- Event types are per account (``event_type``, ``display_name``, a numeric
  ``event_type_id``), kept in the account's settings under ``emma_event_types``.
- A member event becomes an event named by its type (``name`` = ``event_type`` =
  the type), ``attributes`` as properties (plus ``mailing_id`` when given),
  ``event_monetary_value`` as value, ``event_timestamp`` as ``occurred_at``.
- Members are contacts; a ``member_id`` is a number derived from the contact id
  (``member_number``), stable for the contact's life.
- Times read and print as Emma's ``@D:YYYY-MM-DDTHH:MM:SS`` (ISO 8601 is read too).
- Every problem names Emma's field (``events[0].event_monetary_value``), never the native one
  it became (``value``): ``emma_problems``. A field Emma does not document is refused, not
  dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eventline.producers.validation import InputRejected, Problem
from eventline.schemas import limits

TYPES = "emma_event_types"
MAX_EVENTS = 10
MAX_DISPLAY_NAME = 200  # characters, as an event's name
# A type's name becomes the name and the event_type of each of its events: it is bounded by
# both, so that a type that can be created is one whose events can be sent.
MAX_EVENT_TYPE = min(limits.TEXT_LIMITS["event_type"], limits.TEXT_LIMITS["name"])
_FIELD_HEAD = re.compile(r"([^.\[]*)(.*)", re.DOTALL)
# A member event's fields, as Emma documents them.
MEMBER_EVENT_FIELDS = (
    "email",
    "member_id",
    "event_type",
    "event_type_id",
    "attributes",
    "event_monetary_value",
    "mailing_id",
    "event_timestamp",
)
_FIELDS_TEXT = ", ".join(MEMBER_EVENT_FIELDS)
# Every native field a member event's problem can name (to_native's and _member's output,
# and "body": the event itself), as Emma names it. (``mailing_id``, kept in the properties,
# is checked as an integer before: no native problem can come from it.)
NATIVE_TO_EMMA = {
    "body": "body",
    "name": "event_type",
    "event_type": "event_type",
    "email": "email",
    "contact_id": "member_id",
    "properties": "attributes",
    "value": "event_monetary_value",
    "occurred_at": "event_timestamp",
}


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
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        parsed.astimezone(UTC)  # an offset may push it past year 1 or 9999
    except OverflowError:
        raise InputRejected([Problem(field=field, reason="is out of range")]) from None
    return parsed


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
    problems = []
    bounds = {"event_type": MAX_EVENT_TYPE, "display_name": MAX_DISPLAY_NAME}
    for field, longest in bounds.items():
        value = data.get(field)
        if value is not None and not isinstance(value, str):
            problems.append(Problem(field=field, reason="must be a string"))
        elif value is None or not value.strip():
            problems.append(Problem(field=field, reason="is required"))
        elif len(value.strip()) > longest:
            problems.append(Problem(field=field, reason=f"is longer than {longest} characters"))
        elif "\x00" in value:
            problems.append(Problem(field=field, reason="contains a NUL character"))
    if problems:
        raise InputRejected(problems)
    return str(data["event_type"]).strip(), str(data["display_name"]).strip()


def find_type(types: list[dict[str, Any]], item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event type a member event names, by ``event_type_id`` or ``event_type``."""
    if item.get("event_type_id") is not None:
        wanted = integer(item["event_type_id"])
        return next((t for t in types if t["event_type_id"] == wanted), None)
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
    problems = [
        Problem(field=str(f) or '""', reason=f"is not a member event field ({_FIELDS_TEXT})")
        for f in item
        if f not in MEMBER_EVENT_FIELDS
    ]
    if not item.get("email") and item.get("member_id") is None:
        problems.append(Problem(field="email", reason="email or member_id is required"))
    problems += _type_problems(item, types)
    attributes = item.get("attributes")
    if attributes is not None and not isinstance(attributes, Mapping):
        problems.append(Problem(field="attributes", reason="must be an object of name: value"))
    elif attributes:
        problems += [Problem(field=v.field, reason=v.reason) for v in _json_bounds(attributes)]
        mailing_id = item.get("mailing_id")
        if mailing_id is not None and attributes.get("mailing_id", mailing_id) != mailing_id:
            # both are kept as one property: one would silently replace the other
            reason = "differs from mailing_id: send one of them"
            problems.append(Problem(field="attributes.mailing_id", reason=reason))
    value = item.get("event_monetary_value")
    if isinstance(value, bool | Mapping | list):
        problems.append(Problem(field="event_monetary_value", reason="must be a number"))
    elif isinstance(value, float) and not math.isfinite(value):
        problems.append(Problem(field="event_monetary_value", reason="must be a finite number"))
    for field in ("mailing_id", "member_id"):
        if item.get(field) is not None and integer(item[field]) is None:
            problems.append(Problem(field=field, reason="must be an integer"))
    if problems:
        raise InputRejected(problems)
    found = find_type(types, item)
    assert found is not None
    properties = dict(attributes or {})
    if item.get("mailing_id") is not None:
        properties["mailing_id"] = item["mailing_id"]
    occurred = parse_time(item.get("event_timestamp"), "event_timestamp")
    native: dict[str, Any] = {
        "name": found["event_type"],
        "event_type": found["event_type"],
        "properties": properties,
    }
    if value is not None:
        native["value"] = value
    if occurred is not None:
        native["occurred_at"] = occurred.isoformat()
    return native, found


def _type_problems(item: Mapping[str, Any], types: list[dict[str, Any]]) -> list[Problem]:
    """What is wrong with the type a member event names, under the field it named it by."""
    by_id = item.get("event_type_id") is not None
    field = "event_type_id" if by_id else "event_type"
    if not by_id and item.get("event_type") is None:
        return [Problem(field="event_type", reason="event_type or event_type_id is required")]
    if by_id and integer(item["event_type_id"]) is None:
        return [Problem(field=field, reason="must be an integer")]
    if not by_id and not isinstance(item["event_type"], str):
        return [Problem(field=field, reason="must be a string")]
    if find_type(types, item) is None:
        return [Problem(field=field, reason="no such event type in this account")]
    return []


def integer(value: Any) -> int | None:
    """An integer field's value: a JSON integer or a text of digits (never a bool or a
    fraction, which would be silently truncated)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # not "²", which is a digit int() refuses
        return int(text)
    return None


def emma_field(field: str) -> str:
    """A native field (``value``, ``properties.page``) as Emma names it
    (``event_monetary_value``, ``attributes.page``)."""
    head, rest = _FIELD_HEAD.match(field).groups()  # type: ignore[union-attr]
    return NATIVE_TO_EMMA.get(head, head) + rest


def emma_problems(problems: list[Problem]) -> list[Problem]:
    """Problems the native validation found in a member event, with Emma's field names."""
    return [p.model_copy(update={"field": emma_field(p.field)}) for p in problems]


def at_event(problems: list[Problem], index: int) -> list[Problem]:
    """Problems of the ``index``-th member event, under ``events[index]`` (``body``, the
    event itself, is ``events[index]``)."""
    out = []
    for problem in problems:
        inner = "" if problem.field == "body" else problem.field
        joined = inner if not inner or inner.startswith("[") else "." + inner
        out.append(problem.model_copy(update={"field": f"events[{index}]{joined}"}))
    return out


def _json_bounds(attributes: Mapping[str, Any]) -> list[limits.Violation]:
    """Depth, NUL keys and non-finite numbers of ``attributes``, named as Emma names them."""
    return limits.json_violations("attributes", attributes)


def member_event_view(
    account_number: int, event: Mapping[str, Any], types: list[dict[str, Any]]
) -> dict[str, Any]:
    """One stored event as Emma lists a member event (attributes that cannot be shown parsed,
    as their stored text)."""
    shown = event.get("properties") or {}
    properties: dict[str, Any] | str = dict(shown) if isinstance(shown, Mapping) else shown
    mailing_id = properties.pop("mailing_id", None) if isinstance(properties, dict) else None
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
