"""The Mailchimp paths of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeWriter

HASH = hashlib.md5(b"ada@example.com").hexdigest()
PATH = f"/3.0/lists/57afe96172/members/{HASH}/events"


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"foo:{key}".encode()).decode()}


def _key(client: TestClient) -> str:
    client.post("/v1/accounts", json={"account_id": "games"})
    return str(client.post("/v1/accounts/games/keys").json()["key"])


def test_an_event_by_subscriber_hash_is_204_and_routed_by_hash(
    client: TestClient, writer: FakeWriter
) -> None:
    body = {"name": "registered_referral", "properties": {"referral_code": "GAMER42"}}
    answer = client.post(PATH, json=body, headers=_basic(_key(client)))
    assert answer.status_code == 204 and answer.content == b""
    key, record = writer.incoming()[-1]
    assert key == f"games/md5/{HASH}" and record["route_key"] == key
    assert record["account_id"] == "games" and record["name"] == "registered_referral"
    assert record["source"] == "mailchimp:57afe96172" and record["is_syncing"] is False


def test_an_invalid_name_is_400_in_mailchimps_shape_and_recorded(
    client: TestClient, writer: FakeWriter
) -> None:
    answer = client.post(PATH, json={"name": "bad name!"}, headers=_basic(_key(client)))
    assert answer.status_code == 400
    doc = answer.json()
    assert doc["title"] == "Invalid Resource" and doc["errors"][0]["field"] == "name"
    _, status = writer.statuses()[-1]
    assert status["status"] == "REJECTED" and "name" in status["process_error"]


def test_a_wrong_key_is_401_in_mailchimps_shape(client: TestClient) -> None:
    answer = client.post(PATH, json={"name": "ok_name"}, headers=_basic("el_nope"))
    assert answer.status_code == 401
    assert answer.json()["title"] == "API Key Invalid" and answer.json()["status"] == 401


def test_reading_needs_clickhouse(client: TestClient) -> None:
    assert client.get(PATH, headers=_basic(_key(client))).status_code == 503


def test_a_mailchimp_shaped_key_is_minted_on_request_and_works(client: TestClient) -> None:
    client.post("/v1/accounts", json={"account_id": "games"})
    created = client.post("/v1/accounts/games/keys", json={"shape": "mailchimp"}).json()
    assert created["shape"] == "mailchimp" and "-el" in created["key"]
    answer = client.post(PATH, json={"name": "ok_name"}, headers=_basic(created["key"]))
    assert answer.status_code != 401
    listed = client.get("/v1/accounts/games/keys").json()["keys"]
    assert listed[0]["shape"] == "mailchimp" and created["key"] not in str(listed)
    wrong = client.post("/v1/accounts/games/keys", json={"shape": "segment"})
    assert wrong.status_code == 422


@pytest.mark.parametrize("shape", ["eventline", "mailchimp"])
def test_a_key_with_a_datacenter_suffix_is_accepted(client: TestClient, shape: str) -> None:
    client.post("/v1/accounts", json={"account_id": "games"})
    key = client.post("/v1/accounts/games/keys", json={"shape": shape}).json()["key"]
    answer = client.post(PATH, json={"name": "ok_name"}, headers=_basic(f"{key}-us1"))
    assert answer.status_code != 401
    bad = client.post(PATH, json={"name": "ok_name"}, headers=_basic(f"{key[:-2]}xx-us1"))
    assert bad.status_code == 401 and bad.json()["title"] == "API Key Invalid"
