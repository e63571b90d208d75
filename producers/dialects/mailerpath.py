"""MailerPath's client events API, mapped onto the native event. Pure logic.

An event names its type from MailerPath's fixed vocabulary (``event_type``) and its contact by
``email`` or ``user_id``; ``name`` is optional and defaults to the type, so that the timeline
and rules can use either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventline.producers.validation import InputRejected, Problem

EVENT_TYPES = (
    "signup",
    "purchase",
    "core_activity",
    "referral",
    "feature_used",
    "support_ticket",
    "cart",
    "re_engagement",
)


def to_native(item: Any) -> Any:
    """The native event of one MailerPath event; InputRejected names a bad ``event_type``."""
    if not isinstance(item, Mapping):
        return item  # the native validation says "must be a JSON object"
    event_type = item.get("event_type")
    if event_type in (None, ""):
        raise InputRejected([Problem(field="event_type", reason="is required")])
    if event_type not in EVENT_TYPES:
        raise InputRejected(
            [Problem(field="event_type", reason=f"must be one of {', '.join(EVENT_TYPES)}")]
        )
    native = dict(item)
    if not native.get("name"):
        native["name"] = event_type
    return native


def bulk_items(data: Any) -> Any:
    """The events of a bulk body: ``{"events": [...]}`` or a bare array."""
    if isinstance(data, Mapping) and isinstance(data.get("events"), list):
        return data["events"]
    if isinstance(data, list):
        return data
    raise InputRejected([Problem(field="events", reason="must be an array of events")])
