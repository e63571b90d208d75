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

from producers.validation import InputRejected, Problem

TYPES = ("identify", "track")


def _time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InputRejected([Problem(field=field, reason="is not an ISO 8601 time")]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def occurred_at(message: Mapping[str, Any], received_at: datetime) -> datetime:
    """When the event happened, by Segment's timestamp rules."""
    timestamp = _time(message.get("timestamp"), "timestamp")
    if timestamp is not None:
        return timestamp
    original = _time(message.get("originalTimestamp"), "originalTimestamp")
    sent = _time(message.get("sentAt"), "sentAt")
    if original is not None and sent is not None:
        return received_at - (sent - original)
    return original or received_at


def who(message: Mapping[str, Any]) -> dict[str, Any]:
    """The contact a call names: ``user_id`` from userId, else from anonymousId."""
    if message.get("userId") not in (None, ""):
        return {"user_id": str(message["userId"])}
    if message.get("anonymousId") not in (None, ""):
        return {"user_id": f"anonymous:{message['anonymousId']}"}
    return {}


def _common(message: Any) -> Mapping[str, Any]:
    if not isinstance(message, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    if not who(message) and not (message.get("traits") or {}).get("email"):
        raise InputRejected([Problem(field="userId", reason="userId or anonymousId is required")])
    return message


def track_to_native(message: Any, received_at: datetime) -> dict[str, Any]:
    """The native event of a ``track`` call."""
    message = _common(message)
    if not message.get("event"):
        raise InputRejected([Problem(field="event", reason="is required")])
    properties = dict(message.get("properties") or {})
    value = properties.pop("revenue", None)
    if value is None:
        value = properties.pop("value", None)
    native: dict[str, Any] = {
        **who(message),
        "name": message["event"],
        "properties": properties,
        "occurred_at": occurred_at(message, received_at).isoformat(),
    }
    if value is not None:
        native["value"] = value
    if message.get("messageId"):
        native["idempotency_key"] = str(message["messageId"])
    return native


def identify_to_native(message: Any) -> dict[str, Any]:
    """The native contact registration of an ``identify`` call (traits become attributes)."""
    message = _common(message)
    traits = dict(message.get("traits") or {})
    native: dict[str, Any] = {**who(message), "attributes": traits}
    if traits.get("email"):
        native["email"] = traits["email"]
    return native


def batch_items(body: Any) -> list[Any]:
    if isinstance(body, Mapping) and isinstance(body.get("batch"), list):
        return list(body["batch"])
    raise InputRejected([Problem(field="batch", reason="must be an array of calls")])
