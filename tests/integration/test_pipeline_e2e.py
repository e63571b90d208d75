"""End to end, as a user would: HTTP in, ClickHouse and output topics out, real broker."""

from __future__ import annotations

import json
from typing import Any

import httpx

from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.processes.pipeline import Pipeline
from eventline.sinks.store import Store
from tests.integration.conftest import STRICT
from tests.integration.helpers import eventually, read_topic, unique_email, wait_status


def _register(http: httpx.Client, email: str, account: str | None = None, **fields: Any) -> str:
    headers = {"X-Eventline-Account": account} if account else {}
    answer = http.post("/v1/contacts", json={"email": email, **fields}, headers=headers)
    assert answer.status_code == 202, answer.text
    event_id: str = answer.json()["event_id"]
    return event_id


def _events_of(store: Store, email: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM {db}.events FINAL WHERE contact_email = {e:String} ORDER BY occurred_at",
        {"e": email},
    )


def test_event_goes_from_http_to_clickhouse_and_the_events_topic(
    http: httpx.Client, store: Store, settings: Settings
) -> None:
    email = unique_email("ada")
    wait_status(http, _register(http, email, user_id="u-" + email, attributes={"plan": "pro"}))
    answer = http.post(
        "/v1/events",
        json={
            "email": email.upper(),
            "name": "purchase",
            "value": 12.5,
            "properties": {"sku": "MUG-1"},
            "occurred_at": "2026-11-20T10:00:00Z",
        },
    )
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["event_id"]
    assert answer.json()["status"] == "received"
    wait_status(http, event_id)

    rows = _events_of(store, email)
    assert len(rows) == 1
    row = rows[0]
    assert row["event_id"] == event_id and row["name"] == "purchase" and row["value"] == 12.5
    assert json.loads(row["properties"]) == {"sku": "MUG-1"}
    assert json.loads(row["contact_attributes"]) == {"plan": "pro"}
    assert row["occurred_at"].isoformat().startswith("2026-11-20T10:00:00")
    contact = http.get("/v1/contacts", params={"email": email}).json()["contacts"][0]
    assert row["contact_id"] == contact["contact_id"]

    found = read_topic(
        settings.bootstrap(),
        Topics(settings.topic_prefix).events,
        "CanonicalEvent",
        lambda r: r["event_id"] == event_id,
    )
    key, canonical = found[0]
    assert key == f"default/{contact['contact_id']}".encode()
    assert canonical["contact_email"] == email and canonical["name"] == "purchase"


def test_timeline_newest_first_with_bulk_and_form_data(http: httpx.Client) -> None:
    email = unique_email("bob")
    wait_status(http, _register(http, email, user_id="bob-" + email))
    bulk = [
        {"email": email, "name": "viewed_product", "occurred_at": "2026-11-01T00:00:00Z"},
        {"user_id": "bob-" + email, "name": "added_to_cart", "occurred_at": "2026-11-02T00:00:00Z"},
    ]
    answer = http.post("/v1/events", json=bulk)
    assert answer.status_code == 202 and answer.json()["accepted"] == 2
    form = http.post(
        "/v1/events",
        data={
            "email": email,
            "name": "file download request",
            "occurred_at": "2026-11-03T00:00:00Z",
            "properties[url]": "https://x.test/f.pdf",
        },
    )
    assert form.status_code == 202, form.text
    for event_id in [r["event_id"] for r in answer.json()["results"]] + [form.json()["event_id"]]:
        wait_status(http, event_id)
    contact_id = http.get("/v1/contacts", params={"email": email}).json()["contacts"][0][
        "contact_id"
    ]
    timeline = http.get(f"/v1/contacts/{contact_id}/events").json()
    assert timeline["total_items"] == 3
    assert [e["name"] for e in timeline["events"]] == [
        "file download request",
        "added_to_cart",
        "viewed_product",
    ]
    assert timeline["events"][0]["properties"] == {"url": "https://x.test/f.pdf"}


def test_invalid_input_is_answered_with_field_and_reason_and_recorded(
    http: httpx.Client, store: Store
) -> None:
    answer = http.post("/v1/events", json={"email": "not-an-email", "name": ""})
    assert answer.status_code == 400
    body = answer.json()
    fields = {e["field"] for e in body["errors"]}
    assert {"email", "name"} <= fields
    event_id = body["event_id"]
    row = eventually(
        lambda: store.query(
            "SELECT status, process_error, raw FROM {db}.incoming_events FINAL "
            "WHERE event_id = {e:String}",
            {"e": event_id},
        ),
        what="rejected row",
    )
    assert row[0]["status"] == "rejected"
    assert "email" in row[0]["process_error"] and "not-an-email" in row[0]["raw"]
    assert wait_status(http, event_id, "rejected")["process_error"]


