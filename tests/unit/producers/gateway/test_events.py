"""POST /v1/events: single, bulk, form-data, idempotency, rejections (no Kafka: a fake writer)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from eventline.schemas.model import event_id_for

from .conftest import FakeWriter

EVENT = {"email": "Ada@Example.com", "name": "purchase", "properties": {"sku": "MUG-1"}}


def test_single_event_is_accepted_and_written(client: TestClient, writer: FakeWriter) -> None:
    response = client.post("/v1/events", json=EVENT)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "received"
    assert body["event_id"] and body["received_at"]
    incoming = writer.incoming()
    assert len(incoming) == 1
    key, record = incoming[0]
    assert key == "default/email/ada@example.com"
    assert record["event_id"] == body["event_id"]
    assert record["kind"] == "EVENT" and record["source"] == "http:json"
    assert json.loads(record["properties_json"]) == {"sku": "MUG-1"}
    assert writer.statuses() == []


def test_writer_gets_the_configured_bootstrap(writer: FakeWriter) -> None:
    assert writer.bootstrap == "127.0.0.1:19092"


def test_invalid_event_is_400_and_recorded_as_rejected(
    client: TestClient, writer: FakeWriter
) -> None:
    response = client.post("/v1/events", json={"email": "ada@example.com"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_event" and body["status"] == "rejected"
    assert body["errors"] == [{"field": "name", "reason": "Field required"}]
    assert writer.incoming() == []
    statuses = writer.statuses()
    assert len(statuses) == 1
    key, status = statuses[0]
    assert key == body["event_id"] == status["record"]["event_id"]
    assert status["status"] == "REJECTED"
    assert status["process_error"].startswith("name: ")
    assert json.loads(status["raw"]) == {"email": "ada@example.com"}


def test_bulk_mixed_is_207_with_a_result_per_item(client: TestClient, writer: FakeWriter) -> None:
    items = [EVENT, {"email": "bob@example.com"}, {"user_id": "u-1", "name": "login"}]
    response = client.post("/v1/events", json=items)
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert [r["status"] for r in body["results"]] == ["received", "rejected", "received"]
    assert body["results"][1]["errors"][0]["field"] == "[1].name"
    assert [key for key, _ in writer.incoming()] == [
        "default/email/ada@example.com",
        "default/user/u-1",
    ]
    ((_, status),) = writer.statuses()
    assert json.loads(status["raw"]) == {"email": "bob@example.com"}


def test_bulk_all_valid_is_202_and_all_invalid_is_400(client: TestClient) -> None:
    assert client.post("/v1/events", json=[EVENT, EVENT]).status_code == 202
    assert client.post("/v1/events", json=[{"name": "x"}]).status_code == 400


def test_bulk_over_the_limit_is_413_and_writes_nothing(
    client: TestClient, writer: FakeWriter
) -> None:
    response = client.post("/v1/events", json=[EVENT] * 4)
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_events"
    assert writer.records == []


def test_empty_bulk_is_400(client: TestClient) -> None:
    assert client.post("/v1/events", json=[]).status_code == 400


def test_form_data_event(client: TestClient, writer: FakeWriter) -> None:
    form = {
        "email": "ada@example.com",
        "name": "signup",
        "value": "9.5",
        "properties[plan]": "pro",
        "properties[seats]": "3",
    }
    response = client.post("/v1/events", data=form)
    assert response.status_code == 202
    ((_, record),) = writer.incoming()
    assert record["source"] == "http:form"
    assert record["value"] == 9.5
    assert json.loads(record["properties_json"]) == {"plan": "pro", "seats": "3"}


def test_multipart_form_event(client: TestClient, writer: FakeWriter) -> None:
    files = {
        "email": (None, "ada@example.com"),
        "name": (None, "signup"),
        "properties": (None, '{"plan": "pro"}'),
    }
    assert client.post("/v1/events", files=files).status_code == 202
    ((_, record),) = writer.incoming()
    assert json.loads(record["properties_json"]) == {"plan": "pro"}


def test_resend_with_the_same_key_is_a_duplicate(client: TestClient, writer: FakeWriter) -> None:
    event = {**EVENT, "idempotency_key": "order-1001"}
    first = client.post("/v1/events", json=event).json()
    second = client.post("/v1/events", json=event).json()
    assert first["status"] == "received"
    assert second["status"] == "duplicate"
    assert second["event_id"] == first["event_id"] == event_id_for("default", "order-1001")
    receipts = [r["receipt_id"] for _, r in writer.incoming()]
    assert len(receipts) == 2 and receipts[0] != receipts[1]  # both written, worker dedups


def test_idempotency_key_header(client: TestClient, writer: FakeWriter) -> None:
    headers = {"Idempotency-Key": "hdr-1"}
    first = client.post("/v1/events", json=EVENT, headers=headers).json()
    second = client.post("/v1/events", json=EVENT, headers=headers).json()
    assert first["event_id"] == event_id_for("default", "hdr-1")
    assert second == {**first, "status": "duplicate", "received_at": second["received_at"]}
    assert writer.incoming()[0][1]["idempotency_key"] == "hdr-1"


def test_without_a_key_a_resend_is_a_new_event(client: TestClient) -> None:
    first = client.post("/v1/events", json=EVENT).json()
    second = client.post("/v1/events", json=EVENT).json()
    assert second["status"] == "received" and second["event_id"] != first["event_id"]


def test_invalid_json_is_400_and_recorded(client: TestClient, writer: FakeWriter) -> None:
    response = client.post(
        "/v1/events", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"
    ((_, status),) = writer.statuses()
    assert status["status"] == "REJECTED"
    assert status["raw"] == '{"name": "x",'


def test_account_header_selects_the_account(client: TestClient, writer: FakeWriter) -> None:
    headers = {"X-Eventline-Account": "acme"}
    assert client.post("/v1/events", json=EVENT, headers=headers).status_code == 202
    assert writer.incoming()[0][0] == "acme/email/ada@example.com"


def test_bad_account_header_is_400(client: TestClient, writer: FakeWriter) -> None:
    response = client.post("/v1/events", json=EVENT, headers={"X-Eventline-Account": "a/b"})
    assert response.status_code == 400
    assert response.json()["detail"]["field"] == "X-Eventline-Account"
    assert writer.records == []
