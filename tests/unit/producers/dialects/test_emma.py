"""Emma's member events and event types, mapped onto the native model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from producers.dialects import emma
from producers.validation import InputRejected

TYPES = [
    {
        "event_type_id": 1,
        "event_type": "visited_website",
        "display_name": "Visited Website",
        "created_at": "@D:2025-11-24T10:23:10",
    },
]


def test_member_numbers_are_stable_and_exact_in_json() -> None:
    contact = "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01"
    assert emma.member_number(contact) == int("7c1d4c550f4e5", 16) < 2**53


def test_emma_times_read_and_print_as_documented() -> None:
    assert emma.parse_time("@D:2025-12-02T11:23:47", "t") == datetime(
        2025, 12, 2, 11, 23, 47, tzinfo=UTC
    )
    assert emma.emma_time(datetime(2025, 12, 2, 11, 23, 47, tzinfo=UTC)) == "@D:2025-12-02T11:23:47"
    with pytest.raises(InputRejected):
        emma.parse_time("soon", "event_timestamp")


def test_a_member_event_maps_field_by_field() -> None:
    native, found = emma.to_native(
        {
            "email": "ada@example.com",
            "event_type_id": 1,
            "attributes": {"page": "/mugs"},
            "event_monetary_value": 8.0,
            "mailing_id": 42,
            "event_timestamp": "@D:2025-12-02T11:23:47",
        },
        TYPES,
    )
    assert found is TYPES[0]
    assert native == {
        "name": "visited_website",
        "event_type": "visited_website",
        "properties": {"page": "/mugs", "mailing_id": 42},
        "value": 8.0,
        "occurred_at": "2025-12-02T11:23:47+00:00",
    }


@pytest.mark.parametrize(
    ("item", "fields"),
    [
        ({"event_type": "visited_website"}, ["email"]),
        ({"email": "a@b.c"}, ["event_type"]),
        ({"email": "a@b.c", "event_type": "nope"}, ["event_type"]),
        ({"member_id": 5, "event_type_id": 99}, ["event_type"]),
    ],
)
def test_member_events_name_what_is_missing(item: dict[str, object], fields: list[str]) -> None:
    with pytest.raises(InputRejected) as caught:
        emma.to_native(item, TYPES)
    assert [p.field for p in caught.value.problems] == fields


def test_a_call_carries_one_to_ten_events_and_types_need_both_names() -> None:
    with pytest.raises(InputRejected):
        emma.member_events({"events": []})
    with pytest.raises(InputRejected):
        emma.member_events({"events": [{}] * 11})
    assert len(emma.member_events({"events": [{}] * 10})) == 10
    with pytest.raises(InputRejected) as caught:
        emma.check_type_body({"event_type": "x"})
    assert [p.field for p in caught.value.problems] == ["display_name"]
