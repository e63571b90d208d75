"""Mailchimp's list-member Events API, mapped onto the native event. Pure logic.

POST/GET /3.0/lists/{list_id}/members/{subscriber_hash}/events. The member is named by the
MD5 of its lower-cased email (as Mailchimp does), by the email itself, or by our contact id.
Errors are Mailchimp's problem documents: ``type``, ``title``, ``status``, ``detail``,
``instance``, and ``errors`` with ``field``/``message`` for invalid input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from producers.dialects import split_value
from producers.validation import InputRejected, Problem
from schemas.model import identity_key

ERRORS_URL = "https://mailchimp.com/developer/marketing/docs/errors/"
# Mailchimp's rule for event names (API reference, "Add event").
NAME = re.compile(r"^[A-Za-z0-9_-]{2,30}$")
NAME_RULE = "must be 2-30 characters: letters, numbers, underscores and dashes only"
MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
FIELDS = ("name", "properties", "occurred_at", "is_syncing")
# "-us1": what SDKs that read the datacenter from the key (and users copying Mailchimp keys)
# append. Mailchimp's datacenters are letters then digits.
DATACENTER = re.compile(r"^(.+)-[a-z]{2,8}[0-9]{1,4}$")


def without_datacenter(key: str) -> str | None:
    """The key without a ``-<datacenter>`` suffix, or None when it has none. Callers try the
    key as presented first: a native key's secret may itself end in such characters."""
    found = DATACENTER.match(key)
    return found.group(1) if found else None


def member_identity(account: str, member: str) -> tuple[dict[str, str], str | None]:
    """(identity fields, route key) of a ``subscriber_hash`` path segment."""
    member = member.strip()
    if "@" in member:
        return {"email": member}, None
    if MD5.match(member):
        return {}, identity_key(account, "md5", member.lower())
    return {"contact_id": member}, None


def to_native(body: Any, identity: Mapping[str, str]) -> dict[str, Any]:
    """The native event of a Mailchimp event body. Raises InputRejected naming each field."""
    if not isinstance(body, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    problems = []
    name = body.get("name")
    if name is None or name == "":
        problems.append(Problem(field="name", reason="is required"))
    elif not isinstance(name, str) or not NAME.match(name):
        problems.append(Problem(field="name", reason=NAME_RULE))
    if not isinstance(body.get("properties", {}), Mapping):
        problems.append(Problem(field="properties", reason="must be an object of name: value"))
    if problems:
        raise InputRejected(problems)
    native = {field: body[field] for field in FIELDS if body.get(field) is not None}
    native["properties"], value = split_value(body.get("properties") or {})
    if value is not None:
        native["value"] = value
    return {**native, **identity}


def problem(
    status: int, title: str, detail: str, errors: list[Problem] | None = None
) -> dict[str, Any]:
    """A Mailchimp error document."""
    doc: dict[str, Any] = {
        "type": ERRORS_URL,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if errors:
        doc["errors"] = [{"field": p.field, "message": p.reason} for p in errors]
    return doc


def invalid(errors: list[Problem]) -> dict[str, Any]:
    return problem(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. For field-specific details, "
        "see the 'errors' array.",
        errors,
    )


def not_found() -> dict[str, Any]:
    return problem(404, "Resource Not Found", "The requested resource could not be found.")


def event_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """One event as Mailchimp lists it (properties that cannot be shown parsed, as their
    stored text)."""
    properties = row.get("properties")
    occurred = row["occurred_at"]
    return {
        "name": row["name"],
        "properties": properties or {},
        "occurred_at": occurred if isinstance(occurred, str) else occurred.isoformat(),
    }
