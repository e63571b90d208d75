"""MailerPath dialect end to end: the documented data flow over HTTP on the real broker. On
success the canonical event appears in Events; on failure Incoming Events shows status and
process_error."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from eventline.processes.pipeline import Pipeline
from tests.integration.conftest import STRICT
from tests.integration.helpers import eventually, unique_email, wait_status


def _key(http: httpx.Client, account: str) -> dict[str, str]:
    assert http.post("/v1/accounts", json={"account_id": account}).status_code == 201
    key = http.post(f"/v1/accounts/{account}/keys", json={"label": "mailerpath"}).json()["key"]
    return {"X-Api-Key": key}


def test_events_by_email_and_user_id_reach_events_with_their_type(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    account = f"mp-{uuid.uuid4().hex[:8]}"
    auth = _key(http, account)
    email = unique_email("mp")
    http.post("/v1/contacts", json={"email": email, "user_id": "mp-" + email}, headers=auth)
    one = http.post(
        "/api/v1/client/events",
        json={"event_type": "signup", "email": email, "properties": {"plan": "pro"}},
        headers=auth,
    )
    assert one.status_code == 202, one.text
    bulk = http.post(
        "/api/v1/client/events/bulk",
        json={
            "events": [
                {"event_type": "purchase", "name": "ordered_mug", "user_id": "mp-" + email},
                {"event_type": "feature_used", "email": email},
            ]
        },
        headers=auth,
    )
    assert bulk.status_code == 202 and bulk.json()["accepted"] == 2
    for result in [one.json(), *bulk.json()["results"]]:
        assert wait_status(http, result["event_id"], account=account)["status"] == "processed"

    def listed() -> dict[str, Any] | None:
        answer = http.get(
            "/api/v1/public/authenticated/events", params={"email": email}, headers=auth
        )
        body = answer.json() if answer.status_code == 200 else {}
        return body if body.get("total_items") == 3 else None

    body = eventually(listed, what="three MailerPath events listed")
    assert {(e["name"], e["event_type"]) for e in body["events"]} == {
        ("signup", "signup"),
        ("ordered_mug", "purchase"),
        ("feature_used", "feature_used"),
    }
    assert {e["email"] for e in body["events"]} == {email}
    typed = http.get(
        "/api/v1/public/authenticated/events", params={"event_type": "purchase"}, headers=auth
    ).json()
    assert [e["name"] for e in typed["events"]] == ["ordered_mug"]


def test_a_failed_event_shows_status_and_process_error_in_incoming(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    # The STRICT account fails events for unknown contacts (its unknown-contact policy).
    auth = _key(http, STRICT)
    answer = http.post(
        "/api/v1/client/events",
        json={"event_type": "cart", "email": unique_email("nobody")},
        headers=auth,
    )
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]

    def failed() -> dict[str, Any] | None:
        rows = http.get(
            "/api/v1/public/authenticated/events/incoming",
            params={"status": "failed"},
            headers=auth,
        ).json()["incoming_events"]
        return next((r for r in rows if r["event_id"] == event_id), None)

    row = eventually(failed, what="the failed event in incoming events")
    assert row["status"] == "failed" and "unknown contact" in row["process_error"]
    assert row["event_type"] == "cart" and row["source"] == "mailerpath"
