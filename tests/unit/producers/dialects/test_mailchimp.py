"""Mailchimp's event body and member addressing, mapped onto the native event."""

from __future__ import annotations

import hashlib

import pytest

from eventline.producers.dialects import mailchimp
from eventline.producers.validation import InputRejected

HASH = hashlib.md5(b"ada@example.com").hexdigest()


def test_a_member_is_named_by_hash_or_email_and_nothing_else() -> None:
    assert mailchimp.member_identity("acme", HASH) == ({}, f"acme/md5/{HASH}")
    assert mailchimp.member_identity("acme", HASH.upper()) == ({}, f"acme/md5/{HASH}")
    assert mailchimp.member_identity("acme", "Ada@Example.com") == (
        {"email": "ada@example.com"},
        None,
    )
    assert mailchimp.member_hash("Ada@Example.com") == HASH == mailchimp.member_hash(HASH.upper())
    for typo in ("c-1", HASH[:30], HASH + "00", "g" * 32, ""):
        assert mailchimp.member_identity("acme", typo) is None
        assert mailchimp.member_hash(typo) is None


@pytest.mark.parametrize(
    ("fields", "exclude", "expected"),
    [
        (
            "events.name,total_items",
            None,
            {"events": [{"name": "a"}, {"name": "b"}], "total_items": 2},
        ),
        ("total_items", None, {"total_items": 2}),
        ("events,events.name", None, {"events": [{"name": "a", "at": 1}, {"name": "b", "at": 2}]}),
        (None, "events.at,_links", {"events": [{"name": "a"}, {"name": "b"}], "total_items": 2}),
        ("events", "events.name", {"events": [{"at": 1}, {"at": 2}]}),
        (" total_items , nope.x ", None, {"total_items": 2}),
        (None, None, None),
    ],
)
def test_fields_and_exclude_fields_follow_dotted_paths(
    fields: str | None, exclude: str | None, expected: dict[str, object] | None
) -> None:
    doc = {
        "events": [{"name": "a", "at": 1}, {"name": "b", "at": 2}],
        "total_items": 2,
        "_links": [],
    }
    assert mailchimp.select_fields(doc, fields, exclude) == (expected or doc)


def test_a_member_add_maps_onto_a_contact_registration() -> None:
    body = {
        "email_address": "Ada@Example.com",
        "status": "subscribed",
        "merge_fields": {"FNAME": "Ada"},
    }
    native = mailchimp.to_contact(body, "l1", hash_in_path=None, known=False)
    assert native == {
        "email": "Ada@Example.com",
        "attributes": {"FNAME": "Ada", "mailchimp_status": "subscribed"},
    }
    view = mailchimp.member_view("l1", "ada@example.com", native["attributes"])
    assert view["id"] == HASH and view["status"] == "subscribed"
    assert view["merge_fields"] == {"FNAME": "Ada"} and view["list_id"] == "l1"


@pytest.mark.parametrize(
    ("body", "hash_in_path", "known", "field"),
    [
        ({"status": "subscribed"}, None, False, "email_address"),
        ({"email_address": "ada@example.com"}, None, False, "status"),
        ({"email_address": "ada@example.com", "status": "gone"}, None, False, "status"),
        (
            {"email_address": "ada@example.com", "status": "subscribed", "merge_fields": []},
            None,
            False,
            "merge_fields",
        ),
        (
            {"email_address": "bob@example.com", "status_if_new": "subscribed"},
            HASH,
            False,
            "email_address",
        ),
        ({"email_address": "ada@example.com"}, HASH, False, "status_if_new"),
    ],
)
def test_a_bad_member_add_names_mailchimps_field(
    body: dict[str, object], hash_in_path: str | None, known: bool, field: str
) -> None:
    with pytest.raises(InputRejected) as caught:
        mailchimp.to_contact(body, "l1", hash_in_path=hash_in_path, known=known)
    assert field in [p.field for p in caught.value.problems]


def test_a_put_of_a_known_member_needs_no_status() -> None:
    native = mailchimp.to_contact(
        {"email_address": "ADA@example.com"}, "l1", hash_in_path=HASH, known=True
    )
    assert native["attributes"] == {}


def test_native_contact_problems_are_renamed() -> None:
    from eventline.producers.validation import Problem

    renamed = mailchimp.renamed(
        [Problem(field="email", reason="r"), Problem(field="attributes.X", reason="r")]
    )
    assert [p.field for p in renamed] == ["email_address", "merge_fields.X"]


@pytest.mark.parametrize(
    ("key", "bare"),
    [
        ("el_abc_def-us1", "el_abc_def"),
        ("0" * 32 + "-el" + "1" * 32 + "-us21", "0" * 32 + "-el" + "1" * 32),
        ("el_abc_def", None),
        ("0" * 32 + "-el" + "1" * 32, None),
    ],
)
def test_a_datacenter_suffix_is_told_apart(key: str, bare: str | None) -> None:
    assert mailchimp.without_datacenter(key) == bare


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


def test_a_field_mailchimp_events_do_not_have_is_refused_not_dropped() -> None:
    body = {"name": "purchase", "properties": {}, "value": 12.5, "timestamp": "x"}
    with pytest.raises(InputRejected) as refused:
        mailchimp.to_native(body, {"email": "ada@example.com"})
    assert [p.field for p in refused.value.problems] == ["timestamp", "value"]
    assert "is not a field of an event" in refused.value.problems[0].reason
