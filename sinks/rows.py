"""Records of each topic as ClickHouse rows. Pure functions, one table each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventline.schemas.limits import storable
from eventline.schemas.model import incoming_record

EVENT_COLUMNS = (
    "account_id",
    "event_id",
    "contact_id",
    "name",
    "occurred_at",
    "received_at",
    "processed_at",
    "properties",
    "value",
    "is_syncing",
    "source",
    "idempotency_key",
    "contact_email",
    "contact_user_id",
    "contact_attributes",
    "event_type",
)

INCOMING_COLUMNS = (
    "account_id",
    "event_id",
    "receipt_id",
    "kind",
    "status",
    "process_error",
    "source",
    "idempotency_key",
    "email",
    "user_id",
    "contact_id",
    "name",
    "occurred_at",
    "received_at",
    "updated_at",
    "version",
    "properties",
    "value",
    "is_syncing",
    "attributes",
    "attempt",
    "raw",
    "event_type",
    "route_key",
    "unknown_contact",
)

# Rank of a status within one attempt: anything final outranks "received", and the sink's
# own finding that ClickHouse refused a row of the event outranks what the worker said.
STATUS_RANK = {"received": 1, "processed": 2, "duplicate": 2, "rejected": 2, "failed": 2}
REFUSED_RANK = 3


def status_version(status: str, attempt: int) -> int:
    """Row version in incoming_events: later attempts win, then final over received."""
    return attempt * 10 + STATUS_RANK[status.lower()]


CONTACT_COLUMNS = (
    "account_id",
    "contact_id",
    "email",
    "user_id",
    "attributes",
    "created_at",
    "updated_at",
    "last_change_id",
    "tags",
    "merged_into",
)

TAG_CHANGE_COLUMNS = (
    "account_id",
    "contact_id",
    "tag",
    "change",
    "rule_id",
    "event_id",
    "changed_at",
    "contact_email",
    "contact_user_id",
)

TRANSITION_COLUMNS = (
    "account_id",
    "segment_id",
    "contact_id",
    "seq",
    "transition",
    "cause",
    "event_id",
    "at",
    "transition_id",
    "contact_email",
    "contact_user_id",
)

TRIGGER_COLUMNS = (
    "account_id",
    "trigger_id",
    "workflow_id",
    "rule_id",
    "contact_id",
    "contact_email",
    "contact_user_id",
    "contact_tags",
    "contact_segments",
    "event_id",
    "event_name",
    "event_type",
    "event_properties",
    "event_value",
    "event_occurred_at",
    "personalization",
    "triggered_at",
)

# Record field per column, where the two differ: the rows are the records otherwise.
_RENAMED = {
    "event_properties": "event_properties_json",
    "personalization": "personalization_json",
    "properties": "properties_json",  # events
    "contact_attributes": "contact_attributes_json",  # events
    "attributes": "attributes_json",  # contacts
}


# The record field of each column of the tables whose rows are their records' fields, in
# column order: a reader of those fields gives the row itself (Codec.raw_row_reader).
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    table: tuple(_RENAMED.get(c, c) for c in columns)
    for table, columns in {
        "events": EVENT_COLUMNS,
        "contacts": CONTACT_COLUMNS,
        "tag_changes": TAG_CHANGE_COLUMNS,
        "segment_transitions": TRANSITION_COLUMNS,
        "workflow_triggers": TRIGGER_COLUMNS,
    }.items()
}


def _as_row(record: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(record[_RENAMED.get(c, c)] for c in columns)


def tag_change_row(change: dict[str, Any]) -> tuple[Any, ...]:
    return _as_row(change, TAG_CHANGE_COLUMNS)


def transition_row(transition: dict[str, Any]) -> tuple[Any, ...]:
    return _as_row(transition, TRANSITION_COLUMNS)


def trigger_row(trigger: dict[str, Any]) -> tuple[Any, ...]:
    return _as_row(trigger, TRIGGER_COLUMNS)


def event_row(event: dict[str, Any]) -> tuple[Any, ...]:
    return (
        event["account_id"],
        event["event_id"],
        event["contact_id"],
        event["name"],
        event["occurred_at"],
        event["received_at"],
        event["processed_at"],
        event["properties_json"],
        event["value"],
        event["is_syncing"],
        event["source"],
        event["idempotency_key"],
        event["contact_email"],
        event["contact_user_id"],
        event["contact_attributes_json"],
        event.get("event_type"),
    )


def incoming_row(
    record: dict[str, Any],
    status: str,
    updated_at: datetime | int,
    process_error: str | None = None,
    raw: str | None = None,
) -> tuple[Any, ...]:
    """The row of an incoming record with ``status``. Times may be datetimes or, as the sink
    decodes them, epoch milliseconds (``updated_at``: microseconds, its column's ticks)."""
    return (
        record["account_id"],
        record["event_id"],
        record["receipt_id"],
        record["kind"].lower(),
        status.lower(),
        process_error,
        record["source"],
        record["idempotency_key"],
        record["email"],
        record["user_id"],
        record["contact_id"],
        record["name"],
        record["occurred_at"],
        record["received_at"],
        updated_at,
        status_version(status, record["attempt"]),
        record["properties_json"],
        record["value"],
        record["is_syncing"],
        record["attributes_json"],
        record["attempt"],
        raw,
        record.get("event_type"),
        _sent_under(record),
        record.get("unknown_contact"),
    )


def refusal_row(
    topic: str,
    position: tuple[int, int],
    record: dict[str, Any] | None,
    reason: str,
    at: datetime,
) -> tuple[Any, ...]:
    """An incoming_events row saying that a record could not be stored: ClickHouse refused
    its row, or it could not be decoded. The event's own receipt when the record is one (a
    received or status record), else a receipt naming the Kafka position."""
    partition, offset = position
    inner = record.get("record") if record and "status" in record else record
    if inner is not None and "receipt_id" in inner:
        base = storable(inner, at, ahead=False)
    else:
        base = _stand_in(topic, position, inner or {}, at)
    row = list(incoming_row(base, "failed", at, f"{reason} (at {topic}[{partition}]@{offset})"))
    row[INCOMING_COLUMNS.index("version")] = base["attempt"] * 10 + REFUSED_RANK
    return tuple(row)


def _stand_in(
    topic: str, position: tuple[int, int], record: dict[str, Any], at: datetime
) -> dict[str, Any]:
    """An incoming record standing for a record of another kind (a canonical event, a
    trigger...) or for bytes that could not be decoded."""
    partition, offset = position
    where = f"{topic}:{partition}:{offset}"
    stand_in = incoming_record(
        kind="CONTACT" if "last_change_id" in record else "EVENT",
        account_id=str(record.get("account_id") or "unknown"),
        event_id=str(record.get("event_id") or record.get("last_change_id") or f"kafka:{where}"),
        receipt_id=f"sink:{where}",
        received_at=record.get("received_at") or at,
        source=f"kafka:{topic}",
        email=record.get("email") or record.get("contact_email"),
        user_id=record.get("user_id") or record.get("contact_user_id"),
        contact_id=record.get("contact_id"),
        name=record.get("name") or record.get("event_name"),
    )
    return storable(stand_in, at, ahead=False)


def _sent_under(record: dict[str, Any]) -> str | None:
    """The route key of a record that names no contact itself (forwarded records, which do,
    are re-driven from their own fields)."""
    if record.get("email") or record.get("user_id") or record.get("contact_id"):
        return None
    return record.get("route_key")


def status_row(status: dict[str, Any]) -> tuple[Any, ...]:
    return incoming_row(
        status["record"],
        status["status"],
        status["updated_at"],
        status["process_error"],
        status["raw"],
    )


def contact_row(contact: dict[str, Any]) -> tuple[Any, ...]:
    return (
        contact["account_id"],
        contact["contact_id"],
        contact["email"],
        contact["user_id"],
        contact["attributes_json"],
        contact["created_at"],
        contact["updated_at"],
        contact["last_change_id"],
        contact.get("tags") or [],
        contact.get("merged_into"),
    )
