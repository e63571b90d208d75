"""How the records of each topic the sink reads become ClickHouse rows. Pure.

A record is decoded with its times as the integers Avro carries (ClickHouse takes them as the
ticks of its DateTime64 columns), and its row is built from that, unless it is near or past a
bound of eventline.schemas.limits: then it is decoded again with datetimes and takes the full test,
as the worker does (``row_of``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from eventline.core.topics import Topics
from eventline.schemas.codec import codec
from eventline.schemas.limits import certainly_storable, storable
from eventline.sinks import queries, rows

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Row = tuple[Any, ...]
Mapper = Callable[[dict[str, Any]], Row | None]


# The incoming record a record of each schema carries, for the bounds of eventline.schemas.limits.
_BOUNDED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "IncomingRecord": lambda record: record,
    "EventStatus": lambda status: status["record"],
}


class Route(NamedTuple):
    """How the records of one topic become rows: their schema, table and row function (which
    takes times as datetimes or as the integers on the wire), the schema's reader with raw
    times (``Codec.raw_reader``) and the incoming record its records carry, if any (for the
    bounds of eventline.schemas.limits)."""

    schema: str
    table: str
    mapper: Mapper
    read: Callable[[bytes], dict[str, Any]]
    bounded: Callable[[dict[str, Any]], dict[str, Any]] | None
    read_row: Callable[[bytes], Row] | None  # the row straight from the bytes, when it is
    # the record's fields (no bounds to test): what ``mapper(read(data))`` gives, sooner


def _route(schema: str, table: str, mapper: Mapper) -> Route:
    bounded = _BOUNDED.get(schema)
    fields = rows.ROW_FIELDS.get(table) if bounded is None else None
    read_row = codec().raw_row_reader(schema, fields) if fields else None
    return Route(schema, table, mapper, codec().raw_reader(schema), bounded, read_row)


def routes(topics: Topics) -> dict[str, Route]:
    """Topic -> its route, for every topic the sink reads."""
    return {
        topics.incoming: _route("IncomingRecord", "incoming_events", _received_row),
        topics.event_status: _route("EventStatus", "incoming_events", rows.status_row),
        topics.events: _route("CanonicalEvent", "events", rows.event_row),
        topics.contacts: _route("Contact", "contacts", rows.contact_row),
        topics.tags: _route("TagChange", "tag_changes", rows.tag_change_row),
        topics.segments: _route("SegmentTransition", "segment_transitions", rows.transition_row),
        topics.workflows: _route("WorkflowTrigger", "workflow_triggers", rows.trigger_row),
    }


def row_of(
    route: Route, data: bytes, erased: Mapping[tuple[str, str], datetime], at: datetime
) -> Row | None:
    """The row of a record, or None when it makes none. Its times stay epoch milliseconds
    (microseconds for a status's), as on the wire, unless it is near or past a bound of
    ``limits``: then the full test decides, on the times as datetimes (``at``: now)."""
    schema, table, mapper, read, bounded, read_row = route  # one unpacking, not six reads
    if read_row is not None and not (erased and table == "events"):
        return read_row(data)
    record = read(data)
    if erased and table == "events" and _is_erased(record, erased):
        return None
    if bounded is not None and not certainly_storable(bounded(record)):
        record = _within_bounds(schema, codec().decode(schema, data), at)
    return mapper(record)


COLUMNS = {
    "incoming_events": rows.INCOMING_COLUMNS,
    "events": rows.EVENT_COLUMNS,
    "contacts": rows.CONTACT_COLUMNS,
    "tag_changes": rows.TAG_CHANGE_COLUMNS,
    "segment_transitions": rows.TRANSITION_COLUMNS,
    "workflow_triggers": rows.TRIGGER_COLUMNS,
}


def _within_bounds(schema: str, record: dict[str, Any], at: datetime) -> dict[str, Any]:
    """An incoming record (or a status's) past a bound of eventline.schemas.limits, as the worker
    reports it: those fields emptied. The worker's failed status says why."""
    if schema == "IncomingRecord":
        return storable(record, at, ahead=False)
    if schema == "EventStatus":
        return {**record, "record": storable(record["record"], at, ahead=False)}
    return record


def _is_erased(event: dict[str, Any], erased: Mapping[tuple[str, str], datetime]) -> bool:
    """Whether an event (times in epoch milliseconds) is of an erased type, received by the
    cutoff. Erased types are Emma's: other dialects' events of the same type stay."""
    if event.get("source") != queries.ERASED_SOURCE:
        return False
    cutoff = erased.get((event["account_id"], event.get("event_type") or ""))
    if cutoff is None:
        return False
    return EPOCH + timedelta(milliseconds=event["received_at"]) <= cutoff


def _received_row(record: dict[str, Any]) -> tuple[Any, ...] | None:
    if record["kind"] == "IDENTITY":
        return None  # internal identity claims are not requests a sender made
    received = record["received_at"]
    # updated_at is DateTime64(6): epoch milliseconds (raw times) become microseconds there.
    updated = received * 1000 if type(received) is int else received
    return rows.incoming_row(record, "received", updated)
