"""ActiveCampaign event tracking, mapped onto the native event. Pure logic.

- ``POST /event`` (form-data: ``actid``, ``key``, ``event``, ``eventdata``, ``visit``): the
  account is named by its number (``actid``) and a key of it; ``visit`` is JSON with the
  contact's ``email``. The event needs an existing contact: it is never created from here.
- ``eventdata`` becomes the properties: a JSON object as is, anything else as
  ``{"eventdata": "<text>"}``; tracking logs show it back as ``value``.
- Account settings: ``event_tracking`` (on unless switched off) and ``event_names`` (the
  whitelist; deleting a name keeps logged events), read by ``eventline.schemas.accounts.tracking``
  (the worker reads them too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from eventline.producers import json_input
from eventline.producers.dialects import split_value, type_from_name
from eventline.producers.validation import InputRejected, Problem
from eventline.schemas.accounts.tracking import (
    EVENTDATA,
    eventdata_of,
    tracking_enabled,
    whitelist,
)

__all__ = ["EVENTDATA", "eventdata_of", "tracking_enabled", "whitelist"]  # the dialect's own words

SPAWNED = {"success": 1, "message": "Event spawned"}
# Every native field a tracking form's problem can name (to_native's output), as the form
# names it: the event's name is ``event``, its email the ``visit``'s, its properties (and the
# monetary value among them) the ``eventdata``.
NATIVE_TO_FORM = {
    "name": "event",
    "event_type": "event",
    "email": "visit.email",
    "properties": EVENTDATA,
    "value": f"{EVENTDATA}.value",
}


def failure(message: str) -> dict[str, Any]:
    return {"success": 0, "message": message}


def actid_of(form: Mapping[str, Any]) -> int | None:
    try:
        return int(str(form.get("actid", "")).strip())
    except ValueError:
        return None


def visit_email(form: Mapping[str, Any]) -> str | None:
    """The email in the form's ``visit`` JSON, if any."""
    try:
        visit = json_input.decode(str(form.get("visit") or ""), "visit")
    except InputRejected:
        return None
    email = visit.get("email") if isinstance(visit, dict) else None
    return str(email) if email else None


def to_native(form: Mapping[str, Any]) -> dict[str, Any]:
    """The native event of a tracking form. Raises InputRejected naming each field."""
    problems = []
    name = str(form.get("event") or "").strip()
    if not name:
        problems.append(Problem(field="event", reason="is required"))
    email = visit_email(form)
    if not email:
        problems.append(Problem(field="visit", reason='must be JSON with the email: {"email": …}'))
    if problems:
        raise InputRejected(problems)
    properties, value = split_value(properties_of(form.get("eventdata")))
    native: dict[str, Any] = {"name": name, "email": email, "properties": properties}
    if value is not None:
        native["value"] = value
    return type_from_name(native)  # the whitelisted event name is the kind of event


def form_problems(problems: list[Problem]) -> list[Problem]:
    """Problems the native validation found in a tracking form, under the form's fields."""
    out: list[Problem] = []
    for problem in problems:
        head, dot, rest = problem.field.partition(".")
        field = NATIVE_TO_FORM.get(head, head) + dot + rest
        if all(field != p.field or problem.reason != p.reason for p in out):
            out.append(problem.model_copy(update={"field": field}))
    return out


def properties_of(eventdata: Any) -> dict[str, Any]:
    if eventdata in (None, ""):
        return {}
    try:
        parsed = json_input.decode(str(eventdata), EVENTDATA)
    except InputRejected:
        parsed = None  # text that is not strict JSON is kept as text
    return parsed if isinstance(parsed, dict) else {EVENTDATA: str(eventdata)}


def tracking_log(event: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """One event as ActiveCampaign lists a tracking log."""
    event_id, contact = event["event_id"], event["contact_id"]
    shown = event.get("properties") or {}
    if isinstance(shown, str):  # stored text that cannot be shown parsed: shown as it is
        value: str | None = shown
    else:
        properties = dict(shown)
        if event.get("value") is not None and set(properties) != {EVENTDATA}:
            properties["value"] = event["value"]  # as it came, inside the eventdata object
        value = eventdata_of(properties)
    return {
        "subscriberid": contact,
        "type": event["name"],
        "value": value,
        "tstamp": event["occurred_at"],
        "hash": hashlib.sha1(event_id.encode(), usedforsecurity=False).hexdigest(),
        "links": {"contact": contact_url(base_url, contact)},
        "id": event_id,
        "contact": contact,
    }


def contact_url(base_url: str, contact_id: str) -> str:
    return f"{base_url}/api/3/contacts/{quote(contact_id, safe='')}"


def contact_view(contact: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A contact as ActiveCampaign's ``GET /api/3/contacts/{id}`` shows one: the fields
    eventline keeps (id, email, created and updated times), and links to what it serves."""
    url = contact_url(base_url, contact["contact_id"])
    return {
        "contact": {
            "cdate": contact.get("created_at"),
            "udate": contact.get("updated_at"),
            "email": contact.get("email") or "",
            "links": {"trackingLogs": f"{url}/trackingLogs"},
            "id": contact["contact_id"],
        }
    }


def activity(log: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """The activity that references one tracking log. Its ``links`` are empty: eventline has
    none of the resources ActiveCampaign links an activity to (user, recipients, reference,
    notes), and links only what it serves."""
    return {
        "tstamp": log["tstamp"],
        "subscriberid": log["subscriberid"],
        "reference_type": "TrackingLog",
        "reference_id": log["id"],
        "reference_action": log["type"],
        "jsonData": None,
        "userid": "0",
        "permission": "",
        "referenceModelName": "tracking-log",
        "reference": {"type": "tracking-log", "id": log["id"]},
        "links": {},
        "id": log["id"],
        "user": None,
    }
