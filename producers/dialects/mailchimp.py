"""Mailchimp's list-member Events API, mapped onto the native event. Pure logic.

POST/GET /3.0/lists/{list_id}/members/{subscriber_hash}/events, and the member routes a
client calls to add a member before it retries (POST .../members, PUT/GET
.../members/{subscriber_hash}). The member is named by the MD5 of its lower-cased email (as
Mailchimp does) or by the email itself; anything else names no member (404). Errors are
Mailchimp's problem documents: ``type``, ``title``, ``status``, ``detail``, ``instance``, and
``errors`` with ``field``/``message`` for invalid input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from eventline.producers.dialects import split_value, type_from_name
from eventline.producers.validation import InputRejected, Problem
from eventline.schemas.model import identity_key, normalize_email, subscriber_hash

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


# A member's status (Mailchimp's values), kept as this contact attribute: a name no merge
# tag can have (merge tags are upper case).
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
STATUS_ATTRIBUTE = "mailchimp_status"
# Native field names in parse_contact's problems -> Mailchimp's.
CONTACT_FIELDS = {"email": "email_address", "attributes": "merge_fields"}


def member_hash(member: str) -> str | None:
    """The subscriber hash a path segment names: an MD5 (32 hex digits, any case) or an email
    (hashed lower-cased, as Mailchimp does). None: it names no member (a typo'd hash, a
    contact id), so no contact may ever be created from it."""
    member = member.strip()
    if "@" in member:
        return subscriber_hash(member)
    if MD5.match(member):
        return member.lower()
    return None


def member_identity(account: str, member: str) -> tuple[dict[str, str], str | None] | None:
    """(identity fields, route key) of a ``subscriber_hash`` path segment; None when it names
    no member. An email routes by email (the record keeps it), a hash by its ``md5`` key."""
    member = member.strip()
    if member_hash(member) is None:
        return None
    if "@" in member:
        return {"email": normalize_email(member)}, None
    return {}, identity_key(account, "md5", member.lower())


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
    for unknown in sorted(set(body) - set(FIELDS), key=str):  # never dropped silently
        problems.append(
            Problem(field=str(unknown), reason=f"is not a field of an event ({', '.join(FIELDS)})")
        )
    if problems:
        raise InputRejected(problems)
    native = {field: body[field] for field in FIELDS if body.get(field) is not None}
    native["properties"], value = split_value(body.get("properties") or {})
    if value is not None:
        native["value"] = value
    return type_from_name({**native, **identity})  # Mailchimp: "the name for this type of event"


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


def to_contact(
    body: Any, list_id: str, *, hash_in_path: str | None, known: bool | None
) -> dict[str, Any]:
    """The native contact registration of a member add (POST, ``hash_in_path`` None) or
    add-or-update (PUT). ``merge_fields`` become the contact's attributes and the status the
    ``mailchimp_status`` attribute; ``known`` (the member index's word) decides whether a PUT
    needs ``status_if_new``. Raises InputRejected with Mailchimp's field names."""
    if not isinstance(body, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    problems = []
    email = body.get("email_address")
    if not isinstance(email, str) or not email.strip():
        problems.append(Problem(field="email_address", reason="is required"))
    elif hash_in_path is not None and subscriber_hash(email) != hash_in_path:
        problems.append(
            Problem(field="email_address", reason="does not match the subscriber hash in the path")
        )
    status = body.get("status")
    if hash_in_path is not None and status is None and known is not True:
        status = body.get("status_if_new")
        if status is None and known is False:
            problems.append(Problem(field="status_if_new", reason="is required for a new member"))
    elif hash_in_path is None and status is None:
        problems.append(Problem(field="status", reason="is required"))
    if status is not None and status not in STATUSES:
        problems.append(Problem(field="status", reason=f"must be one of {', '.join(STATUSES)}"))
    merge_fields = body.get("merge_fields", {})
    if not isinstance(merge_fields, Mapping):
        problems.append(Problem(field="merge_fields", reason="must be an object of tag: value"))
    if problems:
        raise InputRejected(problems)
    attributes = dict(merge_fields)
    if status is not None:
        attributes[STATUS_ATTRIBUTE] = status
    return {"email": email, "attributes": attributes}


def renamed(problems: list[Problem]) -> list[Problem]:
    """Native contact problems under Mailchimp's field names (``email`` -> ``email_address``,
    ``attributes.X`` -> ``merge_fields.X``)."""
    out = []
    for p in problems:
        head, dot, rest = p.field.partition(".")
        out.append(Problem(field=CONTACT_FIELDS.get(head, head) + dot + rest, reason=p.reason))
    return out


def member_view(list_id: str, email: str, attributes: Any, **more: Any) -> dict[str, Any]:
    """A member as Mailchimp shows one: ``id`` (the subscriber hash), ``email_address``,
    ``status``, ``merge_fields`` (the contact's attributes; attributes that cannot be shown
    parsed, as their stored text), ``list_id``, and ``more``. A contact registered without a
    Mailchimp status (by another API) is ``subscribed``."""
    fields: Any = attributes  # stored text that cannot be shown parsed stays as it is
    if isinstance(attributes, Mapping):
        fields = {k: v for k, v in attributes.items() if k != STATUS_ATTRIBUTE}
    else:
        attributes = {}
    return {
        "id": subscriber_hash(email),
        "email_address": email,
        "status": attributes.get(STATUS_ATTRIBUTE, "subscribed"),
        "merge_fields": fields,
        "list_id": list_id,
        **more,
        "_links": [],
    }


def member_exists(email: str) -> dict[str, Any]:
    return problem(
        400,
        "Member Exists",
        f"{email} is already a list member. Use PUT to insert or update list members.",
    )


def select_fields(doc: Any, fields: str | None, exclude: str | None) -> Any:
    """Mailchimp's ``fields`` and ``exclude_fields``: comma-separated dotted paths
    (``events.name,total_items``); a path through a list applies to each of its items.
    ``fields`` keeps only the paths named, ``exclude_fields`` then removes those it names."""
    if fields:
        doc = _keep(doc, _tree(fields))
    if exclude:
        doc = _drop(doc, _tree(exclude))
    return doc


Tree = dict[str, "Tree"]


def _tree(paths: str) -> Tree:
    root: Tree = {}
    for path in paths.split(","):
        node = root
        parts = [p for p in path.strip().split(".") if p]
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = {}  # a leaf: the whole value (a deeper path adds nothing)
            elif part in node and not node[part]:
                break  # a shorter path already names the whole value
            else:
                node = node.setdefault(part, {})
    return root


def _keep(doc: Any, tree: Tree) -> Any:
    if isinstance(doc, list):
        return [_keep(item, tree) for item in doc]
    if not isinstance(doc, Mapping):
        return doc
    return {k: (_keep(doc[k], sub) if sub else doc[k]) for k, sub in tree.items() if k in doc}


def _drop(doc: Any, tree: Tree) -> Any:
    if isinstance(doc, list):
        return [_drop(item, tree) for item in doc]
    if not isinstance(doc, Mapping):
        return doc
    out = {}
    for key, value in doc.items():
        sub = tree.get(key)
        if sub is None:
            out[key] = value
        elif sub:
            out[key] = _drop(value, sub)
    return out
