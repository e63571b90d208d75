"""Mailchimp dialect end to end: the guide's own requests, over HTTP, on the real broker,
read back through Mailchimp's GET and from ClickHouse."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import httpx

from eventline.processes.pipeline import Pipeline
from eventline.sinks.store import Store
from tests.integration.helpers import eventually, unique_email


def _account_with_key(http: httpx.Client) -> tuple[str, dict[str, str]]:
    account = f"games-{uuid.uuid4().hex[:8]}"
    assert http.post("/v1/accounts", json={"account_id": account}).status_code == 201
    key = http.post(f"/v1/accounts/{account}/keys").json()["key"]
    # curl --user "foo:${apikey}", as in the guide
    basic = base64.b64encode(f"foo:{key}".encode()).decode()
    return account, {"Authorization": f"Basic {basic}"}


def test_the_guides_event_is_recorded_and_listed_newest_first(
    pipeline: Pipeline, http: httpx.Client, store: Store
) -> None:
    account, auth = _account_with_key(http)
    email = unique_email("referrer")
    registered = http.post(
        "/v1/contacts", json={"email": email}, headers={"Authorization": auth["Authorization"]}
    )
    assert registered.status_code == 202
    subscriber_hash = hashlib.md5(email.lower().encode()).hexdigest()
    path = f"/3.0/lists/57afe96172/members/{subscriber_hash}/events"

    first = http.post(
        path,
        json={"name": "registered_referral", "properties": {"referral_code": "GAMER42"}},
        headers=auth,
    )
    assert first.status_code == 204, first.text
    later = {"name": "purchased_merch", "occurred_at": "2030-01-01T00:00:00Z"}
    # occurred_at in the future by more than a day is refused
    assert http.post(path, json=later, headers=auth).status_code == 400
    second = http.post(
        path, json={"name": "purchased_merch", "properties": {"sku": "MUG-1"}}, headers=auth
    )
    assert second.status_code == 204

    def listed() -> dict[str, Any] | None:
        answer = http.get(path, headers=auth)
        body = answer.json() if answer.status_code == 200 else {}
        return body if body.get("total_items") == 2 else None

    body = eventually(listed, what="both events listed through Mailchimp's GET")
    assert [e["name"] for e in body["events"]] == ["purchased_merch", "registered_referral"]
    assert body["events"][1]["properties"] == {"referral_code": "GAMER42"}
    assert set(body["events"][0]) == {"name", "properties", "occurred_at"}
    paged = http.get(path, params={"count": 1, "offset": 1}, headers=auth).json()
    assert [e["name"] for e in paged["events"]] == ["registered_referral"]
    assert paged["total_items"] == 2

    rows = store.query(
        "SELECT name, contact_email, source FROM {db}.events FINAL "
        "WHERE account_id = {a:String} ORDER BY occurred_at",
        {"a": account},
    )
    assert [(r["name"], r["contact_email"]) for r in rows] == [
        ("registered_referral", email),
        ("purchased_merch", email),
    ]
    assert {r["source"] for r in rows} == {"mailchimp:57afe96172"}


def test_an_unknown_member_is_404_on_read_and_on_write_and_found_after_its_add(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    _, auth = _account_with_key(http)
    email = unique_email("late")
    member = hashlib.md5(email.encode()).hexdigest()
    path = f"/3.0/lists/l1/members/{member}/events"
    assert http.get(path, headers=auth).json()["status"] == 404
    refused = http.post(path, json={"name": "login"}, headers=auth)
    assert refused.status_code == 404 and refused.json()["title"] == "Resource Not Found"
    added = http.post(
        "/3.0/lists/l1/members",
        json={"email_address": email, "status": "subscribed"},
        headers=auth,
    )
    assert added.status_code == 200 and added.json()["id"] == member
    # Every retry, whichever gateway process answers it, finds the member at once.
    for _ in range(6):
        assert http.post(path, json={"name": "login"}, headers=auth).status_code == 204

    def listed() -> dict[str, Any] | None:
        answer = http.get(path, params={"fields": "total_items"}, headers=auth)
        return answer.json() if answer.status_code == 200 else None

    body = eventually(lambda: (b := listed()) and b["total_items"] == 6 and b, what="6 events")
    assert body == {"total_items": 6}
