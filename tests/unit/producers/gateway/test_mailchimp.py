"""The Mailchimp paths of the gateway (Kafka replaced by a fake)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeStore, FakeWriter

HASH = hashlib.md5(b"ada@example.com").hexdigest()
PATH = f"/3.0/lists/57afe96172/members/{HASH}/events"


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"foo:{key}".encode()).decode()}


def _key(client: TestClient) -> str:
    client.post("/v1/accounts", json={"account_id": "games"})
    return str(client.post("/v1/accounts/games/keys").json()["key"])


MEMBERS = "/3.0/lists/57afe96172/members"
ADA = {"email_address": "Ada@Example.com", "status": "subscribed", "merge_fields": {"FNAME": "A"}}


def _member(client: TestClient, key: str) -> None:
    assert client.post(MEMBERS, json=ADA, headers=_basic(key)).status_code == 200


def test_an_event_by_subscriber_hash_is_204_and_routed_by_hash(
    client: TestClient, writer: FakeWriter
) -> None:
    body = {"name": "registered_referral", "properties": {"referral_code": "GAMER42"}}
    key = _key(client)
    _member(client, key)
    answer = client.post(PATH, json=body, headers=_basic(key))
    assert answer.status_code == 204 and answer.content == b""
    key, record = writer.incoming()[-1]
    assert key == f"games/md5/{HASH}" and record["route_key"] == key
    assert record["account_id"] == "games" and record["name"] == "registered_referral"
    assert record["source"] == "mailchimp:57afe96172" and record["is_syncing"] is False


def test_an_invalid_name_is_400_in_mailchimps_shape_and_recorded(
    client: TestClient, writer: FakeWriter
) -> None:
    key = _key(client)
    _member(client, key)
    answer = client.post(PATH, json={"name": "bad name!"}, headers=_basic(key))
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
    assert answer.status_code == 404  # admitted: the member does not exist
    listed = client.get("/v1/accounts/games/keys").json()["keys"]
    assert listed[0]["shape"] == "mailchimp" and created["key"] not in str(listed)
    wrong = client.post("/v1/accounts/games/keys", json={"shape": "segment"})
    assert wrong.status_code == 422


@pytest.mark.parametrize("shape", ["eventline", "mailchimp"])
def test_a_key_with_a_datacenter_suffix_is_accepted(client: TestClient, shape: str) -> None:
    client.post("/v1/accounts", json={"account_id": "games"})
    key = client.post("/v1/accounts/games/keys", json={"shape": shape}).json()["key"]
    answer = client.post(PATH, json={"name": "ok_name"}, headers=_basic(f"{key}-us1"))
    assert answer.status_code == 404  # admitted: the member does not exist
    bad = client.post(PATH, json={"name": "ok_name"}, headers=_basic(f"{key[:-2]}xx-us1"))
    assert bad.status_code == 401 and bad.json()["title"] == "API Key Invalid"


def test_an_event_for_an_unknown_member_is_404_then_200_after_the_add(
    client: TestClient, writer: FakeWriter
) -> None:
    key = _key(client)
    body = {"name": "registered_referral"}
    before = len(writer.records)
    answer = client.post(PATH, json=body, headers=_basic(key))
    assert answer.status_code == 404 and answer.json()["title"] == "Resource Not Found"
    assert len(writer.records) == before  # nothing recorded, no contact created
    added = client.post(MEMBERS, json=ADA, headers=_basic(key))
    assert added.status_code == 200
    member = added.json()
    assert member["id"] == HASH and member["email_address"] == "ada@example.com"
    assert member["status"] == "subscribed" and member["merge_fields"] == {"FNAME": "A"}
    claims = [k for k, r in writer.incoming() if r["kind"] == "IDENTITY"]
    assert f"games/md5/{HASH}" in claims
    # the index entry is written after the claim, so an event accepted on it lands after it
    order = [(t, k) for t, k, _ in writer.records]
    entry = order.index(("eventline.members", f"games/md5/{HASH}"))
    assert order.index(("eventline.incoming", f"games/md5/{HASH}")) < entry
    assert client.post(PATH, json=body, headers=_basic(key)).status_code == 204
    by_email = PATH.replace(HASH, "ADA@example.COM")
    assert client.post(by_email, json=body, headers=_basic(key)).status_code == 204
    assert writer.incoming()[-1][0] == "games/email/ada@example.com"


def test_a_second_post_of_a_member_is_member_exists(client: TestClient) -> None:
    key = _key(client)
    _member(client, key)
    again = client.post(MEMBERS, json=ADA, headers=_basic(key))
    assert again.status_code == 400 and again.json()["title"] == "Member Exists"


def test_put_adds_or_updates_and_checks_the_hash(client: TestClient, writer: FakeWriter) -> None:
    key = _key(client)
    put = f"{MEMBERS}/{HASH}"
    new = {"email_address": "ada@example.com", "status_if_new": "pending"}
    answer = client.put(put, json=new, headers=_basic(key))
    assert answer.status_code == 200 and answer.json()["status"] == "pending"
    again = client.put(put, json={"email_address": "ada@example.com"}, headers=_basic(key))
    assert again.status_code == 200
    wrong = client.put(put, json={"email_address": "bob@example.com"}, headers=_basic(key))
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "email_address"
    missing = client.put(
        f"{MEMBERS}/{'0' * 32}", json={"email_address": "x@y.z"}, headers=_basic(key)
    )
    assert missing.status_code == 400
    typo = client.put(f"{MEMBERS}/{HASH[:30]}", json=new, headers=_basic(key))
    assert typo.status_code == 404


def test_a_bad_member_add_is_400_with_mailchimps_fields(
    client: TestClient, writer: FakeWriter
) -> None:
    key = _key(client)
    bad = {"email_address": "not-an-email", "status": "subscribed"}
    answer = client.post(MEMBERS, json=bad, headers=_basic(key))
    assert answer.status_code == 400
    assert [e["field"] for e in answer.json()["errors"]] == ["email_address"]
    _, status = writer.statuses()[-1]
    assert status["status"] == "REJECTED"


@pytest.mark.parametrize("typo", [HASH[:30], HASH + "0", "c-1", "z" * 32])
def test_a_malformed_hash_is_404_and_creates_nothing(
    client: TestClient, writer: FakeWriter, typo: str
) -> None:
    key = _key(client)
    _member(client, key)
    before = len(writer.records)
    path = PATH.replace(HASH, typo)
    answer = client.post(path, json={"name": "ok_name"}, headers=_basic(key))
    assert answer.status_code == 404 and answer.json()["title"] == "Resource Not Found"
    assert len(writer.records) == before


def test_reads_by_mixed_case_email_and_with_fields(
    store_client: TestClient, store: FakeStore
) -> None:
    from datetime import datetime

    key = _key(store_client)
    at = datetime(2026, 11, 23, 10, 0)
    store.tables["contacts"].append(
        {
            "contact_id": "c-1",
            "email": "ada@example.com",
            "user_id": None,
            "attributes": '{"FNAME": "Ada", "mailchimp_status": "subscribed"}',
            "tags": [],
            "created_at": at,
            "updated_at": at,
        }
    )
    store.tables["events"].append(
        {
            "event_id": "e-1",
            "name": "registered_referral",
            "properties": '{"code": "G"}',
            "occurred_at": at,
            "received_at": at,
            "value": None,
            "source": "mailchimp:l",
        }
    )
    by_email = PATH.replace(HASH, "Ada@Example.COM")
    listed = store_client.get(by_email, headers=_basic(key))
    assert listed.status_code == 200 and listed.json()["total_items"] >= 1
    picked = store_client.get(
        by_email, params={"fields": "events.name,total_items"}, headers=_basic(key)
    )
    assert picked.json() == {"events": [{"name": "registered_referral"}], "total_items": 1}
    member = store_client.get(f"{MEMBERS}/Ada@Example.COM", headers=_basic(key)).json()
    assert member["id"] == HASH and member["merge_fields"] == {"FNAME": "Ada"}
    assert member["status"] == "subscribed" and member["contact_id"] == "c-1"
    slim = store_client.get(
        f"{MEMBERS}/{HASH}", params={"exclude_fields": "merge_fields,_links"}, headers=_basic(key)
    ).json()
    assert "merge_fields" not in slim and "_links" not in slim and slim["id"] == HASH
    assert store_client.get(f"{MEMBERS}/{HASH[:30]}", headers=_basic(key)).status_code == 404


def test_patch_and_delete_of_a_member_are_not_implemented(client: TestClient) -> None:
    key = _key(client)
    assert client.patch(f"{MEMBERS}/{HASH}", json={}, headers=_basic(key)).status_code == 405
    assert client.delete(f"{MEMBERS}/{HASH}", headers=_basic(key)).status_code == 405


def test_only_a_key_shaped_like_ours_is_looked_up_again(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = client.app.state.gateway.accounts  # type: ignore[attr-defined]
    synced: list[int] = []

    async def sync() -> None:
        synced.append(1)

    monkeypatch.setattr(accounts, "sync", sync)
    for junk in ("el_nope", "x" * 40, "0123456789abcdef0123456789abcdef-us1x"):
        assert client.post(PATH, json={"name": "ok_name"}, headers=_basic(junk)).status_code == 401
    assert synced == []  # junk costs no broker round trip
    shaped = _key(client)[:-4] + "beef"  # ours in shape, unknown
    assert client.post(PATH, json={"name": "ok_name"}, headers=_basic(shaped)).status_code == 401
    assert synced == [1]
