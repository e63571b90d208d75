"""The gateway's specialized Avro writer writes exactly what schemas.codec writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import fastwrite
from schemas.codec import codec
from schemas.model import bare_record

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
def test_the_same_bytes_as_the_codec(record: dict[str, Any]) -> None:
    assert fastwrite.encode("IncomingRecord", record) == codec().encode("IncomingRecord", record)


def test_every_field_of_the_incoming_record_is_compiled() -> None:
    assert fastwrite._record_encoder("IncomingRecord")[1] is not None


WRONG = [{"attempt": "1"}, {"kind": "PARTY"}, {"value": "1.5"}, {"email": 3}, {"name": "\ud800"}]


@pytest.mark.parametrize("wrong", WRONG)
def test_a_record_it_cannot_take_gets_the_codec_answer(wrong: dict[str, Any]) -> None:
    record = {**bare_record("acme", "e-1", "r-1", datetime.now(UTC), "http:json"), **wrong}
    try:
        expected: Any = codec().encode("IncomingRecord", record)
    except Exception as exc:
        expected = type(exc)
    try:
        got: Any = fastwrite.encode("IncomingRecord", record)
    except Exception as exc:
        got = type(exc)
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(records, times), min_size=1, max_size=5))
def test_times_shared_by_records_and_fields(pairs: list[tuple[dict[str, Any], datetime]]) -> None:
    """A request's records share one receipt time (and often use it as occurrence time): the
    writer keeps the last time's bytes, which must never leak into a record of another time."""
    shared = pairs[0][1]
    for record, other in pairs:
        for received, occurred in ((shared, shared), (other, shared), (shared, other)):
            record = {**record, "received_at": received, "occurred_at": occurred}
            expected = codec().encode("IncomingRecord", record)
            assert fastwrite.encode("IncomingRecord", record) == expected
