"""Segment's HTTP tracking API (identify, track, page, screen, group, alias, batch), mapped
onto the native model. Pure.

- ``messageId`` is the idempotency key: a retried call or batch counts once.
- The contact is ``userId`` (our ``user_id``), else ``anonymousId`` as
  ``anonymous:<id>``; ``traits.email`` names it by email too (identify).
- When the event happened: ``timestamp``; else ``originalTimestamp`` corrected for the
  device's clock skew with ``sentAt`` (``received_at - (sentAt - originalTimestamp)``, as
  Segment does); else ``originalTimestamp``; else the time it was received.
- ``properties.revenue`` (else ``properties.value``) is the event's monetary value and leaves
  the properties, so a purchase reads the same whichever API sent it.
- ``page``/``screen`` are events named ``Page Viewed``/``Screen Viewed`` (one name a rule can
  match whatever the page), the page's ``name`` and ``category`` joining its properties.
- ``group`` updates the contact: attributes ``group_id`` and ``group_traits`` (the traits of
  the group, never the contact's own: ``traits.email`` there is the group's).
- ``alias`` links ``previousId`` to ``userId``; so does an ``identify`` with both ``userId`` and
  ``anonymousId``. ``Native.previous`` lists the user ids that then name the user's contact.
- Problems name Segment's fields (``event``, ``userId``, ``messageId``...), never the native
  ones (``client_field``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventline.producers.dialects import type_from_name
from eventline.producers.validation import InputRejected, Problem
from eventline.schemas import limits

TYPES = ("identify", "track", "page", "screen", "group", "alias")
EVENT_TYPES = frozenset({"track", "page", "screen"})
VIEWED = {"page": "Page Viewed", "screen": "Screen Viewed"}
ANONYMOUS = "anonymous:"
MAX_ID = limits.TEXT_LIMITS["user_id"]
# Segment's own limits (its HTTP API documentation): larger calls are refused with 413.
MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024


def _time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InputRejected([Problem(field=field, reason="is not an ISO 8601 time")]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def occurred_at(message: Mapping[str, Any], received_at: datetime) -> datetime:
    """When the event happened, by Segment's timestamp rules; a time outside
    1970 .. a day ahead is refused, naming the field it came from."""
    timestamp = _time(message.get("timestamp"), "timestamp")
    if timestamp is not None:
        return _bounded(timestamp, received_at, "timestamp")
    original = _time(message.get("originalTimestamp"), "originalTimestamp")
    sent = _time(message.get("sentAt"), "sentAt")
    if original is not None and sent is not None:
        try:
            corrected = received_at - (sent - original)
        except OverflowError:
            reason = "corrected by sentAt gives a time out of range"
            raise InputRejected([Problem(field="originalTimestamp", reason=reason)]) from None
        return _bounded(corrected, received_at, "originalTimestamp")
    return _bounded(original or received_at, received_at, "originalTimestamp")


def _bounded(when: datetime, received_at: datetime, field: str) -> datetime:
    try:
        early, late = when < limits.EARLIEST, when > received_at + limits.MAX_FUTURE
    except OverflowError:  # an offset pushes it past year 1 or 9999
        early, late = True, False
    if early:
        raise InputRejected([Problem(field=field, reason="is before 1970-01-01")])
    if late:
        raise InputRejected([Problem(field=field, reason="is more than a day in the future")])
    return when


def _id(message: Mapping[str, Any], field: str) -> str | None:
    value = message.get(field)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputRejected([Problem(field=field, reason="must be a string")])
    return str(value)


def _anonymous(anonymous_id: str, field: str) -> str:
    """The user id of an anonymous visitor's contact, within the user id's bound."""
    if len(anonymous_id) > MAX_ID - len(ANONYMOUS):
        reason = f"must be at most {MAX_ID - len(ANONYMOUS)} characters"
        raise InputRejected([Problem(field=field, reason=reason)])
    return ANONYMOUS + anonymous_id


def who(message: Mapping[str, Any]) -> dict[str, Any]:
    """The contact a call names: ``user_id`` from userId, else from anonymousId."""
    user_id = _id(message, "userId")
    if user_id is not None:
        return {"user_id": user_id}
    anonymous_id = _id(message, "anonymousId")
    if anonymous_id is not None:
        return {"user_id": _anonymous(anonymous_id, "anonymousId")}
    return {}


def merged_user_ids(message: Mapping[str, Any]) -> list[str]:
    """The user ids an identify call joins to the contact it names: its ``anonymousId``
    (``anonymous:<id>``) when it also carries a ``userId``; that visitor's contact is merged
    into the user's (docs/architecture.md, "Identity merge")."""
    if _id(message, "userId") is None:
        return []
    anonymous_id = _id(message, "anonymousId")
    return [] if anonymous_id is None else [f"anonymous:{anonymous_id}"]


