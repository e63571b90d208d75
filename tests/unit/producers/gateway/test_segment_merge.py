"""Segment's identify with both ids claims the anonymous id for the user (Kafka faked): the
worker merges the visitor's contact into the user's (eventline.streams.merge)."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeWriter


def _auth(client: TestClient) -> dict[str, str]:
    client.post("/v1/accounts", json={"account_id": "app"})
    key = client.post("/v1/accounts/app/keys").json()["key"]
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_identify_with_user_and_anonymous_ids_claims_the_anonymous_id(
    client: TestClient, writer: FakeWriter
) -> None:
    body = {"userId": "u-1", "anonymousId": "a-1", "traits": {"email": "ada@example.com"}}
    assert client.post("/v1/identify", json=body, headers=_auth(client)).status_code == 200
    claims = {key: r["route_key"] for key, r in writer.incoming() if r["kind"] == "IDENTITY"}
    assert claims["app/user/anonymous:a-1"] == "app/email/ada@example.com"
    assert claims["app/user/u-1"] == "app/email/ada@example.com"
    (key, registration), *_ = [(k, r) for k, r in writer.incoming() if r["kind"] == "CONTACT"]
    assert key == "app/email/ada@example.com" and registration["user_id"] == "u-1"


def test_identify_with_one_id_claims_nothing_more(client: TestClient, writer: FakeWriter) -> None:
    auth = _auth(client)
    for body in ({"anonymousId": "a-1", "traits": {"plan": "free"}}, {"userId": "u-1"}):
        assert client.post("/v1/identify", json=body, headers=auth).status_code == 200
    assert [r for _, r in writer.incoming() if r["kind"] == "IDENTITY"] == []
