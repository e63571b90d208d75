"""Segment's calls mapped onto the native model, with Segment's timestamp rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producers.dialects import segment
from producers.validation import InputRejected

RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_track_call_maps_revenue_to_value_and_message_id_to_the_idempotency_key() -> None:
    native = segment.track_to_native(
        {
            "userId": "u-1",
            "event": "Order Completed",
            "properties": {"revenue": 12.5, "sku": "MUG-1"},
            "timestamp": "2026-11-23T10:00:00Z",
            "messageId": "m-1",
        },
        RECEIVED,
    )
    assert native == {
        "user_id": "u-1",
        "name": "Order Completed",
        "properties": {"sku": "MUG-1"},
        "value": 12.5,
        "occurred_at": "2026-11-23T10:00:00+00:00",
        "idempotency_key": "m-1",
        "event_type": "Order Completed",
    }


def test_timestamp_wins_then_skew_corrected_original_then_received() -> None:
    assert segment.occurred_at({"timestamp": "2026-01-01T00:00:00Z"}, RECEIVED).year == 2026
    # the device clock is 5 minutes fast: sentAt - originalTimestamp is the time in flight
    skewed = {"originalTimestamp": "2026-11-23T12:04:00Z", "sentAt": "2026-11-23T12:05:00Z"}
    assert segment.occurred_at(skewed, RECEIVED) == RECEIVED - timedelta(minutes=1)
    only = {"originalTimestamp": "2026-11-23T11:00:00Z"}
    assert segment.occurred_at(only, RECEIVED) == datetime(2026, 11, 23, 11, tzinfo=UTC)
    assert segment.occurred_at({}, RECEIVED) == RECEIVED


def test_anonymous_ids_name_an_anonymous_contact() -> None:
    native = segment.track_to_native({"anonymousId": "a-9", "event": "Viewed"}, RECEIVED)
    assert native["user_id"] == "anonymous:a-9"


def test_identify_makes_traits_the_attributes_and_names_the_email() -> None:
    native = segment.identify_to_native(
        {"userId": "u-1", "traits": {"email": "ada@example.com", "plan": "pro"}}
    )
    assert native == {
        "user_id": "u-1",
        "email": "ada@example.com",
        "attributes": {"email": "ada@example.com", "plan": "pro"},
    }


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"event": "x"}, "userId"),
        ({"userId": "u"}, "event"),
        ({"userId": "u", "event": "x", "timestamp": "yesterday"}, "timestamp"),
        ("nope", "body"),
    ],
)
def test_bad_track_calls_name_the_field(message: object, field: str) -> None:
    with pytest.raises(InputRejected) as caught:
        segment.track_to_native(message, RECEIVED)
    assert [p.field for p in caught.value.problems] == [field]
