"""Emma dialect end to end: the documents' event types and member events over HTTP on the real
broker; deleting a type removes its events from the timeline."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition

from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.processes.pipeline import Pipeline
from eventline.producers.dialects.emma import member_number
from eventline.sinks.sink import ClickHouseSink
from eventline.sinks.store import Store
from tests.integration.helpers import eventually, unique_email


def test_event_types_member_events_and_a_cascading_delete(
    pipeline: Pipeline, settings: Settings, http: httpx.Client, store: Store
) -> None:
    account_id = f"emma-{uuid.uuid4().hex[:8]}"
    number = http.post("/v1/accounts", json={"account_id": account_id}).json()["number"]
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"public:{key}".encode()).decode()}
    base = f"/{number}/events"

    visited = {"event_type": "visited_website", "display_name": "Visited Website"}
    created = http.post(base, json=visited, headers=auth)
    assert created.status_code == 200, created.text
    assert {k: created.json()[k] for k in ("account_id", "event_type", "display_name")} == {
        "account_id": number,
        **visited,
    }
    assert created.json()["created_at"].startswith("@D:")
    tickets = {"event_type": "purchased_tickets", "display_name": "Purchased Tickets"}
    tickets_id = http.post(base, json=tickets, headers=auth).json()["event_type_id"]
    assert http.post(base, json=visited, headers=auth).status_code == 400  # exists
    assert http.post(base, json={"event_type": "x"}, headers=auth).status_code == 400
    assert len(http.get(base, headers=auth).json()) == 2
    assert (
        http.get(f"{base}/{tickets_id}", headers=auth).json()["event_type"] == "purchased_tickets"
    )
    assert http.get(f"{base}/9999", headers=auth).status_code == 404
    renamed = {"event_type": "new_purchased_tickets", "display_name": "New Purchased Tickets"}
    assert http.put(f"{base}/{tickets_id}", json=renamed, headers=auth).status_code == 200
    assert http.put(f"{base}/{tickets_id}", json=visited, headers=auth).status_code == 400
    assert http.put(f"{base}/9999", json=renamed, headers=auth).status_code == 404
    assert http.get(f"/{number + 1}/events", headers=auth).status_code == 403  # another account

    email = unique_email("member")
    http.post("/v1/contacts", json={"email": email}, headers={"X-Api-Key": key})
    assert http.post(f"{base}/members", json={"events": []}, headers=auth).status_code == 400
    first = http.post(
        f"{base}/members",
        json={
            "events": [
                {"email": email, "event_type": "visited_website", "event_monetary_value": 8.0},
                {"email": email, "event_type_id": tickets_id, "event_monetary_value": 2.0},
            ]
        },
        headers=auth,
    )
    assert first.status_code == 200, first.text
    assert [e["event_monetary_value"] for e in first.json()] == [8.0, 2.0]

    contact = eventually(
        lambda: (
            http.get("/v1/contacts", params={"email": email}, headers={"X-Api-Key": key})
            .json()
            .get("contacts")
        ),
        what="the member in ClickHouse",
    )[0]
    member_id = member_number(contact["contact_id"])
    by_member = http.post(
        f"{base}/members",
        json={"events": [{"member_id": member_id, "event_type": "visited_website"}]},
        headers=auth,
    )
    assert by_member.status_code == 200 and by_member.json()[0]["member_id"] == member_id
    unknown = http.post(
        f"{base}/members",
        json={"events": [{"member_id": 1, "event_type": "visited_website"}]},
        headers=auth,
    )
    assert unknown.status_code == 400 and "member_id" in unknown.text

    def listed(n: int) -> list[dict[str, Any]] | None:
        answer = http.get(f"{base}/members/{member_id}", headers=auth)
        body = answer.json() if answer.status_code == 200 else []
        return body if len(body) == n else None

    events = eventually(lambda: listed(3), what="three member events")
    assert {e["member_id"] for e in events} == {member_id}
    assert sorted(e["event_type_id"] for e in events) == sorted([1, 1, tickets_id])
    assert http.get(f"{base}/members/1", headers=auth).status_code == 404

    visited_id = created.json()["event_type_id"]
    assert http.delete(f"{base}/{visited_id}", headers=auth).status_code == 200
    remaining = eventually(lambda: listed(1), what="the visited events gone from the timeline")
    assert remaining[0]["event_type_id"] == tickets_id
    left = store.query(
        "SELECT count() AS n FROM {db}.events FINAL WHERE account_id = {a:String} "
        "AND event_type = 'visited_website'",
        {"a": account_id},
    )
    assert left[0]["n"] == 0

    # A sink replaying the whole events topic (after a crash, or a new sink) writes them
    # not again.
    topic = Topics(settings.topic_prefix).events
    consumer = Consumer({"bootstrap.servers": settings.bootstrap(), "group.id": "emma-replay"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    batch = [m for m in consumer.consume(10_000, 5.0) if m.error() is None]
    consumer.close()
    assert pipeline.accounts is not None
    replayer = ClickHouseSink(
        settings,
        store,
        group_id=f"emma-{uuid.uuid4()}",
        erased=pipeline.accounts.erased_event_types,
    )
    replayer.write_batch(batch)
    replayer.close()
    again = store.query(
        "SELECT count() AS n FROM {db}.events FINAL WHERE account_id = {a:String} "
        "AND event_type = 'visited_website'",
        {"a": account_id},
    )
    assert again[0]["n"] == 0
