"""Emma's member events and event types, mapped onto the native model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventline.producers.dialects import emma
from eventline.producers.validation import InputRejected, Problem, parse_event
from eventline.schemas.limits import TEXT_LIMITS

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
        ({"member_id": 5, "event_type_id": 99}, ["event_type_id"]),  # named as it was sent
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


@pytest.mark.parametrize(
    ("native", "named"),
    [
        ("body", "body"),  # the event itself: events[i] in the answer
        ("name", "event_type"),
        ("event_type", "event_type"),
        ("email", "email"),
        ("contact_id", "member_id"),
        ("properties", "attributes"),
        ("properties.cart.sku", "attributes.cart.sku"),
        ("properties.items[2]", "attributes.items[2]"),
        ("value", "event_monetary_value"),
        ("occurred_at", "event_timestamp"),
        ("event_timestamp", "event_timestamp"),  # Emma's own names are kept
        ("attributes.x", "attributes.x"),
    ],
)
def test_native_fields_are_named_as_emma_names_them(native: str, named: str) -> None:
    assert emma.emma_field(native) == named


def test_every_native_field_a_member_event_becomes_has_an_emma_name() -> None:
    native, _ = emma.to_native(
        {
            "email": "ada@example.com",
            "event_type": "visited_website",
            "attributes": {"a": 1},
            "event_monetary_value": 1.0,
            "event_timestamp": "@D:2025-12-02T11:23:47",
        },
        TYPES,
    )
    member_fields = {"email", "contact_id"}  # the gateway's _member adds one of them
    assert set(native) | member_fields | {"body"} <= set(emma.NATIVE_TO_EMMA)


def test_problems_sit_under_their_event() -> None:
    problems = [Problem(field="body", reason="r"), Problem(field="attributes.x", reason="r")]
    assert [p.field for p in emma.at_event(problems, 3)] == ["events[3]", "events[3].attributes.x"]


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        ({"value": 3}, "value", "is not a member event field"),
        ({"is_syncing": True}, "is_syncing", "is not a member event field"),
        ({"mailing_id": "x"}, "mailing_id", "must be an integer"),
        ({"mailing_id": 1.5}, "mailing_id", "must be an integer"),
        ({"mailing_id": True}, "mailing_id", "must be an integer"),
        ({"event_type": 5}, "event_type", "must be a string"),
        ({"event_type_id": "zz", "event_type": None}, "event_type_id", "must be an integer"),
        ({"event_type_id": 99, "event_type": None}, "event_type_id", "no such event type"),
        ({"mailing_id": 1, "attributes": {"mailing_id": 2}}, "attributes.mailing_id", "differs"),
    ],
)
def test_each_member_event_field_is_checked_under_its_own_name(
    item: dict[str, object], field: str, reason: str
) -> None:
    event = {"email": "ada@example.com", "event_type": "visited_website", **item}
    with pytest.raises(InputRejected) as caught:
        emma.to_native({k: v for k, v in event.items() if v is not None}, TYPES)
    assert [(p.field, reason in p.reason) for p in caught.value.problems] == [(field, True)]


def test_member_ids_are_integers_never_truncated() -> None:
    with pytest.raises(InputRejected) as caught:
        emma.to_native({"member_id": 12.7, "event_type": "visited_website"}, TYPES)
    assert [p.field for p in caught.value.problems] == ["member_id"]
    assert emma.integer("12") == 12 and emma.integer(12) == 12 and emma.integer(True) is None
    assert emma.integer("²") is None and emma.integer("1.0") is None and emma.integer(1.0) is None


def test_a_type_name_is_bounded_as_its_events_are() -> None:
    longest = "t" * emma.MAX_EVENT_TYPE
    assert min(TEXT_LIMITS["event_type"], TEXT_LIMITS["name"]) == emma.MAX_EVENT_TYPE
    assert emma.check_type_body({"event_type": longest, "display_name": "D"}) == (longest, "D")
    with pytest.raises(InputRejected) as caught:
        emma.check_type_body({"event_type": longest + "t", "display_name": "D" * 201})
    assert [p.field for p in caught.value.problems] == ["event_type", "display_name"]
    native, _ = emma.to_native(
        {"email": "a@example.com", "event_type": longest},
        [{**TYPES[0], "event_type": longest}],
    )
    member = {"email": "a@example.com"}
    record = parse_event(
        {**native, **member}, account="a", source="emma", received_at=datetime.now(UTC)
    )
    assert record["event_type"] == record["name"] == longest
