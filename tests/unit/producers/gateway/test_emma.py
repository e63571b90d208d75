"""Emma's event type routes of the gateway (Kafka replaced by a fake): every answer is the
outcome of the change as the accounts ledger folded it."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeWriter


def _account(client: TestClient) -> tuple[str, dict[str, str]]:
    number = client.post("/v1/accounts", json={"account_id": "shop"}).json()["number"]
    key = client.post("/v1/accounts/shop/keys").json()["key"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"public:{key}".encode()).decode()}
    return f"/{number}/events", auth


def test_types_are_created_renamed_and_listed_with_ids_the_ledger_allocated(
    client: TestClient, writer: FakeWriter
) -> None:
    base, auth = _account(client)
    visited = {"event_type": "visited_website", "display_name": "Visited Website"}
    created = client.post(base, json=visited, headers=auth)
    assert created.status_code == 200 and created.json()["event_type_id"] == 1
    tickets = {"event_type": "purchased", "display_name": "Purchased"}
    assert client.post(base, json=tickets, headers=auth).json()["event_type_id"] == 2
    renamed = {"event_type": "bought", "display_name": "Bought"}
    answer = client.put(f"{base}/2", json=renamed, headers=auth)
    assert answer.status_code == 200 and answer.json()["event_type_id"] == 2
    assert [t["event_type"] for t in client.get(base, headers=auth).json()] == [
        "visited_website",
        "bought",
    ]
    assert client.get(f"{base}/2", headers=auth).json() == answer.json()
    changes = [key for _, key, _ in writer.records if key.startswith("change/shop/")]
    assert len(changes) == 4  # the account and three changes, each a record of its own


def test_conflicts_answer_in_emmas_shape(client: TestClient) -> None:
    base, auth = _account(client)
    visited = {"event_type": "visited_website", "display_name": "Visited Website"}
    client.post(base, json=visited, headers=auth)
    client.post(base, json={"event_type": "other", "display_name": "Other"}, headers=auth)
    again = client.post(base, json=visited, headers=auth)
    assert again.status_code == 400
    assert again.json() == {"error": "event type 'visited_website' already exists"}
    taken = client.put(f"{base}/2", json=visited, headers=auth)
    assert taken.status_code == 400 and "already exists" in taken.json()["error"]
    missing = client.put(f"{base}/9", json=visited, headers=auth)
    assert missing.status_code == 404 and missing.json() == {"error": "no member event type 9"}
    assert client.get(f"{base}/9", headers=auth).status_code == 404