def test_idempotency_key_counts_once_everywhere(
    http: httpx.Client, store: Store, settings: Settings
) -> None:
    email = unique_email("idem")
    event = {"email": email, "name": "purchase", "value": 5, "idempotency_key": "order-" + email}
    first = http.post("/v1/events", json=event).json()
    second = http.post("/v1/events", json=event).json()
    third = http.post(
        "/v1/events",
        json={k: v for k, v in event.items() if k != "idempotency_key"},
        headers={"Idempotency-Key": "order-" + email},
    ).json()
    assert first["event_id"] == second["event_id"] == third["event_id"]
    assert second["status"] == "duplicate"
    status = wait_status(http, first["event_id"], receipts=3)
    assert status["status"] == "processed"
    assert sorted(r["status"] for r in status["receipts"]) == [
        "duplicate",
        "duplicate",
        "processed",
    ]
    assert len(_events_of(store, email)) == 1
    raw_rows = store.query(
        "SELECT count() AS n FROM {db}.events WHERE event_id = {e:String}", {"e": first["event_id"]}
    )
    assert raw_rows[0]["n"] == 1
    on_topic = read_topic(
        settings.bootstrap(),
        Topics(settings.topic_prefix).events,
        "CanonicalEvent",
        lambda r: r["event_id"] == first["event_id"],
        settle_s=2.0,
    )
    assert len(on_topic) == 1


def test_unknown_contact_fails_visibly_and_can_be_redriven(http: httpx.Client) -> None:
    email = unique_email("stranger")
    headers = {"X-Eventline-Account": STRICT}
    answer = http.post("/v1/events", json={"email": email, "name": "purchase"}, headers=headers)
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]
    failed = wait_status(http, event_id, "failed", account=STRICT)
    assert "unknown contact" in failed["process_error"] and email in failed["process_error"]
    dead = http.get("/v1/incoming", params={"status": "failed"}, headers=headers).json()
    assert event_id in {r["event_id"] for r in dead["incoming"]}
    assert http.post(f"/v1/events/{event_id}/redrive", headers={}).status_code == 404  # not ours
    _register(http, email, account=STRICT)
    # The registration and the re-drive share the email's partition, in this order.
    answer = http.post(f"/v1/events/{event_id}/redrive", headers=headers)
    assert answer.status_code == 202 and answer.json()["attempt"] == 1
    done = wait_status(http, event_id, "processed", account=STRICT)
    assert done["process_error"] is None


def test_user_id_alias_reaches_the_registered_contact_at_once(
    http: httpx.Client, store: Store
) -> None:
    email = unique_email("alias")
    _register(http, email, user_id="alias-" + email)  # no wait: the event follows at once
    answer = http.post("/v1/events", json={"user_id": "alias-" + email, "name": "login"})
    wait_status(http, answer.json()["event_id"])
    rows = _events_of(store, email)
    assert [r["name"] for r in rows] == ["login"]


def test_garbage_written_straight_to_kafka_is_a_failed_incoming_event(
    pipeline: Pipeline, settings: Settings, store: Store
) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.bootstrap()})
    producer.produce(Topics(settings.topic_prefix).incoming, key=b"x", value=b"not avro at all")
    assert producer.flush(10) == 0
    rows = eventually(
        lambda: store.query(
            "SELECT event_id, process_error, raw FROM {db}.incoming_events FINAL "
            "WHERE status = 'failed' AND raw = 'not avro at all'"
        ),
        what="failed garbage row",
    )
    assert rows[0]["event_id"].startswith("kafka:") and "Avro" in rows[0]["process_error"]


def test_typed_producer_client_writes_straight_to_kafka(
    http: httpx.Client, settings: Settings, store: Store
) -> None:
    from eventline.producers.client import EventlineProducer

    email = unique_email("direct")
    with EventlineProducer(settings.bootstrap(), topic_prefix=settings.topic_prefix) as client:
        client.upsert_contact(email=email, user_id="d-" + email, attributes={"tier": "gold"})
        event_id = client.send_event(
            "purchase", user_id="d-" + email, value=9.0, idempotency_key="direct-" + email
        )
    wait_status(http, event_id)
    rows = _events_of(store, email)
    assert len(rows) == 1 and rows[0]["source"] == "kafka"
    assert json.loads(rows[0]["contact_attributes"]) == {"tier": "gold"}
