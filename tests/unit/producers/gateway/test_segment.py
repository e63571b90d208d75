"""Segment routes of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeWriter


def _write_key(client: TestClient) -> str:
    client.post("/v1/accounts", json={"account_id": "app"})
    return str(client.post("/v1/accounts/app/keys").json()["key"])


def _basic(key: str) -> dict[str, str]:
    # Segment's libraries send the write key as the user name, with an empty password
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_track_with_basic_write_key_is_recorded_for_the_keys_account(
    client: TestClient, writer: FakeWriter
) -> None:
    key = _write_key(client)
    body = {"userId": "u-1", "event": "Order Completed", "messageId": "m-1"}
    answer = client.post("/v1/track", json=body, headers=_basic(key))
    assert answer.status_code == 200 and answer.json() == {"success": True}
    _, record = writer.incoming()[-1]
    assert (record["account_id"], record["name"], record["idempotency_key"]) == (
        "app",
        "Order Completed",
        "m-1",
    )


def test_the_write_key_may_come_in_the_body(client: TestClient, writer: FakeWriter) -> None:
    key = _write_key(client)
    body = {"writeKey": key, "userId": "u-1", "event": "Signed Up"}
    assert client.post("/v1/track", json=body).status_code == 200
    assert writer.incoming()[-1][1]["account_id"] == "app"
    assert client.post("/v1/track", json={**body, "writeKey": "el_x"}).status_code == 401


def test_identify_registers_the_contact_with_aliases(
    client: TestClient, writer: FakeWriter
) -> None:
    key = _write_key(client)
    body = {"userId": "u-1", "traits": {"email": "Ada@Example.com", "plan": "pro"}}
    assert client.post("/v1/identify", json=body, headers=_basic(key)).status_code == 200
    kinds = [record["kind"] for _, record in writer.incoming()]
    assert kinds[-1] == "CONTACT" and "IDENTITY" in kinds


def test_a_batch_records_the_valid_calls_and_names_the_invalid_ones(
    client: TestClient, writer: FakeWriter
) -> None:
    key = _write_key(client)
    batch = {
        "batch": [
            {"type": "track", "userId": "u-1", "event": "Order Completed"},
            {"type": "pageview", "userId": "u-1"},
            {"type": "track", "userId": "u-1"},
        ]
    }
    answer = client.post("/v1/batch", json=batch, headers=_basic(key))
    assert answer.status_code == 400 and answer.json()["success"] is False
    assert [e["field"] for e in answer.json()["errors"]] == ["batch[1].type", "batch[2].event"]
    assert [r["kind"] for _, r in writer.incoming()][-1] == "EVENT"
    assert len(writer.statuses()) == 2  # both invalid calls recorded as rejected
    assert client.post("/v1/batch", json={"batch": "x"}, headers=_basic(key)).status_code == 400
    too_many = {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 4}  # limit is 3 here
    assert client.post("/v1/batch", json=too_many, headers=_basic(key)).status_code == 413


def test_page_screen_group_and_alias_have_their_routes(
    client: TestClient, writer: FakeWriter
) -> None:
    auth = _basic(_write_key(client))
    page = {"anonymousId": "a-7", "name": "Pricing", "properties": {"url": "/pricing"}}
    assert client.post("/v1/page", json=page, headers=auth).json() == {"success": True}
    key, viewed = writer.incoming()[-1]
    assert key == "app/user/anonymous:a-7" and viewed["name"] == "Page Viewed"
    assert viewed["properties_json"] == '{"name":"Pricing","url":"/pricing"}'
    screen = {"userId": "u-1", "name": "Basket"}
    assert client.post("/v1/screen", json=screen, headers=auth).status_code == 200
    assert writer.incoming()[-1][1]["name"] == "Screen Viewed"
    group = {"userId": "u-1", "groupId": "acme", "traits": {"name": "Acme Inc"}}
    assert client.post("/v1/group", json=group, headers=auth).status_code == 200
    key, contact = writer.incoming()[-1]
    assert (key, contact["kind"]) == ("app/user/u-1", "CONTACT")
    assert contact["attributes_json"] == '{"group_id":"acme","group_traits":{"name":"Acme Inc"}}'


def test_alias_registers_the_user_and_points_both_readings_of_previous_id_at_it(
    client: TestClient, writer: FakeWriter
) -> None:
    auth = _basic(_write_key(client))
    before = len(writer.incoming())
    alias = {"previousId": "a-7", "userId": "u-1", "messageId": "m-1"}
    assert client.post("/v1/alias", json=alias, headers=auth).json() == {"success": True}
    written = writer.incoming()[before:]
    claims = {key: r["route_key"] for key, r in written if r["kind"] == "IDENTITY"}
    assert claims == {"app/user/anonymous:a-7": "app/user/u-1", "app/user/a-7": "app/user/u-1"}
    assert [(k, r["kind"]) for k, r in written][-1] == ("app/user/u-1", "CONTACT")
    assert written[-1][1]["attributes_json"] == "{}"  # the user's traits stay as they are


def test_identify_with_an_anonymous_id_claims_it_as_alias_does(
    client: TestClient, writer: FakeWriter
) -> None:
    auth = _basic(_write_key(client))
    before = len(writer.incoming())
    body = {"userId": "u-1", "anonymousId": "a-7", "traits": {"email": "ada@example.com"}}
    assert client.post("/v1/identify", json=body, headers=auth).status_code == 200
    claims = {k: r["route_key"] for k, r in writer.incoming()[before:] if r["kind"] == "IDENTITY"}
    assert claims["app/user/anonymous:a-7"] == "app/email/ada@example.com"
    assert claims["app/user/u-1"] == "app/email/ada@example.com"


def test_a_batch_of_all_six_types_is_accepted(client: TestClient, writer: FakeWriter) -> None:
    auth = _basic(_write_key(client))
    calls = [
        {"type": "identify", "userId": "u-1", "traits": {"plan": "pro"}},
        {"type": "track", "userId": "u-1", "event": "Signed Up"},
        {"type": "page", "userId": "u-1", "name": "Home"},
        {"type": "screen", "userId": "u-1", "name": "Basket"},
        {"type": "group", "userId": "u-1", "groupId": "acme"},
        {"type": "alias", "previousId": "a-7", "userId": "u-1"},
    ]
    for half in (calls[:3], calls[3:]):  # at most 3 calls per batch in these tests
        answer = client.post("/v1/batch", json={"batch": half}, headers=auth)
        assert answer.status_code == 200 and answer.json() == {"success": True}
    records = [r for _, r in writer.incoming() if r["kind"] != "IDENTITY"]
    assert [r["name"] for r in records if r["kind"] == "EVENT"] == [
        "Signed Up",
        "Page Viewed",
        "Screen Viewed",
    ]
    assert writer.statuses() == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/track", {"userId": "u-1", "event": "e" * 201}, "event"),
        ("/v1/track", {"userId": "u-1"}, "event"),
        ("/v1/track", {"event": "e"}, "userId"),
        ("/v1/track", {"userId": "u" * 256, "event": "e"}, "userId"),
        ("/v1/track", {"anonymousId": "a" * 250, "event": "e"}, "anonymousId"),
        ("/v1/track", {"userId": "u-1", "event": "e", "messageId": "m" * 256}, "messageId"),
        ("/v1/track", {"userId": "u-1", "event": "e", "timestamp": "soon"}, "timestamp"),
        ("/v1/track", {"userId": "u-1", "event": "e", "timestamp": "1960-01-01"}, "timestamp"),
        ("/v1/track", {"userId": "u-1", "event": "e", "properties": [1]}, "properties"),
        (
            "/v1/track",
            {"userId": "u-1", "event": "e", "properties": {"revenue": "lots"}},
            "properties.revenue",
        ),
        ("/v1/page", {"userId": "u-1", "originalTimestamp": "x"}, "originalTimestamp"),
        ("/v1/identify", {"userId": "u-1", "traits": "pro"}, "traits"),
        ("/v1/identify", {"userId": "u-1", "traits": {"email": "not-an-email"}}, "traits.email"),
        ("/v1/group", {"userId": "u-1"}, "groupId"),
        ("/v1/alias", {"userId": "u-1"}, "previousId"),
        ("/v1/alias", {"previousId": "a-7"}, "userId"),
    ],
)
def test_error_documents_name_segments_fields(
    client: TestClient, writer: FakeWriter, path: str, body: dict[str, Any], field: str
) -> None:
    answer = client.post(path, json=body, headers=_basic(_write_key(client)))
    assert answer.status_code == 400, answer.text
    document = answer.json()
    assert document["success"] is False and document["code"] == "invalid_request"
    assert [e["field"] for e in document["errors"]] == [field]
    assert document["message"].startswith("invalid calls")
    assert f"{field}: " in document["message"]
    assert len(writer.statuses()) == 1  # recorded as rejected


def test_batch_errors_name_the_call_and_segments_field(client: TestClient) -> None:
    calls = [
        {"type": "track", "userId": "u-1", "event": "ok"},
        {"type": "track", "userId": "u-1", "event": "e", "messageId": "m" * 256},
    ]
    answer = client.post("/v1/batch", json={"batch": calls}, headers=_basic(_write_key(client)))
    assert [e["field"] for e in answer.json()["errors"]] == ["batch[1].messageId"]


def test_a_wrong_write_key_is_401_with_a_code(client: TestClient) -> None:
    _write_key(client)
    answer = client.post("/v1/page", json={"userId": "u-1"}, headers=_basic("el_wrong"))
    assert answer.status_code == 401
    assert answer.json()["success"] is False and answer.json()["code"] == "unauthorized"


def test_a_batch_asked_for_as_backfill_stores_its_events_never_triggering(
    client: TestClient, writer: FakeWriter
) -> None:
    key = _write_key(client)
    batch = {
        "batch": [
            {"type": "track", "userId": "u-1", "event": "Order Completed", "messageId": "m-1"},
            {"type": "identify", "userId": "u-1", "traits": {"plan": "pro"}},
            {"type": "page", "userId": "u-1", "name": "Home"},
        ]
    }
    headers = {**_basic(key), "X-Eventline-Backfill": "true"}
    assert client.post("/v1/batch", json=batch, headers=headers).status_code == 200
    records = [r for _, r in writer.incoming()[-3:]]
    events = [r for r in records if r["kind"] == "EVENT"]
    assert len(events) == 2 and all(r["is_syncing"] is True for r in events)
    assert client.post("/v1/batch", json=batch, headers=_basic(key)).status_code == 200
    live = [r for _, r in writer.incoming()[-3:] if r["kind"] == "EVENT"]
    assert [r["is_syncing"] for r in live] == [False, False]  # without it: live, as sent
