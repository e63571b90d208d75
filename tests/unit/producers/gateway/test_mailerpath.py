"""MailerPath routes of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeWriter

EVENT = {"event_type": "purchase", "email": "ada@example.com", "value": 12.5}


def test_a_client_event_is_202_with_type_and_default_name(
    client: TestClient, writer: FakeWriter
) -> None:
    answer = client.post("/api/v1/client/events", json=EVENT)
    assert answer.status_code == 202 and answer.json()["status"] == "received"
    _, record = writer.incoming()[-1]
    assert (record["name"], record["event_type"], record["source"]) == (
        "purchase",
        "purchase",
        "mailerpath",
    )


def test_an_unknown_type_is_400_naming_the_field_and_recorded(
    client: TestClient, writer: FakeWriter
) -> None:
    answer = client.post("/api/v1/client/events", json={**EVENT, "event_type": "login"})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "event_type"
    _, status = writer.statuses()[-1]
    assert status["status"] == "REJECTED" and status["record"]["source"] == "mailerpath"


def test_an_array_on_the_single_route_is_rejected(client: TestClient) -> None:
    assert client.post("/api/v1/client/events", json=[EVENT]).status_code == 400


def test_bulk_gives_a_result_per_event_with_indexed_fields(client: TestClient) -> None:
    body = {"events": [EVENT, {"event_type": "nope", "user_id": "u-1"}]}
    answer = client.post("/api/v1/client/events/bulk", json=body)
    assert answer.status_code == 207
    results = answer.json()["results"]
    assert results[0]["status"] == "received"
    assert results[1]["errors"][0]["field"] == "[1].event_type"
    assert client.post("/api/v1/client/events/bulk", json={"events": "x"}).status_code == 400
    assert client.post("/api/v1/client/events/bulk", json=[EVENT]).status_code == 202
