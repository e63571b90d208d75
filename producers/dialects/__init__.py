"""Vendor dialects: each module maps one vendor's request shapes onto the native event, as pure
functions; the HTTP routes that use them are in ``eventline.producers.gateway``.

``event_type`` (what rules match with ``when.event_type``) is the vendor's own type where it
has one (MailerPath's ``event_type``, Emma's type); where the vendor's only word for the kind
of event is its name (Mailchimp's ``name``, ActiveCampaign's ``event``, Segment track's
``event``), that name is the event's type too: ``type_from_name``. The derived value is stored
with the event and shown wherever the event is (timelines, ``/v1/events``, the events table),
and docs/dialects.md lists it per vendor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventline.schemas import limits

VALUE_PROPERTY = "value"
EVENT_TYPE = "event_type"


def type_from_name(native: dict[str, Any]) -> dict[str, Any]:
    """``native`` with its ``name`` as its ``event_type``, for a vendor whose event name is
    the name of the kind of event. A name that cannot be a type gets none: one longer than a
    type may be (100 characters; a name may have 200) is accepted with no type, and is found
    by its name; an invalid name refuses the event under the vendor's own field, with no
    second problem under a field the vendor does not have."""
    name = native.get("name")
    if (
        native.get(EVENT_TYPE) is None
        and isinstance(name, str)
        and name.strip()
        and limits.text_violation(EVENT_TYPE, name) is None
    ):
        native[EVENT_TYPE] = name
    return native


def split_value(properties: Mapping[str, Any]) -> tuple[dict[str, Any], float | None]:
    """For dialects without a value field (Mailchimp, ActiveCampaign): a numeric ``value``
    property is the event's monetary value, and leaves the properties."""
    rest = dict(properties)
    raw = rest.get(VALUE_PROPERTY)
    if isinstance(raw, bool) or raw is None:
        return rest, None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return rest, None
    del rest[VALUE_PROPERTY]
    return rest, value
