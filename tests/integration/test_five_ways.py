"""The same purchase sent five ways (Mailchimp, ActiveCampaign, Emma, MailerPath, Segment), and
through the native API, is the same canonical event in ClickHouse: same contact, name,
event_type, properties, value, and time (ActiveCampaign's form has no time field: its event
happened when it was received). One rule on ``event_type`` (docs/dialects.md's, read from
there) triggers its workflow for each of the six."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from eventline.processes.pipeline import Pipeline
from eventline.sinks.store import Store
from tests.integration.helpers import eventually, unique_email

SKU = {"sku": "MUG-1"}
DIALECTS = Path(__file__).resolve().parents[2] / "docs" / "dialects.md"


def documented_rule() -> dict[str, Any]:
    """The rule docs/dialects.md gives for the purchase sent five ways."""
    section = DIALECTS.read_text().split("## The same purchase sent five ways", 1)[1]
    found = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert found, "docs/dialects.md: no rule in 'The same purchase sent five ways'"
    rule: dict[str, Any] = json.loads(found.group(1))
    return rule


def test_one_purchase_five_ways_is_one_canonical_event_shape(
    pipeline: Pipeline, http: httpx.Client, store: Store
) -> None:
    from eventline.core.clock import now  # the deployment's (adjustable) clock

    # An hour ago: recent enough to trigger workflows (a late event never does).
    occurred = (now() - timedelta(hours=1)).replace(microsecond=0)
    when = occurred.isoformat()
    account_id = f"five-{uuid.uuid4().hex[:8]}"
    number = http.post("/v1/accounts", json={"account_id": account_id}).json()["number"]
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    basic = "Basic " + base64.b64encode(f"any:{key}".encode()).decode()
    segment_basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    native = {"X-Api-Key": key}
    email = unique_email("buyer")
    user_id = "u-" + email
    registered = http.post(
        "/v1/contacts", json={"email": email, "user_id": user_id}, headers=native
    )
    assert registered.status_code == 202
    emma_type = {"event_type": "purchase", "display_name": "Purchase"}
    assert http.post(
        f"/{number}/events", json=emma_type, headers={"Authorization": basic}
    ).is_success
    # ActiveCampaign triggers automations for whitelisted names only.
    whitelisted = http.post(
        "/api/3/eventTrackingEvents",
        json={"eventTrackingEvent": {"name": "purchase"}},
        headers={"Api-Token": key},
    )
    assert whitelisted.status_code == 201
    rule = documented_rule()
    created = http.post("/v1/rules", json=rule, headers=native)
    assert created.status_code == 201, created.text

    md5 = hashlib.md5(email.encode()).hexdigest()
    sent = {
        "native": http.post(
            "/v1/events",
            json={
                "email": email,
                "name": "purchase",
                "event_type": "purchase",
                "properties": SKU,
                "value": 12.5,
                "occurred_at": when,
            },
            headers=native,
        ),
        "mailchimp": http.post(
            f"/3.0/lists/l-1/members/{md5}/events",
            json={"name": "purchase", "properties": {**SKU, "value": "12.5"}, "occurred_at": when},
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
                        "event_timestamp": occurred.strftime("@D:%Y-%m-%dT%H:%M:%S"),
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
                "occurred_at": when,
            },
            headers=native,
        ),
        "segment": http.post(
            "/v1/track",
            json={
                "userId": user_id,
                "event": "purchase",
                "properties": {**SKU, "revenue": 12.5},
                "timestamp": when,
            },
            headers={"Authorization": segment_basic},
        ),
    }
    assert all(answer.is_success for answer in sent.values()), {
        way: answer.text for way, answer in sent.items() if not answer.is_success
    }

    def events() -> list[dict[str, Any]] | None:
        rows = store.query(
            "SELECT event_id, source, contact_id, contact_email, name, event_type, properties, "
            "value, occurred_at, received_at FROM {db}.events FINAL WHERE account_id = {a:String}",
            {"a": account_id},
        )
        return rows if len(rows) == len(sent) else None

    ways = {"http": "native"}  # the native API's source is http:json
    found = eventually(events, what="6 events")
    rows = {ways.get(s, s): r for r in found if (s := r["source"].split(":")[0])}
    assert set(rows) == set(sent)
    shapes = {
        way: (
            r["contact_id"],
            r["contact_email"],
            r["name"],
            r["event_type"],
            json.loads(r["properties"]),
            r["value"],
        )
        for way, r in rows.items()
    }
    assert len(set(map(repr, shapes.values()))) == 1, shapes
    _, contact_email, name, event_type, properties, value = shapes["segment"]
    assert (contact_email, name, event_type, properties, value) == (
        email,
        "purchase",
        "purchase",
        SKU,
        12.5,
    )
    times = {
        r["occurred_at"].replace(tzinfo=None) for w, r in rows.items() if w != "activecampaign"
    }
    assert times == {occurred.replace(tzinfo=None)}
    ac = rows["activecampaign"]
    assert ac["occurred_at"] == ac["received_at"]

    def triggers() -> list[dict[str, Any]] | None:
        found = store.query(
            "SELECT event_id, event_type, rule_id FROM {db}.workflow_triggers FINAL "
            "WHERE account_id = {a:String}",
            {"a": account_id},
        )
        return found if len(found) >= len(sent) else None

    fired = eventually(triggers, what="a workflow trigger for each of the 6 purchases")
    assert sorted(t["event_id"] for t in fired) == sorted(r["event_id"] for r in rows.values())
    assert {(t["event_type"], t["rule_id"]) for t in fired} == {("purchase", rule["rule_id"])}
