"""eventline.streams.canonical: contact state and the canonical event join."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from eventline.streams.canonical import apply_registration, canonical_event, new_contact

T0 = 1_773_496_800_000
PROCESSED = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


def registration(**fields: Any) -> dict[str, Any]:
    base = {
        "kind": "CONTACT",
        "account_id": "acme",
        "contact_id": "c-1",
        "event_id": "e-1",
        "email": "ada@example.com",
        "user_id": None,
        "attributes_json": "{}",
    }
    return {**base, **fields}


def test_new_contact() -> None:
    contact = new_contact(registration(user_id="u-1"), T0)
    assert contact == {
        "account_id": "acme",
        "contact_id": "c-1",
        "email": "ada@example.com",
        "user_id": "u-1",
        "attributes_json": "{}",
        "created_at": T0,
        "updated_at": T0,
        "last_change_id": "e-1",
    }


def test_apply_registration_to_nothing_creates_the_contact() -> None:
    contact = apply_registration(None, registration(attributes_json='{"plan":"pro"}'), T0)
    assert contact["created_at"] == T0
    assert json.loads(contact["attributes_json"]) == {"plan": "pro"}


def test_apply_registration_merges_attributes_and_identifiers() -> None:
    first = apply_registration(None, registration(attributes_json='{"plan":"free","age":3}'), T0)
    update = registration(
        event_id="e-2", email=None, user_id="u-1", attributes_json='{"plan":"pro","city":"Paris"}'
    )
    second = apply_registration(first, update, T0 + 5)
    assert json.loads(second["attributes_json"]) == {"plan": "pro", "age": 3, "city": "Paris"}
    assert second["email"] == "ada@example.com"  # kept: the update named none
    assert second["user_id"] == "u-1"
    assert second["created_at"] == T0 and second["updated_at"] == T0 + 5
    assert second["last_change_id"] == "e-2"
    assert json.loads(first["attributes_json"]) == {"plan": "free", "age": 3}  # not mutated


def test_apply_registration_is_idempotent() -> None:
    base = apply_registration(None, registration(attributes_json='{"a":1}'), T0)
    update = registration(event_id="e-2", attributes_json='{"b":2}')
    once = apply_registration(base, update, T0 + 1)
    twice = apply_registration(once, update, T0 + 1)
    assert twice == once
    assert twice["attributes_json"] == '{"a":1,"b":2}'


def test_canonical_event_joins_contact_fields(
    canonical_record: dict[str, Any], incoming_record: dict[str, Any]
) -> None:
    contact = {
        "contact_id": "c-1",
        "email": "ada@example.com",
        "user_id": "u-42",
        "attributes_json": '{"plan":"pro"}',
    }
    event = canonical_event(incoming_record, contact, PROCESSED)
    assert set(event) == set(canonical_record)  # exactly the CanonicalEvent fields
    assert event["contact_id"] == "c-1"
    assert event["contact_email"] == "ada@example.com"
    assert event["contact_user_id"] == "u-42"
    assert event["contact_attributes_json"] == '{"plan":"pro"}'
    assert event["occurred_at"] == incoming_record["occurred_at"]
    assert event["processed_at"] == PROCESSED
    assert event["name"] == "purchase" and event["event_id"] == incoming_record["event_id"]


def test_canonical_event_falls_back_to_received_at(incoming_record: dict[str, Any]) -> None:
    contact = {"contact_id": "c-1", "attributes_json": "{}"}
    event = canonical_event({**incoming_record, "occurred_at": None}, contact, PROCESSED)
    assert event["occurred_at"] == incoming_record["received_at"]
    assert event["contact_email"] is None and event["contact_user_id"] is None


def test_canonical_event_encodes(incoming_record: dict[str, Any]) -> None:
    from eventline.schemas.codec import codec

    contact = new_contact({**incoming_record, "contact_id": "c-1"}, T0)
    event = canonical_event(incoming_record, contact, PROCESSED)
    assert codec().decode("CanonicalEvent", codec().encode("CanonicalEvent", event))
