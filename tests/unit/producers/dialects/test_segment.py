"""Segment's calls mapped onto the native model, with Segment's timestamp rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventline.producers.dialects import segment
from eventline.producers.validation import InputRejected

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


def test_page_and_screen_are_viewed_events_with_their_name_and_category() -> None:
    message = {
        "anonymousId": "a-7",
        "name": "Pricing",
        "category": "Docs",
        "properties": {"url": "https://example.com/pricing"},
        "timestamp": "2026-11-23T10:00:00Z",
        "messageId": "m-9",
    }
    native = segment.to_native("page", message, RECEIVED)
    assert native.kind == "event" and native.previous == []
    assert native.data == {
        "user_id": "anonymous:a-7",
        "name": "Page Viewed",
        "event_type": "Page Viewed",
        "properties": {"url": "https://example.com/pricing", "name": "Pricing", "category": "Docs"},
        "occurred_at": "2026-11-23T10:00:00+00:00",
        "idempotency_key": "m-9",
    }
    screen = segment.to_native("screen", {"userId": "u-1"}, RECEIVED).data
    assert (screen["name"], screen["properties"]) == ("Screen Viewed", {})
    assert screen["event_type"] == "Screen Viewed"


def test_a_page_name_contradicting_properties_name_is_refused_not_overwritten() -> None:
    same = {"userId": "u-1", "name": "Home", "properties": {"name": "Home"}}
    assert segment.to_native("page", same, RECEIVED).data["properties"] == {"name": "Home"}
    other = {"userId": "u-1", "name": "Home", "properties": {"name": "Pricing"}}
    with pytest.raises(InputRejected) as refused:
        segment.to_native("page", other, RECEIVED)
    assert refused.value.problems[0].field == "properties.name"
    with pytest.raises(InputRejected) as not_text:
        segment.to_native("screen", {"userId": "u-1", "name": 3}, RECEIVED)
    assert not_text.value.problems[0].field == "name"


def test_group_keeps_the_group_id_and_traits_on_the_contact() -> None:
    message = {"userId": "u-1", "groupId": 42, "traits": {"name": "Acme", "email": "hq@acme.io"}}
    native = segment.to_native("group", message, RECEIVED)
    # the traits describe the group: their email is the group's, never the contact's
    assert native.kind == "contact" and "email" not in native.data
    assert native.data == {
        "user_id": "u-1",
        "attributes": {"group_id": "42", "group_traits": {"name": "Acme", "email": "hq@acme.io"}},
    }
    with pytest.raises(InputRejected) as refused:
        segment.to_native("group", {"userId": "u-1"}, RECEIVED)
    assert refused.value.problems[0].field == "groupId"
    with pytest.raises(InputRejected) as nobody:  # a group's email names no contact
        segment.to_native("group", {"groupId": "g", "traits": {"email": "a@b.io"}}, RECEIVED)
    assert nobody.value.problems[0].field == "userId"


def test_alias_links_previous_id_either_as_anonymous_id_or_as_earlier_user_id() -> None:
    native = segment.to_native("alias", {"previousId": "a-7", "userId": "u-1"}, RECEIVED)
    assert native.kind == "contact" and native.data == {"user_id": "u-1", "attributes": {}}
    assert native.previous == ["anonymous:a-7", "a-7"]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"userId": "u-1"}, "previousId"),
        ({"previousId": "a-7"}, "userId"),
        ({"previousId": "u-1", "userId": "u-1"}, "previousId"),
        ({"previousId": {"x": 1}, "userId": "u-1"}, "previousId"),
        ({"previousId": "a" * 250, "userId": "u-1"}, "previousId"),
    ],
)
def test_an_invalid_alias_names_segments_field(message: dict[str, object], field: str) -> None:
    with pytest.raises(InputRejected) as refused:
        segment.to_native("alias", message, RECEIVED)
    assert refused.value.problems[0].field == field


def test_identify_with_user_and_anonymous_ids_links_the_anonymous_visitor() -> None:
    both = segment.to_native("identify", {"userId": "u-1", "anonymousId": "a-7"}, RECEIVED)
    assert both.data["user_id"] == "u-1" and both.previous == ["anonymous:a-7"]
    alone = segment.to_native("identify", {"anonymousId": "a-7"}, RECEIVED)
    assert alone.data["user_id"] == "anonymous:a-7" and alone.previous == []


def test_an_unknown_type_lists_the_six() -> None:
    with pytest.raises(InputRejected) as refused:
        segment.to_native("pageview", {"userId": "u-1"}, RECEIVED)
    problem = refused.value.problems[0]
    assert problem.field == "type"
    assert all(kind in problem.reason for kind in segment.TYPES)


@pytest.mark.parametrize(
    ("native", "kind", "message", "field"),
    [
        ("name", "track", {}, "event"),
        ("name", "page", {}, "name"),
        ("user_id", "track", {"userId": "u"}, "userId"),
        ("user_id", "track", {"anonymousId": "a"}, "anonymousId"),
        ("user_id", "alias", {}, "userId"),
        ("idempotency_key", "track", {}, "messageId"),
        ("idempotency_key", "identify", {}, "messageId"),
        ("occurred_at", "track", {"timestamp": "x"}, "timestamp"),
        ("occurred_at", "page", {"originalTimestamp": "x"}, "originalTimestamp"),
        ("value", "track", {"properties": {"revenue": "x"}}, "properties.revenue"),
        ("value", "track", {"properties": {"value": "x"}}, "properties.value"),
        ("properties", "track", {}, "properties"),
        ("properties.sku", "screen", {}, "properties.sku"),
        ("email", "identify", {}, "traits.email"),
        ("attributes", "identify", {}, "traits"),
        ("attributes.plan", "identify", {}, "traits.plan"),
        ("attributes", "group", {}, "traits"),
        ("attributes.group_traits.name", "group", {}, "traits.name"),
        ("attributes.group_id", "group", {}, "groupId"),
        ("body", "track", {}, "body"),
    ],
)
def test_native_fields_are_named_as_segment_names_them(
    native: str, kind: str, message: dict[str, object], field: str
) -> None:
    assert segment.client_field(native, kind, message) == field
