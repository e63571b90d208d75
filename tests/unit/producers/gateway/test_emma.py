"""Emma's event type routes of the gateway (Kafka replaced by a fake): every answer is the
outcome of the change as the accounts ledger folded it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventline.producers.dialects import emma
from eventline.schemas.accounts import ledger
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


def _members(client: TestClient, base: str, auth: dict[str, str], raw: str) -> Any:
    headers = {**auth, "content-type": "application/json"}
    return client.post(f"{base}/members", content=raw, headers=headers)


BUY = '"email": "ada@example.com", "event_type": "buy"'


@pytest.mark.parametrize(
    ("event", "field", "status"),
    [
        (f'{{{BUY}, "event_monetary_value": "abc"}}', "events[0].event_monetary_value", 400),
        (f'{{{BUY}, "event_monetary_value": 1e400}}', "events[0].event_monetary_value", 400),
        (f'{{{BUY}, "event_timestamp": "1900-01-01T00:00:00"}}', "events[0].event_timestamp", 400),
        (
            f'{{{BUY}, "event_timestamp": "@D:2999-01-01T00:00:00"}}',
            "events[0].event_timestamp",
            400,
        ),
        (f'{{{BUY}, "event_timestamp": "soon"}}', "events[0].event_timestamp", 400),
        (f'{{{BUY}, "attributes": {{"x": "{"y" * 70_000}"}}}}', "events[0].attributes", 413),
        (f'{{{BUY}, "attributes": {{"x": NaN}}}}', "events[0].attributes.x", 400),
        ('{"email": "not-an-email", "event_type": "buy"}', "events[0].email", 400),
        ('{"email": 5, "event_type": "buy"}', "events[0].email", 400),
        ('{"member_id": "zz", "event_type": "buy"}', "events[0].member_id", 400),
        ('{"member_id": 5, "event_type_id": 99}', "events[0].event_type_id", 400),
        (f'{{{BUY}, "value": 3}}', "events[0].value", 400),  # not Emma's: refused, not dropped
        ("7", "events[0]", 400),
    ],
)
def test_member_event_errors_name_emmas_fields(
    client: TestClient, writer: FakeWriter, event: str, field: str, status: int
) -> None:
    base, auth = _account(client)
    client.post(base, json={"event_type": "buy", "display_name": "Buy"}, headers=auth)
    answer = _members(client, base, auth, f'{{"events": [{event}]}}')
    assert answer.status_code == status, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert answer.json()["error"].startswith(field + ": ")
    assert not writer.incoming()  # none of the call is written
    assert writer.statuses()[-1][1]["status"] == "REJECTED"  # and the refusal is recorded


def test_a_type_whose_name_events_cannot_carry_is_named_as_emma_names_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A type stored before the bound existed: its events are refused under event_type."""
    base, auth = _account(client)
    monkeypatch.setattr(emma, "MAX_EVENT_TYPE", 1000)
    long_type = "t" * 300
    assert client.post(base, json={"event_type": long_type, "display_name": "L"}, headers=auth)
    answer = _members(
        client,
        base,
        auth,
        f'{{"events": [{{"email": "a@example.com", "event_type": "{long_type}"}}]}}',
    )
    assert answer.status_code == 400
    assert {e["field"] for e in answer.json()["errors"]} == {"events[0].event_type"}


def test_a_type_name_has_the_bound_of_its_events(client: TestClient, writer: FakeWriter) -> None:
    base, auth = _account(client)
    longest = "t" * emma.MAX_EVENT_TYPE
    created = client.post(base, json={"event_type": longest, "display_name": "L"}, headers=auth)
    assert created.status_code == 200
    event = f'{{"events": [{{"email": "a@example.com", "event_type": "{longest}"}}]}}'
    assert _members(client, base, auth, event).status_code == 200
    assert writer.incoming()[-1][1]["event_type"] == longest
    too_long = {"event_type": longest + "t", "display_name": "L"}
    reason = f"is longer than {emma.MAX_EVENT_TYPE} characters"
    expected = {
        "error": f"event_type: {reason}",
        "errors": [{"field": "event_type", "reason": reason}],
    }
    for answer in (
        client.post(base, json=too_long, headers=auth),
        client.put(f"{base}/1", json=too_long, headers=auth),
    ):
        assert answer.status_code == 400 and answer.json() == expected
    display = client.post(base, json={"event_type": "x", "display_name": "D" * 201}, headers=auth)
    assert display.status_code == 400
    assert display.json()["errors"] == [
        {"field": "display_name", "reason": "is longer than 200 characters"}
    ]
