"""ActiveCampaign routes of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from eventline.schemas.accounts import ledger
from eventline.schemas.limits import TEXT_LIMITS
from tests.unit.producers.gateway.conftest import FakeStore, FakeWriter


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


CONTACT = "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01"
AT = datetime(2026, 3, 14, 15, 9, 26)


def _links(value: Any) -> list[str]:
    """Every URL under a ``links`` key, at any depth of an answer."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "links":
                assert isinstance(inner, dict)
                found += [str(url) for url in inner.values()]
            else:
                found += _links(inner)
    elif isinstance(value, list):
        for inner in value:
            found += _links(inner)
    return found


def _served(app_paths: list[str], path: str) -> bool:
    """Whether a GET route of the app serves ``path`` (OpenAPI's templates as patterns)."""
    patterns = [re.sub(r"\{[^/}]+\}", "[^/]+", p) for p in app_paths]
    return any(re.fullmatch(p, path) for p in patterns)


def test_every_link_in_the_answers_leads_to_a_route_that_exists(
    store_client: TestClient, store: FakeStore
) -> None:
    client = store_client
    _, key = _account(client)
    api = {"Api-Token": key}
    store.tables["contacts"] = [
        {
            "contact_id": CONTACT,
            "email": "ada@example.com",
            "user_id": None,
            "attributes": "{}",
            "tags": [],
            "created_at": AT,
            "updated_at": AT,
        }
    ]
    store.tables["events"] = [
        {
            "event_id": "e-1",
            "contact_id": CONTACT,
            "name": "file download request",
            "occurred_at": AT,
            "received_at": AT,
            "processed_at": AT,
            "properties": '{"eventdata": "file.pdf"}',
            "value": None,
            "is_syncing": 0,
            "source": "activecampaign",
            "idempotency_key": None,
            "event_type": "file download request",
        }
    ]
    answers = [
        client.get(f"/api/3/contacts/{CONTACT}/trackingLogs", headers=api),
        client.get(f"/api/3/activities?contact={CONTACT}", headers=api),
        client.get(f"/api/3/contacts/{CONTACT}", headers=api),
        client.get("/api/3/eventTracking", headers=api),
        client.get("/api/3/eventTrackingEvents", headers=api),
    ]
    assert [a.status_code for a in answers] == [200] * len(answers)
    links = [link for answer in answers for link in _links(answer.json())]
    assert len(links) >= 3  # the logs' and activities' contact, the contact's logs
    gets = [p for p, ops in client.app.openapi()["paths"].items() if "get" in ops]  # type: ignore[attr-defined]
    for link in links:
        url = urlsplit(link)
        assert url.scheme and url.netloc, link  # absolute, as ActiveCampaign's are
        assert _served(gets, url.path), f"{link} leads to no route of the gateway"
        followed = client.get(url.path, params=url.query, headers=api)
        assert followed.status_code == 200, (link, followed.text)
    contact = client.get(f"/api/3/contacts/{CONTACT}", headers=api).json()["contact"]
    assert (contact["id"], contact["email"]) == (CONTACT, "ada@example.com")
    store.tables["contacts"] = []  # the fake answers every row of a table, whatever the id
    missing = client.get("/api/3/contacts/nobody", headers=api)
    assert missing.status_code == 404 and "No Result found" in missing.json()["message"]


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"event": "e" * (TEXT_LIMITS["name"] + 1)}, "event", 400),
        ({"event": "a\x00b"}, "event", 400),
        ({"visit": '{"email": "not-an-email"}'}, "visit.email", 400),
        ({"eventdata": '{"value": "1e999"}'}, "eventdata.value", 400),
        ({"eventdata": '{"a":' * 40 + "1" + "}" * 40}, "eventdata", 400),
        ({"eventdata": "x" * 70_000}, "eventdata", 413),
    ],
)
def test_tracking_errors_name_the_forms_fields(
    client: TestClient, writer: FakeWriter, change: dict[str, str], field: str, status: int
) -> None:
    account, key = _account(client)
    answer = client.post("/event", data=_form(account, key, **change))
    assert answer.status_code == status, answer.text
    message = answer.json()["message"]
    assert answer.json()["success"] == 0 and message.startswith(f"{field}: "), message
    assert "; " not in message  # the name is the event's type too: one problem, not two
    assert writer.statuses()[-1][1]["status"] == "REJECTED" and not writer.incoming()
