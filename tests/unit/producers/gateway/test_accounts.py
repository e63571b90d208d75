"""Admin API and API-key authentication of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from eventline.core.settings import Settings


def _key(client: TestClient, account: str = "acme") -> str:
    assert client.post("/v1/accounts", json={"account_id": account}).status_code == 201
    answer = client.post(f"/v1/accounts/{account}/keys", json={"label": "ci"})
    assert answer.status_code == 201
    return str(answer.json()["key"])


def test_an_account_and_a_key_are_created_and_listed_without_the_key(client: TestClient) -> None:
    created = client.post("/v1/accounts", json={"account_id": "acme", "name": "Acme"}).json()
    assert created["account_id"] == "acme" and created["enabled"] is True
    assert 100_000_000 <= created["number"] < 1_000_000_000
    key = client.post("/v1/accounts/acme/keys", json={"label": "ci"}).json()
    assert key["key"].startswith(f"el_{key['key_id']}_")
    listed = client.get("/v1/accounts/acme/keys").json()["keys"]
    assert [k["key_id"] for k in listed] == [key["key_id"]]
    assert "key" not in listed[0] and key["key"] not in str(listed)
    assert [a["account_id"] for a in client.get("/v1/accounts").json()["accounts"]] == ["acme"]


def test_admin_errors_name_the_problem(client: TestClient) -> None:
    client.post("/v1/accounts", json={"account_id": "acme"})
    assert client.post("/v1/accounts", json={"account_id": "acme"}).status_code == 409
    assert client.post("/v1/accounts", json={"account_id": "a b"}).status_code == 422
    missing = client.post("/v1/accounts/nope/keys", json={})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]["reason"]
    assert client.post("/v1/accounts/acme/keys/000000000000/disable").status_code == 404
    assert client.post("/v1/accounts/acme/explode").status_code == 404


def test_a_key_acts_for_its_account(client: TestClient, writer: object) -> None:
    key = _key(client)
    answer = client.post(
        "/v1/events",
        json={"email": "ada@example.com", "name": "purchase"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 202
    (_, record) = writer.incoming()[-1]  # type: ignore[attr-defined]
    assert record["account_id"] == "acme"
    also = client.post(
        "/v1/events", json={"email": "a@example.com", "name": "x"}, headers={"X-Api-Key": key}
    )
    assert also.status_code == 202


def test_a_key_cannot_act_for_another_account(client: TestClient) -> None:
    key = _key(client)
    answer = client.post(
        "/v1/events",
        json={"email": "ada@example.com", "name": "purchase"},
        headers={"Authorization": f"Bearer {key}", "X-Eventline-Account": "other"},
    )
    assert answer.status_code == 403
    assert answer.json()["detail"]["field"] == "X-Eventline-Account"


def test_unknown_and_disabled_keys_are_refused(client: TestClient) -> None:
    key = _key(client)
    event = {"email": "ada@example.com", "name": "purchase"}
    bad = client.post("/v1/events", json=event, headers={"Authorization": "Bearer el_x"})
    assert bad.status_code == 401 and bad.json()["detail"]["error"] == "unauthorized"
    key_id = key.split("_")[1]
    assert client.post(f"/v1/accounts/acme/keys/{key_id}/disable").json()["enabled"] is False
    refused = client.post("/v1/events", json=event, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403
    client.post(f"/v1/accounts/acme/keys/{key_id}/enable")
    client.post("/v1/accounts/acme/disable")
    refused = client.post("/v1/events", json=event, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and "acme" in refused.json()["detail"]["reason"]


@pytest.fixture
def closed_settings() -> Settings:
    return Settings(open_access=False, admin_token="s3cret")


def test_without_open_access_every_request_needs_a_key(
    monkeypatch: pytest.MonkeyPatch, closed_settings: Settings
) -> None:
    from eventline.producers.gateway import app as gateway_app
    from tests.unit.producers.gateway.conftest import use_fakes

    use_fakes(monkeypatch)
    with TestClient(gateway_app.create_app(closed_settings)) as client:
        anonymous = client.post("/v1/events", json={"email": "a@example.com", "name": "x"})
        assert anonymous.status_code == 401
        assert client.post("/v1/accounts", json={"account_id": "acme"}).status_code == 401
        admin = {"Authorization": "Bearer s3cret"}
        assert client.post("/v1/accounts", json={"account_id": "acme"}, headers=admin).is_success
        key = client.post("/v1/accounts/acme/keys", headers=admin).json()["key"]
        keyed = client.post(
            "/v1/events",
            json={"email": "a@example.com", "name": "x"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert keyed.status_code == 202


def test_disabling_an_account_keeps_its_settings(client: TestClient) -> None:
    key = _key(client)
    api = {"Api-Token": key}
    body = {"eventTrackingEvent": {"name": "login"}}
    assert client.post("/api/3/eventTrackingEvents", json=body, headers=api).status_code == 201
    disabled = client.post("/v1/accounts/acme/disable")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert client.post("/v1/accounts/acme/enable").json()["enabled"] is True
    listed = client.get("/api/3/eventTrackingEvents", headers=api).json()
    assert listed["eventTrackingEvents"] == [{"name": "login"}]
