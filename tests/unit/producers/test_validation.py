"""producers/validation.py: native API input -> incoming records, or field-by-field problems."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventline.producers.validation import (
    InputRejected,
    Problem,
    form_to_dict,
    parse_contact,
    parse_event,
    rejected_record,
)
from eventline.schemas.codec import codec
from eventline.schemas.limits import TEXT_LIMITS
from eventline.schemas.model import CONTACT, EVENT, event_id_for

RECEIVED = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
KW: dict[str, Any] = {"account": "default", "source": "http:json", "received_at": RECEIVED}


def event(**fields: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "name": "purchase", **fields}


def problems_of(data: Any, **kwargs: Any) -> list[Problem]:
    with pytest.raises(InputRejected) as info:
        parse_event(data, **{**KW, **kwargs})
    return info.value.problems


def fields_of(data: Any, **kwargs: Any) -> list[str]:
    return [p.field for p in problems_of(data, **kwargs)]


# --- parse_event ------------------------------------------------------------------------


def test_valid_event_becomes_an_incoming_record() -> None:
    rec = parse_event(event(properties={"sku": "MUG-1", "color": "blue"}, value=12.5), **KW)
    assert rec["kind"] == EVENT
    assert rec["account_id"] == "default"
    assert rec["name"] == "purchase"
    assert rec["email"] == "ada@example.com"
    assert rec["properties_json"] == '{"color":"blue","sku":"MUG-1"}'
    assert rec["value"] == 12.5
    assert rec["occurred_at"] == RECEIVED  # defaults to received_at
    assert rec["received_at"] == RECEIVED and rec["source"] == "http:json"
    assert rec["attempt"] == 0 and rec["attributes_json"] == "{}"
    assert rec["idempotency_key"] is None


def test_valid_event_encodes_as_incoming_record() -> None:
    rec = parse_event(event(user_id="u-1"), **KW)
    assert codec().decode("IncomingRecord", codec().encode("IncomingRecord", rec))["name"]


def test_email_is_lower_cased() -> None:
    assert parse_event(event(email="Ada@Example.COM"), **KW)["email"] == "ada@example.com"


def test_missing_name_is_rejected_naming_the_field() -> None:
    problems = problems_of({"email": "ada@example.com"})
    assert [p.field for p in problems] == ["name"]
    assert problems[0].reason


def test_no_identifier_is_rejected_on_email() -> None:
    problems = problems_of({"name": "purchase"})
    assert problems == [
        Problem(field="email", reason="one of email, user_id or contact_id is required")
    ]


def test_user_id_or_contact_id_alone_identifies() -> None:
    assert parse_event({"name": "x", "user_id": "u-1"}, **KW)["user_id"] == "u-1"
    assert parse_event({"name": "x", "contact_id": "c-1"}, **KW)["contact_id"] == "c-1"


def test_invalid_email_is_rejected() -> None:
    assert fields_of(event(email="not-an-email")) == ["email"]


def test_properties_must_be_an_object() -> None:
    assert fields_of(event(properties=[1, 2])) == ["properties"]
    assert fields_of(event(properties="text")) == ["properties"]


def test_unknown_fields_are_rejected() -> None:
    assert fields_of(event(colour="blue")) == ["colour"]


def test_body_must_be_an_object() -> None:
    assert fields_of(["not", "an", "object"]) == ["body"]
    assert fields_of(None, prefix="[0].") == ["[0].body"]


def test_naive_occurred_at_is_read_as_utc() -> None:
    rec = parse_event(event(occurred_at="2026-03-14T10:00:00"), **KW)
    assert rec["occurred_at"] == datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
    assert rec["occurred_at"].tzinfo is not None


def test_offset_occurred_at_keeps_its_instant() -> None:
    rec = parse_event(event(occurred_at="2026-03-14T12:00:00+02:00"), **KW)
    assert rec["occurred_at"] == datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
    assert rec["occurred_at"].utcoffset() == timedelta(hours=2)


def test_occurred_at_more_than_a_day_ahead_is_rejected() -> None:
    ahead = (RECEIVED + timedelta(days=1, minutes=1)).isoformat()
    problems = problems_of(event(occurred_at=ahead))
    assert [p.field for p in problems] == ["occurred_at"]
    assert "future" in problems[0].reason


def test_occurred_at_less_than_a_day_ahead_and_past_are_accepted() -> None:
    soon = (RECEIVED + timedelta(hours=23)).isoformat()
    assert parse_event(event(occurred_at=soon), **KW)["occurred_at"] > RECEIVED
    past = (RECEIVED - timedelta(days=400)).isoformat()
    assert parse_event(event(occurred_at=past), **KW)["occurred_at"] < RECEIVED


def test_idempotency_key_from_argument_derives_the_event_id() -> None:
    rec = parse_event(event(), idempotency_key="order-1", **KW)
    assert rec["idempotency_key"] == "order-1"
    assert rec["event_id"] == event_id_for("default", "order-1")
    assert parse_event(event(), idempotency_key="order-1", **KW)["event_id"] == rec["event_id"]


def test_idempotency_key_in_body_wins_over_argument() -> None:
    rec = parse_event(event(idempotency_key="body-key"), idempotency_key="header-key", **KW)
    assert rec["idempotency_key"] == "body-key"


def test_without_idempotency_key_each_parse_gets_a_new_id() -> None:
    assert parse_event(event(), **KW)["event_id"] != parse_event(event(), **KW)["event_id"]
    assert parse_event(event(), **KW)["receipt_id"] != parse_event(event(), **KW)["receipt_id"]


def test_bulk_prefix_is_put_on_every_field() -> None:
    assert fields_of({"email": "ada@example.com"}, prefix="[2].") == ["[2].name"]
    assert fields_of({"name": "x"}, prefix="[2].") == ["[2].email"]
    ahead = (RECEIVED + timedelta(days=2)).isoformat()
    assert fields_of(event(occurred_at=ahead), prefix="[2].") == ["[2].occurred_at"]


def test_account_comes_from_the_caller_never_from_the_body() -> None:
    # The body cannot move an event to another account (the header, later the API key, does).
    assert fields_of(event(account_id="globex")) == ["account_id"]


def test_occurred_at_before_1970_is_rejected() -> None:
    assert fields_of(event(occurred_at="1969-12-31T23:59:59Z")) == ["occurred_at"]


def test_several_problems_are_all_reported() -> None:
    assert set(fields_of({"email": "nope", "properties": 3})) == {"name", "email", "properties"}


# --- parse_contact ----------------------------------------------------------------------


def test_valid_contact_becomes_a_registration() -> None:
    rec = parse_contact(
        {"email": "Ada@Example.com", "user_id": "u-1", "attributes": {"plan": "pro", "age": 36}},
        **KW,
    )
    assert rec["kind"] == CONTACT
    assert rec["email"] == "ada@example.com" and rec["user_id"] == "u-1"
    assert json.loads(rec["attributes_json"]) == {"plan": "pro", "age": 36}
    assert rec["name"] is None and rec["properties_json"] == "{}"
    assert rec["occurred_at"] == RECEIVED


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"attributes": {}}, "email"),
        ({"email": "bad"}, "email"),
        ({"email": "a@b.co", "attributes": [1]}, "attributes"),
        ("text", "body"),
    ],
)
def test_invalid_contact_is_rejected_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(InputRejected) as info:
        parse_contact(data, **KW)
    assert [p.field for p in info.value.problems] == [field]


# --- form_to_dict -----------------------------------------------------------------------


def test_form_properties_as_json_text() -> None:
    out = form_to_dict({"name": "x", "properties": '{"sku": "MUG-1"}'})
    assert out == {"name": "x", "properties": {"sku": "MUG-1"}}


def test_form_properties_and_attributes_as_bracketed_fields() -> None:
    form = {
        "name": "x",
        "properties[sku]": "MUG-1",
        "properties[color]": "blue",
        "attributes[plan]": "pro",
    }
    assert form_to_dict(form) == {
        "name": "x",
        "properties": {"sku": "MUG-1", "color": "blue"},
        "attributes": {"plan": "pro"},
    }


def test_form_bracketed_fields_merge_over_json_text() -> None:
    out = form_to_dict({"properties": '{"a": "1", "b": "2"}', "properties[b]": "3"})
    assert out["properties"] == {"a": "1", "b": "3"}


def test_form_empty_properties_is_an_empty_object() -> None:
    assert form_to_dict({"properties": ""}) == {"properties": {}}


def test_form_bad_json_properties_is_refused_naming_the_field() -> None:
    with pytest.raises(InputRejected) as info:
        form_to_dict({"email": "a@b.co", "name": "x", "properties": "{nope"})
    assert [p.field for p in info.value.problems] == ["properties"]
    assert "not valid JSON" in info.value.problems[0].reason
    out = form_to_dict({"email": "a@b.co", "name": "x", "properties": "[1]"})
    assert fields_of(out) == ["properties"]  # JSON, but not an object


def test_form_fields_parse_into_an_event() -> None:
    form = form_to_dict(
        {
            "email": "a@b.co",
            "name": "x",
            "value": "12.5",
            "is_syncing": "true",
            "properties[sku]": "MUG-1",
        }
    )
    rec = parse_event(form, **{**KW, "source": "http:form"})
    assert rec["value"] == 12.5 and rec["is_syncing"] is True
    assert rec["properties_json"] == '{"sku":"MUG-1"}'


# --- rejected_record --------------------------------------------------------------------


def test_rejected_record_keeps_what_it_can() -> None:
    data = {"email": "bad", "name": 7, "idempotency_key": "k-1", "user_id": ""}
    rec = rejected_record(data, **KW)
    assert rec["kind"] == EVENT
    assert rec["email"] == "bad" and rec["name"] == "7" and rec["user_id"] is None
    assert rec["event_id"] == event_id_for("default", "k-1")
    assert codec().decode("IncomingRecord", codec().encode("IncomingRecord", rec))


@pytest.mark.parametrize("data", [None, "text", [1, 2], 42])
def test_rejected_record_of_a_non_object_is_still_encodable(data: Any) -> None:
    rec = rejected_record(data, kind=CONTACT, **KW)
    assert rec["kind"] == CONTACT and rec["account_id"] == "default"
    status = {
        "record": rec,
        "status": "REJECTED",
        "process_error": "body: x",
        "raw": None,
        "updated_at": RECEIVED,
    }
    assert codec().decode("EventStatus", codec().encode("EventStatus", status))["record"]


def test_rejected_record_truncates_long_values() -> None:
    assert len(rejected_record({"name": "x" * 1000}, **KW)["name"]) == TEXT_LIMITS["name"]
