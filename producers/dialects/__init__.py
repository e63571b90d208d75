"""Vendor dialects: each module maps one vendor's request shapes onto the native event, as pure
functions; the HTTP routes that use them are in ``producers.gateway``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VALUE_PROPERTY = "value"


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
