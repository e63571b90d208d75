"""Mailchimp's event body and member addressing, mapped onto the native event."""

from __future__ import annotations

import hashlib

import pytest

from producers.dialects import mailchimp
from producers.validation import InputRejected

HASH = hashlib.md5(b"ada@example.com").hexdigest()


def test_a_member_is_named_by_hash_email_or_contact_id() -> None:
    assert mailchimp.member_identity("acme", HASH) == ({}, f"acme/md5/{HASH}")
    assert mailchimp.member_identity("acme", HASH.upper()) == ({}, f"acme/md5/{HASH}")
    assert mailchimp.member_identity("acme", "Ada@Example.com") == (
        {"email": "Ada@Example.com"},
        None,
    )
    assert mailchimp.member_identity("acme", "c-1") == ({"contact_id": "c-1"}, None)


def test_the_documented_body_maps_field_by_field() -> None:
    body = {
        "name": "registered_referral",
        "properties": {"referral_code": "GAMER42"},
        "occurred_at": "2026-11-23T10:00:00Z",
        "is_syncing": True,
    }
    assert mailchimp.to_native(body, {"email": "a@b.c"}) == {
        **body,
        "email": "a@b.c",
        "event_type": "registered_referral",  # the name is the kind of event
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "x"}, "name"),  # shorter than 2
        ({"name": "a" * 31}, "name"),
        ({"name": "file download request"}, "name"),  # spaces are not allowed by Mailchimp
        ({"name": "ok", "properties": ["a"]}, "properties"),
        ([], "body"),
    ],
)
def test_mailchimp_rules_reject_with_the_field(body: object, field: str) -> None:
    with pytest.raises(InputRejected) as caught:
        mailchimp.to_native(body, {})
    assert [p.field for p in caught.value.problems] == [field]


def test_errors_are_mailchimp_problem_documents() -> None:
    with pytest.raises(InputRejected) as caught:
        mailchimp.to_native({"name": "x"}, {})
    doc = mailchimp.invalid(caught.value.problems)
    assert doc["status"] == 400 and doc["title"] == "Invalid Resource"
    assert doc["type"].startswith("https://mailchimp.com/") and doc["instance"]
    assert doc["errors"] == [{"field": "name", "message": mailchimp.NAME_RULE}]


def test_a_listed_event_has_name_properties_and_occurred_at() -> None:
    row = {"name": "n", "properties": {"a": "1"}, "occurred_at": "2026-11-23T10:00:00+00:00"}
    assert mailchimp.event_view({**row, "value": 3}) == row


def test_a_numeric_value_property_is_the_events_value() -> None:
    native = mailchimp.to_native({"name": "purchase", "properties": {"value": "12.5"}}, {})
    assert native["value"] == 12.5 and native["properties"] == {}
    kept = mailchimp.to_native({"name": "purchase", "properties": {"value": "high"}}, {})
    assert "value" not in kept and kept["properties"] == {"value": "high"}
