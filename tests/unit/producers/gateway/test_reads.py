"""Reads never answer 500 for what is stored, and nesting is bounded at the gateway
(issue 10, "Accepted input that poisons reads")."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventline.producers.dialects.emma import member_number
from eventline.schemas.limits import MAX_DEPTH
from tests.unit.producers.gateway.conftest import FakeStore, FakeWriter

CONTACT = "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01"
AT = datetime(2026, 3, 14, 15, 9, 26)


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# What may already be stored: nesting that breaks serializers, text that is not JSON, numbers
# that JSON cannot carry, and a value that is JSON but not an object.
POISON = {
    "deep": json.dumps(_nested(300)),
    "not json": '{"sku": "MUG-1"',
    "nan": '{"price": NaN}',
    "huge": '{"price": 1e999}',
    "array": "[1, 2]",
}


def _event(properties: str) -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "contact_id": CONTACT,
        "name": "purchase",
        "occurred_at": AT,
        "received_at": AT,
        "processed_at": AT,
        "properties": properties,
        "value": None,
        "is_syncing": 0,
        "source": "http:json",
        "idempotency_key": None,
        "event_type": None,
        "email": "ada@example.com",
        "user_id": None,
    }


def _incoming(properties: str) -> dict[str, Any]:
    return {
        **_event(properties),
        "receipt_id": "r-1",
        "kind": "event",
        "status": "failed",
        "process_error": "boom",
        "updated_at": AT,
        "attributes": properties,
        "attempt": 0,
        "account_id": "app",
        "route_key": None,
        "unknown_contact": None,
    }


def _contact(attributes: str) -> dict[str, Any]:
    return {
        "contact_id": CONTACT,
        "email": "ada@example.com",
        "user_id": None,
        "attributes": attributes,
        "tags": [],
        "created_at": AT,
        "updated_at": AT,
    }


def _keys(client: TestClient) -> tuple[str, int]:
    number = client.post("/v1/accounts", json={"account_id": "app"}).json()["number"]
    return str(client.post("/v1/accounts/app/keys").json()["key"]), int(number)


def _basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("stored", list(POISON.values()), ids=list(POISON))
def test_every_read_shows_what_is_stored_without_a_500(
    store_client: TestClient, store: FakeStore, stored: str
) -> None:
    key, number = _keys(store_client)
    store.tables["events"] = [_event(stored)]
    store.tables["incoming_events"] = [_incoming(stored)]
    store.tables["contacts"] = [_contact(stored)]
    bearer = {"Authorization": f"Bearer {key}"}
    reads = [
        (f"/v1/contacts/{CONTACT}/events", bearer),
        ("/v1/contacts?email=ada@example.com", bearer),
        ("/v1/events/e-1", bearer),
        ("/v1/incoming?status=failed", bearer),
        ("/api/v1/public/authenticated/events", bearer),
        ("/api/v1/public/authenticated/events/incoming", bearer),
        ("/3.0/lists/l1/members/ada@example.com/events", _basic("any", key)),
        ("/3.0/lists/l1/members/ada@example.com", _basic("any", key)),
        (f"/{number}/events/members/{member_number(CONTACT)}", _basic("public", key)),
        (f"/api/3/contacts/{CONTACT}/trackingLogs", {"Api-Token": key}),
        (f"/api/3/activities?contact={CONTACT}", {"Api-Token": key}),
        (f"/api/3/contacts/{CONTACT}", {"Api-Token": key}),
    ]
    for path, headers in reads:
        answer = store_client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        assert answer.text  # some form of the stored value, parsed or as its text


def test_a_parsable_stored_value_is_still_shown_parsed(
    store_client: TestClient, store: FakeStore
) -> None:
    store.tables["events"] = [_event('{"sku": "MUG-1"}')]
    answer = store_client.get(f"/v1/contacts/{CONTACT}/events")
    assert answer.json()["events"][0]["properties"] == {"sku": "MUG-1"}


@pytest.mark.parametrize("kind", ["deep", "nan", "not json"])
def test_a_stored_value_that_cannot_be_shown_parsed_is_shown_as_its_text(
    store_client: TestClient, store: FakeStore, kind: str
) -> None:
    store.tables["events"] = [_event(POISON[kind])]
    answer = store_client.get(f"/v1/contacts/{CONTACT}/events")
    assert answer.json()["events"][0]["properties"] == POISON[kind]  # not null, not a 500


def test_properties_nested_deeper_than_the_limit_are_400_naming_it(
    client: TestClient, writer: FakeWriter
) -> None:
    body = {"email": "ada@example.com", "name": "deep", "properties": _nested(MAX_DEPTH + 1)}
    answer = client.post("/v1/events", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["field"].startswith("properties")
    assert f"deeper than {MAX_DEPTH} levels" in error["reason"]
    assert not writer.incoming() and len(writer.statuses()) == 1
    fits = {**body, "properties": _nested(MAX_DEPTH)}
    assert client.post("/v1/events", json=fits).status_code == 202
    deep_contact = {"email": "ada@example.com", "attributes": _nested(MAX_DEPTH + 1)}
    answer = client.post("/v1/contacts", json=deep_contact)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "attributes"


def test_a_redrive_of_an_unparsable_stored_record_keeps_its_text(
    store_client: TestClient, store: FakeStore
) -> None:
    store.tables["incoming_events"] = [_incoming('{"sku": "MUG-1"}')]
    answer = store_client.post("/v1/events/e-1/redrive")
    assert answer.status_code == 202, answer.text
    store.tables["incoming_events"] = [_incoming(POISON["not json"])]
    answer = store_client.post("/v1/events/e-1/redrive")
    assert answer.status_code == 409, answer.text
    assert "properties" in answer.text


def test_an_event_whose_row_clickhouse_refused_is_failed_though_processed(
    store_client: TestClient, store: FakeStore
) -> None:
    processed = {**_incoming("{}"), "status": "processed", "process_error": None}
    refused = {
        **_incoming("{}"),
        "receipt_id": "sink:t.events:0:7",
        "process_error": "ClickHouse refused it: …",
    }
    store.tables["incoming_events"] = [processed, refused]
    store.tables["events"] = [_event("{}")]
    answer = store_client.get("/v1/events/e-1", headers={"X-Eventline-Account": "app"})
    assert answer.json()["status"] == "failed"
    assert answer.json()["process_error"].startswith("ClickHouse refused it")
