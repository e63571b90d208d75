"""Gateway contacts, status and operations endpoints (no Kafka, no ClickHouse)."""

from __future__ import annotations

import hashlib
import json

from fastapi.testclient import TestClient

from .conftest import FakeWriter


def test_contact_with_email_and_user_id_writes_registration_and_alias(
    client: TestClient, writer: FakeWriter
) -> None:
    body = {"email": "Ada@Example.com", "user_id": "u-1", "attributes": {"plan": "pro"}}
    response = client.post("/v1/contacts", json=body)
    assert response.status_code == 202
    assert response.json()["status"] == "received"
    written = writer.incoming()
    md5 = "default/md5/" + hashlib.md5(b"ada@example.com").hexdigest()
    primary = "default/email/ada@example.com"
    assert [key for key, _ in written] == ["default/user/u-1", md5, primary]
    kinds = {key: record["kind"] for key, record in written}
    assert kinds == {"default/user/u-1": "IDENTITY", md5: "IDENTITY", primary: "CONTACT"}
    assert {written[0][1]["route_key"], written[1][1]["route_key"]} == {primary}
    registration = written[2][1]
    assert registration["event_id"] == response.json()["event_id"]
    assert json.loads(registration["attributes_json"]) == {"plan": "pro"}


def test_contact_with_one_identifier_writes_no_alias(
    client: TestClient, writer: FakeWriter
) -> None:
    assert client.post("/v1/contacts", json={"user_id": "u-2"}).status_code == 202
    assert [(key, r["kind"]) for key, r in writer.incoming()] == [("default/user/u-2", "CONTACT")]


def test_invalid_contact_is_400_and_recorded(client: TestClient, writer: FakeWriter) -> None:
    response = client.post("/v1/contacts", json={"attributes": {"plan": "pro"}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "email"
    assert writer.incoming() == []
    ((_, status),) = writer.statuses()
    assert status["status"] == "REJECTED" and status["record"]["kind"] == "CONTACT"


def test_event_status_without_a_store_is_503(client: TestClient) -> None:
    response = client.get("/v1/events/some-id")
    assert response.status_code == 503
    assert "ClickHouse" in response.json()["detail"]


def test_contact_lookup_without_a_store_is_503(client: TestClient) -> None:
    assert client.get("/v1/contacts", params={"email": "a@b.co"}).status_code == 503


def test_health_says_unavailable_when_kafka_does_not_answer(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["kafka"]["status"] == "unreachable"


def test_validate_endpoint_does_not_write(client: TestClient, writer: FakeWriter) -> None:
    valid = client.post("/v1/events/validate", json={"email": "a@b.co", "name": "x"})
    assert valid.status_code == 200
    assert client.post("/v1/events/validate", json={"email": "a@b.co"}).status_code == 422
    assert writer.records == []
