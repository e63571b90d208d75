"""eventline.sinks.routes.row_of: a record's row from its times as on the wire is the row its
datetimes make (each in its column's ticks), and a record near or past a bound takes the full
test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventline.core.topics import Topics
from eventline.schemas.codec import codec
from eventline.schemas.limits import EARLIEST_RECEIPT, MAX_ATTEMPT
from eventline.sinks.routes import COLUMNS, Route, _within_bounds, routes, row_of
from eventline.sinks.rows import INCOMING_COLUMNS
from tests.unit.schemas.test_fastread import DAMAGE, _with_times, damaged, records, same

AT = datetime(2026, 11, 30, 12, tzinfo=UTC)
ROUTES = {route.schema: route for route in routes(Topics("t")).values()}


TIME_COLUMN = r"\s*(?:ADD COLUMN (?:IF NOT EXISTS )?)?(\w+)\s+.*DateTime64\((\d)"


def precisions() -> dict[tuple[str, str], int]:
    """(table, column) -> the DateTime64 precision the migrations give it."""
    found: dict[tuple[str, str], int] = {}
    table = ""
    for entry in sorted((resources.files("eventline.sinks") / "migrations").iterdir(), key=str):
        for line in entry.read_text().splitlines():
            named = re.search(r"(?:TABLE|VIEW)(?: IF NOT EXISTS)? \{db\}\.(\w+)", line)
            table = named.group(1) if named else table
            column = re.match(
                r"\s*(?:ADD COLUMN (?:IF NOT EXISTS )?)?(\w+)\s+.*DateTime64\((\d)", line
            )
            if column:
                found[(table, column.group(1))] = int(column.group(2))
    return found


def ticks(route: Route, columns: tuple[str, ...], row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row with each datetime in its column's ticks, as ClickHouse stores it."""
    scale = precisions()
    out = []
    for column, value in zip(columns, row, strict=True):
        if isinstance(value, datetime):
            micros = (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
            value = micros * 10 ** scale[(route.table, column)] // 1_000_000
        out.append(value)
    return tuple(out)


def columns_of(route: Route) -> tuple[str, ...]:
    return COLUMNS[route.table]


def test_the_migrations_name_a_precision_for_every_time_column() -> None:
    assert precisions()[("incoming_events", "updated_at")] == 6
    assert precisions()[("events", "received_at")] == 3
    assert len(precisions()) >= 12


@pytest.mark.parametrize("schema", list(ROUTES))
def test_a_row_from_raw_times_is_the_row_of_datetimes(
    schema: str, records: dict[str, dict[str, Any]]
) -> None:
    route = ROUTES[schema]
    data = codec().encode(schema, records[schema])
    raw = route.mapper(codec().decode(schema, data, raw_times=True))
    slow = route.mapper(_within_bounds(schema, codec().decode(schema, data), AT))
    assert raw is not None and slow is not None
    assert not any(isinstance(v, datetime) for v in raw)  # the certain path: times untouched
    assert raw == ticks(route, columns_of(route), slow)


def test_a_received_record_keeps_its_receipt_as_its_status_time(
    incoming_record: dict[str, Any],
) -> None:
    route = ROUTES["IncomingRecord"]
    row = row_of(route, codec().encode("IncomingRecord", incoming_record), {}, AT)
    assert row is not None
    named = dict(zip(INCOMING_COLUMNS, row, strict=True))
    assert named["updated_at"] == named["received_at"] * 1000  # µs column, ms field


@pytest.mark.parametrize(
    ("fields", "column", "stored"),
    [
        ({"attempt": MAX_ATTEMPT + 1}, "attempt", 0),
        ({"properties_json": '{"a": NaN}'}, "properties", "{}"),
        ({"name": "pur\x00chase"}, "name", "purchase"),
        ({"received_at": datetime(2300, 1, 1, tzinfo=UTC)}, "received_at", EARLIEST_RECEIPT),
    ],
)
@pytest.mark.parametrize("schema", ["IncomingRecord", "EventStatus"])
def test_a_record_past_a_bound_is_stored_as_the_worker_reports_it(
    schema: str,
    fields: dict[str, Any],
    column: str,
    stored: Any,
    records: dict[str, dict[str, Any]],
) -> None:
    record = records[schema]
    record = (
        {**record, **fields}
        if schema == "IncomingRecord"
        else {**record, "record": {**record["record"], **fields}}
    )
    row = row_of(ROUTES[schema], codec().encode(schema, record), {}, AT)
    assert row is not None
    assert dict(zip(INCOMING_COLUMNS, row, strict=True))[column] == stored


def test_erased_events_make_no_row(canonical_record: dict[str, Any]) -> None:
    route = ROUTES["CanonicalEvent"]
    emma_event = {**canonical_record, "source": "emma"}
    data = codec().encode("CanonicalEvent", emma_event)
    key = (canonical_record["account_id"], canonical_record["event_type"])
    at = canonical_record["received_at"]
    received = at.replace(microsecond=at.microsecond // 1000 * 1000)  # as stored: milliseconds
    assert row_of(route, data, {key: received}, AT) is None
    assert row_of(route, data, {key: received - timedelta(milliseconds=1)}, AT) is not None
    assert row_of(route, data, {("other", "purchase"): received}, AT) is not None


@pytest.mark.parametrize("source", ["mailerpath", "mailchimp:l1", "segment", "http:json"])
def test_an_erased_emma_type_keeps_other_dialects_events_of_that_type(
    canonical_record: dict[str, Any], source: str
) -> None:
    """Deleting Emma's type "purchase" erases Emma's purchases, not a MailerPath purchase or
    a Mailchimp event named (and so typed) "purchase"."""
    data = codec().encode("CanonicalEvent", {**canonical_record, "source": source})
    key = (canonical_record["account_id"], canonical_record["event_type"])
    assert row_of(ROUTES["CanonicalEvent"], data, {key: canonical_record["received_at"]}, AT)


def test_identity_claims_make_no_row(incoming_record: dict[str, Any]) -> None:
    claim = codec().encode("IncomingRecord", {**incoming_record, "kind": "IDENTITY"})
    assert row_of(ROUTES["IncomingRecord"], claim, {}, AT) is None


ROW_ROUTES = [schema for schema, route in ROUTES.items() if route.read_row is not None]


def test_records_without_bounds_are_read_as_rows() -> None:
    assert set(ROW_ROUTES) == {
        "CanonicalEvent",
        "Contact",
        "TagChange",
        "SegmentTransition",
        "WorkflowTrigger",
    }


def _outcome(read: Any, data: bytes) -> Any:
    try:
        row = read(data)
        return None if row is None else [same(value) for value in row]  # NaN made comparable
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("schema", ROW_ROUTES)
@settings(max_examples=150, deadline=None)
@given(data=st.data(), damage=st.lists(DAMAGE, max_size=2))
def test_a_row_read_from_the_bytes_is_the_row_of_the_record(
    schema: str, data: st.DataObject, damage: list[tuple[str, int, int]]
) -> None:
    """Random records, whole or damaged: the row read straight from the bytes is the mapper's
    row of the decoded record, or the same refusal."""
    route = ROUTES[schema]
    encoded = codec().encode(schema, _with_times(data.draw(records(schema))))
    for step in damage:
        encoded = damaged(encoded, step)
    assert route.read_row is not None
    expected = _outcome(lambda d: route.mapper(route.read(d)), encoded)
    assert _outcome(route.read_row, encoded) == expected
    assert _outcome(lambda d: row_of(route, d, {}, AT), encoded) == expected


def test_an_erasure_reads_events_as_records() -> None:
    """With erased event types, events are decoded as records (the erasure test reads them)."""
    event = {
        "event_id": "e", "account_id": "a", "contact_id": "c", "name": "n",
        "occurred_at": AT, "received_at": AT, "processed_at": AT, "properties_json": "{}",
        "value": None, "is_syncing": False, "source": "emma", "idempotency_key": None,
        "contact_email": None, "contact_user_id": None, "contact_attributes_json": "{}",
        "event_type": "gone",
    }  # fmt: skip
    data = codec().encode("CanonicalEvent", event)
    route = ROUTES["CanonicalEvent"]
    assert row_of(route, data, {("a", "gone"): AT + timedelta(seconds=1)}, AT) is None
    assert row_of(route, data, {("a", "other"): AT}, AT) == route.read_row(data)  # type: ignore[misc]