def _object(message: Mapping[str, Any], field: str) -> dict[str, Any]:
    """An object field (``properties``, ``traits``): absent or null is empty."""
    value = message.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputRejected([Problem(field=field, reason="must be an object")])
    return dict(value)


def _common(message: Any, email_names_contact: bool = False) -> Mapping[str, Any]:
    if not isinstance(message, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    named = who(message) or (email_names_contact and _object(message, "traits").get("email"))
    if not named:
        raise InputRejected([Problem(field="userId", reason="userId or anonymousId is required")])
    return message


def _with_message_id(native: dict[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    message_id = _id(message, "messageId")
    if message_id is not None:
        native["idempotency_key"] = message_id
    return native


def track_to_native(message: Any, received_at: datetime) -> dict[str, Any]:
    """The native event of a ``track`` call."""
    message = _common(message)
    if not message.get("event"):
        raise InputRejected([Problem(field="event", reason="is required")])
    properties = _object(message, "properties")
    value = properties.pop("revenue", None)
    if value is None:
        value = properties.pop("value", None)
    native: dict[str, Any] = {
        **who(message),
        "name": message["event"],
        "properties": properties,
        "occurred_at": occurred_at(message, received_at).isoformat(),
    }
    type_from_name(native)  # track's event names the action: it is the event's type
    if value is not None:
        native["value"] = value
    return _with_message_id(native, message)


def viewed_to_native(kind: str, message: Any, received_at: datetime) -> dict[str, Any]:
    """The native event of a ``page`` or ``screen`` call: ``Page Viewed``/``Screen Viewed``,
    with the call's ``name`` and ``category`` among its properties (as analytics.js puts
    them there). A ``properties.name`` that contradicts ``name`` is refused, not overwritten."""
    message = _common(message)
    properties = _object(message, "properties")
    for field_name in ("name", "category"):
        given = message.get(field_name)
        if given in (None, ""):
            continue
        if not isinstance(given, str):
            raise InputRejected([Problem(field=field_name, reason="must be a string")])
        if properties.setdefault(field_name, given) != given:
            reason = f"differs from {field_name} ({given!r}): send one {field_name}"
            raise InputRejected([Problem(field=f"properties.{field_name}", reason=reason)])
    native: dict[str, Any] = {
        **who(message),
        "name": VIEWED[kind],
        "properties": properties,
        "occurred_at": occurred_at(message, received_at).isoformat(),
    }
    type_from_name(native)  # "Page Viewed" / "Screen Viewed": the kind of event, as track's
    return _with_message_id(native, message)


@dataclass
class Native:
    """A call in native terms: an event or a contact registration (``data``), and the user ids
    (``previous``) that must name the same contact from now on (alias, identify with both
    ``userId`` and ``anonymousId``)."""

    kind: str  # "event" or "contact"
    data: dict[str, Any]
    previous: list[str] = field(default_factory=list)


def identify_to_native(message: Any) -> dict[str, Any]:
    """The native contact registration of an ``identify`` call (traits become attributes)."""
    message = _common(message, email_names_contact=True)
    traits = _object(message, "traits")
    native: dict[str, Any] = {**who(message), "attributes": traits}
    if traits.get("email"):
        native["email"] = traits["email"]
    return native


def group_to_native(message: Any) -> dict[str, Any]:
    """The native contact update of a ``group`` call: the contact's ``group_id`` and
    ``group_traits`` (the latest group call's; the traits describe the group)."""
    message = _common(message)
    group_id = _id(message, "groupId")
    if group_id is None:
        raise InputRejected([Problem(field="groupId", reason="is required")])
    traits = _object(message, "traits")
    return {**who(message), "attributes": {"group_id": group_id, "group_traits": traits}}


def alias_to_native(message: Any) -> Native:
    """An ``alias`` call: the user's contact (registered, with no attribute changed), and the
    ids ``previousId`` may be (Segment: an anonymousId or an earlier userId) as ``previous``."""
    if not isinstance(message, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    user_id = _id(message, "userId")
    previous_id = _id(message, "previousId")
    if user_id is None or previous_id is None:
        missing = [("userId", user_id), ("previousId", previous_id)]
        problems = [Problem(field=n, reason="is required") for n, v in missing if v is None]
        raise InputRejected(problems)
    if previous_id == user_id:
        raise InputRejected([Problem(field="previousId", reason="is the same as userId")])
    previous = [_anonymous(previous_id, "previousId")]
    if len(previous_id) <= MAX_ID:
        previous.append(previous_id)
    return Native("contact", {"user_id": user_id, "attributes": {}}, previous)


def to_native(kind: str, message: Any, received_at: datetime) -> Native:
    """Any call of Segment's six types in native terms. Raises InputRejected naming
    Segment's fields (an unknown ``type`` names ``type``)."""
    if kind == "track":
        return Native("event", track_to_native(message, received_at))
    if kind in VIEWED:
        return Native("event", viewed_to_native(kind, message, received_at))
    if kind == "identify":
        native = identify_to_native(message)
        previous = merged_user_ids(message)
        for user_id in previous:  # within the bound of the user id it becomes
            _anonymous(user_id.removeprefix(ANONYMOUS), "anonymousId")
        return Native("contact", native, previous)
    if kind == "group":
        return Native("contact", group_to_native(message))
    if kind == "alias":
        return alias_to_native(message)
    reason = "must be one of " + ", ".join(TYPES)
    raise InputRejected([Problem(field="type", reason=reason)])


def client_field(native_field: str, kind: str, message: Any) -> str:
    """The Segment field a problem with a native field (``user_id``, ``name``...) came from."""
    base, dot, rest = native_field.partition(".")
    fields = message if isinstance(message, Mapping) else {}
    if base == "user_id":
        named = "userId" if kind == "alias" or fields.get("userId") not in (None, "") else None
        return (named or "anonymousId") + dot + rest
    if base == "attributes" and kind == "group":
        inner, _, deeper = rest.partition(".")
        if inner == "group_id":
            return "groupId"
        return "traits" + ("." + deeper if inner == "group_traits" and deeper else "")
    if base == "value":
        properties = fields.get("properties")
        has_revenue = isinstance(properties, Mapping) and properties.get("revenue") is not None
        return "properties.revenue" if has_revenue else "properties.value"
    if base == "occurred_at":
        timed = fields.get("timestamp") not in (None, "")
        return "timestamp" if timed else "originalTimestamp"
    named = _NAMES.get(base, base) if kind == "track" or base != "name" else base
    return named + dot + rest


# Native field -> Segment field, where one is always the other.
_NAMES = {
    "name": "event",
    "idempotency_key": "messageId",
    "email": "traits.email",
    "attributes": "traits",
}


def event_name(kind: str, message: Any) -> Any:
    """The event name a call would have (for the record of a refused call)."""
    if kind in VIEWED:
        return VIEWED[kind]
    return message.get("event") if isinstance(message, Mapping) else None


# Segment's error documents carry a ``code`` beside ``message``; its libraries read both
# (analytics-python's APIError) and report anything else as "unknown".
CODES = {401: "unauthorized", 403: "forbidden", 408: "timeout", 413: "too_large"}


def code(status: int) -> str:
    """The ``code`` of an error document with this status."""
    return CODES.get(status, "unsupported_encoding" if status == 415 else "invalid_request")


def batch_items(body: Any) -> list[Any]:
    if isinstance(body, Mapping) and isinstance(body.get("batch"), list):
        return list(body["batch"])
    raise InputRejected([Problem(field="batch", reason="must be an array of calls")])
