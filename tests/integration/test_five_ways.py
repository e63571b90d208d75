"""The same purchase sent five ways (Mailchimp, ActiveCampaign, Emma, MailerPath, Segment)
is the same canonical event in ClickHouse: same contact, name, properties, value, and time
(ActiveCampaign's form has no time field: its event happened when it was received)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

import httpx

from eventline.pipeline import Pipeline
from sinks.store import Store
from tests.integration.helpers import eventually, unique_email

WHEN = "2026-11-20T10:00:00+00:00"
SKU = {"sku": "MUG-1"}


def test_one_purchase_five_ways_is_one_canonical_event_shape(
    pipeline: Pipeline, http: httpx.Client, store: Store
) -> None:
    account_id = f"five-{uuid.uuid4().hex[:8]}"
    number = http.post("/v1/accounts", json={"account_id": account_id}).json()["number"]
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    basic = "Basic " + base64.b64encode(f"any:{key}".encode()).decode()
    segment_basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    email = unique_email("buyer")
    user_id = "u-" + email
    registered = http.post(
        "/v1/contacts", json={"email": email, "user_id": user_id}, headers={"X-Api-Key": key}
    )
    assert registered.status_code == 202
    emma_type = {"event_type": "purchase", "display_name": "Purchase"}
    assert http.post(
        f"/{number}/events", json=emma_type, headers={"Authorization": basic}
    ).is_success

    md5 = hashlib.md5(email.encode()).hexdigest()
    sent = {
        "mailchimp": http.post(
            f"/3.0/lists/l-1/members/{md5}/events",
            json={"name": "purchase", "properties": {**SKU, "value": "12.5"}, "occurred_at": WHEN},
            headers={"Authorization": basic},
        ),
        "activecampaign": http.post(
            "/event",
            data={
                "actid": str(number),
                "key": key,
                "event": "purchase",
                "eventdata": json.dumps({**SKU, "value": 12.5}),
                "visit": json.dumps({"email": email}),
            },
        ),
        "emma": http.post(
            f"/{number}/events/members",
            json={
                "events": [
                    {
                        "email": email,
                        "event_type": "purchase",
                        "attributes": SKU,
                        "event_monetary_value": 12.5,
                        "event_timestamp": "@D:2026-11-20T10:00:00",
                    }
                ]
            },
            headers={"Authorization": basic},
        ),
        "mailerpath": http.post(
            "/api/v1/client/events",
            json={
                "event_type": "purchase",
                "user_id": user_id,
                "properties": SKU,
                "value": 12.5,
                "occurred_at": WHEN,
            },
            headers={"X-Api-Key": key},
        ),
        "segment": http.post(
            "/v1/track",
            json={
                "userId": user_id,
                "event": "purchase",
                "properties": {**SKU, "revenue": 12.5},
                "timestamp": WHEN,
            },
            headers={"Authorization": segment_basic},
        ),
    }
    assert all(answer.is_success for answer in sent.values()), {
        way: answer.text for way, answer in sent.items() if not answer.is_success
    }

    def events() -> list[dict[str, Any]] | None:
        rows = store.query(
            "SELECT source, contact_id, contact_email, name, properties, value, occurred_at, "
            "received_at FROM {db}.events FINAL WHERE account_id = {a:String}",
            {"a": account_id},
        )
        return rows if len(rows) == 5 else None

    rows = {row["source"].split(":")[0]: row for row in eventually(events, what="5 events")}
    assert set(rows) == set(sent)
    shapes = {
        way: (
            r["contact_id"],
            r["contact_email"],
            r["name"],
            json.loads(r["properties"]),
            r["value"],
        )
        for way, r in rows.items()
    }
    assert len(set(map(repr, shapes.values()))) == 1, shapes
    _, contact_email, name, properties, value = shapes["segment"]
    assert (contact_email, name, properties, value) == (email, "purchase", SKU, 12.5)
    times = {
        r["occurred_at"].replace(tzinfo=None) for w, r in rows.items() if w != "activecampaign"
    }
    assert times == {datetime(2026, 11, 20, 10, 0)}
    ac = rows["activecampaign"]
    assert ac["occurred_at"] == ac["received_at"]
