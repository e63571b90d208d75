"""Segment's HTTP tracking API (identify, track, batch), mapped onto the native model. Pure.

- ``messageId`` is the idempotency key: a retried call or batch counts once.
- The contact is ``userId`` (our ``user_id``), else ``anonymousId`` as
  ``anonymous:<id>``; ``traits.email`` names it by email too (identify).
- When the event happened: ``timestamp``; else ``originalTimestamp`` corrected for the
  device's clock skew with ``sentAt`` (``received_at - (sentAt - originalTimestamp)``, as
  Segment does); else ``originalTimestamp``; else the time it was received.
- ``properties.revenue`` (else ``properties.value``) is the event's monetary value and leaves
  the properties, so a purchase reads the same whichever API sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from producers.dialects import type_from_name
from producers.validation import InputRejected, Problem
from schemas import limits

TYPES = ("identify", "track")
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


def who(message: Mapping[str, Any]) -> dict[str, Any]:
    """The contact a call names: ``user_id`` from userId, else from anonymousId."""
    user_id = _id(message, "userId")
    if user_id is not None:
        return {"user_id": user_id}
    anonymous_id = _id(message, "anonymousId")
    if anonymous_id is not None:
        return {"user_id": f"anonymous:{anonymous_id}"}
    return {}


def _object(message: Mapping[str, Any], field: str) -> dict[str, Any]:
    """An object field (``properties``, ``traits``): absent or null is empty."""
    value = message.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputRejected([Problem(field=field, reason="must be an object")])
    return dict(value)


def _common(message: Any) -> Mapping[str, Any]:
    if not isinstance(message, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    if not who(message) and not _object(message, "traits").get("email"):
        raise InputRejected([Problem(field="userId", reason="userId or anonymousId is required")])
    return message


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
    message_id = _id(message, "messageId")
    if message_id is not None:
        native["idempotency_key"] = message_id
    return native


def identify_to_native(message: Any) -> dict[str, Any]:
    """The native contact registration of an ``identify`` call (traits become attributes)."""
    message = _common(message)
    traits = _object(message, "traits")
    native: dict[str, Any] = {**who(message), "attributes": traits}
    if traits.get("email"):
        native["email"] = traits["email"]
    return native


def batch_items(body: Any) -> list[Any]:
    if isinstance(body, Mapping) and isinstance(body.get("batch"), list):
        return list(body["batch"])
    raise InputRejected([Problem(field="batch", reason="must be an array of calls")])
