"""The join: contact state and canonical events built from incoming records. Pure logic."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from eventline.core.errors import InvalidEvent
from eventline.schemas.limits import MAX_ATTRIBUTES_BYTES


def new_contact(record: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A contact first met in ``record`` (a registration, or an event under policy 'create')."""
    return {
        "account_id": record["account_id"],
        "contact_id": record["contact_id"],
        "email": record.get("email"),
        "user_id": record.get("user_id"),
        "attributes_json": "{}",
        "created_at": now_ms,
        "updated_at": now_ms,
        "last_change_id": record["event_id"],
    }


def apply_registration(
    contact: dict[str, Any] | None, record: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """Merge a registration/update into the contact. Idempotent: applying it twice is a no-op.

    Contact state is kept JSON-friendly (timestamps in epoch milliseconds) for the Faust table.
    """
    current = dict(contact) if contact else new_contact(record, now_ms)
    attributes = {**json.loads(current["attributes_json"]), **json.loads(record["attributes_json"])}
    merged = json.dumps(attributes, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if len(merged.encode()) > MAX_ATTRIBUTES_BYTES:
        # Each registration is within the bound; many of them could add up past it.
        raise InvalidEvent(
            "attributes",
            f"the contact's attributes would be larger than {MAX_ATTRIBUTES_BYTES} bytes "
            "once merged with those it has",
        )
    current.update(
        email=record.get("email") or current.get("email"),
        user_id=record.get("user_id") or current.get("user_id"),
        attributes_json=merged,
        updated_at=now_ms,
        last_change_id=record["event_id"],
    )
    return current


def canonical_event(
    record: dict[str, Any], contact: dict[str, Any], processed_at: datetime
) -> dict[str, Any]:
    """The one canonical event: the record's facts joined with its contact's current state."""
    return {
        "event_id": record["event_id"],
        "account_id": record["account_id"],
        "contact_id": contact["contact_id"],
        "name": record["name"],
        "occurred_at": record["occurred_at"] or record["received_at"],
        "received_at": record["received_at"],
        "processed_at": processed_at,
        "properties_json": record["properties_json"],
        "value": record["value"],
        "is_syncing": record["is_syncing"],
        "source": record["source"],
        "idempotency_key": record["idempotency_key"],
        "contact_email": contact.get("email"),
        "contact_user_id": contact.get("user_id"),
        "contact_attributes_json": contact["attributes_json"],
        "event_type": record.get("event_type"),
    }
