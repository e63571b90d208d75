"""Identity merge end to end: an anonymous visitor's history, tags and segment memberships
join the user's contact when Segment's identify names both ids, once, with one merge record
on the contacts topic; later events under either id reach the user's contact."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx

from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.model import event_id_for, minted_contact_id
from eventline.sinks.store import Store
from tests.integration.helpers import (
    automation_messages,
    eventually,
    put_rule,
    read_topic,
    unique_email,
    wait_status,
)


def _merge_records(settings: Settings, account: str, settle_s: float) -> list[Any]:
    return read_topic(
        settings.bootstrap(),
        Topics(settings.topic_prefix).contacts,
        "Contact",
        lambda r: r["account_id"] == account and r.get("merged_into") is not None,
        expect=1,
        settle_s=settle_s,
    )


def test_identify_with_the_anonymous_id_merges_the_visitor_into_the_user(
    http: httpx.Client, settings: Settings, store: Store
) -> None:
    account = f"merge-{uuid.uuid4().hex[:8]}"
    assert http.post("/v1/accounts", json={"account_id": account}).status_code == 201
    key = http.post(f"/v1/accounts/{account}/keys").json()["key"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    native = {"X-Eventline-Account": account, "Authorization": f"Bearer {key}"}
    put_rule(
        http, account, "mugs", kind="tag", add=["mug-enthusiast"],
        when={"name": "Product Viewed",
              "where": [{"property": "category", "op": "equals", "value": "mugs"}]},
    )  # fmt: skip
    put_rule(
        http, account, "referrers", kind="segment",
        condition={"kind": "did", "name": "Referral Registered"},
    )  # fmt: skip
    anon, user, email = uuid.uuid4().hex, f"user-{uuid.uuid4().hex[:8]}", unique_email("merge")
    anonymous = minted_contact_id(f"{account}/user/anonymous:{anon}")
    known = minted_contact_id(f"{account}/email/{email}")

    def track(event: str, message_id: str, **who: str) -> str:
        call = {"event": event, "messageId": message_id, **who}
        if event == "Product Viewed":
            call["properties"] = {"category": "mugs"}  # type: ignore[assignment]
        assert http.post("/v1/track", json=call, headers=auth).status_code == 200
        return event_id_for(account, message_id)

    viewed = track("Product Viewed", f"{anon}-1", anonymousId=anon)
    referred = track("Referral Registered", f"{anon}-2", anonymousId=anon)
    wait_status(http, viewed, account=account)
    wait_status(http, referred, account=account)

    identify = {"userId": user, "anonymousId": anon, "traits": {"email": email}}
    assert http.post("/v1/identify", json=identify, headers=auth).status_code == 200

    # The merge record: the anonymous contact's last record names the user's contact.
    ((record_key, merged),) = _merge_records(settings, account, settle_s=1.0)
    assert record_key == f"{account}/{anonymous}".encode()
    assert merged["contact_id"] == anonymous and merged["merged_into"] == known

    # The user's timeline holds the visitor's events.
    def timeline() -> dict[str, Any] | None:
        answer = http.get(f"/v1/contacts/{known}/events", headers=native)
        body = answer.json() if answer.status_code == 200 else {}
        return body if body.get("total_items") == 2 else None

    events = eventually(timeline, what="the visitor's events on the user's timeline")
    assert {e["event_id"] for e in events["events"]} == {viewed, referred}

    # Tags and memberships moved to the user's contact.
    def tags() -> list[str] | None:
        found = http.get("/v1/contacts", params={"email": email}, headers=native).json()
        contacts = found.get("contacts") or []
        return contacts[0]["tags"] if contacts and contacts[0]["tags"] else None

    assert eventually(tags, what="the visitor's tag on the user's contact") == ["mug-enthusiast"]
    moves = automation_messages(settings, "segments", account, expect=3)
    # The topic is ordered per contact, not across contacts.
    assert sorted((t["contact_id"], t["transition"], t["cause"]) for t in moves) == sorted(
        [
            (anonymous, "entered", "event"),
            (anonymous, "exited", "merge"),
            (known, "entered", "merge"),
        ]
    )

    # Later events under either id reach the user's contact; a second identify merges nothing.
    later = track("Product Viewed", f"{anon}-3", anonymousId=anon)
    by_user = track("Order Completed", f"{anon}-4", userId=user)
    assert http.post("/v1/identify", json=identify, headers=auth).status_code == 200
    for event_id in (later, by_user):
        wait_status(http, event_id, account=account)

    def contact_of(event_id: str) -> str | None:
        rows = store.query(
            "SELECT contact_id FROM {db}.events FINAL WHERE account_id = {a:String} "
            "AND event_id = {e:String}",
            {"a": account, "e": event_id},
        )
        return rows[0]["contact_id"] if rows else None

    assert eventually(lambda: contact_of(later), what="the later event") == known
    assert eventually(lambda: contact_of(by_user), what="the user's event") == known
    assert len(_merge_records(settings, account, settle_s=2.0)) == 1

    def members() -> list[str] | None:
        body = http.get("/v1/segments/referrers/members", headers=native).json()
        ids = [m["contact_id"] for m in body.get("members", [])]
        return ids if ids == [known] else None

    eventually(members, what="the user, alone, a member of the visitor's segment")
