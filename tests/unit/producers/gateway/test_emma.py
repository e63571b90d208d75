"""Emma's event type routes of the gateway (Kafka replaced by a fake): every answer is the
outcome of the change as the accounts ledger folded it."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from producers.accounts import ledger
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


def test_types_past_the_accounts_bound_are_refused_in_emmas_shape(
    store_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "MAX_EVENT_TYPES", 2)
    client = store_client  # deleting a type erases its events from ClickHouse (a fake here)
    base, auth = _account(client)
    for name in ("a", "b"):
        assert client.post(base, json={"event_type": name, "display_name": name}, headers=auth)
    full = client.post(base, json={"event_type": "c", "display_name": "C"}, headers=auth)
    assert full.status_code == 400
    reason = "the account has 2 member event types, at most 2: delete one first"
    assert full.json() == {
        "error": f"event_type: {reason}",
        "errors": [{"field": "event_type", "reason": reason}],
    }
    assert client.delete(f"{base}/1", headers=auth).status_code == 200
    again = client.post(base, json={"event_type": "c", "display_name": "C"}, headers=auth)
    assert again.status_code == 200 and again.json()["event_type_id"] == 3


def test_types_past_the_settings_size_are_refused(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "MAX_SETTINGS_BYTES", 1500)
    base, auth = _account(client)
    answers = [
        client.post(base, json={"event_type": f"t{i}", "display_name": "D" * 200}, headers=auth)
        for i in range(6)
    ]
    assert [a.status_code for a in answers][:4] == [200, 200, 200, 200]
    assert answers[-1].status_code == 400
    assert "more than 1500 bytes as stored" in answers[-1].json()["errors"][0]["reason"]
    stored = [t["event_type"] for t in client.get(base, headers=auth).json()]
    assert stored == [a.json()["event_type"] for a in answers if a.status_code == 200]
