"""ActiveCampaign routes of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from producers.accounts import ledger
from schemas.limits import TEXT_LIMITS
from tests.unit.producers.gateway.conftest import FakeWriter


def _account(client: TestClient) -> tuple[dict[str, Any], str]:
    account = client.post("/v1/accounts", json={"account_id": "shop"}).json()
    key = client.post("/v1/accounts/shop/keys").json()["key"]
    return account, key


def _form(account: dict[str, Any], key: str, **change: str) -> dict[str, str]:
    return {
        "actid": str(account["number"]),
        "key": key,
        "event": "file download request",
        "eventdata": "https://www.yoursite.com/downloads/file.pdf",
        "visit": '{"email":"ada@example.com"}',
        **change,
    }


def test_the_guides_form_spawns_an_event_that_needs_an_existing_contact(
    client: TestClient, writer: FakeWriter
) -> None:
    account, key = _account(client)
    answer = client.post("/event", data=_form(account, key))
    assert answer.status_code == 200 and answer.json() == {"success": 1, "message": "Event spawned"}
    _, record = writer.incoming()[-1]
    assert (record["name"], record["email"], record["unknown_contact"]) == (
        "file download request",
        "ada@example.com",
        "fail",
    )


def test_a_wrong_key_or_actid_is_refused(client: TestClient) -> None:
    account, key = _account(client)
    assert client.post("/event", data=_form(account, "el_bad")).json()["success"] == 0
    wrong = client.post("/event", data=_form(account, key, actid="1"))
    assert wrong.status_code == 403 and wrong.json()["success"] == 0


def test_switched_off_tracking_refuses_events_and_records_them(
    client: TestClient, writer: FakeWriter
) -> None:
    account, key = _account(client)
    api = {"Api-Token": key}
    assert client.get("/api/3/eventTracking", headers=api).json() == {
        "eventTracking": {"enabled": True}
    }
    off = {"eventTracking": {"enabled": False}}
    assert client.post("/api/3/eventTracking", json=off, headers=api).json() == off
    refused = client.post("/event", data=_form(account, key))
    assert refused.status_code == 403 and refused.json()["success"] == 0
    _, status = writer.statuses()[-1]
    assert status["status"] == "REJECTED" and "switched off" in status["process_error"]


def test_a_missing_visit_is_400_and_recorded(client: TestClient, writer: FakeWriter) -> None:
    account, key = _account(client)
    answer = client.post("/event", data=_form(account, key, visit=""))
    assert answer.status_code == 400 and "visit" in answer.json()["message"]
    assert writer.statuses()[-1][1]["status"] == "REJECTED"


def test_the_whitelist_is_created_listed_and_deleted_by_url_encoded_name(
    client: TestClient,
) -> None:
    _, key = _account(client)
    api = {"Api-Token": key}
    body = {"eventTrackingEvent": {"name": "file download request"}}
    created = client.post("/api/3/eventTrackingEvents", json=body, headers=api)
    assert created.status_code == 201 and created.json() == body
    listed = client.get("/api/3/eventTrackingEvents", headers=api).json()
    assert listed == {
        "eventTrackingEvents": [{"name": "file download request"}],
        "meta": {"total": 1},
    }
    gone = client.delete("/api/3/eventTrackingEvents/file%20download%20request", headers=api)
    assert gone.status_code == 200
    assert client.get("/api/3/eventTrackingEvents", headers=api).json()["meta"]["total"] == 0
    missing = client.delete("/api/3/eventTrackingEvents/nope", headers=api)
    assert missing.status_code == 404


def test_api_routes_need_a_valid_token(client: TestClient) -> None:
    answer = client.get("/api/3/eventTracking", headers={"Api-Token": "nope"})
    assert answer.status_code == 403 and "message" in answer.json()


def test_a_name_added_twice_is_listed_once_and_removed_once(client: TestClient) -> None:
    _, key = _account(client)
    api = {"Api-Token": key}
    body = {"eventTrackingEvent": {"name": "login"}}
    for _ in range(2):
        assert client.post("/api/3/eventTrackingEvents", json=body, headers=api).status_code == 201
    assert client.get("/api/3/eventTrackingEvents", headers=api).json()["meta"]["total"] == 1
    assert client.delete("/api/3/eventTrackingEvents/login", headers=api).status_code == 200
    second = client.delete("/api/3/eventTrackingEvents/login", headers=api)
    assert second.status_code == 404
    assert second.json() == {"message": "No Result found for EventTrackingEvent 'login'"}


def test_whitelisted_names_are_bounded_and_refused_in_the_v3_shape(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "MAX_EVENT_NAMES", 2)
    _, key = _account(client)
    api = {"Api-Token": key}

    def add(name: str) -> Any:
        body = {"eventTrackingEvent": {"name": name}}
        return client.post("/api/3/eventTrackingEvents", json=body, headers=api)

    assert add("a").status_code == add("b").status_code == add("a").status_code == 201
    full = add("c")
    assert full.status_code == 422
    reason = "the account has 2 whitelisted event names, at most 2: remove one first"
    assert full.json() == {
        "message": f"eventTrackingEvent.name: {reason}",
        "errors": [
            {
                "title": reason,
                "detail": "",
                "code": "invalid",
                "source": {"pointer": "/eventTrackingEvent/name"},
            }
        ],
    }
    too_long = add("n" * (TEXT_LIMITS["name"] + 1))  # no event could have that name
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["source"]["pointer"] == "/eventTrackingEvent/name"
    names = client.get("/api/3/eventTrackingEvents", headers=api).json()["eventTrackingEvents"]
    assert names == [{"name": "a"}, {"name": "b"}]
    assert client.delete("/api/3/eventTrackingEvents/a", headers=api).status_code == 200
    assert add("c").status_code == 201
