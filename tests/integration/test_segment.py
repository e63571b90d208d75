"""Segment dialect end to end: identify, track and a retried batch over HTTP on the real
broker; messageId makes the retry count once."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx

from eventline.processes.pipeline import Pipeline
from eventline.sinks.store import Store
from tests.integration.helpers import eventually, unique_email


def test_identify_then_a_retried_batch_counts_each_message_once(
    pipeline: Pipeline, http: httpx.Client, store: Store
) -> None:
    account = f"seg-{uuid.uuid4().hex[:8]}"
    assert http.post("/v1/accounts", json={"account_id": account}).status_code == 201
    key = http.post(f"/v1/accounts/{account}/keys").json()["key"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    email, user = unique_email("seg"), f"user-{uuid.uuid4().hex[:8]}"

    identify = {"userId": user, "traits": {"email": email, "plan": "pro"}}
    assert http.post("/v1/identify", json=identify, headers=auth).json() == {"success": True}
    batch = {
        "batch": [
            {
                "type": "track",
                "userId": user,
                "event": "Order Completed",
                "properties": {"revenue": 12.5, "sku": "MUG-1"},
                "timestamp": "2026-11-20T10:00:00Z",
                "messageId": f"{user}-1",
            },
            {
                "type": "track",
                "userId": user,
                "event": "Product Viewed",
                "originalTimestamp": "2026-11-20T09:00:00Z",
                "messageId": f"{user}-2",
            },
        ]
    }
    assert http.post("/v1/batch", json=batch, headers=auth).status_code == 200
    assert http.post("/v1/batch", json=batch, headers=auth).status_code == 200  # a retry

    def rows() -> list[dict[str, Any]] | None:
        found = store.query(
            "SELECT name, value, properties, occurred_at, contact_email, contact_attributes "
            "FROM {db}.events FINAL WHERE account_id = {a:String} ORDER BY occurred_at",
            {"a": account},
        )
        return found if len(found) >= 2 else None

    events = eventually(rows, what="the batch's events in ClickHouse")

    def duplicates() -> int | None:
        n = store.query(
            "SELECT count() AS n FROM {db}.incoming_events FINAL "
            "WHERE account_id = {a:String} AND status = 'duplicate'",
            {"a": account},
        )[0]["n"]
        return int(n) if n == 2 else None

    eventually(duplicates, what="both retried messages marked duplicate")
    events = rows() or []  # read again: the retry added no row
    assert len(events) == 2
    viewed, ordered = events
    assert (viewed["name"], ordered["name"]) == ("Product Viewed", "Order Completed")
    assert ordered["value"] == 12.5 and '"sku":"MUG-1"' in ordered["properties"]
    assert "revenue" not in ordered["properties"]
    assert ordered["contact_email"] == email and '"plan":"pro"' in ordered["contact_attributes"]
