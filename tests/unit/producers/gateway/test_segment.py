"""Segment routes of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

import base64

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
            {"type": "page", "userId": "u-1"},
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
