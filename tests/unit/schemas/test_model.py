"""eventline.schemas.model: ids, keys, alias claims and record checks."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import SCHEMA_FILES
from eventline.schemas.model import (
    CONTACT,
    EVENT,
    IDENTITY,
    alias_claims,
    check_record,
    contact_key,
    event_id_for,
    identity_keys,
    incoming_record,
    minted_contact_id,
    name_id,
    normalize_email,
    routing_key,
    subscriber_hash,
)
from eventline.schemas.reads import record_from_receipt
from eventline.sinks.queries import shown_json

MD5 = "acme/md5/" + hashlib.md5(b"a@b.c").hexdigest()


def record(**fields: Any) -> dict[str, Any]:
    base = {
        "kind": EVENT,
        "account_id": "acme",
        "name": "purchase",
        "email": None,
        "user_id": None,
        "contact_id": None,
        "route_key": None,
        "properties_json": "{}",
        "attributes_json": "{}",
        "received_at": datetime.now(UTC),
    }
    return {**base, **fields}


# --- ids --------------------------------------------------------------------------------


def test_event_id_is_deterministic_for_account_and_key() -> None:
    assert event_id_for("acme", "order-1") == event_id_for("acme", "order-1")
    assert uuid.UUID(event_id_for("acme", "order-1")).version == 5


def test_event_id_differs_by_account_and_by_key() -> None:
    assert event_id_for("acme", "order-1") != event_id_for("globex", "order-1")
    assert event_id_for("acme", "order-1") != event_id_for("acme", "order-2")


def test_event_id_without_key_is_a_random_uuid4() -> None:
    first, second = event_id_for("acme", None), event_id_for("acme", None)
    assert first != second
    assert uuid.UUID(first).version == 4


def test_minted_contact_id_is_deterministic_per_key() -> None:
    assert minted_contact_id("acme/email/a@b.c") == minted_contact_id("acme/email/a@b.c")
    assert minted_contact_id("acme/email/a@b.c") != minted_contact_id("acme/email/x@b.c")


@pytest.mark.parametrize("raw", ["Ada@Example.COM", "  ada@example.com\n", "ADA@EXAMPLE.COM "])
def test_normalize_email(raw: str) -> None:
    assert normalize_email(raw) == "ada@example.com"


def test_contact_key() -> None:
    assert contact_key("acme", "c-1") == "acme/c-1"


# --- routing ----------------------------------------------------------------------------


def test_routing_key_precedence() -> None:
    full = record(route_key="acme/email/z@z.z", contact_id="c-1", email="a@b.c", user_id="u-1")
    assert routing_key(full) == "acme/email/z@z.z"
    assert routing_key({**full, "route_key": None}) == "acme/contact/c-1"
    assert routing_key({**full, "route_key": None, "contact_id": None}) == "acme/email/a@b.c"
    assert routing_key(record(user_id="u-1")) == "acme/user/u-1"


def test_routing_key_without_identifier_raises() -> None:
    with pytest.raises(InvalidEvent) as info:
        routing_key(record())
    assert info.value.field == "email"


def test_identity_keys_primary_first_without_duplicates() -> None:
    rec = record(email="a@b.c", user_id="u-1")
    assert identity_keys(rec) == ["acme/email/a@b.c", "acme/user/u-1", MD5]
    rec = record(contact_id="c-1", email="a@b.c", user_id="u-1")
    assert identity_keys(rec) == ["acme/contact/c-1", "acme/email/a@b.c", "acme/user/u-1", MD5]


def test_the_subscriber_hash_is_mailchimps() -> None:
    # md5 of "urist.mcvankab@freddiesjokes.com", as in Mailchimp's API reference
    assert (
        subscriber_hash(" Urist.McVankab@FreddiesJokes.com")
        == hashlib.md5(b"urist.mcvankab@freddiesjokes.com").hexdigest()
    )


def test_identity_keys_with_route_key_lists_it_first() -> None:
    rec = record(route_key="acme/email/a@b.c", user_id="u-1")
    assert identity_keys(rec) == ["acme/email/a@b.c", "acme/user/u-1"]


# --- alias claims -----------------------------------------------------------------------


def test_alias_claims_of_a_registration_with_email_and_user_id() -> None:
    rec = record(kind=CONTACT, name=None, email="a@b.c", user_id="u-1")
    claims = alias_claims(rec)
    assert [key for key, _ in claims] == ["acme/user/u-1", MD5]
    _, claim = claims[0]
    assert claim["kind"] == IDENTITY
    assert claim["route_key"] == "acme/email/a@b.c"
    assert claim["user_id"] == "u-1" and claim["email"] == "a@b.c"
    assert rec["kind"] == CONTACT and rec["route_key"] is None  # the original is untouched


def test_alias_claims_of_an_email_only_registration_is_its_subscriber_hash() -> None:
    assert [key for key, _ in alias_claims(record(kind=CONTACT, email="a@b.c"))] == [MD5]


def test_alias_claims_of_a_single_identifier_without_email_is_empty() -> None:
    assert alias_claims(record(kind=CONTACT, user_id="u-1")) == []


def test_alias_claims_point_every_secondary_at_the_contact_key() -> None:
    rec = record(kind=CONTACT, contact_id="c-1", email="a@b.c", user_id="u-1")
    claims = alias_claims(rec)
    assert [key for key, _ in claims] == ["acme/email/a@b.c", "acme/user/u-1", MD5]
    assert {claim["route_key"] for _, claim in claims} == {"acme/contact/c-1"}


# --- check_record -----------------------------------------------------------------------


def test_check_record_accepts_a_valid_event() -> None:
    check_record(record(email="a@b.c", properties_json='{"a": 1}'))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"account_id": ""}, "account_id"),
        ({"email": None}, "email"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"properties_json": "{not json"}, "properties_json"),
        ({"properties_json": "[1, 2]"}, "properties_json"),
        ({"attributes_json": '"text"'}, "attributes_json"),
    ],
)
def test_check_record_names_the_bad_field(fields: dict[str, Any], field: str) -> None:
    rec = record(email="a@b.c")
    rec.update(fields)
    with pytest.raises(InvalidEvent) as info:
        check_record(rec)
    assert info.value.field == field


def test_check_record_does_not_require_a_name_for_contacts() -> None:
    check_record(record(kind=CONTACT, name=None, user_id="u-1"))


@given(st.uuids(), st.text())
def test_name_id_is_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert name_id(namespace, name) == str(uuid.uuid5(namespace, name))


def test_the_record_constructor_follows_the_avro_schema() -> None:
    """incoming_record writes out the schema's fields in its order, with its defaults: a field
    added to incoming_record.avsc must be added there too."""
    schema = json.loads(
        (resources.files("eventline.schemas") / "avro" / SCHEMA_FILES["IncomingRecord"]).read_text()
    )
    built = incoming_record(
        account_id="acme", event_id="e-1", receipt_id="r-1", received_at=RECEIVED_AT, source="s"
    )
    assert list(built) == [field["name"] for field in schema["fields"]]
    required = {"kind": "EVENT", "account_id": "acme", "event_id": "e-1", "receipt_id": "r-1",
                "received_at": RECEIVED_AT, "source": "s"}  # fmt: skip
    for field in schema["fields"]:
        expected = required[field["name"]] if "default" not in field else field["default"]
        assert built[field["name"]] == expected, field["name"]


def test_a_receipt_gives_back_the_record_it_was_stored_from() -> None:
    """Re-drive reads a receipt (JSON columns shown as objects, or as their text when they are
    not objects) and rebuilds the record: the JSON text comes back as stored."""
    stored = incoming_record(
        account_id="acme", event_id="e-1", receipt_id="r-1", received_at=RECEIVED_AT,
        source="http:json", email="ada@example.com", name="purchase", occurred_at=RECEIVED_AT,
        properties_json='{"qty":2,"sku":"MUG-1"}', attributes_json="not json", value=12.5,
        is_syncing=True, attempt=1, route_key="acme/md5/ab", event_type="purchase",
    )  # fmt: skip
    receipt = {
        **{k: v for k, v in stored.items() if k not in ("properties_json", "attributes_json")},
        "kind": "event",  # ClickHouse's enum, lower-cased
        "received_at": RECEIVED_AT.isoformat(),
        "occurred_at": RECEIVED_AT.replace(tzinfo=None).isoformat(),  # a naive UTC column
        "properties": shown_json(stored["properties_json"]),
        "attributes": shown_json(stored["attributes_json"]),
        "status": "failed",
    }
    assert record_from_receipt(receipt) == stored


RECEIVED_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
