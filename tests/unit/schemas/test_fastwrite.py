"""The compiled Avro writers (schemas/fastwrite.py) write exactly what fastavro writes, for
every schema, and whatever they cannot take gets fastavro's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventline.schemas.codec import SCHEMA_FILES, Codec, codec
from eventline.schemas.model import incoming_record
from tests.unit.schemas.test_fastread import records as plain_records
from tests.unit.schemas.test_fastread import same


def fastavro_only() -> Codec:
    plain = Codec()
    plain._fast_writers.clear()
    return plain


SLOW = fastavro_only()


def outcome(codec_: Codec, name: str, record: dict[str, Any]) -> Any:
    try:
        return codec_.encode(name, record)
    except Exception as exc:
        return type(exc)


texts = st.text(max_size=80)
optional = st.none() | texts
times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2300, 1, 1), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2300, 1, 1),
    timezones=st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-900, 900)),
)
records = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["EVENT", "CONTACT", "IDENTITY"]),
        "account_id": texts,
        "event_id": texts,
        "receipt_id": texts,
        "received_at": times,
        "source": texts,
        "idempotency_key": optional,
        "email": optional,
        "user_id": optional,
        "contact_id": optional,
        "name": optional,
        "occurred_at": st.none() | times,
        "properties_json": texts,
        "value": st.none() | st.floats(allow_nan=False),
        "is_syncing": st.booleans(),
        "attributes_json": texts,
        "attempt": st.integers(-(2**31), 2**31 - 1),
        "event_type": optional,
    },
    optional={"route_key": optional, "unknown_contact": optional},
)


@settings(max_examples=1000, deadline=None)
@given(records)
def test_incoming_records_with_datetimes_are_written_as_fastavro_writes_them(
    record: dict[str, Any],
) -> None:
    assert outcome(codec(), "IncomingRecord", record) == outcome(SLOW, "IncomingRecord", record)


@pytest.mark.parametrize("name", list(SCHEMA_FILES))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_schema_is_written_as_fastavro_writes_it(name: str, data: st.DataObject) -> None:
    """Any value of each field's type, edges included (times as integers, any long, NaN)."""
    record = data.draw(plain_records(name))
    assert same(outcome(codec(), name, record)) == same(outcome(SLOW, name, record))


@pytest.mark.parametrize("name", list(SCHEMA_FILES))
def test_every_schema_is_compiled(name: str) -> None:
    assert name in codec()._fast_writers


def _record() -> dict[str, Any]:
    return incoming_record(
        account_id="acme",
        event_id="e-1",
        receipt_id="r-1",
        received_at=datetime.now(UTC),
        source="http:json",
    )


WRONG = [{"attempt": "1"}, {"kind": "PARTY"}, {"value": "1.5"}, {"email": 3}, {"name": "\ud800"}]


@pytest.mark.parametrize("wrong", WRONG)
def test_a_record_it_cannot_take_gets_the_codec_answer(wrong: dict[str, Any]) -> None:
    record = {**_record(), **wrong}
    try:
        expected: Any = codec().encode("IncomingRecord", record)
    except Exception as exc:
        expected = type(exc)
    try:
        got: Any = fastavro_only().encode("IncomingRecord", record)
    except Exception as exc:
        got = type(exc)
    assert got == expected


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**100, 2**63 - 1, -(2**63), 2**40])
@pytest.mark.parametrize("field", ["attempt", "value"])
def test_numbers_past_a_long_or_a_double_get_fastavro_answer(field: str, value: int) -> None:
    record = {**_record(), field: value}
    assert outcome(codec(), "IncomingRecord", record) == outcome(SLOW, "IncomingRecord", record)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(records, times), min_size=1, max_size=5))
def test_times_shared_by_records_and_fields(pairs: list[tuple[dict[str, Any], datetime]]) -> None:
    """A request's records share one receipt time (and often use it as occurrence time): the
    writer keeps the last time's bytes, which must never leak into a record of another time."""
    shared = pairs[0][1]
    for record, other in pairs:
        for received, occurred in ((shared, shared), (other, shared), (shared, other)):
            record = {**record, "received_at": received, "occurred_at": occurred}
            expected = SLOW.encode("IncomingRecord", record)
            assert codec().encode("IncomingRecord", record) == expected
