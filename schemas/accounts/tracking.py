"""Event tracking as an account's settings state it (ActiveCampaign's model), read by both the
gateway (which accepts or refuses tracked events) and the worker (which triggers on them): the
tracking switch, the whitelisted event names, and the ``eventdata`` text an event shows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

EVENTDATA = "eventdata"


def tracking_enabled(settings: Mapping[str, Any]) -> bool:
    """Whether the account tracks events (``event_tracking``, on unless switched off)."""
    return bool(settings.get("event_tracking", True))


def whitelist(settings: Mapping[str, Any]) -> list[str]:
    """The event names the account tracks (``event_names``)."""
    return list(settings.get("event_names", []))


def eventdata_of(properties: Mapping[str, Any]) -> str | None:
    """The ``value`` a tracking log shows: the eventdata as it was sent."""
    if not properties:
        return None
    if set(properties) == {EVENTDATA}:
        return str(properties[EVENTDATA])
    return json.dumps(properties, separators=(",", ":"))
